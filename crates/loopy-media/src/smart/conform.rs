//! Conforming: each clip encoded once into the profile (re-timed, turned upright,
//! scaled, with the profile's IDR frames), in parallel, into the folder's cache.

use super::pieces::{check_joinable, conformed_path, write_atomically};
use super::Profile;
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
    /// Cached clips of this profile whose source no longer exists as it was.
    pub pruned: usize,
    /// Bytes the profile's conformed clips take now.
    pub bytes: u64,
}

/// Output frames a clip spans in the profile (it is re-timed to the output rate).
pub fn conformed_frames(clip: &PlanClip, profile: &Profile) -> u64 {
    Plan::single("", clip.clone(), profile.fps)
        .stats
        .total_frames
}

/// Conforms every clip that is not conformed yet (one per core), and reports. With
/// `prune` (`clips` is then the whole library) entries of clips that changed or went
/// away are removed. `progress` hears the frames to encode, then every frame encoded.
pub fn conform_clips(
    root: &Path,
    clips: &[PlanClip],
    profile: &Profile,
    cancel: &AtomicBool,
    progress: &(dyn ConformProgress + Sync),
    prune_stale: bool,
) -> Result<ConformReport, RenderError> {
    let dir = profile.conformed_dir(root);
    std::fs::create_dir_all(&dir).map_err(|source| RenderError::Io {
        path: dir.clone(),
        source,
    })?;
    let profile_file = dir.join("profile.json");
    if !profile_file.exists() {
        let json = serde_json::to_vec_pretty(profile).unwrap_or_default();
        write_atomically(&profile_file, &json)?;
    }
    let missing: Vec<&PlanClip> = clips
        .iter()
        .filter(|c| !conformed_path(profile, root, c).exists())
        .collect();
    progress.start(missing.iter().map(|c| conformed_frames(c, profile)).sum());
    // One clip per core; each encode then uses one encoder thread.
    let results: Vec<Result<(), RenderError>> = missing
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
    let keep: std::collections::HashSet<std::path::PathBuf> = clips
        .iter()
        .map(|c| conformed_path(profile, root, c))
        .collect();
    let (pruned, bytes) = if prune_stale {
        prune(&dir, &keep)
    } else {
        (0, 0)
    };
    none_failed(&broken, missing.len(), "clips could not be conformed")?;
    Ok(ConformReport {
        conformed: missing.len(),
        reused: clips.len() - missing.len(),
        pruned,
        bytes,
    })
}

/// Removes conformed clips not in `keep`; returns how many, and the bytes left.
fn prune(dir: &Path, keep: &std::collections::HashSet<std::path::PathBuf>) -> (usize, u64) {
    let (mut pruned, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "mkv") && !keep.contains(&path) {
            if std::fs::remove_file(&path).is_ok() {
                pruned += 1;
            }
            continue;
        }
        bytes += entry.metadata().map_or(0, |m| m.len());
    }
    (pruned, bytes)
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
    pipeline::run(&job, cancel, &|_| progress.frame())?;
    check_joinable(profile, root, temp.path())?;
    temp.persist(&target, true)
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

/// What `loopy conform --status` shows for one profile folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProfileStatus {
    pub id: String,
    pub profile: Option<Profile>,
    pub clips: usize,
    pub transitions: usize,
    pub bytes: u64,
}

/// Every profile conformed in the folder, with what it holds.
pub fn status(root: &Path) -> Vec<ProfileStatus> {
    let base = root.join(crate::cache::CACHE_DIR);
    let count = |dir: &Path| -> (usize, u64) {
        let mut n = (0, 0);
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let len = entry.metadata().map_or(0, |m| m.len());
            n.1 += len;
            if entry.path().extension().is_some_and(|e| e == "mkv") {
                n.0 += 1;
            }
        }
        n
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(base.join("conformed"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let id = entry.file_name().to_string_lossy().into_owned();
        let profile = std::fs::read(entry.path().join("profile.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (clips, clip_bytes) = count(&entry.path());
        let (transitions, transition_bytes) = count(&base.join("transitions").join(&id));
        out.push(ProfileStatus {
            id,
            profile,
            clips,
            transitions,
            bytes: clip_bytes + transition_bytes,
        });
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}
