//! Why a file is not a usable clip, and why a scan could not run at all.

use std::path::PathBuf;
use thiserror::Error;

/// Why one file was skipped. The text is what users read after `skip <path>: `.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ClipError {
    #[error("empty file (0 bytes)")]
    Empty,
    #[error("cannot read: {0}")]
    Unreadable(String),
    #[error("not a video file FFmpeg can open ({0})")]
    NotMedia(String),
    #[error("no video stream{0}")]
    NoVideo(&'static str),
    #[error("unknown video codec: FFmpeg does not recognise this stream's format")]
    UnknownCodec,
    #[error("unsupported codec `{0}`: this FFmpeg build has no decoder for it")]
    UnsupportedCodec(String),
    #[error("cannot open the `{codec}` decoder: {reason}")]
    DecoderOpen { codec: String, reason: String },
    #[error("truncated: {0}")]
    Truncated(String),
    #[error("corrupt: {0}")]
    Corrupt(String),
    #[error("no frame could be decoded{0}")]
    NoFrame(String),
    #[error("unusable frame rate {0}")]
    BadRate(String),
}

/// Why a whole scan failed (as opposed to one file in it).
#[derive(Debug, Error)]
pub enum ScanError {
    #[error("{0}: not a directory")]
    NotADirectory(PathBuf),
    #[error("{0}: no such directory")]
    NoSuchDirectory(PathBuf),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid --pattern `{pattern}`: {reason}")]
    Pattern { pattern: String, reason: String },
    #[error("{}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: loopy_core::PlanError,
    },
}

/// Why a render failed.
#[derive(Debug, Error)]
pub enum RenderError {
    /// Something the user can fix by changing the command.
    #[error("{0}")]
    Usage(String),
    #[error("clip {clip} (entry {entry}, output frame {frame}): {reason}")]
    Clip {
        clip: String,
        entry: usize,
        frame: u64,
        reason: String,
    },
    #[error("{0}")]
    Ffmpeg(String),
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("interrupted")]
    Cancelled,
}

impl RenderError {
    pub(crate) fn ffmpeg(context: &str, e: ffmpeg_next::Error) -> Self {
        RenderError::Ffmpeg(format!("{context}: {e}"))
    }
}
