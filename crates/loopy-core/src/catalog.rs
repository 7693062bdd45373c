//! What a clip folder contains: the metadata and signatures of every usable clip,
//! and the files that were rejected with the reason why.

use crate::orientation::Orientation;
use crate::rational::Rational;
use crate::signature::{Signature, SEAMLESS_THRESHOLD};
use crate::window::FrameWindow;
use serde::{Deserialize, Serialize};

/// One usable clip, as the scanner found it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipInfo {
    /// Path relative to the catalog root, with `/` separators on every system.
    pub path: String,
    pub container: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    /// How the stored picture is shown (its display matrix); `width` and `height`
    /// are the displayed size, as players show it.
    #[serde(default, skip_serializing_if = "Orientation::is_identity")]
    pub orientation: Orientation,
    /// Shape of a displayed pixel (sample aspect ratio); 1 for square pixels.
    #[serde(default = "Rational::one", skip_serializing_if = "Rational::is_one")]
    pub sar: Rational,
    /// A cheap content fingerprint (size, start, middle and end of the file): tells a
    /// clip replaced since the scan from one merely touched.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fingerprint: String,
    pub pix_fmt: String,
    pub fps: Rational,
    /// Frames at `fps` from the first frame to the last by their timestamps: the
    /// number of video frames, unless the stored frames leave gaps (see
    /// `stored_frames`).
    pub frames: u64,
    /// Frames actually stored, when fewer than `frames`: their timestamps leave gaps
    /// (an AVI with skipped frames, a slideshow). The clip is shown at its real
    /// timing, each frame held until the next one's time, and never copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_frames: Option<u64>,
    /// `frames / fps`: the time the clip covers when shown at its own rate.
    pub duration_s: f64,
    pub has_audio: bool,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch (the cache key with `size`).
    pub mtime_ns: i128,
    pub tags: Vec<String>,
    /// How often the planner should favour this clip (manifest; default 1).
    pub weight: f64,
    /// How strongly outside signals act on this clip (manifest; default 1).
    pub relevance: f64,
    pub head: Signature,
    pub tail: Signature,
    /// Cut-point candidates: thumbnails of the first and last frames (see
    /// [`crate::window`]); absent in catalogs written before they were kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_window: Option<FrameWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail_window: Option<FrameWindow>,
    /// Distance between the last and the first frame; 0 is a perfect loop.
    pub seamless_score: f64,
    /// Every frame was decoded without an error (`scan --verify`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
}

impl ClipInfo {
    /// Whether the clip loops without a visible jump (see [`SEAMLESS_THRESHOLD`]).
    pub fn is_seamless(&self) -> bool {
        self.seamless_score <= SEAMLESS_THRESHOLD
    }

    /// The file name without folders or extension, the name people use for a clip.
    pub fn stem(&self) -> &str {
        let name = self.path.rsplit('/').next().unwrap_or(&self.path);
        name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name)
    }
}

/// A file the scanner looked at and could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedFile {
    pub path: String,
    pub reason: String,
}

/// Every usable clip of a folder, sorted by path so that indexes are stable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Absolute path of the clip folder.
    pub root: String,
    pub clips: Vec<ClipInfo>,
    pub skipped: Vec<SkippedFile>,
}

impl Catalog {
    /// Finds a clip by relative path, file name or file stem, in that order.
    pub fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim();
        self.clips
            .iter()
            .position(|c| c.path == name)
            .or_else(|| {
                self.clips
                    .iter()
                    .position(|c| c.path.rsplit('/').next() == Some(name))
            })
            .or_else(|| self.clips.iter().position(|c| c.stem() == name))
    }

    /// The frame rate most clips share (ties go to the higher rate), the default output rate.
    pub fn most_common_fps(&self) -> Option<Rational> {
        most_common(self.clips.iter().map(|c| c.fps))
    }

    /// The size most clips share (ties go to the larger size), the default output size.
    pub fn most_common_size(&self) -> Option<(u32, u32)> {
        most_common(self.clips.iter().map(|c| (c.width, c.height)))
    }
}

/// The value that occurs most often; ties go to the larger value.
pub fn most_common<T: Ord + Copy>(items: impl Iterator<Item = T>) -> Option<T> {
    let mut counts = std::collections::BTreeMap::new();
    for item in items {
        *counts.entry(item).or_insert(0usize) += 1;
    }
    // BTreeMap iterates in ascending order; max_by_key keeps the last maximum, so ties go up.
    counts
        .into_iter()
        .max_by_key(|&(_, n)| n)
        .map(|(item, _)| item)
}

/// The tag a file name implies: the part before the first `_` or `-`, lower-cased.
/// `idle_01.mp4` → `idle`; a name without a separator has no tag.
pub fn tag_from_name(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (prefix, _) = name.split_once(['_', '-'])?;
    (!prefix.is_empty()).then(|| prefix.to_lowercase())
}

impl ClipInfo {
    /// A clip that exists only in memory, with flat grey head and tail frames at the
    /// given luma levels. For tests and benchmarks of the planner, which need
    /// catalogs of any shape without decoding anything.
    pub fn synthetic(
        path: &str,
        frames: u64,
        fps: Rational,
        head_level: u8,
        tail_level: u8,
    ) -> ClipInfo {
        let flat = |level: u8| {
            let y = vec![level; crate::signature::THUMB_W * crate::signature::THUMB_H];
            let c = vec![128u8; y.len()];
            Signature::from_yuv444([
                (&y, crate::signature::THUMB_W),
                (&c, crate::signature::THUMB_W),
                (&c, crate::signature::THUMB_W),
            ])
            .unwrap_or_else(|| unreachable!("planes are full size"))
        };
        let head = flat(head_level);
        let tail = flat(tail_level);
        ClipInfo {
            path: path.to_string(),
            container: "synthetic".into(),
            codec: "none".into(),
            width: 64,
            height: 36,
            orientation: Orientation::IDENTITY,
            sar: Rational::ONE,
            fingerprint: String::new(),
            pix_fmt: "yuv420p".into(),
            fps,
            frames,
            stored_frames: None,
            duration_s: fps.seconds(frames),
            has_audio: false,
            size: 0,
            mtime_ns: 0,
            tags: tag_from_name(path).into_iter().collect(),
            weight: 1.0,
            relevance: 1.0,
            seamless_score: tail.distance(&head),
            head_window: None,
            tail_window: None,
            head,
            tail,
            verified: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_come_from_the_prefix() {
        assert_eq!(tag_from_name("idle_01.mp4").as_deref(), Some("idle"));
        assert_eq!(tag_from_name("sub/Talk-loud.mov").as_deref(), Some("talk"));
        assert_eq!(tag_from_name("plain.mp4"), None);
        assert_eq!(tag_from_name("_odd.mp4"), None);
    }

    #[test]
    fn most_common_prefers_the_majority_then_the_larger() {
        assert_eq!(most_common([1, 2, 2, 3].into_iter()), Some(2));
        assert_eq!(most_common([1, 3].into_iter()), Some(3));
        assert_eq!(most_common(std::iter::empty::<u8>()), None);
    }
}
