//! Reduces a decoded frame of any size and pixel format to a [`Signature`].

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use loopy_core::signature::{Signature, THUMB_H, THUMB_W};

/// Scales `frame` to 32×18 planar YUV 4:4:4 (area averaging) and fingerprints it.
pub fn signature_of(frame: &Video) -> Option<Signature> {
    let mut scaler = Scaler::get(
        frame.format(),
        frame.width(),
        frame.height(),
        Pixel::YUV444P,
        THUMB_W as u32,
        THUMB_H as u32,
        Flags::AREA,
    )
    .ok()?;
    let mut thumb = Video::empty();
    scaler.run(frame, &mut thumb).ok()?;
    Signature::from_yuv444([
        (thumb.data(0), thumb.stride(0)),
        (thumb.data(1), thumb.stride(1)),
        (thumb.data(2), thumb.stride(2)),
    ])
}
