//! Cut-point candidates: small luma thumbnails of the frames at the start (head
//! window) and at the end (tail window) of a clip. A cut need not fall on a clip's
//! first and last frames: the planner can leave A on any frame of its tail window and
//! enter B on any frame of its head window, where the pictures (and the motion around
//! them) match best.
//!
//! A window spans min(1 s, 25 % of the clip), sampled at every frame up to 30 per
//! second (every second frame of a 60 fps clip). Each sample is a 16×9 luma
//! thumbnail (144 bytes: enough to see a pose or a camera move, small enough that a
//! thousand clips keep about 17 MB of windows in the catalog, as hex).

use crate::rational::Rational;
use crate::signature::{from_hex, to_hex};
use serde::{Deserialize, Serialize};

/// Thumbnail width and height of a window sample.
pub const SAMPLE_W: usize = 16;
pub const SAMPLE_H: usize = 9;
/// Bytes of one sample.
pub const SAMPLE_BYTES: usize = SAMPLE_W * SAMPLE_H;
/// Longest window, in seconds.
pub const MAX_WINDOW_S: u64 = 1;
/// Largest share of a clip a window may cover (a short clip keeps a body between).
pub const MAX_WINDOW_SHARE: (u64, u64) = (1, 4);
/// Most samples per second.
pub const MAX_SAMPLES_PER_S: u64 = 30;

/// The samples of one window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FrameWindow {
    /// Stored frame index (decode order of the clip's frames) of the first sample.
    pub first: u64,
    /// Stored frames from one sample to the next.
    pub step: u64,
    /// The samples' 16×9 luma thumbnails, one after another (hex in JSON).
    #[serde(serialize_with = "to_hex", deserialize_with = "from_hex")]
    pub luma: Vec<u8>,
}

impl FrameWindow {
    /// Samples in the window.
    pub fn len(&self) -> usize {
        self.luma.len() / SAMPLE_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The thumbnail of sample `i`.
    pub fn sample(&self, i: usize) -> Option<&[u8]> {
        self.luma.get(i * SAMPLE_BYTES..(i + 1) * SAMPLE_BYTES)
    }

    /// The stored frame sample `i` shows.
    pub fn frame_of(&self, i: usize) -> u64 {
        self.first + i as u64 * self.step
    }
}

/// How a clip of `stored` frames at `fps` is sampled: the stored frames a window
/// spans and the step between samples. The span is at least one frame.
pub fn window_shape(stored: u64, fps: Rational) -> (u64, u64) {
    // ceil(fps / 30), at least 1.
    let step = fps.num().div_ceil(fps.den() * MAX_SAMPLES_PER_S).max(1);
    // round(fps × 1 s), and no more than a quarter of the clip.
    let second = (fps.num() * MAX_WINDOW_S + fps.den() / 2) / fps.den();
    let share = stored * MAX_WINDOW_SHARE.0 / MAX_WINDOW_SHARE.1;
    (second.min(share).max(1), step)
}

/// Samples a window of `span` frames holds with `step`.
pub fn samples(span: u64, step: u64) -> u64 {
    span.div_ceil(step.max(1))
}

/// How different two samples look: root-mean-square luma difference over 255, from 0
/// (identical) to 1.
pub fn sample_distance(a: &[u8], b: &[u8]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 1.0;
    }
    let sum: u32 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = i32::from(x) - i32::from(y);
            (d * d) as u32
        })
        .sum();
    libm::sqrt(sum as f64 / a.len() as f64) / 255.0
}

/// Sum of squared differences of two samples. Eight lanes of i16 differences summed
/// in i32, so that the compiler vectorises it on any x86-64 (about 3× the plain
/// iterator): scoring the cut points of a large library spends its time here.
pub fn squared_difference(a: &[u8; SAMPLE_BYTES], b: &[u8; SAMPLE_BYTES]) -> u32 {
    let mut lanes = [0i32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            let d = i32::from(i16::from(x[k]) - i16::from(y[k]));
            lanes[k] += d * d;
        }
    }
    lanes.iter().sum::<i32>().unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fps(n: u64, d: u64) -> Rational {
        Rational::new(n, d).unwrap_or(Rational::ONE)
    }

    #[test]
    fn a_window_is_a_second_or_a_quarter_sampled_up_to_30_per_second() {
        assert_eq!(window_shape(300, fps(30, 1)), (30, 1));
        assert_eq!(window_shape(300, fps(25, 1)), (25, 1));
        assert_eq!(window_shape(300, fps(30000, 1001)), (30, 1));
        assert_eq!(window_shape(600, fps(60, 1)), (60, 2));
        assert_eq!(samples(60, 2), 30);
        // A 2-second clip at 30 fps: a quarter, 15 frames.
        assert_eq!(window_shape(60, fps(30, 1)), (15, 1));
        // A single frame still has a window of one.
        assert_eq!(window_shape(1, fps(30, 1)), (1, 1));
    }

    #[test]
    fn windows_round_trip_through_json_as_hex() {
        let w = FrameWindow {
            first: 270,
            step: 1,
            luma: (0..2 * SAMPLE_BYTES).map(|i| i as u8).collect(),
        };
        let json = serde_json::to_string(&w).unwrap_or_default();
        assert!(json.contains("\"luma\":\"000102"), "{json}");
        let back: FrameWindow = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, w);
        assert_eq!(back.len(), 2);
        assert_eq!(back.frame_of(1), 271);
        assert_eq!(
            sample_distance(back.sample(0).unwrap_or(&[]), back.sample(0).unwrap_or(&[])),
            0.0
        );
        assert!(sample_distance(&[0; SAMPLE_BYTES], &[255; SAMPLE_BYTES]) > 0.999);
    }
}
