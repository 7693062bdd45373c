//! Turns a catalog and the user's options into a [`Plan`]: validates the options,
//! builds the transition weights, walks the chain until the output is long enough
//! and measures the result.

use crate::catalog::{Catalog, ClipInfo};
use crate::chain::Chain;
use crate::cuts::{CutMatrix, EntryCut};
use crate::error::PlanError;
use crate::plan::{Plan, PlanClip, PlanSettings, PLAN_VERSION};
use crate::rational::Rational;
use crate::spec::{ms_to_frames_ceil, CrossfadeSpec, Signal};
use crate::stats;
use crate::timeline::{whole_output_frames, Timeline};
use crate::weights::{target_factors, ModeSpec, SeamMatrix, WeightModel};
use std::sync::Arc;

/// How long the plan should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Length {
    /// Until the output lasts at least this many milliseconds.
    Millis(u64),
    /// Exactly this many clips.
    Entries(u64),
}

/// Everything `loopy plan` lets a user choose.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub mode: ModeSpec,
    pub seed: u64,
    pub length: Length,
    /// Trim the last clip so the output lasts exactly the requested duration.
    pub exact: bool,
    /// Output rate; the most common clip rate when `None`.
    pub fps: Option<Rational>,
    pub crossfade: CrossfadeSpec,
    pub history: usize,
    /// The user asked for `history` (rather than taking the default): only then is
    /// shrinking it for a small library worth a warning.
    pub history_explicit: bool,
    pub avoid_ngrams: Option<usize>,
    pub signals: Vec<Signal>,
    pub signal_strength: f64,
    /// Cut inside the clips' head and tail windows where they match best, rather than
    /// at their ends (needs a catalog scanned with windows).
    pub cut_points: bool,
    /// The catalog's cut matrix scored earlier (the CLI keeps it in the folder's
    /// cache); scored now when `None` or not of this catalog's size.
    pub cut_matrix: Option<Arc<CutMatrix>>,
}

/// `loopy plan` never replays a run of this many clips while an alternative exists
/// (`--avoid-ngrams`; 0 turns the rule off): a viewer may notice three clips coming
/// back in the same order, and foresight keeps the rule from costing good seams.
pub const DEFAULT_AVOID_NGRAMS: usize = 4;

/// The most entries a plan may have: about 70 MB of plan file, weeks of output at
/// any clip length this tool is for. Longer requests are refused, not attempted.
pub const MAX_PLAN_ENTRIES: u64 = 10_000_000;

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            mode: ModeSpec::Uniform,
            seed: 0,
            length: Length::Millis(60_000),
            exact: false,
            fps: None,
            crossfade: CrossfadeSpec::Frames(0),
            history: 5,
            history_explicit: false,
            avoid_ngrams: None,
            signals: Vec::new(),
            signal_strength: 0.5,
            cut_points: false,
            cut_matrix: None,
        }
    }
}

/// A plan and the warnings met while making it (relaxed options, unused clips).
#[derive(Debug, Clone)]
pub struct Planned {
    pub plan: Plan,
    pub warnings: Vec<String>,
}

/// The largest history window that still leaves a real choice: half the library.
pub fn effective_history(requested: usize, clips: usize) -> usize {
    requested.min((clips / 2).max(1))
}

/// For modes given as a matrix: the total weight leading into each clip from the
/// others. A clip nothing leads to is left out of the plan rather than started on.
fn incoming_weight(mode: &ModeSpec, n: usize) -> Option<Vec<f64>> {
    let column = |get: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
        (0..n)
            .map(|b| (0..n).filter(|&a| a != b).map(|a| get(a, b)).sum())
            .collect()
    };
    match mode {
        ModeSpec::Custom { matrix } if matrix.len() == n * n => {
            Some(column(&|a, b| matrix[a * n + b]))
        }
        ModeSpec::Learned { example, smoothing } if *smoothing == 0.0 => {
            let mut counts = vec![0.0; n * n];
            for pair in example.windows(2).filter(|p| p[0] < n && p[1] < n) {
                counts[pair[0] * n + pair[1]] += 1.0;
            }
            Some(column(&|a, b| counts[a * n + b]))
        }
        _ => None,
    }
}

/// Refuses a request whose plan would exceed [`MAX_PLAN_ENTRIES`], before planning.
fn check_plan_size(
    clips: &[crate::catalog::ClipInfo],
    target: &[f64],
    length: Length,
    fps: Rational,
    crossfade: u64,
) -> Result<(), PlanError> {
    let entries = match length {
        Length::Entries(count) => count,
        Length::Millis(ms) => {
            // Every entry adds at least the shortest usable clip less one cross-fade.
            let shortest = clips
                .iter()
                .zip(target)
                .filter(|(_, &t)| t > 0.0)
                .map(|(c, _)| whole_output_frames(c.frames, c.fps, fps).saturating_sub(crossfade))
                .min()
                .unwrap_or(1)
                .max(1);
            ms_to_frames_ceil(ms, fps) / shortest
        }
    };
    if entries > MAX_PLAN_ENTRIES {
        return Err(PlanError::InvalidOption(format!(
            "the plan would need up to {entries} clips; the limit is {MAX_PLAN_ENTRIES} (plan shorter pieces, or use `loopy serve` for endless output)"
        )));
    }
    Ok(())
}

/// Each clip's share before transition weights: its manifest weight and the signals,
/// zero for clips nothing leads to (matrix modes) and clips too short to hold a
/// cross-fade at both ends. Fails when no clip is left. Warnings are added to `warnings`.
fn clip_targets(
    clips: &[crate::catalog::ClipInfo],
    opts: &PlanOptions,
    fps: Rational,
    crossfade: u64,
    warnings: &mut Vec<String>,
) -> Result<(Vec<f64>, usize), PlanError> {
    let n = clips.len();
    let mut target = target_factors(clips, &opts.signals, opts.signal_strength);
    for signal in &opts.signals {
        if !clips
            .iter()
            .any(|c| c.tags.iter().any(|t| t.eq_ignore_ascii_case(&signal.tag)))
        {
            warnings.push(format!("signal `{}`: no clip carries this tag", signal.tag));
        }
    }
    if let Some(columns) = incoming_weight(&opts.mode, n) {
        for (b, sum) in columns.iter().enumerate() {
            if *sum <= 0.0 && target[b] > 0.0 && n > 1 {
                target[b] = 0.0;
                warnings.push(format!(
                    "{}: no transition leads to this clip; it will not be used",
                    clips[b].path
                ));
            }
        }
    }
    // A clip must hold a cross-fade at each end; shorter ones sit this plan out.
    let mut usable = 0;
    for (clip, t) in clips.iter().zip(target.iter_mut()) {
        let frames = whole_output_frames(clip.frames, clip.fps, fps);
        if *t > 0.0 && (frames == 0 || frames < crossfade * 2) {
            *t = 0.0;
            warnings.push(format!(
                "{}: {frames} output frames, too short for {crossfade}-frame cross-fades at both ends; left out",
                clip.path
            ));
        } else if *t > 0.0 {
            usable += 1;
        }
    }
    if usable == 0 {
        let (shortest, frames) = clips
            .iter()
            .map(|c| (c, whole_output_frames(c.frames, c.fps, fps)))
            .max_by_key(|&(_, f)| f)
            .ok_or(PlanError::EmptyCatalog)?;
        return Err(PlanError::CrossfadeTooLong {
            crossfade,
            clip: shortest.path.clone(),
            frames,
        });
    }
    if usable == 1 {
        warnings.push(
            "only one clip can be used: the plan plays it over and over (add clips to get variety)"
                .into(),
        );
    }
    Ok((target, usable))
}

/// What planning needs besides the walk: the output rate and cross-fade, the weights,
/// the history window actually used, and the warnings so far.
pub struct Prepared {
    pub fps: Rational,
    pub crossfade: u64,
    pub seams: SeamMatrix,
    /// The best cut of every pair, when the plan cuts inside clips.
    pub cuts: Option<Arc<CutMatrix>>,
    pub model: WeightModel,
    pub history: usize,
    pub warnings: Vec<String>,
}

/// Validates `opts` against `catalog` and builds the weights (shared by finite plans
/// and the live chain of `loopy serve`).
pub fn prepare(catalog: &Catalog, opts: &PlanOptions) -> Result<Prepared, PlanError> {
    let clips = &catalog.clips;
    let n = clips.len();
    if n == 0 {
        return Err(PlanError::EmptyCatalog);
    }
    let mut warnings = Vec::new();
    if !(opts.signal_strength.is_finite() && opts.signal_strength >= 0.0) {
        return Err(PlanError::InvalidOption(format!(
            "--signal-strength must be a number ≥ 0, got {}",
            opts.signal_strength
        )));
    }
    if let Some(k) = opts.avoid_ngrams {
        if k < 2 {
            return Err(PlanError::InvalidOption(format!(
                "--avoid-ngrams must be 2 or more (0 turns the rule off), got {k}"
            )));
        }
    }
    if opts.length == Length::Entries(0) {
        return Err(PlanError::InvalidOption(
            "the plan needs at least one clip".into(),
        ));
    }
    let fps = match opts.fps {
        Some(f) => f,
        None => catalog.most_common_fps().ok_or(PlanError::EmptyCatalog)?,
    };

    let crossfade = opts.crossfade.frames_at(fps);
    if crossfade == 0 && opts.crossfade.is_nonzero() {
        return Err(PlanError::InvalidCrossfade(
            opts.crossfade.to_string(),
            format!("shorter than one frame at {fps} fps; use 0 or at least 1f"),
        ));
    }
    let (target, usable) = clip_targets(clips, opts, fps, crossfade, &mut warnings)?;
    check_plan_size(clips, &target, opts.length, fps, crossfade)?;

    let cuts = if opts.cut_points {
        let matrix = opts
            .cut_matrix
            .clone()
            .filter(|m| m.len() == n)
            .or_else(|| CutMatrix::from_clips(clips).map(Arc::new));
        if matrix.is_none() {
            // A scan without windows, or a clip whose windows did not decode: cutting
            // at every clip's end still makes a plan, on one scale of seam costs.
            let missing = clips
                .iter()
                .find(|c| c.head_window.is_none() || c.tail_window.is_none())
                .map_or_else(|| "a clip".to_string(), |c| c.path.clone());
            warnings.push(format!(
                "cutting at the clips' ends: {missing} has no cut-point windows (scanned with --no-windows, or its first or last second did not decode)"
            ));
        }
        matrix
    } else {
        None
    };
    let seams = match &cuts {
        Some(cuts) => SeamMatrix::from_cuts(cuts),
        None => SeamMatrix::from_clips(clips),
    };
    let model = WeightModel::new(&opts.mode, &seams, target)?;
    model.check_successors(clips)?;

    let history = effective_history(opts.history, usable);
    if history < opts.history && opts.history_explicit && usable > 1 {
        warnings.push(format!(
            "--history {} is too large for {usable} usable clips; using {history} so that every pick keeps a choice",
            opts.history
        ));
    }

    Ok(Prepared {
        fps,
        crossfade,
        seams,
        cuts,
        model,
        history,
        warnings,
    })
}

/// The weight model for `signals` in place of the options' own (a live signal change);
/// `prepared` is what [`prepare`] made of the same catalog and options.
pub fn model_for_signals(
    catalog: &Catalog,
    opts: &PlanOptions,
    prepared: (Rational, u64, &SeamMatrix),
    signals: &[Signal],
) -> Result<WeightModel, PlanError> {
    let (fps, crossfade, seams) = prepared;
    let opts = PlanOptions {
        signals: signals.to_vec(),
        ..opts.clone()
    };
    let mut ignored = Vec::new();
    let (target, _) = clip_targets(&catalog.clips, &opts, fps, crossfade, &mut ignored)?;
    WeightModel::new(&opts.mode, seams, target)
}

/// Makes a plan. Same catalog + same options (seed included) ⇒ the same plan, bit for bit.
pub fn plan(catalog: &Catalog, opts: &PlanOptions) -> Result<Planned, PlanError> {
    let clips = &catalog.clips;
    let n = clips.len();
    let Prepared {
        fps,
        crossfade,
        seams,
        cuts: cut_matrix,
        model,
        history,
        warnings,
    } = prepare(catalog, opts)?;
    let sigma_applied = model.sigma();
    let mut chain = Chain::new(
        std::rc::Rc::new(model),
        opts.seed,
        history,
        opts.avoid_ngrams,
    );
    let mut timeline = Timeline::new(fps, crossfade);
    let mut sequence: Vec<usize> = Vec::new();
    let mut cuts = Vec::new();
    // With cut points an entry's out-point waits for the next pick: until then it is
    // counted as running to its clip's end.
    let mut in_frame = 0;
    let target_frames = match opts.length {
        Length::Millis(ms) => Some(ms_to_frames_ceil(ms, fps)),
        Length::Entries(_) => None,
    };
    let pending_end = |timeline: &Timeline, sequence: &[usize], in_frame: u64| {
        let mut t = timeline.clone();
        if let (Some(_), Some(&last)) = (&cut_matrix, sequence.last()) {
            let whole = clips[last].frames.saturating_sub(1);
            t.push(whole + 1 - in_frame.min(whole), clips[last].fps);
        }
        t.total_frames()
    };
    loop {
        let done = match (opts.length, target_frames) {
            (Length::Entries(count), _) => sequence.len() as u64 >= count,
            (_, Some(frames)) => pending_end(&timeline, &sequence, in_frame) >= frames,
            _ => true,
        };
        if done {
            break;
        }
        let pick = chain.next_clip();
        match (&cut_matrix, sequence.last()) {
            (Some(m), Some(&prev)) => {
                let choice = m.get(prev, pick);
                let cut = fit_crossfade(
                    &clips[prev],
                    EntryCut {
                        first: in_frame,
                        last: choice.out_frame,
                    },
                    (fps, crossfade, u64::from(!cuts.is_empty()) + 1),
                );
                timeline.push(cut.frames(), clips[prev].fps);
                cuts.push(cut);
                in_frame = choice.in_frame;
            }
            (Some(_), None) => in_frame = 0,
            (None, _) => {
                timeline.push(clips[pick].frames, clips[pick].fps);
            }
        }
        sequence.push(pick);
    }
    if let (Some(_), Some(&last)) = (&cut_matrix, sequence.last()) {
        let whole = EntryCut::whole(clips[last].frames);
        let fades = u64::from(!cuts.is_empty());
        let cut = fit_crossfade(
            &clips[last],
            EntryCut {
                first: in_frame.min(whole.last),
                last: whole.last,
            },
            (fps, crossfade, fades),
        );
        timeline.push(cut.frames(), clips[last].fps);
        cuts.push(cut);
    }

    let mut total_frames = timeline.total_frames();
    let mut trim_end_frames = 0;
    if let (true, Some(frames)) = (opts.exact, target_frames) {
        trim_end_frames = total_frames - frames;
        total_frames = frames;
    }

    let stats = stats::compute(&sequence, n, Some(&seams), total_frames, fps);
    let (sigma, smoothing) = match &opts.mode {
        ModeSpec::Similarity { sigma_scale } => (Some(*sigma_scale), None),
        ModeSpec::Learned { smoothing, .. } => (None, Some(*smoothing)),
        _ => (None, None),
    };
    let plan = Plan {
        version: PLAN_VERSION,
        root: catalog.root.clone(),
        seed: opts.seed,
        fps: fps.as_f64(),
        fps_rational: fps,
        crossfade_frames: crossfade,
        settings: PlanSettings {
            mode: opts.mode.name().to_string(),
            sigma,
            sigma_applied,
            smoothing,
            history: opts.history,
            history_effective: history,
            avoid_ngrams: opts.avoid_ngrams,
            signals: opts.signals.clone(),
            signal_strength: opts.signal_strength,
            target_ms: match opts.length {
                Length::Millis(ms) => Some(ms),
                Length::Entries(_) => None,
            },
            target_entries: match opts.length {
                Length::Entries(count) => Some(count),
                Length::Millis(_) => None,
            },
            exact: opts.exact,
            cut_points: cut_matrix.is_some(),
        },
        clips: clips.iter().map(PlanClip::from_clip).collect(),
        sequence,
        cuts,
        trim_end_frames,
        stats,
    };
    Ok(Planned { plan, warnings })
}

/// `cut` widened (out-point to the clip's end, then in-point to its start) until the
/// entry holds `fades` cross-fades of `crossfade` frames at `fps`. Every usable clip
/// holds two whole.
fn fit_crossfade(
    clip: &ClipInfo,
    cut: EntryCut,
    (fps, crossfade, fades): (Rational, u64, u64),
) -> EntryCut {
    let fits = |c: EntryCut| whole_output_frames(c.frames(), clip.fps, fps) >= crossfade * fades;
    if fits(cut) {
        return cut;
    }
    let longer = EntryCut {
        last: clip.frames.saturating_sub(1),
        ..cut
    };
    if fits(longer) {
        longer
    } else {
        EntryCut::whole(clip.frames)
    }
}
