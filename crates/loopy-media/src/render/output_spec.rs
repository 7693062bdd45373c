//! Which encoder, pixel format and container an output uses, and which pairs are
//! impossible (refused before any work starts).

use crate::error::RenderError;
use std::path::Path;

/// The codecs `--codec` offers, each mapped to an encoder in Debian's FFmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    H264,
    H265,
    Vp9,
    Av1,
    ProRes,
}

impl VideoCodec {
    pub fn parse(name: &str) -> Result<Self, RenderError> {
        Ok(match name {
            "h264" => VideoCodec::H264,
            "h265" | "hevc" => VideoCodec::H265,
            "vp9" => VideoCodec::Vp9,
            "av1" => VideoCodec::Av1,
            "prores" => VideoCodec::ProRes,
            other => {
                return Err(RenderError::Usage(format!(
                    "unknown codec `{other}` (expected h264, h265, vp9, av1 or prores)"
                )))
            }
        })
    }

    pub fn encoder_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "libx264",
            VideoCodec::H265 => "libx265",
            VideoCodec::Vp9 => "libvpx-vp9",
            VideoCodec::Av1 => "libsvtav1",
            VideoCodec::ProRes => "prores_ks",
        }
    }

    /// The name `--codec` takes, for messages: what the user typed.
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H265 => "h265",
            other => other.codec_name(),
        }
    }

    /// FFmpeg's codec name, as the scanner reports it for clips.
    pub fn codec_name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "hevc",
            VideoCodec::Vp9 => "vp9",
            VideoCodec::Av1 => "av1",
            VideoCodec::ProRes => "prores",
        }
    }

    pub fn default_pix_fmt(self) -> &'static str {
        match self {
            VideoCodec::ProRes => "yuv422p10le",
            _ => "yuv420p",
        }
    }
}

/// Containers by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
    Mkv,
    Webm,
}

impl Container {
    pub fn from_path(path: &Path) -> Result<Self, RenderError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "mp4" | "m4v" => Container::Mp4,
            "mov" => Container::Mov,
            "mkv" => Container::Mkv,
            "webm" => Container::Webm,
            _ => {
                return Err(RenderError::Usage(format!(
                    "{}: unknown output extension (use .mp4, .mov, .mkv or .webm)",
                    path.display()
                )))
            }
        })
    }

    /// FFmpeg's muxer name.
    pub fn muxer(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
            Container::Mkv => "matroska",
            Container::Webm => "webm",
        }
    }

    /// Writes the container header; mp4 and mov get the index first (`+faststart`) so
    /// players can start before a download ends.
    pub fn write_header(
        self,
        output: &mut ffmpeg_next::format::context::Output,
    ) -> Result<(), RenderError> {
        let mut options = ffmpeg_next::Dictionary::new();
        if matches!(self, Container::Mp4 | Container::Mov) {
            options.set("movflags", "+faststart");
        }
        output
            .write_header_with(options)
            .map(|_| ())
            .map_err(|e| RenderError::ffmpeg("cannot write the header", e))
    }

    /// The codec tag to write: `hvc1` for H.265 in mp4/mov, which QuickTime and
    /// Safari require (the muxer's default, `hev1`, does not play there); 0 lets the
    /// muxer choose.
    pub fn codec_tag(self, codec: VideoCodec) -> u32 {
        match (self, codec) {
            (Container::Mp4 | Container::Mov, VideoCodec::H265) => u32::from_le_bytes(*b"hvc1"),
            _ => 0,
        }
    }

    pub fn audio_encoder(self) -> &'static str {
        match self {
            Container::Mp4 | Container::Mov => "aac",
            Container::Mkv | Container::Webm => "libopus",
        }
    }

    /// Refuses pairs the muxer rejects or players do not expect.
    pub fn check(self, codec: VideoCodec) -> Result<(), RenderError> {
        use Container::*;
        use VideoCodec::*;
        let ok = match self {
            Mp4 => matches!(codec, H264 | H265 | Vp9 | Av1),
            Mov => matches!(codec, H264 | H265 | ProRes),
            Mkv => true,
            Webm => matches!(codec, Vp9 | Av1),
        };
        if ok {
            Ok(())
        } else {
            Err(RenderError::Usage(format!(
                "{} cannot go in a {} file (mp4: h264 h265 vp9 av1; mov: h264 h265 prores; mkv: all; webm: vp9 av1)",
                codec.name(),
                self.muxer()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_pairs_are_refused() {
        assert!(Container::Webm.check(VideoCodec::ProRes).is_err());
        assert!(Container::Webm.check(VideoCodec::H264).is_err());
        assert!(Container::Mp4.check(VideoCodec::ProRes).is_err());
        assert!(Container::Mov.check(VideoCodec::ProRes).is_ok());
        assert!(Container::Mkv.check(VideoCodec::Av1).is_ok());
        assert!(Container::from_path(Path::new("x.avi")).is_err());
        assert_eq!(
            Container::from_path(Path::new("X.MKV")).unwrap(),
            Container::Mkv
        );
    }
}
