//! HLS segments from long-lived muxers writing into memory: MPEG-TS, and fragmented
//! MP4 (CMAF) beside it, both cut at the same GOP boundaries.
//!
//! Each muxer lives as long as the stream, so timestamps (and for TS continuity
//! counters and PCR, for fMP4 the fragments' decode times) run on one clock across
//! every clip boundary: no discontinuity, nothing reset. Output goes through a custom
//! AVIO into a buffer; a segment is cut before a GOP that would make it longer than
//! the target: the muxer is flushed (for fMP4 that writes the fragment, `frag_custom`),
//! its I/O buffer pushed out, and the bytes so far become the segment. The TS muxer is
//! then told to repeat its PAT/PMT before the next packet (as FFmpeg's own HLS muxer
//! does), so every segment starts with the tables and an IDR frame; the fMP4 muxer's
//! header (`ftyp` + `moov`, written first) is the init segment. Sound, when there is
//! some, goes into both as a second stream, written up to the end of each frame.

use super::feed::Gop;
use super::muxer::{Kind, Muxer};
use crate::error::RenderError;
use ffmpeg_next as ff;
use loopy_core::Rational;

/// One finished segment in both containers: its first output frame, its length in
/// frames, its MPEG-TS bytes and its fMP4 fragment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub first_frame: u64,
    pub frames: u64,
    pub ts: Vec<u8>,
    pub mp4: Vec<u8>,
}

pub struct Segmenter {
    ts: Muxer,
    mp4: Muxer,
    /// The fMP4 header: `ftyp` + `moov`, what `EXT-X-MAP` points to.
    init: Vec<u8>,
    frame_tb: ff::Rational,
    next_frame: u64,
    segment_first: u64,
    max_frames: u64,
}

// SAFETY: the muxers are driven by one thread at a time (they move with the producer).
unsafe impl Send for Segmenter {}

impl Segmenter {
    /// Muxers for video with codec `params` at `fps`, cutting segments of at most
    /// `max_frames` frames (a longer GOP gets a segment of its own); the first frame
    /// is numbered `first_frame` (a restarted stream goes on where it stopped).
    pub fn new(
        params: ff::codec::Parameters,
        audio: Option<(ff::codec::Parameters, ff::Rational)>,
        fps: Rational,
        max_frames: u64,
        first_frame: u64,
    ) -> Result<Self, RenderError> {
        let ts = Muxer::new(Kind::MpegTs, params.clone(), audio.as_ref())?;
        let mp4 = Muxer::new(Kind::Fmp4, params, audio.as_ref())?;
        let init = mp4.buffer.take();
        Ok(Segmenter {
            ts,
            mp4,
            init,
            frame_tb: ff::Rational::new(fps.den() as i32, fps.num() as i32),
            next_frame: first_frame,
            segment_first: first_frame,
            max_frames: max_frames.max(1),
        })
    }

    /// The fMP4 init segment.
    pub fn init_segment(&self) -> &[u8] {
        &self.init
    }

    /// The time base of the packets [`Segmenter::push_frame`] returns: one frame.
    pub fn frame_time_base(&self) -> ff::Rational {
        self.frame_tb
    }

    /// The output frame the next frame will be (the stream's media clock).
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Appends one closed GOP; returns the segment it closed, if it started a new one.
    pub fn push_gop(&mut self, gop: Gop) -> Result<Option<Segment>, RenderError> {
        let done = self.begin_gop(gop.frames())?;
        for packet in gop.packets {
            self.push_frame(packet)?;
        }
        Ok(done)
    }

    /// Starts a GOP of at most `frames` frames (its first frame, an IDR frame, comes
    /// next): cuts the segment in progress, and returns it, when the GOP would make it
    /// longer than the target. A GOP may end early (a live cut): the next one simply
    /// starts with its IDR frame.
    pub fn begin_gop(&mut self, frames: u64) -> Result<Option<Segment>, RenderError> {
        let pending = self.next_frame - self.segment_first;
        if pending > 0 && pending + frames > self.max_frames {
            self.cut().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Appends the next frame of the GOP in progress, retimed to the stream's clock
    /// (pts = dts = its output frame index, in frames); returns the retimed packet for
    /// other outputs (the push, the preview).
    pub fn push_frame(&mut self, mut packet: ff::Packet) -> Result<ff::Packet, RenderError> {
        let at = self.next_frame as i64;
        packet.set_pts(Some(at));
        packet.set_dts(Some(at));
        packet.set_duration(1);
        packet.set_stream(0);
        packet.set_position(-1);
        self.mp4.write(packet.clone(), self.frame_tb)?;
        self.ts.write(packet.clone(), self.frame_tb)?;
        self.next_frame += 1;
        Ok(packet)
    }

    /// Appends an audio packet (time base `time_base`): the sound up to the end of the
    /// last frame pushed, so that a segment cut before the next GOP holds it.
    pub fn push_audio(
        &mut self,
        packet: &ff::Packet,
        time_base: ff::Rational,
    ) -> Result<(), RenderError> {
        let mut packet = packet.clone();
        packet.set_stream(1);
        packet.set_position(-1);
        self.mp4.write(packet.clone(), time_base)?;
        self.ts.write(packet, time_base)
    }

    /// Closes the segment in progress, if it holds any frame (at shutdown).
    pub fn flush(&mut self) -> Result<Option<Segment>, RenderError> {
        if self.next_frame == self.segment_first {
            return Ok(None);
        }
        self.cut().map(Some)
    }

    fn cut(&mut self) -> Result<Segment, RenderError> {
        let segment = Segment {
            first_frame: self.segment_first,
            frames: self.next_frame - self.segment_first,
            ts: self.ts.take()?,
            mp4: self.mp4.take()?,
        };
        self.segment_first = self.next_frame;
        Ok(segment)
    }
}
