//! Whether a render joins pieces from the library's cache (smart) or runs every frame
//! through the pipeline (full). `--smart auto` weighs what the cache already holds:
//! a smart render encodes the clips not conformed yet, the cross-fades not cached
//! yet and the entries a conformed clip cannot stand in for; a full render encodes
//! every frame. Smart is taken when it encodes fewer frames, which also conforms the
//! rest of the clips on the way for the next render.

use crate::cache::entry;
use crate::error::RenderError;
use crate::job::{RenderOptions, SmartMode};
use crate::smart::conform::conformed_frames;
use crate::smart::layout::{pieces_needed, PieceSpec};
use crate::smart::pieces::conformed_path;
use crate::smart::Profile;
use loopy_core::spans::Span;
use loopy_core::Plan;
use std::path::Path;

/// What a smart render of a plan would encode now, given what the cache holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmartEstimate {
    /// Clips of the plan not conformed for the profile (or whose piece is damaged).
    pub clips_to_conform: usize,
    pub frames_to_conform: u64,
    /// Pieces not in the cache: cross-fades, and lead-ins of entries that start
    /// between two IDR frames (plans with cut points).
    pub transitions_to_encode: usize,
    pub transition_frames: u64,
    /// Frames of entries rendered in blocks (clip rates that do not divide evenly).
    pub block_frames: u64,
    /// Frames of the output.
    pub total_frames: u64,
}

impl SmartEstimate {
    /// Frames a smart render would encode.
    pub fn frames_to_encode(&self) -> u64 {
        self.frames_to_conform + self.transition_frames + self.block_frames
    }

    fn of(plan: &Plan, profile: &Profile, spans: &[Span]) -> Self {
        let root = Path::new(&plan.root);
        let unconformed: Vec<usize> = plan
            .clips_used()
            .into_iter()
            .filter(|&c| !entry::check(&conformed_path(profile, root, &plan.clips[c])).is_good())
            .collect();
        let blocks = crate::smart::blocks::blocks(plan, profile, spans);
        let in_block: Vec<bool> = (0..spans.len())
            .map(|i| blocks.iter().any(|b| (b.spans.0..=b.spans.1).contains(&i)))
            .collect();
        let uncached: Vec<PieceSpec> =
            pieces_needed(plan, profile, &plan.placements(), spans, &in_block)
                .into_iter()
                .filter(|piece| !entry::check(&piece.path(plan, profile)).is_good())
                .collect();
        SmartEstimate {
            clips_to_conform: unconformed.len(),
            frames_to_conform: unconformed
                .iter()
                .map(|&c| conformed_frames(&plan.clips[c], profile))
                .sum(),
            transitions_to_encode: uncached.len(),
            transition_frames: uncached.iter().map(|p| p.frames(profile)).sum(),
            block_frames: blocks.iter().map(|b| b.end - b.start).sum(),
            total_frames: plan.stats.total_frames,
        }
    }
}

/// The decision: smart with its profile (and why), or full (and why not).
pub enum Choice {
    Smart { profile: Profile, why: String },
    Full(String),
}

/// Whether to render `plan` by joining conformed clips; an error when `--smart
/// always` cannot be honoured.
pub fn choose(plan: &Plan, opts: &RenderOptions, spans: &[Span]) -> Result<Choice, RenderError> {
    if opts.smart == SmartMode::Never {
        return Ok(Choice::Full("--smart never".into()));
    }
    let profile = match smart_profile(plan, opts) {
        Ok(profile) => profile,
        Err(reason) if opts.smart == SmartMode::Always => {
            return Err(RenderError::Usage(format!(
                "--smart always is impossible: {reason}"
            )))
        }
        Err(reason) => return Ok(Choice::Full(reason)),
    };
    if opts.smart == SmartMode::Always {
        return Ok(Choice::Smart {
            profile,
            why: "--smart always".into(),
        });
    }
    let estimate = SmartEstimate::of(plan, &profile, spans);
    let (smart, full) = (estimate.frames_to_encode(), estimate.total_frames);
    let conforming = if estimate.clips_to_conform > 0 {
        format!(
            "{} of them to conform {} clip{} first",
            estimate.frames_to_conform,
            estimate.clips_to_conform,
            if estimate.clips_to_conform == 1 {
                ""
            } else {
                "s"
            },
        )
    } else {
        "every clip conformed already".into()
    };
    if smart < full {
        Ok(Choice::Smart {
            profile,
            why: format!("it encodes {smart} frames instead of {full} ({conforming})"),
        })
    } else {
        Ok(Choice::Full(format!(
            "a smart render would encode {smart} frames ({conforming}), no fewer than the {full} of the output; `loopy conform` or --smart always"
        )))
    }
}

/// The profile of a smart render of `plan`, or why there can be none.
fn smart_profile(plan: &Plan, opts: &RenderOptions) -> Result<Profile, String> {
    let profile = Profile::for_render(plan, opts)?;
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
    // The pieces live in the clip folder: a read-only library renders in full. Only
    // the cache folder is made here; the profile's own folder when it is used.
    let cache = Path::new(&plan.root).join(crate::cache::CACHE_DIR);
    std::fs::create_dir_all(&cache)
        .and_then(|()| tempfile::tempfile_in(&cache).map(drop))
        .map_err(|e| format!("cannot write the cache in {}: {e}", cache.display()))?;
    Ok(profile)
}
