//! The low-latency preview: the live stream's video, packet-copied into a fragmented
//! MP4 with one fragment (`moof` + `mdat`) per frame, so that a player fed over a
//! WebSocket or a chunked HTTP response (Media Source Extensions, ffplay) can show
//! each frame as soon as it is produced instead of a segment later.

use super::muxer::{Kind, Muxer};
use crate::error::RenderError;
use ffmpeg_next as ff;

pub struct PreviewMuxer {
    muxer: Muxer,
    /// `ftyp` + `moov`: what every player gets first.
    init: Vec<u8>,
    frame_tb: ff::Rational,
}

// SAFETY: driven by one thread at a time (it moves with the producer).
unsafe impl Send for PreviewMuxer {}

impl PreviewMuxer {
    /// A muxer for video with codec `params`, fed packets in `frame_tb` (one frame).
    pub fn new(params: ff::codec::Parameters, frame_tb: ff::Rational) -> Result<Self, RenderError> {
        let muxer = Muxer::new(Kind::Fmp4, params, None)?;
        let init = muxer.buffer.take();
        Ok(PreviewMuxer {
            muxer,
            init,
            frame_tb,
        })
    }

    /// The init segment (`ftyp` + `moov`).
    pub fn init_segment(&self) -> &[u8] {
        &self.init
    }

    /// Muxes one frame (a packet on the stream's clock) and returns its fragment.
    pub fn fragment(&mut self, packet: &ff::Packet) -> Result<Vec<u8>, RenderError> {
        self.muxer.write(packet.clone(), self.frame_tb)?;
        self.muxer.take()
    }
}
