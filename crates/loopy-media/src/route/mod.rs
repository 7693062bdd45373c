//! Which way a render goes, and the render itself: the checks before any work,
//! then packets copied from the clips (`render::copy`), pieces joined from the
//! library's cache (`smart`), or every frame through the pipeline
//! (`render::pipeline`); the finished file is moved into place only when complete.

pub mod choice;
pub mod preflight;

use crate::error::RenderError;
use crate::job::{
    beside, AudioSource, CopyMode, RenderJob, RenderOptions, RenderSummary, SmartMode, SpanRecord,
    TimelineEntry,
};
use crate::render::{copy, pipeline, temp, Container, VideoCodec};
use crate::smart::conform::{ConformOptions, ConformReport};
use choice::Choice;
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
    let mut choice = if copied {
        None
    } else {
        Some(choice::choose(&plan, opts, &work)?)
    };
    // A smart render holds the profile (so `loopy cache` leaves it alone) while it
    // conforms what is missing and joins the pieces.
    let mut conformed = ConformReport::default();
    let mut _in_use = None;
    if let Some(Choice::Smart { profile, .. }) = &choice {
        let clips: Vec<_> = plan
            .clips_used()
            .into_iter()
            .map(|c| plan.clips[c].clone())
            .collect();
        let lock = profile.share(Path::new(&plan.root))?;
        match crate::smart::conform_clips(
            Path::new(&plan.root),
            &clips,
            profile,
            cancel,
            on_conform,
            ConformOptions::default(),
        ) {
            Ok(report) => {
                conformed = report;
                for span in work
                    .iter_mut()
                    .filter(|s| matches!(s.source, SpanSource::Clip { .. }))
                {
                    span.mode = SpanMode::Copy;
                }
                _in_use = Some(lock);
            }
            // Chosen for speed only: a clip that cannot be conformed (damage found
            // while decoding it) goes through the full render, which names it or,
            // with --skip-bad, replaces it.
            Err(e) if opts.smart == SmartMode::Auto && !matches!(e, RenderError::Cancelled) => {
                tracing::warn!("conforming failed, rendering in full: {e}");
                choice = Some(Choice::Full(format!("conforming failed: {e}")));
            }
            Err(e) => return Err(e),
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
    let (frames, path, path_reason, frames_copied) = match choice {
        None => {
            let frames = copy::run(&job, cancel, on_progress)?;
            (
                frames,
                "copy",
                "every clip already matches the output".to_string(),
                frames,
            )
        }
        Some(Choice::Smart { profile, why }) => {
            let (frames, records) =
                crate::smart::execute::run(&job, &profile, cancel, on_progress)?;
            let copied = SpanRecord::copied_frames(&records);
            let reason = format!(
                "{} of {frames} frames copied from the cache of profile {}, {} encoded now{}; {why}",
                copied,
                profile.id(),
                frames - copied,
                what_was_encoded(&records, conformed.conformed),
            );
            span_records = records;
            (frames, "smart", reason, copied)
        }
        Some(Choice::Full(why_not_smart)) => {
            let made = pipeline::run(&job, cancel, on_progress)?;
            substitutions.extend(made.substitutions);
            thumbnails = made.thumbnails;
            (
                made.frames,
                "full",
                format!("{not_copied}; not smart: {why_not_smart}"),
                0,
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
        frames_copied,
        frames_encoded: frames - frames_copied,
        clips_conformed: conformed.conformed,
        output_bytes,
        spans: span_records,
        timeline: timeline_of(&plan, &placements),
        substitutions,
        plan,
    })
}

/// `(2 cross-fades, 1 block of clips at uneven rates; 3 clips conformed first)`:
/// what a smart render encoded, for its summary line.
fn what_was_encoded(records: &[SpanRecord], clips_conformed: usize) -> String {
    let count = |how: &str| records.iter().filter(|r| r.how == how).count();
    let mut parts = Vec::new();
    let fades = count("transition_encoded");
    if fades > 0 {
        parts.push(format!(
            "{fades} cross-fade{}",
            if fades == 1 { "" } else { "s" }
        ));
    }
    let leads: Vec<u64> = records
        .iter()
        .filter(|r| r.lead_in_encoded == Some(true))
        .filter_map(|r| r.lead_in_frames)
        .collect();
    if !leads.is_empty() {
        parts.push(format!(
            "{} lead-in{} of {} frames",
            leads.len(),
            if leads.len() == 1 { "" } else { "s" },
            leads.iter().sum::<u64>()
        ));
    }
    let rendered: u64 = records
        .iter()
        .filter(|r| r.how == "rendered")
        .map(|r| r.frames)
        .sum();
    if rendered > 0 {
        parts.push(format!(
            "{rendered} frames of entries between output frames (clip rates that do not divide evenly)"
        ));
    }
    let mut text = if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    };
    if clips_conformed > 0 {
        text.push_str(&format!(
            "; {clips_conformed} clip{} conformed first",
            if clips_conformed == 1 { "" } else { "s" }
        ));
    }
    text
}

/// Says what the output will not carry that the clips have: their sound (unless
/// `--audio clips`) and transparency.
fn warn_about_dropped_parts(plan: &Plan, opts: &RenderOptions) {
    let used = plan.clips_used();
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
        .enumerate()
        .map(|(entry, (&clip, p))| TimelineEntry {
            clip,
            start_frame: p.start_frame,
            frames: p.frames,
            cut: (!plan.cuts.is_empty()).then(|| plan.entry_cut(entry)),
        })
        .collect()
}
