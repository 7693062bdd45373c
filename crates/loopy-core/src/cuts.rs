//! Where to cut from one clip into another: for every ordered pair A→B, the frame of
//! A's tail window to leave on and the frame of B's head window to enter on (see
//! [`crate::window`] for the windows), chosen where the pictures *and the motion
//! around them* match best.
//!
//! A candidate (out, in) is scored by a short filtered distance in the spirit of
//! Video Textures (Schödl et al. 2000): the thumbnails one sample before, at and one
//! after the cut are compared pairwise, A's with B's, weighted 1–2–1 (only the terms
//! both windows hold). A pose that matches but moves the other way scores badly,
//! because its neighbours do not match. The cost is an RMS luma distance in [0, 1],
//! the unit [`crate::weights::SeamMatrix`] then carries for the planner.

use crate::catalog::ClipInfo;
use crate::window::{squared_difference, FrameWindow, SAMPLE_BYTES};
use serde::{Deserialize, Serialize};

/// The frames an entry of a plan shows: its first and last source frame, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCut {
    pub first: u64,
    pub last: u64,
}

impl EntryCut {
    /// A whole clip of `frames` frames.
    pub fn whole(frames: u64) -> Self {
        EntryCut {
            first: 0,
            last: frames.saturating_sub(1),
        }
    }

    /// Source frames shown.
    pub fn frames(&self) -> u64 {
        self.last + 1 - self.first
    }
}

/// The best cut from A into B: A's last frame shown and B's first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CutChoice {
    pub out_frame: u64,
    pub in_frame: u64,
    pub cost: f32,
}

/// Weights of the samples before, at and after the cut.
const FILTER: [f32; 3] = [1.0, 2.0, 1.0];

/// The best (out, in) pair between `tail` (A's tail window) and `head` (B's head
/// window). Ties keep the later out-point and the earlier in-point, which shows more
/// of both clips. `None` when a window is empty.
pub fn best_cut(tail: &FrameWindow, head: &FrameWindow) -> Option<CutChoice> {
    let (nt, nh) = (tail.len(), head.len());
    if nt == 0 || nh == 0 {
        return None;
    }
    // Every sample distance once; the filter then only adds.
    let mut d = vec![0f32; nt * nh];
    let scale = 1.0 / (SAMPLE_BYTES as f32 * 255.0 * 255.0);
    let (tails, heads) = (
        tail.luma.as_chunks::<SAMPLE_BYTES>().0,
        head.luma.as_chunks::<SAMPLE_BYTES>().0,
    );
    for (i, a) in tails.iter().enumerate() {
        for (j, b) in heads.iter().enumerate() {
            d[i * nh + j] = (squared_difference(a, b) as f32 * scale).sqrt();
        }
    }
    let mut best: Option<(f32, usize, usize)> = None;
    for i in (0..nt).rev() {
        for j in 0..nh {
            // The 1–2–1 filter along the diagonal, over the terms both windows hold.
            let (mut sum, mut weight) = (FILTER[1] * d[i * nh + j], FILTER[1]);
            if i > 0 && j > 0 {
                sum += FILTER[0] * d[(i - 1) * nh + j - 1];
                weight += FILTER[0];
            }
            if i + 1 < nt && j + 1 < nh {
                sum += FILTER[2] * d[(i + 1) * nh + j + 1];
                weight += FILTER[2];
            }
            let cost = sum / weight;
            if best.is_none_or(|(b, _, _)| cost < b) {
                best = Some((cost, i, j));
            }
        }
    }
    best.map(|(cost, i, j)| CutChoice {
        out_frame: tail.frame_of(i),
        in_frame: head.frame_of(j),
        cost,
    })
}

/// A one-sample window: sample `i` of `w`, standing for stored frame `frame`.
fn corner(w: &FrameWindow, i: usize, frame: u64) -> FrameWindow {
    FrameWindow {
        first: frame,
        step: 1,
        luma: w.sample(i).map(<[u8]>::to_vec).unwrap_or_default(),
    }
}

/// The best cut of every ordered pair of a library.
#[derive(Debug, Clone)]
pub struct CutMatrix {
    n: usize,
    choices: Vec<CutChoice>,
}

impl CutMatrix {
    /// Scores every ordered pair, rows spread over the machine's cores. `None` when a
    /// clip has no windows (scanned with `--no-windows`).
    pub fn from_clips(clips: &[ClipInfo]) -> Option<Self> {
        let windows: Vec<(FrameWindow, FrameWindow)> = clips
            .iter()
            .map(|c| match (&c.tail_window, &c.head_window) {
                (Some(t), Some(h)) if !t.is_empty() && !h.is_empty() => {
                    Some(match c.stored_frames {
                        None => (t.clone(), h.clone()),
                        // Stored frames that leave gaps are not the timeline's frames:
                        // such a clip is cut at its ends only.
                        Some(_) => (
                            corner(t, t.len() - 1, c.frames.saturating_sub(1)),
                            corner(h, 0, 0),
                        ),
                    })
                }
                _ => None,
            })
            .collect::<Option<_>>()?;
        let windows = &windows;
        let n = clips.len();
        let threads = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .min(n.max(1));
        let rows_per_thread = n.div_ceil(threads.max(1)).max(1);
        let row = |a: usize| -> Vec<CutChoice> {
            (0..n)
                .map(|b| {
                    best_cut(&windows[a].0, &windows[b].1).unwrap_or(CutChoice {
                        out_frame: clips[a].frames.saturating_sub(1),
                        in_frame: 0,
                        cost: 1.0,
                    })
                })
                .collect()
        };
        let mut choices = Vec::with_capacity(n * n);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..n)
                .step_by(rows_per_thread)
                .map(|start| {
                    let end = (start + rows_per_thread).min(n);
                    scope.spawn(move || (start..end).flat_map(row).collect::<Vec<_>>())
                })
                .collect();
            for worker in workers {
                // A worker only computes; it cannot panic on user data.
                if let Ok(rows) = worker.join() {
                    choices.extend(rows);
                }
            }
        });
        (choices.len() == n * n).then_some(CutMatrix { n, choices })
    }

    /// A matrix kept from an earlier scoring (`choices` row-major, `n`² of them).
    /// `None` unless every choice lies inside its clips (`frames`: each clip's frame
    /// count), so a damaged or stale copy is scored again rather than used.
    pub fn from_choices(frames: &[u64], choices: Vec<CutChoice>) -> Option<Self> {
        let n = frames.len();
        let fits = choices.len() == n * n
            && choices.iter().enumerate().all(|(i, c)| {
                c.out_frame < frames[i / n]
                    && c.in_frame < frames[i % n]
                    && c.cost.is_finite()
                    && c.cost >= 0.0
            });
        fits.then_some(CutMatrix { n, choices })
    }

    /// Every pair's choice, row-major (what [`CutMatrix::from_choices`] takes back).
    pub fn choices(&self) -> &[CutChoice] {
        &self.choices
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The best cut from clip `a` into clip `b`.
    pub fn get(&self, a: usize, b: usize) -> CutChoice {
        self.choices[a * self.n + b]
    }

    /// Each pair's cost, row-major: what the planner weighs.
    pub fn costs(&self) -> Vec<f32> {
        self.choices.iter().map(|c| c.cost).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A window whose samples are flat greys of the given levels.
    fn window(first: u64, levels: &[u8]) -> FrameWindow {
        FrameWindow {
            first,
            step: 1,
            luma: levels
                .iter()
                .flat_map(|&l| std::iter::repeat_n(l, SAMPLE_BYTES))
                .collect(),
        }
    }

    #[test]
    fn the_cut_lands_where_motion_continues() {
        // A fades up 100..=130 in its tail; B's head holds 118..=124 then keeps going
        // up: the seam is best where B's ramp matches A's, on the same slope.
        let tail = window(70, &[100, 104, 108, 112, 116, 120, 124, 128]);
        let head = window(0, &[60, 40, 116, 120, 124, 128, 132]);
        let cut = best_cut(&tail, &head).unwrap_or_else(|| panic!("no cut"));
        assert_eq!(cut.cost, 0.0, "{cut:?}");
        // Three alignments match exactly (A's 120, 124 or 128 with B's own); the tie
        // goes to the latest out-point: A's 128 (frame 77) into B's 128 (frame 5).
        assert_eq!((cut.out_frame, cut.in_frame), (77, 5), "{cut:?}");
    }

    #[test]
    fn a_matching_pose_moving_the_other_way_loses() {
        // B passes level 100 falling (frame 2), then rises again through 99 and 104.
        // A rises through 100: the rising pass wins although 100 = 100 exactly.
        let tail = window(10, &[90, 95, 100, 105, 110]);
        let head = window(0, &[112, 105, 100, 95, 99, 104, 109]);
        let cut = best_cut(&tail, &head).unwrap_or_else(|| panic!("no cut"));
        assert!(cut.in_frame >= 4, "{cut:?}");
    }

    #[test]
    fn ties_keep_the_most_of_both_clips() {
        let tail = window(50, &[7, 7, 7]);
        let head = window(0, &[7, 7, 7]);
        let cut = best_cut(&tail, &head).unwrap_or_else(|| panic!("no cut"));
        assert_eq!((cut.out_frame, cut.in_frame), (52, 0));
    }

    #[test]
    fn kept_choices_come_back_only_inside_their_clips() {
        let choice = |out_frame, in_frame| CutChoice {
            out_frame,
            in_frame,
            cost: 0.5,
        };
        let frames = [10, 20];
        let good = vec![choice(9, 0), choice(9, 19), choice(19, 0), choice(5, 5)];
        let m = CutMatrix::from_choices(&frames, good.clone()).unwrap_or_else(|| panic!("kept"));
        assert_eq!(m.choices(), good.as_slice());
        assert_eq!(m.get(0, 1), choice(9, 19));
        // B = clip 0 has 10 frames: an in-point at 19 is from another library.
        let mut stale = good.clone();
        stale[2] = choice(19, 19);
        assert!(CutMatrix::from_choices(&frames, stale).is_none());
        assert!(CutMatrix::from_choices(&frames, good[..3].to_vec()).is_none());
    }

    #[test]
    fn entry_cuts_count_their_frames() {
        assert_eq!(EntryCut::whole(90).frames(), 90);
        assert_eq!(EntryCut { first: 3, last: 80 }.frames(), 78);
    }
}
