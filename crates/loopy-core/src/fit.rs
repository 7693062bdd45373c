//! How a clip of one size fills an output of another: `letterbox` (whole picture,
//! aspect kept, black bars), `crop` (fills the frame, aspect kept, edges cut) or
//! `stretch` (fills the frame, aspect changed). Rectangles are aligned to even
//! coordinates and sizes so that 4:2:0 chroma planes line up.

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

fn even(v: u64) -> u32 {
    (v as u32) & !1
}

/// The part of the source that is shown and where it lands in the output.
pub fn fit_rects(src: (u32, u32), dst: (u32, u32), fit: Fit) -> (Rect, Rect) {
    let (sw, sh) = (src.0 as u64, src.1 as u64);
    let (dw, dh) = (dst.0 as u64, dst.1 as u64);
    match fit {
        Fit::Stretch => (Rect::full(src.0, src.1), Rect::full(dst.0, dst.1)),
        _ if sw * dh == sh * dw => (Rect::full(src.0, src.1), Rect::full(dst.0, dst.1)),
        Fit::Letterbox => {
            // Scale so the whole source fits, then centre it.
            let (w, h) = if sw * dh > sh * dw {
                (dw, (sh * dw + sw / 2) / sw)
            } else {
                ((sw * dh + sh / 2) / sh, dh)
            };
            let (w, h) = (even(w).max(2), even(h).max(2));
            let x = even((dw - w as u64) / 2);
            let y = even((dh - h as u64) / 2);
            (Rect::full(src.0, src.1), Rect { x, y, w, h })
        }
        Fit::Crop => {
            // Take the centred part of the source with the output's aspect.
            let (w, h) = if sw * dh > sh * dw {
                ((dw * sh + dh / 2) / dh, sh)
            } else {
                (sw, (dh * sw + dw / 2) / dw)
            };
            let (w, h) = (even(w).max(2), even(h).max(2));
            let x = even((sw - w as u64) / 2);
            let y = even((sh - h as u64) / 2);
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
    fn stretch_fills_everything() {
        assert_eq!(
            fit_rects((640, 480), (1280, 720), Fit::Stretch),
            (Rect::full(640, 480), Rect::full(1280, 720))
        );
    }
}
