//! The output profile a library is conformed to: everything that decides the bytes
//! of an encoded piece. Two renders with the same profile share conformed clips and
//! cached transitions.

use crate::error::RenderError;
use crate::job::RenderOptions;
use crate::render::{EncoderSettings, Keyframes, VideoCodec};
use loopy_core::fit::Fit;
use loopy_core::{Plan, Rational};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Profile format; bumped when pieces written under it would no longer join.
const PROFILE_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub version: u32,
    /// FFmpeg's codec name: h264 or hevc.
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub fit: Fit,
    pub fps: Rational,
    pub crf: Option<u32>,
    pub preset: Option<String>,
    pub bitrate: Option<u64>,
    /// Cross-fade length k in output frames: IDR frames at k and len − k.
    pub crossfade: u64,
    /// Frames between IDR frames after k (default 2 s).
    pub gop: u64,
    /// For plans that cut inside clips: frames between the extra IDR frames of a
    /// conformed clip's head (0, and absent from the profile's name, otherwise).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub head_keys: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// IDR spacing in the heads of clips conformed for plans with cut points: an entry
/// entered inside the head re-encodes at most this many frames less one before its
/// body is copied.
pub const HEAD_KEY_SPACING: u64 = 6;

impl Profile {
    /// The profile a render of `plan` with `opts` needs, or why it cannot be smart.
    pub fn for_render(plan: &Plan, opts: &RenderOptions) -> Result<Profile, String> {
        if !matches!(opts.codec, VideoCodec::H264 | VideoCodec::H265) {
            return Err(format!(
                "{} pieces cannot be joined by copying here (h264 and h265 can)",
                opts.codec.name()
            ));
        }
        if opts
            .encoder
            .pix_fmt
            .as_deref()
            .is_some_and(|p| p != "yuv420p")
        {
            return Err("smart render writes yuv420p".into());
        }
        if opts.thumbnails_every.is_some() {
            return Err("--thumbnails needs every frame decoded".into());
        }
        let fps = plan.fps_rational;
        let two_seconds = (2 * fps.num()).div_ceil(fps.den()).max(1);
        // Defaults spelled out, so that `--crf 23` and no `--crf` name one profile.
        let crf = match (opts.encoder.crf, opts.encoder.bitrate) {
            (None, None) if opts.codec == VideoCodec::H265 => Some(28),
            (None, None) => Some(23),
            (crf, _) => crf,
        };
        let preset = Some(
            opts.encoder
                .preset
                .clone()
                .unwrap_or_else(|| "veryfast".into()),
        );
        Ok(Profile {
            version: PROFILE_VERSION,
            codec: opts.codec.codec_name().to_string(),
            width: opts.size.0,
            height: opts.size.1,
            fit: opts.fit,
            fps,
            crf,
            preset,
            bitrate: opts.encoder.bitrate,
            crossfade: plan.crossfade_frames,
            gop: opts.encoder.gop.map_or(two_seconds, u64::from),
            head_keys: if plan.settings.cut_points || plan.cuts_inside_clips() {
                HEAD_KEY_SPACING
            } else {
                0
            },
        })
    }

    /// A stable name for the profile: a hash of its canonical JSON.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        crate::fingerprint::hash_hex(&json)
    }

    pub fn video_codec(&self) -> VideoCodec {
        if self.codec == "hevc" {
            VideoCodec::H265
        } else {
            VideoCodec::H264
        }
    }

    /// Encoder settings for a piece of `frames` frames.
    pub fn encoder(&self, frames: u64, threads: usize) -> EncoderSettings {
        EncoderSettings {
            crf: self.crf,
            preset: self.preset.clone(),
            bitrate: self.bitrate,
            gop: u32::try_from(self.gop).ok(),
            pix_fmt: Some("yuv420p".into()),
            threads,
            keyframes: Some(self.keyframes(frames)),
        }
    }

    /// Where a piece of `frames` frames has IDR frames.
    pub fn keyframes(&self, frames: u64) -> Keyframes {
        // The head window spans at most a second or a quarter of the clip; a little
        // more covers in-points at its end.
        let second = self.fps.num().div_ceil(self.fps.den());
        Keyframes {
            crossfade: self.crossfade,
            gop: self.gop,
            frames,
            head_every: self.head_keys,
            head_span: second.min(frames / 4) + self.head_keys,
        }
    }

    /// `.loopy/conformed/<id>` inside the clip folder.
    pub fn conformed_dir(&self, root: &Path) -> PathBuf {
        root.join(crate::cache::CACHE_DIR)
            .join("conformed")
            .join(self.id())
    }

    /// Marks the profile as in use for as long as the lock is held (see
    /// [`crate::cache::lock`]); creates its folder.
    pub fn share(&self, root: &Path) -> Result<crate::cache::lock::ProfileLock, RenderError> {
        let dir = self.conformed_dir(root);
        crate::cache::lock::share(&dir).map_err(|source| RenderError::Io { path: dir, source })
    }

    /// `.loopy/transitions/<id>` inside the clip folder.
    pub fn transitions_dir(&self, root: &Path) -> PathBuf {
        root.join(crate::cache::CACHE_DIR)
            .join("transitions")
            .join(self.id())
    }
}
