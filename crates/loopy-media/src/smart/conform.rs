//! Conforming: each clip encoded once into the profile (re-timed, turned upright,
//! scaled, with the profile's IDR frames), in parallel, into the folder's cache.

use super::pieces::{check_joinable, conformed_path, triage, write_atomically};
use super::Profile;
use crate::cache::entry::{self, Verdict};
use crate::error::RenderError;
use crate::job::{CopyMode, RenderJob, RenderOptions, SmartMode};
use crate::render::temp::TempOutput;
use crate::render::{pipeline, Container};
use loopy_core::plan::PlanClip;
use loopy_core::spans::spans;
use loopy_core::Plan;
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a conform did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConformReport {
    pub conformed: usize,
    pub reused: usize,
    /// Cached clips that failed their check (damaged) and were conformed again.
    pub repaired: usize,
    /// Cache entries of clips that changed or went away (conformed clips and
    /// transitions), removed with `prune_stale`.
    pub pruned: usize,
    /// Bytes the profile takes now (conformed clips and transitions), as
    /// `loopy cache` counts them.
    pub bytes: u64,
}

/// How a conform treats what is cached already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConformOptions {
    /// `clips` is the whole library: remove entries of clips not in it.
    pub prune_stale: bool,
    /// Decode every cached piece before trusting it (`--verify`), not only its checksum.
    pub verify: bool,
}

/// Output frames a clip spans in the profile (it is re-timed to the output rate).
pub fn conformed_frames(clip: &PlanClip, profile: &Profile) -> u64 {
    Plan::single("", clip.clone(), profile.fps)
        .stats
        .total_frames
}

/// Conforms every clip that is not conformed yet, or whose piece fails its check (one
/// per core), and reports. `progress` hears the frames to encode, then every frame
/// encoded.
pub fn conform_clips(
    root: &Path,
    clips: &[PlanClip],
    profile: &Profile,
    cancel: &AtomicBool,
    progress: &(dyn ConformProgress + Sync),
    options: ConformOptions,
) -> Result<ConformReport, RenderError> {
    let dir = profile.conformed_dir(root);
    let in_use = profile.share(root)?;
    let profile_file = dir.join("profile.json");
    if !profile_file.exists() {
        let json = serde_json::to_vec_pretty(profile).unwrap_or_default();
        write_atomically(&profile_file, &json)?;
    }
    let verdicts: Vec<Verdict> = clips
        .par_iter()
        .map(|c| triage(&conformed_path(profile, root, c), options.verify))
        .collect();
    let missing: Vec<&PlanClip> = clips
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.is_good())
        .map(|(c, _)| c)
        .collect();
    let repaired = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Damaged(_)))
        .count();
    // Clips with the same content share one piece: it is encoded once.
    let mut seen = std::collections::HashSet::new();
    let to_encode: Vec<&PlanClip> = missing
        .iter()
        .copied()
        .filter(|c| seen.insert(conformed_path(profile, root, c)))
        .collect();
    progress.start(to_encode.iter().map(|c| conformed_frames(c, profile)).sum());
    // One clip per core; each encode then uses one encoder thread.
    let results: Vec<Result<(), RenderError>> = to_encode
        .par_iter()
        .map(|clip| {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            let done = conform_clip(root, clip, profile, cancel, progress);
            progress.clip_done(&clip.path);
            done
        })
        .collect();
    // A broken clip does not stop the others: all are named at the end.
    let broken = failures(results)?;
    // Pruning takes the profile for itself: only when nobody else uses it.
    drop(in_use);
    let pruned = if options.prune_stale {
        crate::cache::usage::prune_profile(root, &profile.id(), clips)
    } else {
        0
    };
    none_failed(&broken, to_encode.len(), "clips could not be conformed")?;
    Ok(ConformReport {
        conformed: missing.len(),
        reused: clips.len() - missing.len(),
        repaired,
        pruned,
        bytes: crate::cache::usage::profile_bytes(root, &profile.id()),
    })
}

/// Encodes one clip into the profile: a one-entry render through the frame pipeline,
/// written to a temporary file and renamed into the cache when complete.
pub fn conform_clip(
    root: &Path,
    clip: &PlanClip,
    profile: &Profile,
    cancel: &AtomicBool,
    progress: &(dyn ConformProgress + Sync),
) -> Result<(), RenderError> {
    let target = conformed_path(profile, root, clip);
    let plan = Plan::single(&root.to_string_lossy(), clip.clone(), profile.fps);
    let frames = plan.stats.total_frames;
    let placements = plan.placements();
    let work = spans(&placements, 0);
    let opts = RenderOptions {
        output: target.clone(),
        size: (profile.width, profile.height),
        fit: profile.fit,
        codec: profile.video_codec(),
        encoder: profile.encoder(frames, 1),
        copy: CopyMode::Never,
        force: true,
        skip_bad: false,
        verify: false,
        thumbnails_every: None,
        audio: None,
        smart: SmartMode::Never,
    };
    let temp = TempOutput::beside(&target)?;
    let job = RenderJob {
        plan: &plan,
        placements: &placements,
        spans: &work,
        opts: &opts,
        container: Container::Mkv,
        temp: temp.path(),
    };
    // The pipeline reports frames written so far; the progress wants each new one.
    let made = pipeline::run(&job, cancel, &|_| progress.frame())?;
    check_joinable(profile, root, temp.path())?;
    entry::commit(temp, &target, made.frames, &[&clip.path])
}

/// Hears how a conform goes (from several threads at once).
/// The failures of a batch of independent jobs run in parallel: `Cancelled` when
/// any job was cancelled, else every other failure's message.
pub(crate) fn failures(results: Vec<Result<(), RenderError>>) -> Result<Vec<String>, RenderError> {
    let mut broken = Vec::new();
    for error in results.into_iter().filter_map(Result::err) {
        if matches!(error, RenderError::Cancelled) {
            return Err(error);
        }
        broken.push(error.to_string());
    }
    Ok(broken)
}

/// An error naming every job of `total` that failed (`what`, e.g. "clips could not be
/// conformed"); the others were done.
pub(crate) fn none_failed(broken: &[String], total: usize, what: &str) -> Result<(), RenderError> {
    if broken.is_empty() {
        return Ok(());
    }
    Err(RenderError::Ffmpeg(format!(
        "{} of {total} {what} (the others were):\n  {}",
        broken.len(),
        broken.join("\n  ")
    )))
}

pub trait ConformProgress {
    /// Frames the clips still to conform will take.
    fn start(&self, _total_frames: u64) {}
    /// One more frame encoded.
    fn frame(&self) {}
    /// A clip finished (or failed).
    fn clip_done(&self, _path: &str) {}
}

/// No progress to show.
pub struct Quiet;

impl ConformProgress for Quiet {}
