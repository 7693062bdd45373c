//! Reduces a decoded frame of any size and pixel format to a [`Signature`], or to a
//! window sample.

use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video;
use ffmpeg_next::software::scaling::{Context as Scaler, Flags};
use loopy_core::signature::{Signature, THUMB_H, THUMB_W};
use loopy_core::window::{SAMPLE_BYTES, SAMPLE_H, SAMPLE_W};
use loopy_core::Orientation;

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

/// Reduces the frames of one clip to window samples ([`loopy_core::window`]): 16×9
/// luma thumbnails of the pictures as shown (area averaging, then turned by the
/// clip's orientation). The scaler is made once per clip and kept.
pub struct WindowSampler {
    orientation: Orientation,
    scaler: Option<(Scaler, (Pixel, u32, u32))>,
    thumb: Video,
}

impl WindowSampler {
    pub fn new(orientation: Orientation) -> Self {
        WindowSampler {
            orientation,
            scaler: None,
            thumb: Video::empty(),
        }
    }

    /// The sample of `frame`, appended to `out`; false when it cannot be made.
    pub fn sample_into(&mut self, frame: &Video, out: &mut Vec<u8>) -> bool {
        let (sw, sh) = if self.orientation.swaps_axes() {
            (SAMPLE_H, SAMPLE_W)
        } else {
            (SAMPLE_W, SAMPLE_H)
        };
        let mut stored = [0u8; SAMPLE_BYTES];
        let made = match box_average_luma(frame, sw, sh, &mut stored) {
            true => true,
            false => self.scale(frame, sw, sh, &mut stored),
        };
        if !made {
            return false;
        }
        let start = out.len();
        out.resize(start + SAMPLE_BYTES, 0);
        for q in 0..sh {
            for p in 0..sw {
                let (x, y) = self.orientation.map((p, q), (sw, sh));
                if let Some(slot) = out.get_mut(start + y * SAMPLE_W + x) {
                    *slot = stored[q * sw + p];
                }
            }
        }
        true
    }

    /// Any other pixel format: swscale to grey (area averaging).
    fn scale(&mut self, frame: &Video, sw: usize, sh: usize, stored: &mut [u8]) -> bool {
        let key = (frame.format(), frame.width(), frame.height());
        if self.scaler.as_ref().is_none_or(|(_, k)| *k != key) {
            let Ok(scaler) = Scaler::get(
                key.0,
                key.1,
                key.2,
                Pixel::GRAY8,
                sw as u32,
                sh as u32,
                Flags::AREA,
            ) else {
                return false;
            };
            self.scaler = Some((scaler, key));
        }
        let Some((scaler, _)) = self.scaler.as_mut() else {
            return false;
        };
        if scaler.run(frame, &mut self.thumb).is_err() {
            return false;
        }
        let (data, stride) = (self.thumb.data(0), self.thumb.stride(0));
        for q in 0..sh {
            for p in 0..sw {
                stored[q * sw + p] = data.get(q * stride + p).copied().unwrap_or(0);
            }
        }
        true
    }
}

/// The common case, without swscale (whose area filter costs about a millisecond a
/// frame at 720p, more than decoding): the mean of the 8-bit luma plane over each of
/// `sw`×`sh` cells, reading every fourth pixel of every fourth line, in full range
/// (as swscale's grey). False for formats whose first plane is not 8-bit luma.
fn box_average_luma(frame: &Video, sw: usize, sh: usize, stored: &mut [u8]) -> bool {
    let full_range = match frame.format() {
        Pixel::YUVJ420P | Pixel::YUVJ422P | Pixel::YUVJ444P => true,
        Pixel::YUV420P
        | Pixel::YUV422P
        | Pixel::YUV444P
        | Pixel::YUV410P
        | Pixel::YUV411P
        | Pixel::YUV440P
        | Pixel::NV12
        | Pixel::NV21
        | Pixel::YUVA420P => frame.color_range() == ffmpeg_next::util::color::Range::JPEG,
        _ => return false,
    };
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    if w < sw || h < sh {
        return false;
    }
    let (data, stride) = (frame.data(0), frame.stride(0));
    const STEP: usize = 4;
    for q in 0..sh {
        let (y0, y1) = (q * h / sh, (q + 1) * h / sh);
        for p in 0..sw {
            let (x0, x1) = (p * w / sw, (p + 1) * w / sw);
            let (mut sum, mut n) = (0u64, 0u64);
            for y in (y0..y1).step_by(STEP.min(y1 - y0)) {
                let Some(line) = data.get(y * stride + x0..y * stride + x1) else {
                    return false;
                };
                for &v in line.iter().step_by(STEP.min(x1 - x0)) {
                    sum += u64::from(v);
                    n += 1;
                }
            }
            let mean = sum as f64 / n.max(1) as f64;
            let grey = if full_range {
                mean
            } else {
                (mean - 16.0) * 255.0 / 219.0
            };
            stored[q * sw + p] = grey.round().clamp(0.0, 255.0) as u8;
        }
    }
    true
}
