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
//! some, goes into both as a second stream, written up to the end of each GOP.

use super::feed::Gop;
use crate::error::RenderError;
use ff::format::context::StreamIo;
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Both containers' timestamps are in 90 kHz units.
const TIME_BASE: ff::Rational = ff::Rational(1, 90_000);

/// Where a muxer's output accumulates until a segment is cut.
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

/// One finished segment in both containers: its first output frame, its length in
/// frames, its MPEG-TS bytes and its fMP4 fragment.
#[derive(Debug, Clone)]
pub struct Segment {
    pub first_frame: u64,
    pub frames: u64,
    pub ts: Vec<u8>,
    pub mp4: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MpegTs,
    Fmp4,
}

/// One long-lived muxer writing into memory: video in stream 0, audio (when there
/// is sound) in stream 1.
struct Muxer {
    kind: Kind,
    output: ff::format::context::Output,
    buffer: SharedBuffer,
    stream_tb: ff::Rational,
    audio_tb: ff::Rational,
}

impl Muxer {
    fn new(
        kind: Kind,
        params: ff::codec::Parameters,
        audio: Option<&(ff::codec::Parameters, ff::Rational)>,
    ) -> Result<Self, RenderError> {
        let what = match kind {
            Kind::MpegTs => "MPEG-TS muxer",
            Kind::Fmp4 => "fMP4 muxer",
        };
        let fail = |e: ff::Error| RenderError::ffmpeg(what, e);
        let buffer = SharedBuffer::default();
        let io = StreamIo::from_write(buffer.clone()).map_err(fail)?;
        let format = match kind {
            Kind::MpegTs => "mpegts",
            Kind::Fmp4 => "mp4",
        };
        let mut output = ff::format::output_to_stream(io, None, Some(format)).map_err(fail)?;
        {
            let mut stream = output
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(fail)?;
            stream.set_parameters(params);
            // SAFETY: valid parameters of the stream just added; the Matroska tag of
            // the pieces means nothing here, 0 lets the muxer choose.
            unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = 0 };
            stream.set_time_base(TIME_BASE);
        }
        if let Some((audio, time_base)) = audio {
            let mut stream = output
                .add_stream(ff::encoder::find(ff::codec::Id::None))
                .map_err(fail)?;
            stream.set_parameters(audio.clone());
            // SAFETY: as above, for the audio stream just added.
            unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = 0 };
            stream.set_time_base(*time_base);
        }
        let mut options = ff::Dictionary::new();
        if kind == Kind::Fmp4 {
            // An empty moov as the init segment; fragments only when we flush.
            options.set("movflags", "frag_custom+empty_moov+default_base_moof+cmaf");
        }
        output.write_header_with(options).map_err(fail)?;
        let stream_tb = output.stream(0).map_or(TIME_BASE, |s| s.time_base());
        let audio_tb = output.stream(1).map_or(TIME_BASE, |s| s.time_base());
        Ok(Muxer {
            kind,
            output,
            buffer,
            stream_tb,
            audio_tb,
        })
    }

    fn write(&mut self, mut packet: ff::Packet, frame_tb: ff::Rational) -> Result<(), RenderError> {
        let target = if packet.stream() == 1 {
            self.audio_tb
        } else {
            self.stream_tb
        };
        packet.rescale_ts(frame_tb, target);
        packet
            .write(&mut self.output)
            .map(|_| ())
            .map_err(|e| RenderError::ffmpeg("mux", e))
    }

    /// Flushes what the muxer holds and takes every byte written since the last call.
    fn take(&mut self) -> Result<Vec<u8>, RenderError> {
        // SAFETY: a valid muxing context with its (custom) I/O context; a null packet
        // asks the muxer to flush (for fMP4 with frag_custom: write the fragment),
        // avio_flush pushes the I/O buffer out.
        unsafe {
            let ctx = self.output.as_mut_ptr();
            let ret = ff::ffi::av_write_frame(ctx, std::ptr::null_mut());
            if ret < 0 {
                return Err(RenderError::ffmpeg("segment flush", ff::Error::from(ret)));
            }
            ff::ffi::avio_flush((*ctx).pb);
            if self.kind == Kind::MpegTs {
                let flag = c"mpegts_flags";
                let value = c"+resend_headers";
                ff::ffi::av_opt_set((*ctx).priv_data, flag.as_ptr(), value.as_ptr(), 0);
            }
        }
        Ok(self.buffer.take())
    }
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

    /// The output frame the next GOP will start at (the stream's media clock).
    pub fn next_frame(&self) -> u64 {
        self.next_frame
    }

    /// Appends one closed GOP; returns the segment it closed, if it started a new one.
    pub fn push_gop(&mut self, gop: Gop) -> Result<Option<Segment>, RenderError> {
        self.push_gop_with(gop, &mut |_| {})
    }

    /// Like [`Segmenter::push_gop`]; `tap` also sees every packet, its timestamps set
    /// to its output frame index (for `--push`).
    pub fn push_gop_with(
        &mut self,
        gop: Gop,
        tap: &mut dyn FnMut(&ff::Packet),
    ) -> Result<Option<Segment>, RenderError> {
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
            packet.set_stream(0);
            packet.set_position(-1);
            tap(&packet);
            self.mp4.write(packet.clone(), self.frame_tb)?;
            self.ts.write(packet, self.frame_tb)?;
            self.next_frame += 1;
        }
        Ok(done)
    }

    /// Appends an audio packet (time base `time_base`): the sound up to the end of the
    /// last GOP pushed, so that a segment cut before the next GOP holds it.
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
