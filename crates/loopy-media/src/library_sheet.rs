//! `scan --contact-sheet`: the first frame of every clip of a library, upright and
//! letterboxed into equal tiles, in one PNG, so a user sees what a folder holds at a
//! glance (the ComfyUI Library node shows it as an image).

use crate::error::RenderError;
use crate::orient::Orienter;
use crate::render::decode::ClipReader;
use crate::render::scale::{fill_black, FitScaler};
use crate::render::thumbs::ContactSheet;
use ff::frame::Video;
use ffmpeg_next as ff;
use loopy_core::fit::Fit;
use loopy_core::ClipInfo;
use std::path::Path;

/// Tiles are 16:9, as most clips are; other shapes are letterboxed into them.
const TILE: (u32, u32) = (192, 108);

/// A sheet of the first frames of `clips` (paths relative to `root`) as PNG bytes,
/// in catalog order; at most [`crate::render::thumbs::MAX_TILES`] of them. A clip
/// whose first frame cannot be decoded now (it changed since the scan) stays black,
/// with a warning naming it. The caller writes it by the output rules
/// ([`crate::output_file`]).
pub fn library_sheet_png(root: &Path, clips: &[ClipInfo]) -> Result<Vec<u8>, RenderError> {
    let mut sheet = ContactSheet::grid(TILE, clips.len() as u64)?;
    let mut tile = Video::new(ff::format::Pixel::YUV420P, TILE.0, TILE.1);
    for (n, clip) in clips.iter().enumerate() {
        fill_black(&mut tile);
        match first_frame_into(&root.join(&clip.path), clip, &mut tile) {
            Ok(()) => sheet.place(n as u64, &tile),
            Err(reason) => tracing::warn!("contact sheet: {}: {reason}", clip.path),
        }
    }
    sheet.png()
}

/// The first frame of one clip as a 192x108 PNG (a dashboard thumbnail).
pub fn first_frame_png(root: &Path, clip: &ClipInfo) -> Result<Vec<u8>, RenderError> {
    let mut sheet = ContactSheet::grid(TILE, 1)?;
    let mut tile = Video::new(ff::format::Pixel::YUV420P, TILE.0, TILE.1);
    fill_black(&mut tile);
    first_frame_into(&root.join(&clip.path), clip, &mut tile)
        .map_err(|reason| RenderError::Ffmpeg(format!("{}: {reason}", clip.path)))?;
    sheet.place(0, &tile);
    sheet.png()
}

fn first_frame_into(path: &Path, clip: &ClipInfo, tile: &mut Video) -> Result<(), String> {
    let mut reader = ClipReader::open_with_threads(path, clip.fps, 1)?;
    let mut frame = Video::empty();
    reader
        .next_frame(&mut frame)?
        .ok_or("no frame could be decoded")?;
    let mut orienter = Orienter::new(clip.orientation);
    let upright = orienter.run(&frame)?;
    let size = (upright.width(), upright.height());
    match FitScaler::new(size, upright.format(), clip.sar, TILE, Fit::Letterbox)? {
        Some(mut scaler) => scaler.run(upright, tile),
        None => crate::render::frames::copy_picture(tile, upright).map_err(|e| e.to_string()),
    }
}
