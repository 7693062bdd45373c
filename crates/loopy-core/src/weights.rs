//! Transition weights: how much the planner wants clip *b* to follow clip *a*, before
//! the hard rules (no immediate repeat, history, n-grams) are applied.
//!
//! Four ways to get them: `uniform`, `similarity` (the closer the last frame of *a* is
//! to the first frame of *b*, the likelier), `learned` (counted from an example
//! sequence) and `custom` (a matrix the user wrote).

use crate::catalog::ClipInfo;
use crate::error::PlanError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where transition weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModeSpec {
    Uniform,
    /// `sigma_scale` multiplies the library's calibrated σ (see [`calibrated_sigma`]).
    Similarity {
        sigma_scale: f64,
    },
    /// Transition counts of an example sequence (indexes into the catalog) plus `smoothing`.
    Learned {
        example: Vec<usize>,
        smoothing: f64,
    },
    /// A full n×n matrix, row-major, `matrix[a * n + b]` = weight of a → b.
    Custom {
        matrix: Vec<f64>,
    },
}

impl ModeSpec {
    pub fn name(&self) -> &'static str {
        match self {
            ModeSpec::Uniform => "uniform",
            ModeSpec::Similarity { .. } => "similarity",
            ModeSpec::Learned { .. } => "learned",
            ModeSpec::Custom { .. } => "custom",
        }
    }
}

/// The mode names the CLI accepts, checked before any file is read.
pub fn check_mode_name(name: &str) -> Result<(), PlanError> {
    match name {
        "uniform" | "similarity" | "learned" | "custom" => Ok(()),
        other => Err(PlanError::UnknownMode(other.to_string())),
    }
}

/// Seam distances: `d[a * n + b]` = distance from the last frame of *a* to the first of *b*.
#[derive(Debug, Clone)]
pub struct SeamMatrix {
    n: usize,
    d: Vec<f32>,
}

impl SeamMatrix {
    pub fn from_clips(clips: &[ClipInfo]) -> Self {
        let n = clips.len();
        let mut d = Vec::with_capacity(n * n);
        for a in clips {
            for b in clips {
                d.push(a.tail.distance(&b.head) as f32);
            }
        }
        SeamMatrix { n, d }
    }

    /// The costs of the best cuts inside the clips' windows in place of their ends.
    pub fn from_cuts(cuts: &crate::cuts::CutMatrix) -> Self {
        SeamMatrix {
            n: cuts.len(),
            d: cuts.costs(),
        }
    }

    pub fn get(&self, a: usize, b: usize) -> f64 {
        self.d[a * self.n + b] as f64
    }

    /// The distances of every ordered pair of different clips, row by row.
    fn off_diagonal(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.n).flat_map(move |a| {
            (0..self.n)
                .filter(move |&b| b != a)
                .map(move |b| self.get(a, b))
        })
    }

    /// Median distance over all ordered pairs of different clips (lower middle for an
    /// even count); `None` with fewer than two clips.
    pub fn median_off_diagonal(&self) -> Option<f64> {
        let mut values: Vec<f64> = self.off_diagonal().collect();
        if values.is_empty() {
            return None;
        }
        let mid = (values.len() - 1) / 2;
        let (_, median, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
        Some(*median)
    }

    /// The smallest distance between two different clips.
    pub fn min_off_diagonal(&self) -> Option<f64> {
        self.off_diagonal().reduce(f64::min)
    }

    /// Each clip's smallest distance to another clip (0 for a lone clip).
    pub fn row_best(&self) -> Vec<f64> {
        (0..self.n)
            .map(|a| {
                (0..self.n)
                    .filter(|&b| b != a)
                    .map(|b| self.get(a, b))
                    .reduce(f64::min)
                    .unwrap_or(0.0)
            })
            .collect()
    }

    /// The largest distance between two different clips: the worst seam a uniform
    /// shuffle can meet. `None` with fewer than two clips.
    pub fn max_off_diagonal(&self) -> Option<f64> {
        self.off_diagonal().reduce(f64::max)
    }

    /// Mean seam distance of a chain that picks every successor uniformly: the figure a
    /// plan's own mean seam distance is compared with.
    pub fn uniform_mean(&self) -> Option<f64> {
        if self.n < 2 {
            return None;
        }
        Some(self.off_diagonal().sum::<f64>() / (self.n * (self.n - 1)) as f64)
    }
}

/// How many successors a typical clip should effectively choose between: the
/// perplexity (2 to the power of the entropy) of its row of similarity weights. Two
/// lets a clip with one good match take it nearly always, and one with several good
/// matches spread its picks over them; the rules (history, n-grams) and foresight
/// provide the rest of the variety. Chosen on `bench/seams`.
pub const EFFECTIVE_CHOICES: f64 = 1.01;

/// Rows the calibration looks at, at most (evenly spaced over the library): enough
/// for a median, and cheap at thousands of clips.
const CALIBRATION_ROWS: usize = 64;

/// σ for this library: the one that gives the median sampled row
/// [`EFFECTIVE_CHOICES`] effective successors (each clip's row is measured from its
/// own best seam, so a library of good and bad clips alike is judged by the spread
/// of its choices, not by its absolute distances). `None` when there is nothing to
/// prefer: fewer than two clips, or every seam the same.
pub fn calibrated_sigma(seams: &SeamMatrix) -> Option<f64> {
    let n = seams.n;
    if n < 2 {
        return None;
    }
    let step = n.div_ceil(CALIBRATION_ROWS).max(1);
    let rows: Vec<Vec<f64>> = (0..n)
        .step_by(step)
        .map(|a| {
            let row: Vec<f64> = (0..n)
                .filter(|&b| b != a)
                .map(|b| seams.get(a, b))
                .collect();
            let best = row.iter().copied().fold(f64::INFINITY, f64::min);
            row.into_iter().map(|d| d - best).collect()
        })
        .collect();
    let spread = rows.iter().flatten().copied().fold(0.0, f64::max);
    if !(spread > 0.0 && spread.is_finite()) {
        return None;
    }
    let target = EFFECTIVE_CHOICES.min((n - 1) as f64);
    let median_perplexity = |sigma: f64| {
        let mut values: Vec<f64> = rows.iter().map(|row| perplexity(row, sigma)).collect();
        let mid = (values.len() - 1) / 2;
        let (_, m, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
        *m
    };
    // Perplexity grows with σ: bisect on a log scale between a sharp and a flat σ.
    let (mut lo, mut hi) = (spread * 1e-4, spread * 1e3);
    if median_perplexity(hi) <= target {
        return Some(hi);
    }
    for _ in 0..50 {
        let mid = libm::sqrt(lo * hi);
        if median_perplexity(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// Effective number of choices of weights exp(−d/σ) over `row` (2^entropy).
fn perplexity(row: &[f64], sigma: f64) -> f64 {
    let weights: Vec<f64> = row.iter().map(|d| libm::exp(-d / sigma)).collect();
    let total: f64 = weights.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return 1.0;
    }
    let entropy: f64 = weights
        .iter()
        .filter(|&&w| w > 0.0)
        .map(|&w| {
            let p = w / total;
            -p * libm::log2(p)
        })
        .sum();
    libm::exp2(entropy)
}

/// The smallest similarity weight: far below anything a draw would meet while a
/// better seam is allowed, but not zero.
const MIN_SIMILARITY: f64 = 1e-300;

/// The base transition weights of a plan, before the hard rules.
#[derive(Debug, Clone)]
pub struct WeightModel {
    n: usize,
    kind: Kind,
    /// Per-target factor: manifest weight × signal boost. Zero removes a clip.
    target: Vec<f64>,
    /// At most one clip can be used: it may follow itself.
    lone_clip: bool,
    /// −ln(target ÷ the largest target) per clip, for [`WeightModel::path_cost`].
    share_cost: Vec<f64>,
}

#[derive(Debug, Clone)]
enum Kind {
    Uniform,
    Similarity {
        seams: SeamMatrix,
        sigma: f64,
        /// Each clip's best seam to another clip: weights are measured from it.
        row_best: Vec<f64>,
        /// The best seam of the library, from which [`WeightModel::path_cost`] counts.
        floor: f64,
    },
    Dense(Vec<f64>),
}

impl WeightModel {
    pub fn new(mode: &ModeSpec, seams: &SeamMatrix, target: Vec<f64>) -> Result<Self, PlanError> {
        let n = target.len();
        let kind = match mode {
            ModeSpec::Uniform => Kind::Uniform,
            ModeSpec::Similarity { sigma_scale } => {
                if !(sigma_scale.is_finite() && *sigma_scale > 0.0) {
                    return Err(PlanError::InvalidOption(format!(
                        "--sigma must be a number > 0, got {sigma_scale}"
                    )));
                }
                match calibrated_sigma(seams) {
                    Some(sigma) => Kind::Similarity {
                        seams: seams.clone(),
                        sigma: sigma * sigma_scale,
                        row_best: seams.row_best(),
                        floor: seams.min_off_diagonal().unwrap_or(0.0),
                    },
                    // All clips look alike (or there is one): nothing to prefer.
                    None => Kind::Uniform,
                }
            }
            ModeSpec::Learned { example, smoothing } => {
                if !(smoothing.is_finite() && *smoothing >= 0.0) {
                    return Err(PlanError::InvalidOption(format!(
                        "--smoothing must be a number ≥ 0, got {smoothing}"
                    )));
                }
                let mut m = vec![*smoothing; n * n];
                for pair in example.windows(2) {
                    if pair[0] < n && pair[1] < n {
                        m[pair[0] * n + pair[1]] += 1.0;
                    }
                }
                Kind::Dense(m)
            }
            ModeSpec::Custom { matrix } => {
                if matrix.len() != n * n {
                    return Err(PlanError::Matrix(format!(
                        "expected {n}×{n} weights, got {}",
                        matrix.len()
                    )));
                }
                Kind::Dense(matrix.clone())
            }
        };
        let lone_clip = target.iter().filter(|&&t| t > 0.0).count() <= 1;
        let target_max = target.iter().copied().fold(0.0, f64::max);
        let share_cost = target
            .iter()
            .map(|&t| -libm::log((t / target_max).max(MIN_SIMILARITY)))
            .collect();
        Ok(WeightModel {
            n,
            kind,
            target,
            lone_clip,
            share_cost,
        })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// What foresight counts for the step `a → b` of a path: the seam above the
    /// library's best, in σ, less the log of `b`'s share (signals). Unlike a row of
    /// weights, which says only which successor is best *for a*, this compares seams
    /// across clips, so that a path through a clip whose best seam is still a bad one
    /// costs what it shows. ≥ 0; only meaningful with foresight (similarity weights).
    pub fn path_cost(&self, a: usize, b: usize) -> f64 {
        match &self.kind {
            Kind::Similarity {
                seams,
                sigma,
                floor,
                ..
            } => (seams.get(a, b) - floor) / sigma + self.share_cost[b],
            _ => 0.0,
        }
    }

    /// Clips that can be picked at all (weight and signals above zero).
    pub fn usable(&self) -> usize {
        self.target.iter().filter(|&&t| t > 0.0).count()
    }

    /// Whether the chain should look one pick ahead (see `Chain`'s outlook): for
    /// similarity weights, where a seam's quality is what the weights say.
    pub fn foresight(&self) -> bool {
        matches!(self.kind, Kind::Similarity { .. })
    }

    /// The σ of similarity weights (after `--sigma`), for the plan's record.
    pub fn sigma(&self) -> Option<f64> {
        match self.kind {
            Kind::Similarity { sigma, .. } => Some(sigma),
            _ => None,
        }
    }

    /// Weight of the very first pick, which has no predecessor.
    pub fn initial(&self, b: usize) -> f64 {
        self.target[b]
    }

    /// Weight of `a → b`. Zero for `a == b` unless `a` is the only clip that can be
    /// used (a one-clip library, or one whose other clips all sit the plan out).
    pub fn weight(&self, a: usize, b: usize) -> f64 {
        if a == b && !self.lone_clip {
            return 0.0;
        }
        let base = match &self.kind {
            Kind::Uniform => 1.0,
            // Measured from the row's best seam (a factor per row, which a draw does
            // not see) so that a sharp σ cannot round a whole row to zero, and never
            // quite zero, so that every clip stays reachable when the rules need it.
            Kind::Similarity {
                seams,
                sigma,
                row_best,
                ..
            } => libm::exp(-(seams.get(a, b) - row_best[a]) / sigma).max(MIN_SIMILARITY),
            Kind::Dense(m) => m[a * self.n + b],
        };
        base * self.target[b]
    }

    /// Fails on the first clip that can be reached but has no successor to go to.
    pub fn check_successors(&self, clips: &[ClipInfo]) -> Result<(), PlanError> {
        for (a, clip) in clips.iter().enumerate().take(self.n) {
            let reachable = self.target[a] > 0.0;
            if reachable && !(0..self.n).any(|b| self.weight(a, b) > 0.0) {
                return Err(PlanError::NoSuccessor(clip.path.clone()));
            }
        }
        if !(0..self.n).any(|b| self.target[b] > 0.0) {
            return Err(PlanError::InvalidOption(
                "every clip has weight zero: nothing can be picked (check the weights in loopy.toml and the signals)".into(),
            ));
        }
        Ok(())
    }
}

/// The per-target factor: manifest weight × Π over signals on the clip's tags of
/// (1 + strength · value · relevance), never below zero.
pub fn target_factors(
    clips: &[ClipInfo],
    signals: &[crate::spec::Signal],
    strength: f64,
) -> Vec<f64> {
    clips
        .iter()
        .map(|clip| {
            let boost: f64 = signals
                .iter()
                .filter(|s| clip.tags.iter().any(|t| t.eq_ignore_ascii_case(&s.tag)))
                .map(|s| (1.0 + strength * s.value * clip.relevance).max(0.0))
                .product();
            clip.weight * boost
        })
        .collect()
}

/// A user matrix as read from CSV or JSON, before it is matched to the catalog.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamedMatrix(pub BTreeMap<String, BTreeMap<String, f64>>);

impl NamedMatrix {
    /// CSV: a header row of clip names, then one row per clip. Rows either follow the
    /// header's order, or start with the clip's name when the header's first cell is
    /// empty or `from`.
    pub fn from_csv(text: &str) -> Result<Self, PlanError> {
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let header: Vec<String> = lines
            .next()
            .ok_or_else(|| PlanError::Matrix("the CSV is empty".into()))?
            .split(',')
            .map(|c| c.trim().trim_matches('"').to_string())
            .collect();
        let labelled = header
            .first()
            .is_some_and(|c| c.is_empty() || c.eq_ignore_ascii_case("from"));
        let names: Vec<String> = if labelled {
            header[1..].to_vec()
        } else {
            header
        };
        let mut rows = BTreeMap::new();
        let mut count = 0;
        for (i, line) in lines.enumerate() {
            let mut cells: Vec<&str> = line
                .split(',')
                .map(|c| c.trim().trim_matches('"'))
                .collect();
            let from = if labelled {
                cells.remove(0).to_string()
            } else {
                names.get(i).cloned().ok_or_else(|| {
                    PlanError::Matrix(format!(
                        "more rows than the {} names of the header",
                        names.len()
                    ))
                })?
            };
            if cells.len() != names.len() {
                return Err(PlanError::Matrix(format!(
                    "row `{from}` has {} values, the header names {} clips (the matrix must be square)",
                    cells.len(),
                    names.len()
                )));
            }
            let mut row = BTreeMap::new();
            for (to, cell) in names.iter().zip(cells) {
                let w: f64 = cell.parse().map_err(|_| {
                    PlanError::Matrix(format!(
                        "row `{from}`, column `{to}`: `{cell}` is not a number"
                    ))
                })?;
                row.insert(to.clone(), w);
            }
            rows.insert(from, row);
            count += 1;
        }
        if count != names.len() {
            return Err(PlanError::Matrix(format!(
                "{count} rows for {} columns (the matrix must be square)",
                names.len()
            )));
        }
        Ok(NamedMatrix(rows))
    }

    /// JSON: `{"from": {"to": weight}}`; missing entries are zero.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        serde_json::from_str(text).map_err(|e| {
            PlanError::Matrix(format!(
                "not a {{\"from\": {{\"to\": weight}}}} object: {e}"
            ))
        })
    }

    /// Matches names to catalog indexes. Returns the dense matrix and the clips the
    /// matrix does not mention (which the plan will not use).
    pub fn resolve(
        &self,
        clips: &[ClipInfo],
        find: impl Fn(&str) -> Option<usize>,
    ) -> Result<(Vec<f64>, Vec<usize>), PlanError> {
        let n = clips.len();
        let mut dense = vec![0.0; n * n];
        let mut mentioned = vec![false; n];
        let unknown = |name: &str| PlanError::UnknownClip {
            source_name: "matrix".into(),
            name: name.to_string(),
        };
        for (from, row) in &self.0 {
            let a = find(from).ok_or_else(|| unknown(from))?;
            mentioned[a] = true;
            for (to, &w) in row {
                let b = find(to).ok_or_else(|| unknown(to))?;
                if !w.is_finite() || w < 0.0 {
                    return Err(PlanError::Matrix(format!(
                        "weight {from} → {to} is {w}: weights must be finite and ≥ 0"
                    )));
                }
                mentioned[b] = true;
                dense[a * n + b] = w;
            }
        }
        let off_diagonal = |i: usize| i / n.max(1) != i % n.max(1);
        if !dense
            .iter()
            .enumerate()
            .any(|(i, &w)| w > 0.0 && off_diagonal(i))
        {
            return Err(PlanError::Matrix(
                "no weight above zero between two different clips: nothing could be picked".into(),
            ));
        }
        let unmentioned = (0..n).filter(|&i| !mentioned[i]).collect();
        Ok((dense, unmentioned))
    }
}

/// An example sequence for `learned` mode: a plan JSON (its `sequence` over its
/// `clips`), or plain text with one clip name per line.
pub fn parse_example(
    text: &str,
    find: impl Fn(&str) -> Option<usize>,
) -> Result<Vec<usize>, PlanError> {
    let names: Vec<String> = if text.trim_start().starts_with('{') {
        #[derive(Deserialize)]
        struct PlanLike {
            clips: Vec<PathOnly>,
            sequence: Vec<usize>,
        }
        #[derive(Deserialize)]
        struct PathOnly {
            path: String,
        }
        let plan: PlanLike = serde_json::from_str(text)
            .map_err(|e| PlanError::Example(format!("not a plan file: {e}")))?;
        plan.sequence
            .iter()
            .map(|&i| {
                plan.clips.get(i).map(|c| c.path.clone()).ok_or_else(|| {
                    PlanError::Example(format!("sequence index {i} is out of range"))
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    if names.len() < 2 {
        return Err(PlanError::Example(
            "needs at least two clips to learn a transition".into(),
        ));
    }
    names
        .iter()
        .map(|name| {
            find(name).ok_or_else(|| PlanError::UnknownClip {
                source_name: "example sequence".into(),
                name: name.clone(),
            })
        })
        .collect()
}
