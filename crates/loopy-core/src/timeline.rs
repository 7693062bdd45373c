//! Output-frame accounting: where each planned clip starts in the output, how many
//! output frames it spans, and which source frame an output frame shows.
//!
//! Time is tracked as an exact fraction of output frames. Clip *i* starts at output
//! time `X_i` (in frames, a fraction), lasts `D_i = frames_i · fps_out / fps_i`, and the
//! next clip starts at `X_{i+1} = X_i + D_i − crossfade`. The output frames that belong
//! to clip *i* are the whole frames `k` with `X_i ≤ k < X_i + D_i`. Nothing is rounded
//! per clip, so hours of 25 fps clips at 29.97 fps never drift from the planned count.

use crate::cuts::EntryCut;
use crate::rational::{gcd, Rational};
use serde::{Deserialize, Serialize};

/// A non-negative fraction of output frames, kept in lowest terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frac {
    num: u128,
    den: u128,
}

impl Frac {
    const ZERO: Frac = Frac { num: 0, den: 1 };

    fn new(num: u128, den: u128) -> Self {
        let g = gcd(num, den).max(1);
        Frac {
            num: num / g,
            den: den / g,
        }
    }

    fn add(self, other: Frac) -> Frac {
        let g = gcd(self.den, other.den);
        let den = self.den / g * other.den;
        Frac::new(
            self.num * (den / self.den) + other.num * (den / other.den),
            den,
        )
    }

    /// Subtracting a whole number keeps a fraction in lowest terms: no reduction needed.
    fn sub_whole(self, whole: u64) -> Frac {
        Frac {
            num: self.num.saturating_sub(whole as u128 * self.den),
            den: self.den,
        }
    }

    fn ceil(self) -> u64 {
        self.num.div_ceil(self.den) as u64
    }
}

/// Output frames a clip of `frames` frames at `clip_fps` lasts at `out_fps`, as a fraction.
fn span(frames: u64, clip_fps: Rational, out_fps: Rational) -> Frac {
    Frac::new(
        frames as u128 * clip_fps.den() as u128 * out_fps.num() as u128,
        clip_fps.num() as u128 * out_fps.den() as u128,
    )
}

/// Whole output frames a clip covers when shown alone (the floor of its span). The
/// cross-fade limit is checked against this.
pub fn whole_output_frames(frames: u64, clip_fps: Rational, out_fps: Rational) -> u64 {
    let s = span(frames, clip_fps, out_fps);
    (s.num / s.den) as u64
}

/// One placed clip: where it starts in the output and how many frames it spans,
/// cross-fade overlap included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    pub start_frame: u64,
    pub frames: u64,
}

/// Places clips one after another on the output timeline.
#[derive(Debug, Clone)]
pub struct Timeline {
    out_fps: Rational,
    crossfade: u64,
    /// Start time of the next clip, in output frames.
    next_start: Frac,
    /// One past the last output frame placed so far.
    end: u64,
    placed: u64,
}

impl Timeline {
    pub fn new(out_fps: Rational, crossfade_frames: u64) -> Self {
        Timeline {
            out_fps,
            crossfade: crossfade_frames,
            next_start: Frac::ZERO,
            end: 0,
            placed: 0,
        }
    }

    /// Appends a clip and says where it landed.
    pub fn push(&mut self, frames: u64, clip_fps: Rational) -> Placement {
        let start = self.next_start;
        let end_time = start.add(span(frames, clip_fps, self.out_fps));
        let start_frame = start.ceil();
        let end_frame = end_time.ceil();
        self.next_start = end_time.sub_whole(self.crossfade);
        self.end = end_frame;
        self.placed += 1;
        Placement {
            start_frame,
            frames: end_frame - start_frame,
        }
    }

    /// Whether the next clip starts exactly on an output frame (it shows the same
    /// source frames as the clip re-timed on its own, as smart render's conformed
    /// clips are).
    pub fn next_start_is_whole(&self) -> bool {
        self.next_start.num.is_multiple_of(self.next_start.den)
    }

    /// Output frames placed so far: exactly what a render writes.
    pub fn total_frames(&self) -> u64 {
        self.end
    }

    pub fn clips_placed(&self) -> u64 {
        self.placed
    }
}

/// Which source frame output frame `k` shows, for a clip whose exact start time is
/// `start` output frames. Kept separate from [`Timeline`] so the renderer can map
/// frames of a placement without replaying the whole plan.
#[derive(Debug, Clone, Copy)]
pub struct Retimer {
    start: Frac,
    clip_fps: Rational,
    out_fps: Rational,
    /// The first source frame the entry shows (its in-point) and how many it shows.
    first: u64,
    clip_frames: u64,
}

impl Retimer {
    /// Source frame shown at output frame `k` (which must lie within the clip's placement).
    pub fn source_frame(&self, k: u64) -> u64 {
        // t = (k − start) / out_fps seconds; source index = floor(t · clip_fps).
        let k_frac = k as u128 * self.start.den;
        let offset = k_frac.saturating_sub(self.start.num);
        let num = offset * self.out_fps.den() as u128 * self.clip_fps.num() as u128;
        let den = self.start.den * self.out_fps.num() as u128 * self.clip_fps.den() as u128;
        self.first + ((num / den) as u64).min(self.clip_frames.saturating_sub(1))
    }
}

impl Timeline {
    /// Like [`Timeline::push`] for the source frames `cut` keeps, also returning the
    /// source-frame mapping of the entry.
    pub fn push_with_retimer(&mut self, cut: EntryCut, clip_fps: Rational) -> (Placement, Retimer) {
        let retimer = Retimer {
            start: self.next_start,
            clip_fps,
            out_fps: self.out_fps,
            first: cut.first,
            clip_frames: cut.frames(),
        };
        (self.push(cut.frames(), clip_fps), retimer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: u64, d: u64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    #[test]
    fn same_rate_no_crossfade_adds_up() {
        let mut t = Timeline::new(r(30, 1), 0);
        assert_eq!(
            t.push(150, r(30, 1)),
            Placement {
                start_frame: 0,
                frames: 150
            }
        );
        assert_eq!(
            t.push(90, r(30, 1)),
            Placement {
                start_frame: 150,
                frames: 90
            }
        );
        assert_eq!(t.total_frames(), 240);
    }

    #[test]
    fn crossfade_overlaps_consecutive_clips() {
        let mut t = Timeline::new(r(30, 1), 9);
        let a = t.push(150, r(30, 1));
        let b = t.push(150, r(30, 1));
        assert_eq!(b.start_frame, a.start_frame + a.frames - 9);
        assert_eq!(t.total_frames(), 291);
    }

    #[test]
    fn retiming_24_to_30_is_exact() {
        let mut t = Timeline::new(r(30, 1), 0);
        // 96 frames at 24 fps = 4 s = 120 output frames.
        let (p, rt) = t.push_with_retimer(EntryCut::whole(96), r(24, 1));
        assert_eq!(p.frames, 120);
        assert_eq!(rt.source_frame(0), 0);
        assert_eq!(rt.source_frame(5), 4); // 5/30 s = 0.1666 s → frame 4 at 24 fps
        assert_eq!(rt.source_frame(119), 95);
    }

    #[test]
    fn retiming_60_to_30_takes_every_other_frame() {
        let mut t = Timeline::new(r(30, 1), 0);
        let (p, rt) = t.push_with_retimer(EntryCut::whole(120), r(60, 1));
        assert_eq!(p.frames, 60);
        assert!((0..60).all(|k| rt.source_frame(k) == 2 * k));
    }

    #[test]
    fn an_in_point_shifts_the_source_frames_and_the_out_point_ends_them() {
        let mut t = Timeline::new(r(30, 1), 0);
        let (p, rt) = t.push_with_retimer(EntryCut { first: 5, last: 84 }, r(30, 1));
        assert_eq!(p.frames, 80);
        assert_eq!(rt.source_frame(0), 5);
        assert_eq!(rt.source_frame(79), 84);
        // 60 fps source shown at 30: every other frame from the in-point.
        let (p, rt) = t.push_with_retimer(EntryCut { first: 7, last: 46 }, r(60, 1));
        assert_eq!((p.start_frame, p.frames), (80, 20));
        assert_eq!(rt.source_frame(80), 7);
        assert_eq!(rt.source_frame(99), 45);
    }

    #[test]
    fn no_drift_over_hours_of_25_fps_at_ntsc() {
        // 3 hours of 4-second 25 fps clips at 30000/1001: 2700 clips of 100 frames.
        let out = r(30000, 1001);
        let mut t = Timeline::new(out, 0);
        for _ in 0..2700 {
            t.push(100, r(25, 1));
        }
        // 10 800 s · 30000/1001 = 323 676.32… → 323 677 frames, no more, no less.
        assert_eq!(
            t.total_frames(),
            (10_800u128 * 30_000).div_ceil(1001) as u64
        );
    }

    #[test]
    fn placements_tile_the_output() {
        let out = r(30000, 1001);
        let mut t = Timeline::new(out, 7);
        let mut expected_start = 0;
        let mut sum = 0;
        for i in 0..500u64 {
            let fps = if i % 2 == 0 { r(25, 1) } else { r(24000, 1001) };
            let p = t.push(80 + i % 17, fps);
            assert_eq!(p.start_frame, expected_start);
            expected_start = p.start_frame + p.frames - 7;
            sum += p.frames;
        }
        assert_eq!(t.total_frames(), sum - 7 * 499);
    }
}
