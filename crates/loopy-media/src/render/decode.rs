//! Reads one clip's frames in display order, each with its source frame index
//! derived from its timestamp (not from counting, so a dropped frame cannot shift
//! everything after it).

use ff::codec::threading;
use ff::frame::Video;
use ff::Packet;
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::path::Path;

/// What must match for one decoder to go on with another clip's packets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StreamKey {
    codec: i32,
    width: i32,
    height: i32,
    format: i32,
    extradata: Vec<u8>,
}

/// A stream's codec headers (for H.264/H.265 its parameter sets), as stored in
/// its codec parameters: what decides whether packets of two streams can mix.
pub fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: extradata/extradata_size describe one buffer owned by the parameters.
    unsafe {
        let p = params.as_ptr();
        if (*p).extradata.is_null() {
            Vec::new()
        } else {
            std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
        }
    }
}

impl StreamKey {
    fn of(params: &ff::codec::Parameters) -> Self {
        // SAFETY: reads plain fields of valid codec parameters.
        let p = unsafe { &*params.as_ptr() };
        StreamKey {
            codec: p.codec_id as i32,
            width: p.width,
            height: p.height,
            format: p.format,
            extradata: extradata(params),
        }
    }
}

/// Opens a clip's container; the index of its video stream. Reading the file first
/// turns FFmpeg's vague I/O errors into the system's reason.
fn open_input(path: &Path) -> Result<(ff::format::context::Input, usize), String> {
    std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let input = ff::format::input(&path).map_err(|e| format!("cannot open: {e}"))?;
    let index = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or("no video stream")?
        .index();
    Ok((input, index))
}

pub struct ClipReader {
    key: StreamKey,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    stream: usize,
    time_base: ff::Rational,
    fps: Rational,
    origin: Option<i64>,
    counted: u64,
    eof_sent: bool,
    /// Errors this (frame-threaded) decoder logged, and how many were seen already:
    /// more later means the clip is damaged. Declared after the decoder, so that it
    /// is dropped after it (the decoder's threads write into it until they end).
    log_errors: Option<(Box<crate::ffmpeg_log::DecodeErrors>, u64)>,
}

impl ClipReader {
    /// Opens a clip with a frame-threaded decoder; the error text names the reason.
    pub fn open(path: &Path, fps: Rational) -> Result<Self, String> {
        // Frame threads: two on this 2-core machine, at most four. More threads mean
        // more frames in flight (3 MB each at 1080p) for a decoder that already
        // outpaces the encoder.
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 4);
        Self::open_with_threads(path, fps, threads)
    }

    /// Like [`ClipReader::open`] with a chosen number of decoder threads: one for a
    /// quick look at the first frame, which need not allocate a thread's buffers.
    pub fn open_with_threads(path: &Path, fps: Rational, threads: usize) -> Result<Self, String> {
        let (input, index) = open_input(path)?;
        let stream = input.stream(index).ok_or("no video stream")?;
        let time_base = stream.time_base();
        let key = StreamKey::of(&stream.parameters());
        let mut context = ff::codec::Context::from_parameters(stream.parameters())
            .map_err(|e| format!("decoder: {e}"))?;
        // A damaged clip must fail the render, not turn into garbled frames.
        crate::verify::report_every_error(&mut context, threads <= 1);
        let log_errors = (threads > 1).then(|| {
            let errors = Box::<crate::ffmpeg_log::DecodeErrors>::default();
            crate::ffmpeg_log::watch(&mut context, &errors);
            (errors, 0)
        });
        context.set_threading(threading::Config {
            kind: if threads > 1 {
                threading::Type::Frame
            } else {
                threading::Type::None
            },
            count: threads,
            ..Default::default()
        });
        let decoder = context
            .decoder()
            .video()
            .map_err(|e| format!("decoder: {e}"))?;
        Ok(ClipReader {
            key,
            input,
            decoder,
            stream: index,
            time_base,
            fps,
            origin: None,
            counted: 0,
            eof_sent: false,
            log_errors,
        })
    }

    /// Goes on with the next clip. When its video stream has the same codec, size,
    /// format and codec headers (clips of one library usually do), the decoder is
    /// flushed and kept, as the CLI's concat demuxer does: no decoder start-up per clip,
    /// and no second set of reference frames alive at the switch.
    pub fn next_clip(mut self, path: &Path, fps: Rational) -> Result<Self, String> {
        let (input, index) = open_input(path)?;
        let stream = input.stream(index).ok_or("no video stream")?;
        if StreamKey::of(&stream.parameters()) != self.key {
            drop(self);
            return ClipReader::open(path, fps);
        }
        self.stream = index;
        self.time_base = stream.time_base();
        self.input = input;
        self.decoder.flush();
        self.fps = fps;
        self.origin = None;
        self.counted = 0;
        self.eof_sent = false;
        if let Some((errors, seen)) = self.log_errors.as_mut() {
            *seen = errors.count();
        }
        Ok(self)
    }

    pub fn size(&self) -> (u32, u32) {
        (self.decoder.width(), self.decoder.height())
    }

    pub fn format(&self) -> ff::format::Pixel {
        self.decoder.format()
    }

    /// Decodes the next frame into `frame` and returns its source index, or `None`
    /// at the end of the clip.
    pub fn next_frame(&mut self, frame: &mut Video) -> Result<Option<u64>, String> {
        loop {
            match self.decoder.receive_frame(frame) {
                Ok(()) if crate::verify::frame_is_damaged(frame) => {
                    return Err(format!(
                        "damaged frame after source frame {} (the decoder flags it as corrupt)",
                        self.counted
                    ))
                }
                Ok(()) => {
                    self.check_log()?;
                    return Ok(Some(self.index_of(frame)));
                }
                Err(ff::Error::Eof) => {
                    self.check_log()?;
                    return Ok(None);
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => return Err(format!("decode error: {e}")),
            }
            if self.eof_sent {
                self.check_log()?;
                return Ok(None);
            }
            self.feed()?;
        }
    }

    /// Fails when the decoder logged an error since the last check: a frame-threaded
    /// decoder conceals damage and only says so in the log.
    fn check_log(&mut self) -> Result<(), String> {
        let Some((errors, seen)) = self.log_errors.as_mut() else {
            return Ok(());
        };
        let now = errors.count();
        if now > *seen {
            *seen = now;
            return Err(format!(
                "decode error near source frame {} ({})",
                self.counted,
                errors.last()
            ));
        }
        Ok(())
    }

    /// Sends the next packet of the video stream (or the end of stream) to the decoder.
    fn feed(&mut self) -> Result<(), String> {
        loop {
            // A fresh packet per read: av_read_frame does not release what a reused
            // packet still holds (an audio packet we skip would leak).
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream => {
                    return self.decoder.send_packet(&packet).map_err(|e| {
                        format!("decode error after source frame {}: {e}", self.counted)
                    });
                }
                Ok(()) => {}
                Err(ff::Error::Eof) => {
                    self.eof_sent = true;
                    return self
                        .decoder
                        .send_eof()
                        .map_err(|e| format!("decode error: {e}"));
                }
                Err(ff::Error::InvalidData) => {}
                Err(e) => return Err(format!("read error: {e}")),
            }
        }
    }

    /// Source index = (pts − first pts) · time base · fps, rounded; counting order
    /// only when a frame has no timestamp.
    fn index_of(&mut self, frame: &Video) -> u64 {
        let counted = self.counted;
        self.counted += 1;
        let Some(pts) = frame.timestamp().or(frame.pts()) else {
            return counted;
        };
        let origin = *self.origin.get_or_insert(pts);
        let offset = (pts - origin).max(0) as i128;
        let num = offset * self.time_base.numerator() as i128 * self.fps.num() as i128;
        let den = self.time_base.denominator() as i128 * self.fps.den() as i128;
        if den <= 0 {
            return counted;
        }
        ((2 * num + den) / (2 * den)) as u64
    }
}
