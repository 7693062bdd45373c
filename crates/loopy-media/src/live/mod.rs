//! Media for `loopy serve`: closed GOPs read from conformed clips and transitions
//! (`feed`), and long-lived MPEG-TS and fMP4 muxers whose output is cut into HLS
//! segments in memory on GOP boundaries (`segmenter`). Scheduling, pacing and HTTP live in the
//! `loopy-serve` crate.

pub mod feed;
pub mod push;
pub mod segmenter;

pub use feed::{read_gops, Gop};
pub use segmenter::{Segment, Segmenter};
