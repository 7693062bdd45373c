//! Typed errors of the core. Every one of them is caused by what the user asked for
//! (an option, a matrix, an example file), so the CLI reports them as usage errors.

use thiserror::Error;

/// Why a plan could not be made from the given catalog and options.
#[derive(Debug, Error, PartialEq)]
pub enum PlanError {
    #[error("the catalog has no clips to plan with")]
    EmptyCatalog,
    #[error("unknown mode `{0}` (expected uniform, similarity, learned or custom)")]
    UnknownMode(String),
    #[error("invalid duration `{0}`: {1}")]
    InvalidDuration(String, String),
    #[error("invalid cross-fade `{0}`: {1}")]
    InvalidCrossfade(String, String),
    #[error("cross-fade of {crossfade} frames is longer than half the shortest clip ({clip}: {frames} output frames)")]
    CrossfadeTooLong {
        crossfade: u64,
        clip: String,
        frames: u64,
    },
    #[error("invalid frame rate `{0}`: {1}")]
    InvalidRate(String, String),
    #[error("invalid signal `{0}`: {1}")]
    InvalidSignal(String, String),
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("matrix: {0}")]
    Matrix(String),
    #[error("{source_name}: clip `{name}` is not in the catalog")]
    UnknownClip { source_name: String, name: String },
    #[error("clip `{0}` has no allowed successor (every weight in its row is zero)")]
    NoSuccessor(String),
    #[error("example sequence: {0}")]
    Example(String),
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("plan file: {0}")]
    PlanFile(String),
}
