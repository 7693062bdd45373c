//! `loopy plan DIR --duration D`: a reproducible, never-repeating sequence as JSON;
//! `loopy plan --stats plan.json`: the statistics of an existing plan.

use crate::args::{PlanArgs, PlanOptionArgs};
use crate::exit::usage;
use crate::output::{
    check_overwrite, count, format_seconds, out, print_json, say, write_atomically,
};
use anyhow::{Context, Result};
use loopy_core::planner::{self, Length, PlanOptions};
use loopy_core::spec::{parse_duration_ms, CrossfadeSpec, Signal};
use loopy_core::stats::PlanStats;
use loopy_core::weights::{check_mode_name, parse_example, ModeSpec, NamedMatrix};
use loopy_core::{Catalog, Plan, Rational};
use loopy_media::{CacheStatus, ScanReport};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

pub fn run(args: &PlanArgs) -> Result<()> {
    if let Some(path) = &args.stats {
        return print_stats_of(path, args.json);
    }
    let dir = args
        .dir
        .as_deref()
        .ok_or_else(|| usage("a clip folder is required"))?;
    let parsed = ParsedPlanArgs::parse(&args.plan)?;
    // `-o -`: the plan on stdout, as with --json.
    let to_stdout = args.output.as_deref() == Some(Path::new("-"));
    if to_stdout && args.json {
        return Err(usage(
            "-o - and --json both print the plan; give one of them",
        ));
    }
    let output = args.output.as_deref().filter(|_| !to_stdout);
    if let Some(out) = output {
        check_overwrite(out, args.force)?;
    }
    let report = super::folder::scan(dir, &args.folder)?;
    let plan = &make_plan(&report, &args.plan, parsed)?;
    let mut json = serde_json::to_string_pretty(plan).context("cannot serialise the plan")?;
    json.push('\n');
    if let Some(out) = output {
        write_atomically(out, json.as_bytes(), args.force)?;
    }
    let machine = args.json || to_stdout;
    if machine {
        out(&json)?;
    }
    for line in summary_lines(plan, output) {
        say(&line, machine)?;
    }
    Ok(())
}

/// The options that can be checked before the folder is scanned, parsed once.
pub struct ParsedPlanArgs {
    mode: &'static str,
    length: Length,
    fps: Option<Rational>,
    crossfade: CrossfadeSpec,
    signals: Vec<Signal>,
    seed: u64,
}

/// The mode asked for, or implied by --learn / --matrix; options that belong to
/// another mode are refused rather than ignored.
fn resolve_mode(args: &PlanOptionArgs) -> Result<&'static str> {
    let implied = match (&args.learn, &args.matrix) {
        (Some(_), _) => Some("learned"),
        (_, Some(_)) => Some("custom"),
        _ => None,
    };
    let mode = match args.mode.as_deref() {
        Some(name) => {
            check_mode_name(name)?;
            ["uniform", "similarity", "learned", "custom"]
                .into_iter()
                .find(|m| *m == name)
                .unwrap_or("similarity")
        }
        None => implied.unwrap_or("similarity"),
    };
    let belongs = [
        ("--learn", args.learn.is_some(), "learned"),
        ("--smoothing", args.smoothing.is_some(), "learned"),
        ("--matrix", args.matrix.is_some(), "custom"),
        ("--sigma", args.sigma.is_some(), "similarity"),
    ];
    if let Some((option, _, owner)) = belongs
        .iter()
        .find(|(_, given, owner)| *given && *owner != mode)
    {
        return Err(usage(format!(
            "{option} only applies to --mode {owner}, and this plan uses --mode {mode}"
        )));
    }
    match mode {
        "learned" if args.learn.is_none() => Err(usage("--mode learned needs --learn FILE")),
        "custom" if args.matrix.is_none() => Err(usage("--mode custom needs --matrix FILE")),
        _ => Ok(mode),
    }
}

impl ParsedPlanArgs {
    pub fn parse(args: &PlanOptionArgs) -> Result<Self> {
        let mode = resolve_mode(args)?;
        let length = match (&args.duration, args.count) {
            (Some(d), _) => Length::Millis(parse_duration_ms(d)?),
            (None, Some(n)) => Length::Entries(n),
            (None, None) => return Err(usage("give --duration (or --count)")),
        };
        let fps = args.fps.as_deref().map(str::parse).transpose()?;
        let crossfade = CrossfadeSpec::parse(args.crossfade.as_deref().unwrap_or("0"))?;
        let signals = args
            .signals
            .iter()
            .map(|s| Signal::parse(s))
            .collect::<Result<_, _>>()?;
        let seed = args.seed.unwrap_or_else(|| {
            let seed = std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish();
            tracing::info!(
                "seed {seed} (random; pass --seed {seed} to plan the same sequence again)"
            );
            seed
        });
        Ok(ParsedPlanArgs {
            mode,
            length,
            fps,
            crossfade,
            signals,
            seed,
        })
    }
}

/// Plans over a scanned folder; reads the example or matrix file the mode needs. The
/// cut matrix is kept in the folder's cache when the scan used it.
pub fn make_plan(
    report: &ScanReport,
    args: &PlanOptionArgs,
    parsed: ParsedPlanArgs,
) -> Result<Plan> {
    let catalog = &report.catalog;
    let mut opts = plan_options(catalog, args, parsed)?;
    if opts.cut_points {
        let keep = matches!(report.cache, CacheStatus::Used { .. });
        opts.cut_matrix =
            loopy_media::cache::cuts::cut_matrix(Path::new(&catalog.root), &catalog.clips, keep)
                .map(std::sync::Arc::new);
    }
    let planned = planner::plan(catalog, &opts)?;
    for warning in &planned.warnings {
        tracing::warn!("{warning}");
    }
    Ok(planned.plan)
}

/// The planner's options from the command line (shared with `serve`'s endless plan).
pub fn plan_options(
    catalog: &Catalog,
    args: &PlanOptionArgs,
    parsed: ParsedPlanArgs,
) -> Result<PlanOptions> {
    let find = |name: &str| catalog.find(name);
    let mode = match parsed.mode {
        "uniform" => ModeSpec::Uniform,
        "learned" => {
            let path = args
                .learn
                .as_deref()
                .ok_or_else(|| usage("--mode learned needs --learn FILE"))?;
            let text = read_text(path)?;
            let example =
                parse_example(&text, find).with_context(|| format!("in {}", path.display()))?;
            ModeSpec::Learned {
                example,
                smoothing: args.smoothing.unwrap_or(0.1),
            }
        }
        "custom" => {
            let path = args
                .matrix
                .as_deref()
                .ok_or_else(|| usage("--mode custom needs --matrix FILE"))?;
            let text = read_text(path)?;
            let named = if text.trim_start().starts_with('{') {
                NamedMatrix::from_json(&text)
            } else {
                NamedMatrix::from_csv(&text)
            }
            .with_context(|| format!("in {}", path.display()))?;
            let (matrix, _) = named
                .resolve(&catalog.clips, find)
                .with_context(|| format!("in {}", path.display()))?;
            ModeSpec::Custom { matrix }
        }
        _ => ModeSpec::Similarity {
            sigma_scale: args.sigma.unwrap_or(1.0),
        },
    };
    let opts = PlanOptions {
        mode,
        seed: parsed.seed,
        length: parsed.length,
        exact: args.exact,
        fps: parsed.fps,
        crossfade: parsed.crossfade,
        history: args.history.unwrap_or(5),
        history_explicit: args.history.is_some(),
        avoid_ngrams: match args.avoid_ngrams {
            None => Some(planner::DEFAULT_AVOID_NGRAMS),
            Some(0) => None,
            Some(k) => Some(k),
        },
        signals: parsed.signals,
        signal_strength: args.signal_strength.unwrap_or(0.5),
        cut_points: args.cuts_inside(),
        cut_matrix: None,
    };
    Ok(opts)
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

fn print_stats_of(path: &Path, json: bool) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let plan = Plan::from_json(&text)
        .with_context(|| format!("{} is not a usable plan", path.display()))?;
    let stats = plan.recompute_stats();
    if json {
        return print_json(&stats);
    }
    for line in stats_lines(&plan, &stats) {
        out(&format!("{line}\n"))?;
    }
    Ok(())
}

fn summary_lines(plan: &Plan, written: Option<&Path>) -> Vec<String> {
    let mut lines = vec![format!(
        "planned {}: {} ({} at {} fps{}), mode {}, seed {}",
        count(plan.sequence.len() as u64, "clip"),
        format_seconds(plan.stats.total_duration_s),
        count(plan.stats.total_frames, "frame"),
        plan.fps_rational,
        if plan.crossfade_frames > 0 {
            format!(", {}-frame cross-fades", plan.crossfade_frames)
        } else {
            String::new()
        },
        plan.settings.mode,
        plan.seed
    )];
    lines.extend(stats_lines(plan, &plan.stats).into_iter().skip(1));
    if let Some(path) = written {
        lines.push(format!("wrote {}", path.display()));
    }
    lines
}

fn stats_lines(plan: &Plan, s: &PlanStats) -> Vec<String> {
    let gap = match (s.min_gap, s.mean_gap) {
        (Some(min), Some(mean)) => format!("min {min}, mean {mean:.1}"),
        _ => "no clip used twice".into(),
    };
    let seam = match (s.mean_seam_distance, s.uniform_mean_seam_distance) {
        (Some(p), Some(u)) => format!("{p:.4} (a uniform shuffle: {u:.4})"),
        (Some(p), None) => format!("{p:.4}"),
        _ => "n/a".into(),
    };
    let worst = match (s.worst_seam_distance, s.uniform_worst_seam_distance) {
        (Some(p), Some(u)) => format!(", worst {p:.4} (a uniform shuffle: up to {u:.4})"),
        (Some(p), None) => format!(", worst {p:.4}"),
        _ => String::new(),
    };
    vec![
        format!(
            "{}, {} ({} at {} fps), seed {}",
            count(s.entries, "clip"),
            format_seconds(s.total_duration_s),
            count(s.total_frames, "frame"),
            plan.fps_rational,
            plan.seed
        ),
        format!(
            "transitions {}, immediate repeats {}",
            s.transitions, s.immediate_repeats
        ),
        format!(
            "coverage {}/{} clips ({:.0}%), gap between uses {gap}",
            s.clips_used,
            s.use_counts.len(),
            s.coverage * 100.0
        ),
        format!(
            "entropy {:.3} bits of {:.3} possible, longest repeated run {}",
            s.entropy_bits,
            s.max_entropy_bits,
            count(s.longest_repeat, "clip")
        ),
        format!("mean seam distance {seam}{worst}"),
        cut_points_line(plan),
    ]
}

/// How far inside their clips the entries start and end (the in/out points of every
/// entry are the plan's `cuts`).
fn cut_points_line(plan: &Plan) -> String {
    if plan.cuts.is_empty() {
        return "cut points: none, every clip plays whole".into();
    }
    let n = plan.sequence.len();
    let (mut entered, mut left, mut skipped_in, mut skipped_out) = (0u64, 0u64, 0u64, 0u64);
    for entry in 0..n {
        let cut = plan.entry_cut(entry);
        let last = plan.clips[plan.sequence[entry]].frames.saturating_sub(1);
        entered += u64::from(cut.first > 0);
        left += u64::from(cut.last < last);
        skipped_in += cut.first;
        skipped_out += last - cut.last.min(last);
    }
    let mean = |frames: u64| frames as f64 / n.max(1) as f64;
    format!(
        "cut points: {entered} of {n} entries enter after their clip's first frame (mean in-point {:.1}), {left} leave before its last ({:.1} frames early on average); each entry's in/out points are the plan's `cuts`",
        mean(skipped_in),
        mean(skipped_out)
    )
}
