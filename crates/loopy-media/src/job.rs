//! What a render is asked to do and what it reports. Shared by the ways an output is
//! produced (packets copied from the clips, `render::copy`; the frame pipeline,
//! `render::pipeline`; pieces joined from the cache, `smart::execute`) and by
//! `route`, which chooses among them, so that none of them needs another.

use crate::error::RenderError;
use crate::render::{Container, EncoderSettings, VideoCodec};
use loopy_core::fit::Fit;
use loopy_core::timeline::Placement;
use loopy_core::Plan;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// When to concatenate packets instead of re-encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CopyMode {
    #[default]
    Auto,
    Always,
    Never,
}

/// When to render by joining conformed clips and cached transitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmartMode {
    /// When the library is conformed for the profile already, or the output is longer
    /// than the library (conforming then pays for itself).
    #[default]
    Auto,
    /// Conform as needed; fail with the reason when the output cannot be smart.
    Always,
    Never,
}

/// Where the output's sound comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioSource {
    /// An audio file, looped or cut to the video's length.
    File(PathBuf),
    /// Each clip's own sound, placed and cross-faded with its picture.
    Clips,
}

/// Everything about the output besides the plan.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    pub output: PathBuf,
    pub size: (u32, u32),
    pub fit: Fit,
    pub codec: VideoCodec,
    pub encoder: EncoderSettings,
    pub copy: CopyMode,
    pub force: bool,
    pub skip_bad: bool,
    /// Decode every frame of every planned clip before rendering (`--verify`).
    pub verify: bool,
    /// Write a contact sheet with one frame every this many output frames.
    pub thumbnails_every: Option<u64>,
    /// The sound track, if any.
    pub audio: Option<AudioSource>,
    pub smart: SmartMode,
}

/// What an executor (copy or pipeline) works from: the plan, where each entry lands,
/// the spans to produce, and where to write.
pub struct RenderJob<'a> {
    pub plan: &'a Plan,
    pub placements: &'a [Placement],
    pub spans: &'a [loopy_core::spans::Span],
    pub opts: &'a RenderOptions,
    pub container: Container,
    pub temp: &'a Path,
}

impl RenderJob<'_> {
    /// Frames the output will have: one past the last placed frame.
    pub fn total_frames(&self) -> u64 {
        self.placements
            .last()
            .map_or(0, |p| p.start_frame + p.frames)
    }
}

/// One entry of the rendered timeline, as the sidecar records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    pub clip: usize,
    pub start_frame: u64,
    pub frames: u64,
    /// The first and last source frame shown, when the plan cuts inside clips.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut: Option<loopy_core::cuts::EntryCut>,
}

/// A clip replaced because it could not be read (`--skip-bad`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Substitution {
    pub entry: usize,
    pub planned: String,
    pub used: String,
    pub reason: String,
}

impl SpanRecord {
    /// Frames of `records` copied from pieces that were in the cache already.
    pub fn copied_frames(records: &[SpanRecord]) -> u64 {
        records
            .iter()
            .filter(|r| matches!(r.how, "copied" | "transition_cached"))
            .map(|r| match (r.lead_in_frames, r.lead_in_encoded) {
                (Some(lead), Some(true)) => r.frames - lead,
                _ => r.frames,
            })
            .sum()
    }
}

/// What a finished render reports.
#[derive(Debug, Clone, Serialize)]
pub struct RenderSummary {
    pub output: PathBuf,
    pub frames: u64,
    pub duration_s: f64,
    pub wall_s: f64,
    pub speed: f64,
    pub copied: bool,
    /// `copy`, `smart` or `full`, and why.
    pub path: &'static str,
    pub path_reason: String,
    /// Frames whose packets were copied (from the clips, or from pieces cached before
    /// this render) and frames encoded by it.
    pub frames_copied: u64,
    pub frames_encoded: u64,
    /// Clips a smart render conformed before joining.
    pub clips_conformed: usize,
    pub output_bytes: u64,
    /// How each span was made (smart render only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanRecord>,
    pub timeline: Vec<TimelineEntry>,
    pub substitutions: Vec<Substitution>,
    /// The plan as rendered (substitutions applied).
    #[serde(skip)]
    pub plan: Plan,
}

/// How one span of a smart render was produced, for the sidecar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpanRecord {
    pub start_frame: u64,
    pub frames: u64,
    /// `clip` or `blend`.
    pub kind: &'static str,
    /// `copied` (from a conformed clip), `transition_cached` or `transition_encoded`.
    pub how: &'static str,
    /// A clip span entered between two IDR frames (`--cut-points`) starts with a
    /// re-encoded lead-in of this many frames…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_in_frames: Option<u64>,
    /// …encoded by this render (`false`: from the cache).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lead_in_encoded: Option<bool>,
}

/// The error for a clip that fails at `entry`, whose first output frame is `frame`:
/// names the file and the position, as every clip failure must.
pub(crate) fn clip_error(
    plan: &Plan,
    entry: usize,
    frame: u64,
    reason: impl Into<String>,
) -> RenderError {
    RenderError::Clip {
        clip: clip_path(plan, plan.sequence[entry]).display().to_string(),
        entry,
        frame,
        reason: reason.into(),
    }
}

/// A file that belongs to an output: its path with `suffix` appended
/// (`out.mp4` → `out.mp4.plan.json`, `out.mp4.thumbs.png`).
pub fn beside(output: &Path, suffix: &str) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The clip file behind a plan entry.
pub fn clip_path(plan: &Plan, clip: usize) -> PathBuf {
    Path::new(&plan.root).join(&plan.clips[clip].path)
}
