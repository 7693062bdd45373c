//! Which way a render goes, and the render itself: the checks before any work,
//! then packets copied from the clips (`render::copy`), pieces joined from the
//! library's cache (`smart`), or every frame through the pipeline
//! (`render::pipeline`); the finished file is moved into place only when complete.

pub mod preflight;

use crate::error::RenderError;
use crate::job::{
    beside, AudioSource, CopyMode, RenderJob, RenderOptions, RenderSummary, SmartMode,
    TimelineEntry,
};
use crate::render::{copy, pipeline, temp, Container, VideoCodec};
use loopy_core::spans::{spans, SpanMode, SpanSource};
use loopy_core::timeline::Placement;
use loopy_core::Plan;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The checks that need neither the clips nor the plan: a known container, a codec
/// it can hold, and no existing output unless `force`. Callers run it before scanning.
pub fn check_output(
    output: &Path,
    codec: VideoCodec,
    force: bool,
) -> Result<Container, RenderError> {
    let container = Container::from_path(output)?;
    container.check(codec)?;
    crate::output_file::check_video(output, force)?;
    Ok(container)
}

/// Checks that nothing about the request is impossible, before any work starts.
pub fn validate(opts: &RenderOptions) -> Result<Container, RenderError> {
    let container = check_output(&opts.output, opts.codec, opts.force)?;
    if opts.thumbnails_every.is_some() {
        crate::output_file::check_new(&beside(&opts.output, ".thumbs.png"), opts.force)?;
    }
    opts.encoder.validate(opts.codec)?;
    if opts.size.0 < 2 || opts.size.1 < 2 {
        return Err(RenderError::Usage(format!(
            "size {}x{} is too small: at least 2x2",
            opts.size.0, opts.size.1
        )));
    }
    if opts.size.0 % 2 == 1 || opts.size.1 % 2 == 1 {
        return Err(RenderError::Usage(format!(
            "size {}x{} must have even width and height (4:2:0 chroma is half size)",
            opts.size.0, opts.size.1
        )));
    }
    Ok(container)
}

/// Renders `plan`. `cancel` stops the render cleanly (the target is left untouched);
/// `on_progress` receives the number of frames written so far, and `on_conform` hears
/// the clips a smart render conforms first.
pub fn render(
    plan: &Plan,
    opts: &RenderOptions,
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
    on_conform: &(dyn crate::smart::ConformProgress + Sync),
) -> Result<RenderSummary, RenderError> {
    let started = Instant::now();
    let container = validate(opts)?;
    let mut copy_verdict = match opts.copy {
        CopyMode::Never => Err("--copy never".to_string()),
        _ => copy::can_copy(plan, opts),
    };
    // Copying never decodes, so the pre-flight only opens the clips then.
    let checked = preflight::check(plan, opts.skip_bad, copy_verdict.is_ok(), opts.verify)?;
    if !checked.substitutions.is_empty() && copy_verdict.is_ok() {
        copy_verdict = copy::can_copy(&checked.plan, opts);
    }
    let mut plan = checked.plan;
    plan.check_timing()
        .map_err(|e| RenderError::Usage(e.to_string()))?;
    // A hand-edited plan may carry stale figures: the sidecar states what is rendered.
    plan.fps = plan.fps_rational.as_f64();
    plan.stats = plan.recompute_stats();
    warn_about_dropped_parts(&plan, opts);
    let repeats = plan.immediate_repeats();
    if !repeats.is_empty() {
        tracing::warn!(
            "{} entr{} show the same clip as the entry before (first: entry {}); a plan file may ask for that",
            repeats.len(),
            if repeats.len() == 1 { "y" } else { "ies" },
            repeats[0]
        );
    }
    let placements = plan.placements();
    let mut work = spans(&placements, plan.crossfade_frames);
    let (copied, not_copied) = match (opts.copy, copy_verdict) {
        (CopyMode::Never, _) => (false, "--copy never".to_string()),
        (CopyMode::Auto, Err(reason)) => (false, reason),
        (_, Ok(())) => (true, String::new()),
        (CopyMode::Always, Err(reason)) => {
            return Err(RenderError::Usage(format!(
                "--copy always is impossible: {reason}"
            )))
        }
    };
    if copied {
        work.iter_mut().for_each(|s| s.mode = SpanMode::Copy);
    }
    let smart = if copied {
        Err(String::new())
    } else {
        choose_smart(&plan, opts)?
    };
    if let Ok(profile) = &smart {
        let used: std::collections::BTreeSet<usize> = plan.sequence.iter().copied().collect();
        let clips: Vec<_> = used.iter().map(|&c| plan.clips[c].clone()).collect();
        crate::smart::conform_clips(
            Path::new(&plan.root),
            &clips,
            profile,
            cancel,
            on_conform,
            false,
        )?;
        for span in work
            .iter_mut()
            .filter(|s| matches!(s.source, SpanSource::Clip { .. }))
        {
            span.mode = SpanMode::Copy;
        }
    }
    let temp = temp::TempOutput::beside(&opts.output)?;
    let job = RenderJob {
        plan: &plan,
        placements: &placements,
        spans: &work,
        opts,
        container,
        temp: temp.path(),
    };
    let mut substitutions = checked.substitutions;
    let mut span_records = Vec::new();
    let mut thumbnails = None;
    let (frames, path, path_reason) = match (&smart, copied) {
        (_, true) => (
            copy::run(&job, cancel, on_progress)?,
            "copy",
            "every clip already matches the output".to_string(),
        ),
        (Ok(profile), false) => {
            let (frames, records) = crate::smart::execute::run(&job, profile, cancel, on_progress)?;
            span_records = records;
            (
                frames,
                "smart",
                format!(
                    "clips conformed to profile {}; only cross-fades encoded",
                    profile.id()
                ),
            )
        }
        (Err(why_not_smart), false) => {
            let made = pipeline::run(&job, cancel, on_progress)?;
            substitutions.extend(made.substitutions);
            thumbnails = made.thumbnails;
            (
                made.frames,
                "full",
                format!("{not_copied}; not smart: {why_not_smart}"),
            )
        }
    };
    let output_bytes = std::fs::metadata(temp.path()).map(|m| m.len()).unwrap_or(0);
    temp.persist(&opts.output, opts.force)?;
    if let Some(png) = thumbnails {
        crate::output_file::write_new(&beside(&opts.output, ".thumbs.png"), &png, opts.force)?;
    }
    let duration_s = plan.fps_rational.seconds(frames);
    let wall_s = started.elapsed().as_secs_f64();
    Ok(RenderSummary {
        output: opts.output.clone(),
        frames,
        duration_s,
        wall_s,
        speed: if wall_s > 0.0 {
            duration_s / wall_s
        } else {
            0.0
        },
        copied,
        path,
        path_reason,
        output_bytes,
        spans: span_records,
        timeline: timeline_of(&plan, &placements),
        substitutions,
        plan,
    })
}

/// Whether to render by joining conformed clips: `Ok(Ok(profile))` when smart,
/// `Ok(Err(reason))` when not, an error when `--smart always` cannot be honoured.
fn choose_smart(
    plan: &Plan,
    opts: &RenderOptions,
) -> Result<Result<crate::smart::Profile, String>, RenderError> {
    if opts.smart == SmartMode::Never {
        return Ok(Err("--smart never".into()));
    }
    let profile = match smart_profile(plan, opts) {
        Ok(profile) => profile,
        Err(reason) if opts.smart == SmartMode::Always => {
            return Err(RenderError::Usage(format!(
                "--smart always is impossible: {reason}"
            )))
        }
        Err(reason) => return Ok(Err(reason)),
    };
    if opts.smart == SmartMode::Always {
        return Ok(Ok(profile));
    }
    let root = Path::new(&plan.root);
    let conformed = plan
        .sequence
        .iter()
        .all(|&c| crate::smart::pieces::conformed_path(&profile, root, &plan.clips[c]).exists());
    let library_s: f64 = plan.clips.iter().map(|c| c.duration_s).sum();
    let output_s = plan.fps_rational.seconds(plan.stats.total_frames);
    if conformed || output_s > library_s {
        Ok(Ok(profile))
    } else {
        Ok(Err(format!(
            "the library is not conformed for this profile and the output ({output_s:.0} s) is shorter than the library ({library_s:.0} s); `loopy conform` or --smart always"
        )))
    }
}

/// The profile of a smart render of `plan`, or why there can be none.
fn smart_profile(plan: &Plan, opts: &RenderOptions) -> Result<crate::smart::Profile, String> {
    let profile = crate::smart::Profile::for_render(plan, opts)?;
    // A conformed clip is re-timed from its first frame: entries that start between two
    // output frames are rendered in blocks (`smart::blocks`). When no entry lands on
    // whole frames, there is nothing to copy.
    if !crate::smart::blocks::aligned_entries(plan, &profile)
        .iter()
        .any(|&aligned| aligned)
    {
        return Err(format!(
            "no entry lands on whole output frames at {} fps (clip rates that do not divide evenly)",
            plan.fps_rational
        ));
    }
    // The pieces live in the clip folder: a read-only library renders in full.
    let root = Path::new(&plan.root);
    std::fs::create_dir_all(profile.conformed_dir(root))
        .map_err(|e| format!("cannot write the conform cache in {}: {e}", root.display()))?;
    Ok(profile)
}

/// Says what the output will not carry that the clips have: their sound (unless
/// `--audio clips`) and transparency.
fn warn_about_dropped_parts(plan: &Plan, opts: &RenderOptions) {
    let used: std::collections::BTreeSet<usize> = plan.sequence.iter().copied().collect();
    let with_sound = used.iter().filter(|&&c| plan.clips[c].has_audio).count();
    if with_sound > 0 && opts.audio != Some(AudioSource::Clips) {
        tracing::warn!(
            "{with_sound} of the {} clips used have their own sound, which is not used (--audio clips keeps it)",
            used.len()
        );
    }
    for &c in &used {
        let clip = &plan.clips[c];
        let alpha = clip
            .pix_fmt
            .parse::<ffmpeg_next::format::Pixel>()
            .ok()
            .and_then(|p| p.descriptor())
            // SAFETY: the descriptor pointer is valid for the program's lifetime.
            .is_some_and(|d| unsafe { (*d.as_ptr()).flags } & ffmpeg_next::ffi::AV_PIX_FMT_FLAG_ALPHA as u64 != 0);
        if alpha {
            tracing::warn!(
                "{}: its transparency ({}) is dropped; the output has no alpha channel",
                clip.path,
                clip.pix_fmt
            );
        }
    }
}

fn timeline_of(plan: &Plan, placements: &[Placement]) -> Vec<TimelineEntry> {
    plan.sequence
        .iter()
        .zip(placements)
        .map(|(&clip, p)| TimelineEntry {
            clip,
            start_frame: p.start_frame,
            frames: p.frames,
        })
        .collect()
}
