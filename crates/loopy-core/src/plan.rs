//! The plan file: the contract between `loopy plan`, `loopy render` and `loopy serve`.
//! See `docs/ARCHITECTURE.md` for the field list; `sequence` indexes `clips`, and
//! `stats.total_frames` is exactly the number of frames a render writes.

use crate::catalog::ClipInfo;
use crate::cuts::EntryCut;
use crate::error::PlanError;
use crate::orientation::Orientation;
use crate::rational::Rational;
use crate::spec::Signal;
use crate::stats::{self, PlanStats};
use crate::timeline::{Placement, Retimer, Timeline};
use serde::{Deserialize, Serialize};

/// The plan format this build writes and reads.
pub const PLAN_VERSION: u32 = 1;

/// A planned sequence with everything needed to render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub version: u32,
    /// Absolute path of the clip folder; `clips[].path` is relative to it.
    pub root: String,
    pub seed: u64,
    /// Output frame rate as a number, for readers that want one…
    pub fps: f64,
    /// …and exactly, for everything that counts frames.
    pub fps_rational: Rational,
    pub crossfade_frames: u64,
    pub settings: PlanSettings,
    pub clips: Vec<PlanClip>,
    pub sequence: Vec<usize>,
    /// Each entry's first and last source frame, aligned with `sequence`, when the plan
    /// cuts inside clips (the default; not with `--whole-clips`); empty when every entry shows its whole
    /// clip.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cuts: Vec<EntryCut>,
    /// Output frames cut from the end of the last entry (`--exact`).
    #[serde(default)]
    pub trim_end_frames: u64,
    pub stats: PlanStats,
}

/// The options that produced the plan, so that it can be explained and reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSettings {
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// σ as applied: the library's calibrated σ times `sigma` (seam-distance units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_applied: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smoothing: Option<f64>,
    pub history: usize,
    /// The window actually enforced, smaller than `history` for small libraries.
    pub history_effective: usize,
    pub avoid_ngrams: Option<usize>,
    pub signals: Vec<Signal>,
    pub signal_strength: f64,
    /// Requested output length in milliseconds, when a duration was asked for.
    pub target_ms: Option<u64>,
    /// Requested number of entries, when a count was asked for.
    pub target_entries: Option<u64>,
    pub exact: bool,
    /// Cuts chosen inside the clips' windows (the default; `--whole-clips` turns them off).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cut_points: bool,
}

/// One catalog clip as the plan needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanClip {
    pub path: String,
    pub duration_s: f64,
    pub frames: u64,
    /// As in the catalog: frames actually stored when their timestamps leave gaps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_frames: Option<u64>,
    pub width: u32,
    pub height: u32,
    /// As in the catalog: how the stored picture is shown (width and height are the
    /// displayed size) and the shape of its pixels.
    #[serde(default, skip_serializing_if = "Orientation::is_identity")]
    pub orientation: Orientation,
    #[serde(default = "Rational::one", skip_serializing_if = "Rational::is_one")]
    pub sar: Rational,
    /// The file as scanned: byte size, modification time and content fingerprint, so
    /// that a render can tell a clip replaced since planning (empty/0 in older plans).
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub mtime_ns: i128,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    pub fps: f64,
    pub fps_rational: Rational,
    pub codec: String,
    pub pix_fmt: String,
    /// The clip has a sound track of its own (`--audio clips` uses it).
    #[serde(default)]
    pub has_audio: bool,
    pub tags: Vec<String>,
}

impl PlanClip {
    /// A catalog clip as a plan records it.
    pub fn from_clip(c: &ClipInfo) -> PlanClip {
        PlanClip {
            path: c.path.clone(),
            duration_s: c.duration_s,
            frames: c.frames,
            stored_frames: c.stored_frames,
            width: c.width,
            height: c.height,
            orientation: c.orientation,
            sar: c.sar,
            size: c.size,
            mtime_ns: c.mtime_ns,
            fingerprint: c.fingerprint.clone(),
            fps: c.fps.as_f64(),
            fps_rational: c.fps,
            codec: c.codec.clone(),
            pix_fmt: c.pix_fmt.clone(),
            has_audio: c.has_audio,
            tags: c.tags.clone(),
        }
    }
}

impl Plan {
    /// A plan that shows one clip once at `fps`: what conforming a clip renders.
    pub fn single(root: &str, clip: PlanClip, fps: Rational) -> Plan {
        let frames = Timeline::new(fps, 0)
            .push(clip.frames, clip.fps_rational)
            .frames;
        Plan {
            version: PLAN_VERSION,
            root: root.to_string(),
            seed: 0,
            fps: fps.as_f64(),
            fps_rational: fps,
            crossfade_frames: 0,
            settings: PlanSettings {
                mode: "single".into(),
                sigma: None,
                sigma_applied: None,
                smoothing: None,
                history: 0,
                history_effective: 0,
                avoid_ngrams: None,
                signals: Vec::new(),
                signal_strength: 0.0,
                target_ms: None,
                target_entries: Some(1),
                exact: false,
                cut_points: false,
            },
            clips: vec![clip],
            sequence: vec![0],
            cuts: Vec::new(),
            trim_end_frames: 0,
            stats: stats::compute(&[0], 1, None, frames, fps),
        }
    }

    /// Reads and checks a plan file's text.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| PlanError::PlanFile(e.to_string()))?;
        if plan.version != PLAN_VERSION {
            return Err(PlanError::PlanFile(format!(
                "version {} is not supported (this build reads version {PLAN_VERSION})",
                plan.version
            )));
        }
        if let Some(&bad) = plan.sequence.iter().find(|&&i| i >= plan.clips.len()) {
            return Err(PlanError::PlanFile(format!(
                "sequence index {bad} is out of range ({} clips)",
                plan.clips.len()
            )));
        }
        if plan.sequence.is_empty() {
            return Err(PlanError::PlanFile("the sequence is empty".into()));
        }
        if let Some(clip) = plan.clips.iter().find(|c| c.frames == 0) {
            return Err(PlanError::PlanFile(format!(
                "clip {} has no frames",
                clip.path
            )));
        }
        plan.check_cuts()?;
        plan.check_timing()?;
        Ok(plan)
    }

    /// In/out points of a hand-edited plan: one per entry, inside the clip, in before
    /// out, and only on clips whose stored frames are the timeline's (no gaps).
    fn check_cuts(&self) -> Result<(), PlanError> {
        if self.cuts.is_empty() {
            return Ok(());
        }
        if self.cuts.len() != self.sequence.len() {
            return Err(PlanError::PlanFile(format!(
                "cuts has {} entries, the sequence {}",
                self.cuts.len(),
                self.sequence.len()
            )));
        }
        for (entry, (cut, &c)) in self.cuts.iter().zip(&self.sequence).enumerate() {
            let clip = &self.clips[c];
            if cut.first > cut.last || cut.last >= clip.frames {
                return Err(PlanError::PlanFile(format!(
                    "entry {entry} ({}): cut frames {}..={} are not within its {} frames",
                    clip.path, cut.first, cut.last, clip.frames
                )));
            }
            if clip.stored_frames.is_some() && *cut != EntryCut::whole(clip.frames) {
                return Err(PlanError::PlanFile(format!(
                    "entry {entry} ({}): its frames' timestamps leave gaps, so it can only be shown whole",
                    clip.path
                )));
            }
        }
        Ok(())
    }

    /// The source frames entry `entry` shows.
    pub fn entry_cut(&self, entry: usize) -> EntryCut {
        self.cuts
            .get(entry)
            .copied()
            .unwrap_or_else(|| EntryCut::whole(self.clips[self.sequence[entry]].frames))
    }

    /// Whether some entry starts or ends inside its clip.
    pub fn cuts_inside_clips(&self) -> bool {
        (0..self.cuts.len())
            .any(|e| self.cuts[e] != EntryCut::whole(self.clips[self.sequence[e]].frames))
    }

    /// Each entry's placement with its source-frame mapping (last entry untrimmed:
    /// the mapping is the same, only fewer frames are asked of it).
    pub fn retimers(&self) -> Vec<(Placement, Retimer)> {
        let mut timeline = Timeline::new(self.fps_rational, self.crossfade_frames);
        (0..self.sequence.len())
            .map(|e| {
                let fps = self.clips[self.sequence[e]].fps_rational;
                timeline.push_with_retimer(self.entry_cut(e), fps)
            })
            .collect()
    }

    /// The checks a hand-edited plan needs before any frame is rendered: every used
    /// clip holds the cross-fade at both ends, and the trim leaves the last entry
    /// something to show. (Rates are checked when the file is read.)
    pub fn check_timing(&self) -> Result<(), PlanError> {
        let placements = self.placements_untrimmed();
        let last = self.sequence.len() - 1;
        for (entry, (&clip, p)) in self.sequence.iter().zip(&placements).enumerate() {
            // The first entry fades out only, the last fades in only.
            let fades = u64::from(entry > 0) + u64::from(entry < last);
            if p.frames < self.crossfade_frames * fades {
                return Err(PlanError::PlanFile(format!(
                    "crossfade_frames {} does not fit entry {entry} ({}: {} output frames)",
                    self.crossfade_frames, self.clips[clip].path, p.frames
                )));
            }
        }
        let last_frames = placements[last].frames;
        let keeps = if last > 0 { self.crossfade_frames } else { 0 };
        if self.trim_end_frames + keeps >= last_frames {
            return Err(PlanError::PlanFile(format!(
                "trim_end_frames {} would cut the whole last entry ({} output frames{})",
                self.trim_end_frames,
                last_frames,
                if keeps > 0 {
                    ", its first ones fading in"
                } else {
                    ""
                }
            )));
        }
        Ok(())
    }

    /// Entries that show the same clip twice in a row: allowed in a plan file (a
    /// hand-made plan may want it), but worth saying.
    pub fn immediate_repeats(&self) -> Vec<usize> {
        (1..self.sequence.len())
            .filter(|&i| self.sequence[i] == self.sequence[i - 1])
            .collect()
    }

    /// The clips the sequence plays, each once, in index order.
    pub fn clips_used(&self) -> Vec<usize> {
        let used: std::collections::BTreeSet<usize> = self.sequence.iter().copied().collect();
        used.into_iter().collect()
    }

    fn placements_untrimmed(&self) -> Vec<Placement> {
        self.retimers().into_iter().map(|(p, _)| p).collect()
    }

    /// Where each entry lands in the output, the last one trimmed as planned.
    pub fn placements(&self) -> Vec<Placement> {
        let mut out = self.placements_untrimmed();
        if let Some(last) = out.last_mut() {
            last.frames -= self.trim_end_frames.min(last.frames);
        }
        out
    }

    /// Recomputes the statistics from the sequence itself. Seam distances need the
    /// clips' signatures, which a plan file does not carry: those two figures are kept
    /// from when the plan was made.
    pub fn recompute_stats(&self) -> PlanStats {
        let total = self
            .placements()
            .last()
            .map_or(0, |p| p.start_frame + p.frames);
        let mut fresh = stats::compute(
            &self.sequence,
            self.clips.len(),
            None,
            total,
            self.fps_rational,
        );
        fresh.mean_seam_distance = self.stats.mean_seam_distance;
        fresh.uniform_mean_seam_distance = self.stats.uniform_mean_seam_distance;
        fresh.worst_seam_distance = self.stats.worst_seam_distance;
        fresh.uniform_worst_seam_distance = self.stats.uniform_worst_seam_distance;
        fresh
    }
}
