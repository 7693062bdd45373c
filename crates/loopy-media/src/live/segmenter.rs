//! HLS segments from one long-lived MPEG-TS muxer writing into memory.
//!
//! The muxer lives as long as the stream, so continuity counters, PCR and timestamps
//! run on one clock across every clip boundary (no discontinuity, nothing reset).
//! Its output goes through a custom AVIO into a buffer; a segment is cut before a GOP
//! that would make it longer than the target: the muxer and its I/O buffer are
//! flushed, the bytes so far become the segment, and the muxer is told to repeat its
//! PAT/PMT before the next packet (as FFmpeg's own HLS muxer does), so every segment
//! starts with the tables and an IDR frame and can be decoded on its own.

use super::feed::Gop;
use crate::error::RenderError;
use ff::format::context::StreamIo;
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// MPEG-TS timestamps are in 90 kHz units.
const TS_TIME_BASE: ff::Rational = ff::Rational(1, 90_000);

/// Where the muxer's output accumulates until a segment is cut.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut buffer = self
            .0
            .lock()
            .map_err(|_| std::io::Error::other("segment buffer poisoned"))?;
        buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl SharedBuffer {
    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

/// One finished segment: its first output frame, its length in frames, its bytes.
#[derive(Debug, Clone)]
pub struct Segment {
    pub first_frame: u64,
    pub frames: u64,
    pub bytes: Vec<u8>,
}

pub struct TsSegmenter {
    output: ff::format::context::Output,
    buffer: SharedBuffer,
    frame_tb: ff::Rational,
    stream_tb: ff::Rational,
    next_frame: u64,
    segment_first: u64,
    max_frames: u64,
}

// SAFETY: the muxer is driven by one thread at a time (it moves with the producer).
unsafe impl Send for TsSegmenter {}

impl TsSegmenter {
    /// A muxer for video with codec `params` at `fps`, cutting segments of at most
    /// `max_frames` frames (a longer GOP gets a segment of its own); the first frame
    /// is numbered `first_frame` (a restarted stream goes on where it stopped).
    pub fn new(
        params: ff::codec::Parameters,
        fps: Rational,
        max_frames: u64,
        first_frame: u64,
    ) -> Result<Self, RenderError> {
        let fail = |what: &'static str| move |e: ff::Error| RenderError::ffmpeg(what, e);
        let buffer = SharedBuffer::default();
        let io = StreamIo::from_write(buffer.clone()).map_err(fail("segment output"))?;
        let mut output = ff::format::output_to_stream(io, None, Some("mpegts"))
            .map_err(fail("MPEG-TS muxer"))?;
        {
            let mut stream = output
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(fail("MPEG-TS stream"))?;
            stream.set_parameters(params);
            // SAFETY: valid parameters of the stream just added; the Matroska tag of
            // the pieces means nothing here, 0 lets the muxer choose.
            unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = 0 };
            stream.set_time_base(TS_TIME_BASE);
        }
        output.write_header().map_err(fail("MPEG-TS header"))?;
        let stream_tb = output.stream(0).map_or(TS_TIME_BASE, |s| s.time_base());
        Ok(TsSegmenter {
            output,
            buffer,
            frame_tb: ff::Rational::new(fps.den() as i32, fps.num() as i32),
            stream_tb,
            next_frame: first_frame,
            segment_first: first_frame,
            max_frames: max_frames.max(1),
        })
    }

    /// The output frame the next GOP will start at (the stream's media clock).
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Appends one closed GOP; returns the segment it closed, if it started a new one.
    pub fn push_gop(&mut self, gop: Gop) -> Result<Option<Segment>, RenderError> {
        let pending = self.next_frame - self.segment_first;
        let done = if pending > 0 && pending + gop.frames() > self.max_frames {
            Some(self.cut()?)
        } else {
            None
        };
        for mut packet in gop.packets {
            let at = self.next_frame as i64;
            packet.set_pts(Some(at));
            packet.set_dts(Some(at));
            packet.set_duration(1);
            packet.rescale_ts(self.frame_tb, self.stream_tb);
            packet.set_stream(0);
            packet.set_position(-1);
            packet
                .write(&mut self.output)
                .map_err(|e| RenderError::ffmpeg("MPEG-TS mux", e))?;
            self.next_frame += 1;
        }
        Ok(done)
    }

    /// Closes the segment in progress, if it holds any frame (at shutdown).
    pub fn flush(&mut self) -> Result<Option<Segment>, RenderError> {
        if self.next_frame == self.segment_first {
            return Ok(None);
        }
        self.cut().map(Some)
    }

    fn cut(&mut self) -> Result<Segment, RenderError> {
        // SAFETY: a valid muxing context with its (custom) I/O context; a null packet
        // asks the muxer to flush what it holds, avio_flush pushes the I/O buffer out.
        unsafe {
            let ctx = self.output.as_mut_ptr();
            let ret = ff::ffi::av_write_frame(ctx, std::ptr::null_mut());
            if ret < 0 {
                return Err(RenderError::ffmpeg("MPEG-TS flush", ff::Error::from(ret)));
            }
            ff::ffi::avio_flush((*ctx).pb);
            let flag = c"mpegts_flags";
            let value = c"+resend_headers";
            ff::ffi::av_opt_set((*ctx).priv_data, flag.as_ptr(), value.as_ptr(), 0);
        }
        let segment = Segment {
            first_frame: self.segment_first,
            frames: self.next_frame - self.segment_first,
            bytes: self.buffer.take(),
        };
        self.segment_first = self.next_frame;
        Ok(segment)
    }
}
