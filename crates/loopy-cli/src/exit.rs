//! Exit codes: 0 success, 1 runtime failure, 2 usage error (as clap uses for bad
//! arguments). A usage error is anything the user can fix by changing the command.

use std::fmt;

/// Marks an error as the user's to fix (exit code 2).
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Shorthand for returning a usage error.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

pub fn code_for(error: &anyhow::Error) -> i32 {
    let is_usage = error.chain().any(|cause| {
        cause.is::<UsageError>()
            || cause.is::<loopy_core::PlanError>()
            || matches!(
                cause.downcast_ref::<loopy_media::RenderError>(),
                Some(loopy_media::RenderError::Usage(_))
            )
            || matches!(
                cause.downcast_ref::<loopy_media::ScanError>(),
                Some(
                    loopy_media::ScanError::NotADirectory(_)
                        | loopy_media::ScanError::NoSuchDirectory(_)
                        | loopy_media::ScanError::Pattern { .. }
                        | loopy_media::ScanError::Manifest { .. }
                )
            )
    });
    if is_usage {
        2
    } else {
        1
    }
}

/// Whether the error is a write to a closed pipe.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|e| e.io_error_kind())
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}
