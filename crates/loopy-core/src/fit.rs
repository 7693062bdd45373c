//! How a clip of one size fills an output of another: `letterbox` (whole picture,
//! aspect kept, black bars), `crop` (fills the frame, aspect kept, edges cut) or
//! `stretch` (fills the frame, aspect changed). A centred rectangle leaves equal, even
//! margins (its length differs from the whole by a multiple of 4), so 4:2:0 chroma
//! planes line up and bars on both sides have the same width.

use crate::rational::Rational;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    #[default]
    Letterbox,
    Crop,
    Stretch,
}

impl FromStr for Fit {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "letterbox" => Ok(Fit::Letterbox),
            "crop" => Ok(Fit::Crop),
            "stretch" => Ok(Fit::Stretch),
            other => Err(format!(
                "unknown fit `{other}` (expected letterbox, crop or stretch)"
            )),
        }
    }
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn full(w: u32, h: u32) -> Rect {
        Rect { x: 0, y: 0, w, h }
    }
}

/// The length nearest to `num / den` (which must not exceed `whole`) that leaves an
/// even margin on both sides of a centred span: `whole − length` a multiple of 4, so
/// the offset `(whole − length) / 2` is even (4:2:0 chroma lines up) and both margins
/// are equal. At least 2 (or `whole` when it is smaller).
fn centred_length(num: u64, den: u64, whole: u64) -> u32 {
    let den = den.max(1);
    let exact_margin = (whole * den).saturating_sub(num);
    // round(margin / 4) with integers: margins of 4 pixels each step.
    let steps = (2 * exact_margin + 4 * den) / (8 * den);
    let mut length = whole.saturating_sub(4 * steps);
    if length < 2 {
        length += 4;
    }
    length.min(whole) as u32
}

/// The part of the source that is shown and where it lands in the output, for
/// square pixels.
pub fn fit_rects(src: (u32, u32), dst: (u32, u32), fit: Fit) -> (Rect, Rect) {
    fit_rects_with_sar(src, Rational::ONE, dst, fit)
}

/// Like [`fit_rects`] for pixels of shape `sar` (width / height of one pixel): the
/// picture keeps its displayed aspect, `src.0 · sar : src.1`.
pub fn fit_rects_with_sar(
    src: (u32, u32),
    sar: Rational,
    dst: (u32, u32),
    fit: Fit,
) -> (Rect, Rect) {
    let (sw, sh) = (src.0 as u64, src.1 as u64);
    let (dw, dh) = (dst.0 as u64, dst.1 as u64);
    // The displayed aspect aw : ah.
    let (aw, ah) = (sw * sar.num(), sh * sar.den());
    match fit {
        Fit::Stretch => (Rect::full(src.0, src.1), Rect::full(dst.0, dst.1)),
        _ if aw * dh == ah * dw => (Rect::full(src.0, src.1), Rect::full(dst.0, dst.1)),
        Fit::Letterbox => {
            // Scale so the whole source fits, then centre it.
            let (w, h) = if aw * dh > ah * dw {
                (dst.0, centred_length(ah * dw, aw, dh))
            } else {
                (centred_length(aw * dh, ah, dw), dst.1)
            };
            let x = (dst.0 - w) / 2;
            let y = (dst.1 - h) / 2;
            (Rect::full(src.0, src.1), Rect { x, y, w, h })
        }
        Fit::Crop => {
            // Take the centred part of the source with the output's aspect.
            let (w, h) = if aw * dh > ah * dw {
                (centred_length(sw * dw * ah, dh * aw, sw), src.1)
            } else {
                (src.0, centred_length(sh * dh * aw, dw * ah, sh))
            };
            let x = (src.0 - w) / 2;
            let y = (src.1 - h) / 2;
            (Rect { x, y, w, h }, Rect::full(dst.0, dst.1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_aspect_is_a_plain_scale() {
        for fit in [Fit::Letterbox, Fit::Crop, Fit::Stretch] {
            assert_eq!(
                fit_rects((1920, 1080), (1280, 720), fit),
                (Rect::full(1920, 1080), Rect::full(1280, 720))
            );
        }
    }

    #[test]
    fn letterbox_keeps_aspect_with_bars() {
        // 4:3 into 16:9: pillarbox.
        let (s, d) = fit_rects((640, 480), (1280, 720), Fit::Letterbox);
        assert_eq!(s, Rect::full(640, 480));
        assert_eq!(
            d,
            Rect {
                x: 160,
                y: 0,
                w: 960,
                h: 720
            }
        );
        // 16:9 into 1:1: bars top and bottom.
        let (_, d) = fit_rects((1920, 1080), (720, 720), Fit::Letterbox);
        assert_eq!(
            d,
            Rect {
                x: 0,
                y: 158,
                w: 720,
                h: 404
            }
        );
    }

    #[test]
    fn crop_takes_the_centre() {
        let (s, d) = fit_rects((1920, 1080), (720, 720), Fit::Crop);
        assert_eq!(
            s,
            Rect {
                x: 420,
                y: 0,
                w: 1080,
                h: 1080
            }
        );
        assert_eq!(d, Rect::full(720, 720));
    }

    #[test]
    fn bars_are_even_and_equal() {
        // Portrait phone video into landscape: 404 wide (405 exactly), 438 each side.
        let (_, d) = fit_rects((1080, 1920), (1280, 720), Fit::Letterbox);
        assert_eq!((d.x, d.w), (438, 404));
        for src in [(202, 360), (854, 480), (1920, 800), (176, 144), (720, 1280)] {
            for dst in [
                (1280, 720),
                (720, 1280),
                (320, 180),
                (640, 360),
                (1920, 1080),
            ] {
                let (_, d) = fit_rects(src, dst, Fit::Letterbox);
                assert_eq!(dst.0 - d.w - d.x, d.x, "{src:?} → {dst:?}: {d:?}");
                assert_eq!(dst.1 - d.h - d.y, d.y, "{src:?} → {dst:?}: {d:?}");
                assert_eq!((d.x % 2, d.y % 2, d.w % 2, d.h % 2), (0, 0, 0, 0));
                // Within 2 pixels of the exact aspect-preserving size.
                let exact_w = (src.0 as f64 * d.h as f64 / src.1 as f64).min(dst.0 as f64);
                let exact_h = (src.1 as f64 * d.w as f64 / src.0 as f64).min(dst.1 as f64);
                assert!((d.w as f64 - exact_w).abs() <= 2.5 || (d.h as f64 - exact_h).abs() <= 2.5);
                let (s, _) = fit_rects(src, dst, Fit::Crop);
                assert_eq!(src.0 - s.w - s.x, s.x, "{src:?} → {dst:?}: crop {s:?}");
                assert_eq!(src.1 - s.h - s.y, s.y, "{src:?} → {dst:?}: crop {s:?}");
            }
        }
    }

    #[test]
    fn non_square_pixels_keep_their_displayed_aspect() {
        // 480x480 stored with 4:3 pixels shows as 640x480: pillarboxed 960 wide at 720.
        let four_thirds = Rational::new(4, 3).unwrap();
        let (_, d) = fit_rects_with_sar((480, 480), four_thirds, (1280, 720), Fit::Letterbox);
        assert_eq!((d.x, d.w, d.h), (160, 960, 720));
        // Cropped to 16:9: all 480 stored columns (640 displayed), 360 of the rows.
        let (s, _) = fit_rects_with_sar((480, 480), four_thirds, (1280, 720), Fit::Crop);
        assert_eq!((s.w, s.h, s.y), (480, 360, 60));
    }

    #[test]
    fn stretch_fills_everything() {
        assert_eq!(
            fit_rects((640, 480), (1280, 720), Fit::Stretch),
            (Rect::full(640, 480), Rect::full(1280, 720))
        );
    }
}
