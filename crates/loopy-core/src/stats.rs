//! Statistics of a planned sequence: the evidence that it does not repeat visibly.

use crate::rational::Rational;
use crate::weights::SeamMatrix;
use serde::{Deserialize, Serialize};

/// What `loopy plan` reports about a sequence (and records in the plan file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStats {
    /// Clips in the sequence.
    pub entries: u64,
    pub transitions: u64,
    /// Times a clip directly follows itself (0 whenever the library has two clips or more).
    pub immediate_repeats: u64,
    /// How often each catalog clip is used, aligned with `clips`.
    pub use_counts: Vec<u64>,
    pub clips_used: u64,
    /// `clips_used / clips`.
    pub coverage: f64,
    /// Fewest picks between two uses of one clip (`None` if no clip is used twice).
    pub min_gap: Option<u64>,
    pub mean_gap: Option<f64>,
    /// Shannon entropy of the pick frequencies…
    pub entropy_bits: f64,
    /// …next to its ceiling, log2(clips).
    pub max_entropy_bits: f64,
    /// Length of the longest run of clips that occurs twice in the sequence.
    pub longest_repeat: u64,
    /// Mean last-frame → first-frame distance over the transitions…
    pub mean_seam_distance: Option<f64>,
    /// …next to the mean a uniformly random successor would give.
    pub uniform_mean_seam_distance: Option<f64>,
    /// The worst seam of the sequence…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst_seam_distance: Option<f64>,
    /// …next to the worst a uniform shuffle can meet (the largest distance between two clips).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform_worst_seam_distance: Option<f64>,
    pub total_duration_s: f64,
    pub total_frames: u64,
}

/// Computes every figure. `seams` is optional because a plan read back from disk
/// carries no signatures; the seam figures are then left to the caller.
pub fn compute(
    sequence: &[usize],
    n_clips: usize,
    seams: Option<&SeamMatrix>,
    total_frames: u64,
    fps: Rational,
) -> PlanStats {
    let len = sequence.len() as u64;
    let mut use_counts = vec![0u64; n_clips];
    let mut last_pos: Vec<Option<usize>> = vec![None; n_clips];
    let (mut gap_sum, mut gap_count, mut min_gap) = (0u64, 0u64, None::<u64>);
    for (pos, &clip) in sequence.iter().enumerate() {
        if let Some(slot) = use_counts.get_mut(clip) {
            *slot += 1;
        }
        if let Some(prev) = last_pos.get(clip).copied().flatten() {
            let gap = (pos - prev) as u64;
            gap_sum += gap;
            gap_count += 1;
            min_gap = Some(min_gap.map_or(gap, |m| m.min(gap)));
        }
        if let Some(slot) = last_pos.get_mut(clip) {
            *slot = Some(pos);
        }
    }
    let clips_used = use_counts.iter().filter(|&&c| c > 0).count() as u64;
    let entropy_bits = if len == 0 {
        0.0
    } else {
        -use_counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| {
                let p = c as f64 / len as f64;
                p * libm::log2(p)
            })
            .sum::<f64>()
    };
    let mean_seam_distance = seams
        .filter(|_| len > 1)
        .map(|s| sequence.windows(2).map(|w| s.get(w[0], w[1])).sum::<f64>() / (len - 1) as f64);
    let worst_seam_distance = seams.filter(|_| len > 1).map(|s| {
        sequence
            .windows(2)
            .map(|w| s.get(w[0], w[1]))
            .fold(0.0, f64::max)
    });
    PlanStats {
        entries: len,
        transitions: len.saturating_sub(1),
        immediate_repeats: sequence.windows(2).filter(|w| w[0] == w[1]).count() as u64,
        use_counts,
        clips_used,
        coverage: if n_clips == 0 {
            0.0
        } else {
            clips_used as f64 / n_clips as f64
        },
        min_gap,
        mean_gap: (gap_count > 0).then(|| gap_sum as f64 / gap_count as f64),
        entropy_bits: entropy_bits.max(0.0),
        max_entropy_bits: if n_clips == 0 {
            0.0
        } else {
            libm::log2(n_clips as f64)
        },
        longest_repeat: longest_repeat(sequence) as u64,
        mean_seam_distance,
        uniform_mean_seam_distance: seams.and_then(SeamMatrix::uniform_mean),
        worst_seam_distance,
        uniform_worst_seam_distance: seams.and_then(SeamMatrix::max_off_diagonal),
        total_duration_s: fps.seconds(total_frames),
        total_frames,
    }
}

/// Length of the longest run that occurs at least twice (overlaps allowed).
/// Having a repeat of length L implies one of every shorter length, so the length is
/// found by doubling, then bisecting. Each probe hashes every window once (Rabin–Karp
/// modulo 2^61−1), sorts the hashes and confirms equal hashes by comparing windows.
pub fn longest_repeat(seq: &[usize]) -> usize {
    let mut scratch = Vec::with_capacity(seq.len());
    let mut probe = |len: usize| has_repeat_of_len(seq, len, &mut scratch);
    // Doubling: `lo` has a repeat, `hi` does not.
    let (mut lo, mut hi) = (0usize, 1usize);
    while hi < seq.len() && probe(hi) {
        lo = hi;
        hi *= 2;
    }
    let mut hi = hi.min(seq.len());
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if probe(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

const MODULUS: u128 = (1 << 61) - 1;
const BASE: u128 = 1_000_003;

fn has_repeat_of_len(seq: &[usize], len: usize, hashes: &mut Vec<(u64, u32)>) -> bool {
    if len == 0 {
        return true;
    }
    if len >= seq.len() {
        return false;
    }
    let mut top = 1u128; // BASE^(len-1)
    for _ in 1..len {
        top = top * BASE % MODULUS;
    }
    let mut hash = 0u128;
    for &x in &seq[..len] {
        hash = (hash * BASE + x as u128 + 1) % MODULUS;
    }
    hashes.clear();
    for start in 0..=seq.len() - len {
        if start > 0 {
            let out = (seq[start - 1] as u128 + 1) * top % MODULUS;
            hash = ((hash + MODULUS - out) * BASE + seq[start + len - 1] as u128 + 1) % MODULUS;
        }
        hashes.push((hash as u64, start as u32));
    }
    hashes.sort_unstable();
    let window = |start: u32| &seq[start as usize..start as usize + len];
    let mut group_first = 0;
    for i in 1..hashes.len() {
        if hashes[i].0 != hashes[i - 1].0 {
            group_first = i;
            continue;
        }
        let here = window(hashes[i].1);
        if here == window(hashes[i - 1].1) || here == window(hashes[group_first].1) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force(seq: &[usize]) -> usize {
        let mut best = 0;
        for i in 0..seq.len() {
            for j in i + 1..seq.len() {
                let mut k = 0;
                while j + k < seq.len() && seq[i + k] == seq[j + k] {
                    k += 1;
                }
                best = best.max(k);
            }
        }
        best
    }

    #[test]
    fn longest_repeat_matches_brute_force() {
        let cases: [&[usize]; 6] = [
            &[],
            &[1],
            &[1, 2, 3, 4],
            &[1, 2, 1, 2, 1, 2],
            &[5, 1, 2, 3, 9, 1, 2, 3, 7],
            &[0, 0, 0, 0],
        ];
        for case in cases {
            assert_eq!(longest_repeat(case), brute_force(case), "{case:?}");
        }
        let pseudo: Vec<usize> = (0..400u64)
            .map(|i| ((i * 2654435761) >> 7) as usize % 6)
            .collect();
        assert_eq!(longest_repeat(&pseudo), brute_force(&pseudo));
    }

    #[test]
    fn figures_of_a_small_sequence() {
        let s = compute(
            &[0, 1, 0, 2, 0],
            4,
            None,
            150,
            Rational::new(30, 1).unwrap(),
        );
        assert_eq!(s.transitions, 4);
        assert_eq!(s.immediate_repeats, 0);
        assert_eq!(s.use_counts, vec![3, 1, 1, 0]);
        assert_eq!(s.coverage, 0.75);
        assert_eq!(s.min_gap, Some(2));
        assert_eq!(s.mean_gap, Some(2.0));
        assert_eq!(s.longest_repeat, 1);
        assert_eq!(s.max_entropy_bits, 2.0);
        assert!((s.entropy_bits - 1.370950594).abs() < 1e-6);
        assert_eq!(s.total_duration_s, 5.0);
    }
}
