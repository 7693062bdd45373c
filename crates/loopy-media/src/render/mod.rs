//! Making an output's frames: the frame pipeline ([`pipeline`]: decode →
//! scale/re-time → cross-fade → encode/mux, one thread per stage, bounded channels
//! between them, frames recycled) and the packet copy of clips that already match the
//! output ([`copy`]), with what they share: decoding, scaling, blending, encoding,
//! sound, thumbnails and the temporary output. Which of them a render uses is
//! decided in [`crate::route`].

pub mod audio;
pub mod blend;
pub mod copy;
pub mod decode;
pub mod encode;
pub mod frames;
pub mod output_spec;
pub mod pipeline;
pub mod scale;
pub mod temp;
pub mod thumbs;

pub use encode::{EncoderSettings, Keyframes};
pub use output_spec::{Container, VideoCodec};
