//! Entries a conformed clip cannot stand in for: a conformed clip is re-timed from its
//! own first frame, so an entry whose placement starts between two output frames (a
//! clip rate that does not divide evenly into the output rate) shows other source
//! frames than the conformed clip. Each run of such entries is rendered in full, with
//! its neighbours for the cross-fades, into a piece of the profile that starts with an
//! IDR frame where the run's spans begin; the rest of the output is still copied.

use super::conform::conformed_frames;
use super::pieces::check_joinable;
use super::Profile;
use crate::error::RenderError;
use crate::job::{CopyMode, RenderJob, RenderOptions};
use crate::render::temp::TempOutput;
use crate::render::{pipeline, Container, Keyframes};
use loopy_core::cuts::EntryCut;
use loopy_core::spans::{spans, Span, SpanSource};
use loopy_core::timeline::Timeline;
use loopy_core::Plan;
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// A range of spans rendered as one piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// First and last span index (inclusive).
    pub spans: (usize, usize),
    /// First and last entry of the sub-plan rendered (the run and its neighbours).
    pub entries: (usize, usize),
    /// Output frames the block covers: `start..end`.
    pub start: u64,
    pub end: u64,
}

/// Which entries a conformed clip shows exactly: those starting on a whole output
/// frame, with an in-point on a whole conformed frame, and within the conformed
/// length. A whole-clip entry (not the last, which may be trimmed) spans all of it.
pub fn aligned_entries(plan: &Plan, profile: &Profile) -> Vec<bool> {
    let placements = plan.placements();
    let last = placements.len().saturating_sub(1);
    let mut timeline = Timeline::new(plan.fps_rational, plan.crossfade_frames);
    plan.sequence
        .iter()
        .zip(&placements)
        .enumerate()
        .map(|(entry, (&c, p))| {
            let conformed = conformed_frames(&plan.clips[c], profile);
            let whole = timeline.next_start_is_whole();
            timeline.push(plan.entry_cut(entry).frames(), plan.clips[c].fps_rational);
            let Some(start) = super::layout::entry_start(plan, profile, entry) else {
                return false;
            };
            let cut = plan.entry_cut(entry) != EntryCut::whole(plan.clips[c].frames);
            whole
                && start + p.frames <= conformed
                && (entry == last || cut || p.frames == conformed)
        })
        .collect()
}

fn touches(span: &Span, first: usize, last: usize) -> bool {
    match span.source {
        SpanSource::Clip { entry } => (first..=last).contains(&entry),
        SpanSource::Blend { from, to } => {
            (first..=last).contains(&from) || (first..=last).contains(&to)
        }
    }
}

/// The blocks of a plan: one per run of entries that are not aligned.
pub fn blocks(plan: &Plan, profile: &Profile, all_spans: &[Span]) -> Vec<Block> {
    let aligned = aligned_entries(plan, profile);
    let last = aligned.len().saturating_sub(1);
    let mut out = Vec::new();
    let mut entry = 0;
    while entry < aligned.len() {
        if aligned[entry] {
            entry += 1;
            continue;
        }
        let first = entry;
        while entry < aligned.len() && !aligned[entry] {
            entry += 1;
        }
        let run_last = entry - 1;
        let touched: Vec<usize> = (0..all_spans.len())
            .filter(|&i| touches(&all_spans[i], first, run_last))
            .collect();
        let (Some(&a), Some(&b)) = (touched.first(), touched.last()) else {
            continue;
        };
        out.push(Block {
            spans: (a, b),
            entries: (first.saturating_sub(1), (run_last + 1).min(last)),
            start: all_spans[a].start_frame,
            end: all_spans[b].start_frame + all_spans[b].frames,
        });
    }
    out
}

/// Renders a block's sub-plan through the frame pipeline into a piece of the profile,
/// with an IDR frame where the block's output range begins. Returns the piece (a
/// temporary file, removed when dropped) and the frame in it where the range begins.
pub fn render_block(
    job: &RenderJob,
    profile: &Profile,
    block: &Block,
    cancel: &AtomicBool,
) -> Result<(TempOutput, u64), RenderError> {
    let plan = job.plan;
    let (lo, hi) = block.entries;
    let mut sub = plan.clone();
    sub.sequence = plan.sequence[lo..=hi].to_vec();
    if !plan.cuts.is_empty() {
        sub.cuts = plan.cuts[lo..=hi].to_vec();
    }
    if hi + 1 < plan.sequence.len() {
        sub.trim_end_frames = 0;
    }
    let placements = sub.placements();
    let work = spans(&placements, sub.crossfade_frames);
    // The sub-plan starts where entry `lo` does, on a whole output frame.
    let offset = job.placements[lo].start_frame;
    let range_start = block.start - offset;
    let dir = profile.transitions_dir(Path::new(&plan.root));
    std::fs::create_dir_all(&dir).map_err(|source| RenderError::Io {
        path: dir.clone(),
        source,
    })?;
    let target = dir.join(format!("block-{}-{}.mkv", std::process::id(), block.start));
    let mut encoder = profile.encoder(0, 0);
    encoder.keyframes = Some(Keyframes {
        crossfade: range_start,
        gop: profile.gop,
        frames: u64::MAX,
        head_every: 0,
        head_span: 0,
    });
    let opts = RenderOptions {
        output: target.clone(),
        encoder,
        copy: CopyMode::Never,
        audio: None,
        thumbnails_every: None,
        ..job.opts.clone()
    };
    let temp = TempOutput::beside(&target)?;
    let sub_job = RenderJob {
        plan: &sub,
        placements: &placements,
        spans: &work,
        opts: &opts,
        container: Container::Mkv,
        temp: temp.path(),
    };
    pipeline::run(&sub_job, cancel, &|_| {})?;
    check_joinable(profile, Path::new(&plan.root), temp.path())?;
    Ok((temp, range_start))
}
