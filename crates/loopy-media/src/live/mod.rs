//! Media for `loopy serve`: closed GOPs read from conformed clips and transitions
//! (`feed`), long-lived muxers writing into memory (`muxer`) whose output is cut into
//! HLS segments on GOP boundaries (`segmenter`) or into one fragment per frame for the
//! low-latency preview (`preview`), and the push to RTMP/SRT receivers (`push`).
//! Scheduling, pacing and HTTP live in the `loopy-serve` crate.

pub mod feed;
mod muxer;
pub mod preview;
pub mod push;
pub mod segmenter;

pub use feed::{read_gops, Gop};
pub use preview::PreviewMuxer;
pub use segmenter::{Segment, Segmenter};
