//! One long-lived muxer writing into memory (MPEG-TS or fragmented MP4), whose
//! output is taken out piece by piece: an HLS segment at a time for the segmenter, a
//! frame at a time for the preview.

use crate::error::RenderError;
use ff::format::context::StreamIo;
use ffmpeg_next as ff;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Both containers' timestamps are in 90 kHz units.
pub(crate) const TIME_BASE: ff::Rational = ff::Rational(1, 90_000);

/// Where a muxer's output accumulates until a segment is cut.
#[derive(Clone, Default)]
pub(crate) struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

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
    pub(crate) fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut b| std::mem::take(&mut *b))
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    MpegTs,
    Fmp4,
}

/// One long-lived muxer writing into memory: video in stream 0, audio (when there
/// is sound) in stream 1.
pub(crate) struct Muxer {
    kind: Kind,
    output: ff::format::context::Output,
    pub(crate) buffer: SharedBuffer,
    stream_tb: ff::Rational,
    audio_tb: ff::Rational,
}

/// Adds a stream to `output` for packets copied with codec `params`, in `time_base`
/// (or one the muxer chooses).
pub(crate) fn add_copied_stream(
    output: &mut ff::format::context::Output,
    params: ff::codec::Parameters,
    time_base: Option<ff::Rational>,
) -> Result<(), ff::Error> {
    let mut stream = output.add_stream(ff::encoder::find(ff::codec::Id::None))?;
    stream.set_parameters(params);
    // SAFETY: valid parameters of the stream just added; the tag of the container the
    // packets came from (Matroska for the pieces) means nothing here, 0 lets the muxer
    // choose.
    unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = 0 };
    if let Some(time_base) = time_base {
        stream.set_time_base(time_base);
    }
    Ok(())
}

impl Muxer {
    pub(crate) fn new(
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
        add_copied_stream(&mut output, params, Some(TIME_BASE)).map_err(fail)?;
        if let Some((audio, time_base)) = audio {
            add_copied_stream(&mut output, audio.clone(), Some(*time_base)).map_err(fail)?;
        }
        let mut options = ff::Dictionary::new();
        if kind == Kind::Fmp4 {
            // An empty moov as the init segment; fragments only when we flush. No
            // trailer is ever written, and without `skip_trailer` the muxer keeps an
            // index entry per fragment for it: 100 MB a day at a fragment per frame.
            options.set(
                "movflags",
                "frag_custom+empty_moov+default_base_moof+cmaf+skip_trailer",
            );
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

    pub(crate) fn write(
        &mut self,
        mut packet: ff::Packet,
        frame_tb: ff::Rational,
    ) -> Result<(), RenderError> {
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
    pub(crate) fn take(&mut self) -> Result<Vec<u8>, RenderError> {
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
