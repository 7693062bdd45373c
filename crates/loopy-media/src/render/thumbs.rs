//! `--thumbnails`: a contact sheet of one output frame every N frames, tiled into
//! one PNG beside the output (`OUT.thumbs.png`). Tiles are scaled as frames pass
//! the encoder, so nothing but the sheet itself is kept.

use crate::error::RenderError;
use ff::format::Pixel;
use ff::frame::Video;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;

const TILE_WIDTH: u32 = 192;
const COLUMNS: u32 = 6;
/// More tiles than this make an unreadable sheet; later samples are left out.
pub const MAX_TILES: u64 = 120;

pub struct ContactSheet {
    every: u64,
    tiles: u64,
    tile: (u32, u32),
    sheet: Video,
    scaled: Video,
    /// Output frames to tiles; `None` for a sheet filled with ready-made tiles.
    scaler: Option<Scaler>,
}

impl ContactSheet {
    pub fn new(frame_size: (u32, u32), every: u64, total_frames: u64) -> Result<Self, RenderError> {
        let tiles = total_frames.div_ceil(every).clamp(1, MAX_TILES);
        let th =
            ((TILE_WIDTH as u64 * frame_size.1 as u64 / frame_size.0 as u64) as u32 & !1).max(2);
        let mut sheet = Self::grid((TILE_WIDTH, th), tiles)?;
        sheet.every = every;
        sheet.scaler = Some(
            Scaler::get(
                Pixel::YUV420P,
                frame_size.0,
                frame_size.1,
                Pixel::YUV420P,
                TILE_WIDTH,
                th,
                Flags::AREA,
            )
            .map_err(|e| RenderError::ffmpeg("thumbnail scaler", e))?,
        );
        Ok(sheet)
    }

    /// An empty (black) sheet of `tiles` tiles of `tile` size, six to a row, filled
    /// with [`ContactSheet::place`].
    pub fn grid(tile: (u32, u32), tiles: u64) -> Result<Self, RenderError> {
        let tiles = tiles.clamp(1, MAX_TILES);
        let columns = COLUMNS.min(tiles as u32);
        let rows = (tiles as u32).div_ceil(columns);
        let mut sheet = Video::new(Pixel::YUV420P, columns * tile.0, rows * tile.1);
        super::scale::fill_black(&mut sheet);
        Ok(ContactSheet {
            every: 1,
            tiles,
            tile,
            sheet,
            scaled: Video::new(Pixel::YUV420P, tile.0, tile.1),
            scaler: None,
        })
    }

    /// Puts a tile-sized yuv420p `picture` at position `n` (left to right, top to
    /// bottom); positions past the sheet are left out.
    pub fn place(&mut self, n: u64, picture: &Video) {
        if let Some((x, y)) = self.position(n) {
            super::scale::place(picture, &mut self.sheet, x, y);
        }
    }

    /// Top-left corner of tile `n`; `None` past the sheet.
    fn position(&self, n: u64) -> Option<(usize, usize)> {
        let n = u32::try_from(n)
            .ok()
            .filter(|&n| u64::from(n) < self.tiles)?;
        let (x, y) = ((n % COLUMNS) * self.tile.0, (n / COLUMNS) * self.tile.1);
        Some((x as usize, y as usize))
    }

    /// Takes output frame `k` into the sheet when it is due.
    pub fn offer(&mut self, k: u64, frame: &Video) -> Result<(), RenderError> {
        if !k.is_multiple_of(self.every) || k / self.every >= self.tiles {
            return Ok(());
        }
        if let Some(scaler) = self.scaler.as_mut() {
            scaler
                .run(frame, &mut self.scaled)
                .map_err(|e| RenderError::ffmpeg("thumbnail", e))?;
        }
        if let Some((x, y)) = self.position(k / self.every) {
            super::scale::place(&self.scaled, &mut self.sheet, x, y);
        }
        Ok(())
    }

    /// The sheet encoded as PNG.
    pub fn png(&self) -> Result<Vec<u8>, RenderError> {
        let fail = |e| RenderError::ffmpeg("contact sheet", e);
        let (w, h) = (self.sheet.width(), self.sheet.height());
        let mut rgb = Video::new(Pixel::RGB24, w, h);
        Scaler::get(Pixel::YUV420P, w, h, Pixel::RGB24, w, h, Flags::BICUBIC)
            .and_then(|mut s| s.run(&self.sheet, &mut rgb))
            .map_err(fail)?;
        let codec = ff::encoder::find(ff::codec::Id::PNG)
            .ok_or_else(|| RenderError::Ffmpeg("no PNG encoder".into()))?;
        let mut enc = ff::codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(fail)?;
        enc.set_width(w);
        enc.set_height(h);
        enc.set_format(Pixel::RGB24);
        enc.set_time_base(ff::Rational::new(1, 1));
        let mut enc = enc.open().map_err(fail)?;
        rgb.set_pts(Some(0));
        enc.send_frame(&rgb).map_err(fail)?;
        enc.send_eof().map_err(fail)?;
        let mut packet = ff::Packet::empty();
        enc.receive_packet(&mut packet).map_err(fail)?;
        Ok(packet.data().unwrap_or_default().to_vec())
    }
}
