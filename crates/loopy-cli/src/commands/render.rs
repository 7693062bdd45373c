//! `loopy render`: plan (or read a plan), then stream it into a video file with
//! progress, Ctrl-C handling, a sidecar plan and a summary.

use crate::args::{EncodeArgs, PlanOptionArgs, RenderArgs};
use crate::exit::usage;
use crate::output::{check_overwrite, format_seconds, print_json, write_atomically};
use anyhow::{Context, Result};
use loopy_core::catalog::most_common;
use loopy_core::spec::{ms_to_frames_ceil, parse_duration_ms};
use loopy_core::Plan;
use loopy_media::job::{self, AudioSource, CopyMode, RenderOptions, RenderSummary, SmartMode};
use loopy_media::render::{self, EncoderSettings, VideoCodec};
use loopy_media::route;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The encoding options as parsed and checked: codec, fit, the size asked for (if
/// any) and the encoder settings. Shared with `conform`.
pub struct Encoding {
    pub codec: VideoCodec,
    pub fit: loopy_core::fit::Fit,
    pub size: Option<(u32, u32)>,
    pub encoder: EncoderSettings,
}

impl Encoding {
    /// The options as given; `--codec` defaults to `default_codec` (the container's).
    pub fn parse(e: &EncodeArgs, default_codec: VideoCodec) -> Result<Self> {
        let codec = match &e.codec {
            Some(name) => VideoCodec::parse(name)?,
            None => default_codec,
        };
        let encoder = EncoderSettings {
            crf: e.crf,
            preset: e.preset.clone(),
            bitrate: e.bitrate.as_deref().map(parse_bitrate).transpose()?,
            gop: e.gop,
            pix_fmt: e.pix_fmt.clone(),
            threads: e.threads.unwrap_or(0),
            keyframes: None,
        };
        encoder.validate(codec)?;
        Ok(Encoding {
            codec,
            fit: e.fit.parse().map_err(usage)?,
            size: e.size.as_deref().map(parse_size).transpose()?,
            encoder,
        })
    }
}

pub fn run(args: &RenderArgs) -> Result<()> {
    let Encoding {
        codec,
        fit,
        size: requested_size,
        encoder,
    } = Encoding::parse(&args.encode, default_codec_for(&args.output))?;
    let sidecar = job::beside(&args.output, ".plan.json");
    check_overwrite(&sidecar, args.force)?;
    if args.thumbnails {
        check_overwrite(&job::beside(&args.output, ".thumbs.png"), args.force)?;
    }
    // Refuse impossible outputs before scanning or planning.
    route::check_output(&args.output, codec, args.force)?;
    let copy = copy_mode(args)?;
    let smart = match args.smart.as_str() {
        "auto" => SmartMode::Auto,
        "always" => SmartMode::Always,
        "never" => SmartMode::Never,
        other => {
            return Err(usage(format!(
                "--smart must be auto, always or never, not `{other}`"
            )))
        }
    };
    let audio = audio_source(args)?;

    let plan = match (&args.plan, &args.dir) {
        (Some(path), _) => {
            refuse_plan_options(args)?;
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Plan::from_json(&text)
                .with_context(|| format!("{} is not a usable plan", path.display()))?
        }
        (None, Some(dir)) => {
            let parsed = super::plan::ParsedPlanArgs::parse(&args.plan_options)?;
            let report = super::folder::scan(dir, &args.folder)?;
            super::plan::make_plan(&report, &plan_options_for(args, copy)?, parsed)?
        }
        (None, None) => return Err(usage("give a clip folder or --plan FILE")),
    };
    // Default size: the one most planned entries have.
    let size = requested_size
        .or_else(|| {
            most_common(
                plan.sequence
                    .iter()
                    .map(|&i| (plan.clips[i].width, plan.clips[i].height)),
            )
        })
        .unwrap_or((1280, 720));
    refuse_inputs_as_output(&plan, args, &sidecar)?;
    let thumbnails_every = if args.thumbnails {
        let every = parse_duration_ms(args.thumb_every.as_deref().unwrap_or("10s"))?;
        Some(ms_to_frames_ceil(every, plan.fps_rational).max(1))
    } else {
        None
    };
    let opts = RenderOptions {
        output: args.output.clone(),
        size,
        fit,
        codec,
        encoder,
        copy,
        force: args.force,
        skip_bad: args.skip_bad,
        // From a folder, the scan has verified the clips already.
        verify: args.folder.verify && args.plan.is_some(),
        thumbnails_every,
        audio,
        smart,
    };

    let interrupt = crate::interrupt::Interrupt::install()?;
    let bar = crate::progress::Meter::new(
        "render",
        plan.stats.total_frames,
        "{bar:30} {pos}/{len} frames  {msg}  ETA {eta}",
    );
    let started = Instant::now();
    let fps = plan.fps_rational.as_f64();
    let on_progress = |frames: u64| {
        bar.set_position(frames);
        if frames.is_multiple_of(15) {
            let elapsed = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!(
                "{:.0} fps, {:.2}x realtime",
                frames as f64 / elapsed,
                frames as f64 / fps / elapsed
            ));
        }
    };
    let conforming = crate::progress::ConformBar::new();
    let result = route::render(&plan, &opts, &interrupt.cancel, &on_progress, &conforming);
    conforming.finish();
    bar.finish();
    let interrupted = format!(
        "interrupted: nothing was written to {}",
        args.output.display()
    );
    let summary = interrupt
        .exit_if_cancelled(result, &interrupted)
        .with_context(|| format!("render failed; {} was not written", args.output.display()))?;
    write_sidecar(&sidecar, &summary, args.force)?;
    report(&summary, &sidecar, size, args.json)
}

/// The codec an output gets without `--codec`: what its container is usually
/// played with (VP9 in WebM, which cannot hold H.264), else H.264.
fn default_codec_for(output: &Path) -> VideoCodec {
    match render::Container::from_path(output) {
        Ok(render::Container::Webm) => VideoCodec::Vp9,
        _ => VideoCodec::H264,
    }
}

/// `--audio clips` (the clips' own sound) or `--audio FILE`, which must be a file.
fn audio_source(args: &RenderArgs) -> Result<Option<AudioSource>> {
    let Some(audio) = &args.audio else {
        return Ok(None);
    };
    if audio.as_os_str() == "clips" {
        return Ok(Some(AudioSource::Clips));
    }
    if audio.is_dir() {
        return Err(usage(format!(
            "--audio {}: is a folder, not an audio file",
            audio.display()
        )));
    }
    if !audio.is_file() {
        return Err(usage(format!("--audio {}: no such file", audio.display())));
    }
    Ok(Some(AudioSource::File(audio.clone())))
}

/// `--copy`, where an explicit encoder option means the user wants an encode: with
/// `auto` it rules copying out, with `always` it is a contradiction.
fn copy_mode(args: &RenderArgs) -> Result<CopyMode> {
    let encoder_options = [
        ("--crf", args.encode.crf.is_some()),
        ("--preset", args.encode.preset.is_some()),
        ("--bitrate", args.encode.bitrate.is_some()),
        ("--gop", args.encode.gop.is_some()),
        ("--pix-fmt", args.encode.pix_fmt.is_some()),
        ("--threads", args.encode.threads.is_some()),
    ];
    let asked = encoder_options
        .iter()
        .find(|(_, given)| *given)
        .map(|(n, _)| *n);
    match (args.copy.as_str(), asked) {
        ("auto", None) => Ok(CopyMode::Auto),
        ("auto", Some(option)) => {
            tracing::debug!("{option} asks for an encode: packets will not be copied");
            Ok(CopyMode::Never)
        }
        ("always", Some(option)) => Err(usage(format!(
            "--copy always copies packets without encoding, so {option} cannot apply"
        ))),
        ("always", None) => Ok(CopyMode::Always),
        ("never", _) => Ok(CopyMode::Never),
        (other, _) => Err(usage(format!(
            "--copy must be auto, always or never, not `{other}`"
        ))),
    }
}

/// The planning options of a render from a folder: `--copy always` copies whole clips
/// (packets cannot start between keyframes), so it plans them whole.
fn plan_options_for(args: &RenderArgs, copy: CopyMode) -> Result<PlanOptionArgs> {
    let mut options = args.plan_options.clone();
    if copy == CopyMode::Always {
        if options.cut_points {
            return Err(usage(
                "--copy always plays clips whole, so --cut-points cannot apply (packets cannot start between keyframes)",
            ));
        }
        options.whole_clips = true;
    }
    Ok(options)
}

/// Refuses to write over a file the render reads (a clip of the plan, the audio, the
/// plan file), even with `--force`: it would destroy an input, as ffmpeg refuses too.
fn refuse_inputs_as_output(plan: &Plan, args: &RenderArgs, sidecar: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let identity = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()));
    // Every clip of the library, picked by this plan or not.
    let mut inputs: Vec<(String, PathBuf)> = (0..plan.clips.len())
        .map(|i| {
            (
                format!("clip {}", plan.clips[i].path),
                job::clip_path(plan, i),
            )
        })
        .collect();
    if let Some(AudioSource::File(path)) = audio_source(args)? {
        inputs.push(("--audio".to_string(), path));
    }
    inputs.extend(args.plan.iter().map(|p| ("--plan".to_string(), p.clone())));
    for output in [args.output.as_path(), sidecar] {
        let Some(out_id) = identity(output) else {
            continue;
        };
        if let Some((what, _)) = inputs.iter().find(|(_, p)| identity(p) == Some(out_id)) {
            return Err(usage(format!(
                "{} is an input of this render ({what}); choose another output (not even --force replaces an input)",
                output.display()
            )));
        }
    }
    refuse_library_files(plan, args)
}

/// A video in the library folder is a clip of it, even one the catalog skipped (a
/// damaged file is still someone's footage): never replaced by an output. A new
/// output there is allowed, with a warning that the next scan will take it as a clip.
fn refuse_library_files(plan: &Plan, args: &RenderArgs) -> Result<()> {
    let root = Path::new(&plan.root);
    let (Ok(root), Some(name)) = (root.canonicalize(), args.output.file_name()) else {
        return Ok(());
    };
    let parent = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(folder) = parent.canonicalize() else {
        return Ok(());
    };
    if folder.starts_with(root.join(loopy_media::cache::CACHE_DIR)) {
        return Err(usage(format!(
            "{} is inside Loopy's cache of the library; choose an output outside it",
            args.output.display()
        )));
    }
    let recursive = args.folder.recursive || plan.clips.iter().any(|c| c.path.contains('/'));
    let in_library = folder == root || (recursive && folder.starts_with(&root));
    if !in_library {
        return Ok(());
    }
    let target = folder.join(name);
    if target.exists() {
        return Err(usage(format!(
            "{} is a file of the library being rendered ({}); choose an output outside it (not even --force replaces a library file)",
            args.output.display(),
            root.display()
        )));
    }
    tracing::warn!(
        "{} is inside the library {}: the next scan will take it as a clip",
        args.output.display(),
        root.display()
    );
    Ok(())
}

/// With `--plan` the plan file fixes the sequence, rate and cross-fade: an option that
/// would shape a new plan (or scan a folder) is refused rather than silently ignored.
fn refuse_plan_options(args: &RenderArgs) -> Result<()> {
    let (o, f) = (&args.plan_options, &args.folder);
    let given = [
        ("--duration", o.duration.is_some()),
        ("--count", o.count.is_some()),
        ("--exact", o.exact),
        ("--seed", o.seed.is_some()),
        ("--fps", o.fps.is_some()),
        ("--crossfade", o.crossfade.is_some()),
        ("--signal", !o.signals.is_empty()),
        ("--signal-strength", o.signal_strength.is_some()),
        ("--mode", o.mode.is_some()),
        ("--sigma", o.sigma.is_some()),
        ("--learn", o.learn.is_some()),
        ("--smoothing", o.smoothing.is_some()),
        ("--matrix", o.matrix.is_some()),
        ("--history", o.history.is_some()),
        ("--avoid-ngrams", o.avoid_ngrams.is_some()),
        ("--cut-points", o.cut_points),
        ("--whole-clips", o.whole_clips),
        ("--pattern", !f.patterns.is_empty()),
        ("--recursive", f.recursive),
        ("--max", f.max.is_some()),
        ("--no-cache", f.no_cache),
        ("--no-windows", f.no_windows),
    ];
    match given.iter().find(|(_, present)| *present) {
        Some((name, _)) => Err(usage(format!(
            "{name} shapes a new plan; with --plan the plan file decides (plan again with `loopy plan`)"
        ))),
        None => Ok(()),
    }
}

pub fn parse_size(text: &str) -> Result<(u32, u32)> {
    let bad = || usage(format!("--size `{text}`: expected WxH, like 1280x720"));
    let (w, h) = text.split_once(['x', 'X']).ok_or_else(bad)?;
    let size: (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    if size.0 < 2 || size.1 < 2 {
        return Err(usage(format!("--size {text} is too small: at least 2x2")));
    }
    Ok(size)
}

fn parse_bitrate(text: &str) -> Result<u64> {
    let bad = || {
        usage(format!(
            "--bitrate `{text}`: expected a rate like 4M, 800k or 2500000"
        ))
    };
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1_000.0),
        Some((i, 'm' | 'M')) => (&t[..i], 1_000_000.0),
        _ => (t, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    if !(value.is_finite() && value > 0.0) {
        return Err(bad());
    }
    Ok((value * scale) as u64)
}

#[derive(Serialize)]
struct Sidecar<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    timeline: &'a [job::TimelineEntry],
    substitutions: &'a [job::Substitution],
    /// How each span was made (smart render): copied, or a transition cached or encoded.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    spans: &'a [job::SpanRecord],
}

fn write_sidecar(path: &Path, summary: &RenderSummary, force: bool) -> Result<()> {
    let sidecar = Sidecar {
        plan: &summary.plan,
        timeline: &summary.timeline,
        substitutions: &summary.substitutions,
        spans: &summary.spans,
    };
    let mut json = serde_json::to_string_pretty(&sidecar)?;
    json.push('\n');
    write_atomically(path, json.as_bytes(), force)
}

/// Peak resident memory of this process, from /proc (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Serialize)]
struct JsonSummary<'a> {
    #[serde(flatten)]
    summary: &'a RenderSummary,
    width: u32,
    height: u32,
    plan_file: &'a Path,
    peak_rss_mb: Option<f64>,
}

fn report(summary: &RenderSummary, sidecar: &Path, size: (u32, u32), json: bool) -> Result<()> {
    let rss = peak_rss_mb();
    if json {
        return print_json(&JsonSummary {
            summary,
            width: size.0,
            height: size.1,
            plan_file: sidecar,
            peak_rss_mb: rss,
        });
    }
    if crate::output::quiet() {
        return Ok(());
    }
    eprintln!("{} render: {}", summary.path, summary.path_reason);
    for s in &summary.substitutions {
        eprintln!(
            "replaced {} at entry {} with {}: {}",
            s.planned, s.entry, s.used, s.reason
        );
    }
    eprintln!(
        "{} frames ({}) {}in {:.1} s, {:.1}x realtime, peak RSS {}, {:.1} MB → {}",
        summary.frames,
        format_seconds(summary.duration_s),
        if summary.copied { "copied " } else { "" },
        summary.wall_s,
        summary.speed,
        rss.map_or("n/a".into(), |mb| format!("{mb:.0} MB")),
        summary.output_bytes as f64 / 1e6,
        summary.output.display()
    );
    eprintln!("plan as rendered: {}", sidecar.display());
    Ok(())
}
