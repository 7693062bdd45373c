//! Raw RGB frames in and out, for programs that hold pictures as arrays (the ComfyUI
//! node pack): `loopy frames` decodes a range of a video's frames, upright, as packed
//! RGB24 on a pipe; `loopy make-clip` encodes packed RGB24 frames from a pipe into a
//! clip. One frame is in memory at a time on either side.

use crate::error::RenderError;
use crate::orient::Orienter;
use crate::render::decode::ClipReader;
use crate::render::encode::{EncoderSettings, SinkSpec, VideoSink};
use crate::render::output_spec::{Container, VideoCodec};
use crate::render::temp::TempOutput;
use ff::format::Pixel;
use ff::frame::Video;
use ff::software::scaling::{Context as Scaler, Flags};
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Which frames to take: from `start` (0-based), at most `count` (all when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRange {
    pub start: u64,
    pub count: Option<u64>,
}

/// Bytes of one packed RGB24 frame.
pub fn rgb_frame_bytes(size: (u32, u32)) -> usize {
    size.0 as usize * size.1 as usize * 3
}

/// Decodes `range` of the video at `path` (`probed`: what probing it said, so it is
/// not probed twice) and writes each frame, as displayed (display matrix applied;
/// pixels as stored, so a non-square SAR is not stretched), as packed RGB24 rows to
/// `out`. Returns the number of frames written.
pub fn write_rgb_frames(
    path: &Path,
    probed: &crate::probe::Probed,
    range: FrameRange,
    out: &mut dyn Write,
    cancel: &AtomicBool,
    on_frame: &dyn Fn(u64),
) -> Result<u64, RenderError> {
    let named = |reason: String| RenderError::Ffmpeg(format!("{}: {reason}", path.display()));
    let mut reader = ClipReader::open(path, probed.fps).map_err(named)?;
    let mut writer = RgbWriter {
        path,
        orienter: Orienter::new(probed.orientation),
        converter: None,
        row: Vec::new(),
        out,
        written: 0,
        limit: range.count,
        on_frame,
    };
    // Each frame is shown from its own index to the next frame's: a clip whose
    // timestamps leave gaps (see `Probed::stored_frames`) holds a frame until the
    // next one's time, so that frame i written is what plays at time i / fps.
    let mut held: Option<(u64, Video)> = None;
    let mut decoded = Video::empty();
    while !writer.full() {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let Some(index) = reader.next_frame(&mut decoded).map_err(&named)? else {
            break;
        };
        if let Some((from, picture)) = held.as_mut() {
            let shown = (*from).max(range.start)..index.max(*from + 1);
            writer.show(picture, shown)?;
            *from = index.max(*from + 1);
            std::mem::swap(picture, &mut decoded);
        } else {
            held = Some((index, std::mem::replace(&mut decoded, Video::empty())));
        }
    }
    if let Some((from, picture)) = held.as_ref() {
        writer.show(picture, (*from).max(range.start)..*from + 1)?;
    }
    let written = writer.written;
    out.flush().map_err(|source| RenderError::Io {
        path: "stdout".into(),
        source,
    })?;
    Ok(written)
}

/// Writes decoded pictures as packed RGB24 rows, up to a number of frames.
struct RgbWriter<'a> {
    path: &'a Path,
    orienter: Orienter,
    converter: Option<(Scaler, Video)>,
    /// The last picture converted, as written.
    row: Vec<u8>,
    out: &'a mut dyn Write,
    written: u64,
    limit: Option<u64>,
    on_frame: &'a dyn Fn(u64),
}

impl RgbWriter<'_> {
    fn full(&self) -> bool {
        self.limit.is_some_and(|limit| self.written >= limit)
    }

    /// Writes `picture` once for every index in `indices` (none when it is empty),
    /// converting it once.
    fn show(&mut self, picture: &Video, indices: std::ops::Range<u64>) -> Result<(), RenderError> {
        if indices.is_empty() || self.full() {
            return Ok(());
        }
        let upright = self
            .orienter
            .run(picture)
            .map_err(|reason| RenderError::Ffmpeg(format!("{}: {reason}", self.path.display())))?;
        let (w, h) = (upright.width(), upright.height());
        if self
            .converter
            .as_ref()
            .is_none_or(|(_, rgb)| (rgb.width(), rgb.height()) != (w, h))
        {
            let scaler = Scaler::get(Pixel::YUV420P, w, h, Pixel::RGB24, w, h, Flags::BICUBIC)
                .map_err(|e| RenderError::ffmpeg("RGB conversion", e))?;
            self.converter = Some((scaler, Video::new(Pixel::RGB24, w, h)));
        }
        let Some((scaler, rgb)) = self.converter.as_mut() else {
            return Ok(());
        };
        scaler
            .run(upright, rgb)
            .map_err(|e| RenderError::ffmpeg("RGB conversion", e))?;
        let (stride, width_bytes) = (rgb.stride(0), w as usize * 3);
        self.row.clear();
        for y in 0..h as usize {
            self.row
                .extend_from_slice(&rgb.data(0)[y * stride..y * stride + width_bytes]);
        }
        for _ in indices {
            if self.full() {
                break;
            }
            self.out
                .write_all(&self.row)
                .map_err(|source| RenderError::Io {
                    path: "stdout".into(),
                    source,
                })?;
            self.written += 1;
            (self.on_frame)(self.written);
        }
        Ok(())
    }
}

/// How to encode a clip made from raw frames.
#[derive(Debug, Clone)]
pub struct ClipSpec {
    pub size: (u32, u32),
    pub fps: Rational,
    pub codec: VideoCodec,
    pub encoder: EncoderSettings,
}

/// Reads packed RGB24 frames of `spec.size` from `input` until it ends, encodes them
/// into `output` (container from its extension), and returns the frame count. The
/// clip is written beside `output` under a temporary name and renamed when complete;
/// an existing `output` is replaced only with `force`. Input that ends inside a frame,
/// or has no frame at all, is refused and nothing is written.
pub fn make_clip_from_rgb(
    input: &mut dyn Read,
    spec: &ClipSpec,
    output: &Path,
    force: bool,
    cancel: &AtomicBool,
    on_frame: &dyn Fn(u64),
) -> Result<u64, RenderError> {
    let (w, h) = spec.size;
    if w < 2 || h < 2 || w % 2 == 1 || h % 2 == 1 {
        return Err(RenderError::Usage(format!(
            "{w}x{h} cannot be encoded: 4:2:0 chroma needs an even width and height"
        )));
    }
    let container = Container::from_path(output)?;
    container.check(spec.codec)?;
    if output.exists() && !force {
        return Err(RenderError::Usage(format!(
            "{} already exists; pass --force to replace it",
            output.display()
        )));
    }
    let temp = TempOutput::beside(output)?;
    let sink_spec = SinkSpec {
        container,
        codec: spec.codec,
        size: spec.size,
        fps: spec.fps,
        settings: &spec.encoder,
    };
    let mut sink = VideoSink::open_video_only(temp.path(), &sink_spec)?;
    let mut rgb = Video::new(Pixel::RGB24, w, h);
    let mut yuv = Video::new(Pixel::YUV420P, w, h);
    let mut scaler = Scaler::get(Pixel::RGB24, w, h, Pixel::YUV420P, w, h, Flags::BICUBIC)
        .map_err(|e| RenderError::ffmpeg("YUV conversion", e))?;
    let mut packed = vec![0u8; rgb_frame_bytes(spec.size)];
    let mut frames = 0u64;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let got = read_full(input, &mut packed).map_err(|source| RenderError::Io {
            path: "stdin".into(),
            source,
        })?;
        if got == 0 {
            break;
        }
        if got < packed.len() {
            return Err(RenderError::Usage(format!(
                "the input ended inside frame {}: {got} of {} bytes ({w}x{h} RGB24); \
                 nothing was written",
                frames + 1,
                packed.len()
            )));
        }
        let stride = rgb.stride(0);
        let width_bytes = w as usize * 3;
        for (y, line) in packed.chunks_exact(width_bytes).enumerate() {
            rgb.data_mut(0)[y * stride..y * stride + width_bytes].copy_from_slice(line);
        }
        // The encoder may still reference the last picture (see VideoSink::write).
        crate::render::frames::make_writable(&mut yuv)
            .and_then(|()| scaler.run(&rgb, &mut yuv))
            .map_err(|e| RenderError::ffmpeg("YUV conversion", e))?;
        sink.write(&mut yuv, frames)?;
        frames += 1;
        on_frame(frames);
    }
    if frames == 0 {
        return Err(RenderError::Usage(
            "no frame arrived on the input; nothing was written".into(),
        ));
    }
    sink.finish()?;
    temp.persist(output, force)?;
    Ok(frames)
}

/// Fills `buf` unless the input ends first; the number of bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
