//! Reads one clip: container facts, an exact frame count, and the signatures of its
//! first and last frames.
//!
//! The file is demuxed once from start to end (cheap: no decoding), which counts the
//! video packets exactly and notices truncation. The first frames (the head window,
//! see [`loopy_core::window`]) are decoded on the way; for the last ones, only the
//! packets since the keyframe before the tail window are kept and decoded at the end,
//! with the deblocking filter skipped (a 32×18 thumbnail cannot tell), so reaching the
//! last frame costs at most one GOP (or one window, if longer) of fast decoding.

use crate::error::ClipError;
use crate::signature_frame::signature_of;
use crate::signature_frame::WindowSampler;
use ff::codec::threading;
use ff::format::stream::Disposition;
use ff::frame::Video;
use ff::{Discard, Packet};
use ffmpeg_next as ff;
use loopy_core::window::{samples, window_shape, FrameWindow, SAMPLE_BYTES};
use loopy_core::{Orientation, Rational, Signature};
use std::collections::VecDeque;
use std::path::Path;

/// Longest time a clip's timestamps may span: beyond it they jump, they do not time
/// frames.
const MAX_SPAN_S: f64 = 86_400.0;

/// Packets FFmpeg may reject as invalid before a file counts as corrupt.
const MAX_BAD_PACKETS: u32 = 32;

/// What probing a clip finds out.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub container: String,
    pub codec: String,
    /// The displayed size (after the display matrix).
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    /// Sample aspect ratio of the displayed picture.
    pub sar: Rational,
    pub pix_fmt: String,
    pub fps: Rational,
    /// Frames at `fps` from the first frame's timestamp to the last one's.
    pub frames: u64,
    /// The frames stored, when their timestamps leave gaps (fewer than `frames`).
    pub stored_frames: Option<u64>,
    pub has_audio: bool,
    pub head: Signature,
    pub tail: Signature,
    /// Cut-point candidates (`None` when a frame could not be sampled).
    pub head_window: Option<FrameWindow>,
    pub tail_window: Option<FrameWindow>,
}

/// The head window as it is decoded: every `step`-th frame sampled, up to `want`.
struct HeadSamples {
    sampler: WindowSampler,
    want: u64,
    step: u64,
    received: u64,
    luma: Vec<u8>,
    failed: bool,
}

impl HeadSamples {
    fn full(&self) -> bool {
        self.failed || (self.luma.len() / SAMPLE_BYTES) as u64 >= self.want
    }

    fn take(&mut self, frame: &Video) {
        if !self.full() && self.received.is_multiple_of(self.step) {
            self.failed |= !self.sampler.sample_into(frame, &mut self.luma);
        }
        self.received += 1;
    }
}

/// The packets since the keyframe before the last `span` packets: what decoding the
/// tail window needs.
struct TailPackets {
    gops: VecDeque<Vec<Packet>>,
    count: usize,
    span: usize,
}

impl TailPackets {
    fn push(&mut self, packet: Packet) {
        if packet.is_key() || self.gops.is_empty() {
            self.gops.push_back(Vec::new());
        }
        if let Some(gop) = self.gops.back_mut() {
            gop.push(packet);
            self.count += 1;
        }
        // Drop the oldest GOP while the ones after it still cover the window.
        while self.gops.len() > 1 && self.count - self.gops.front().map_or(0, Vec::len) >= self.span
        {
            self.count -= self.gops.pop_front().map_or(0, |g| g.len());
        }
    }
}

/// Probes one clip. Every failure is a [`ClipError`] whose text tells a user what is
/// wrong with the file.
pub fn probe_clip(path: &Path) -> Result<Probed, ClipError> {
    probe_clip_with(path, false)
}

/// Probes one clip, with its head and tail windows when `windows` (which decodes
/// about a second more at each end: roughly twice the cold time of a plain probe).
pub fn probe_clip_with(path: &Path, windows: bool) -> Result<Probed, ClipError> {
    let meta = std::fs::metadata(path).map_err(|e| ClipError::Unreadable(e.to_string()))?;
    if meta.len() == 0 {
        return Err(ClipError::Empty);
    }
    // Opening it ourselves first turns FFmpeg's vague I/O errors into the OS's reason.
    std::fs::File::open(path).map_err(|e| ClipError::Unreadable(e.to_string()))?;
    let mut input = ff::format::input(&path).map_err(|e| {
        // An MP4 cut short loses its index, and FFmpeg then sees no video at all.
        crate::isobmff::truncation(path)
            .map_or(ClipError::NotMedia(e.to_string()), ClipError::Truncated)
    })?;

    let has_audio = input.streams().best(ff::media::Type::Audio).is_some();
    let stream = input
        .streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Video)
        .find(|s| !s.disposition().contains(Disposition::ATTACHED_PIC))
        .ok_or(ClipError::NoVideo(if has_audio {
            " (audio only)"
        } else {
            ""
        }))?;
    let index = stream.index();
    let params = stream.parameters();
    let time_base = stream.time_base();
    let header_frames = u64::try_from(stream.frames()).unwrap_or(0);
    let promised = promised_seconds(&stream, input.duration(), input.nb_streams());
    let orientation = crate::orient::stream_orientation(&stream, &path.display().to_string());
    let fps = frame_rate(stream.avg_frame_rate(), stream.rate())?;
    let codec = params.id().name().to_string();
    if params.id() == ff::codec::Id::None {
        return Err(ClipError::UnknownCodec);
    }
    if ff::decoder::find(params.id()).is_none() {
        return Err(ClipError::UnsupportedCodec(codec));
    }
    let container = container_name(input.format().name(), path);

    let mut head_decoder = open_decoder(&params, &codec, false)?;
    let mut frame = Video::empty();
    let mut head: Option<Video> = None;
    // Windows as long as the clip's rate allows; cut to a quarter of it at the end.
    let (longest, step) = if windows {
        window_shape(u64::MAX, fps)
    } else {
        (1, 1)
    };
    let mut head_samples = HeadSamples {
        sampler: WindowSampler::new(orientation),
        want: if windows { samples(longest, step) } else { 0 },
        step,
        received: 0,
        luma: Vec::new(),
        failed: false,
    };
    let mut tail_packets = TailPackets {
        gops: VecDeque::new(),
        count: 0,
        span: longest as usize,
    };
    let (mut frames, mut bad_packets) = (0u64, 0u32);
    // The video's extent by its timestamps: the first start, the last frame's start
    // and the last end.
    let (mut first_ts, mut last_ts, mut last_end): (Option<i64>, Option<i64>, Option<i64>) =
        (None, None, None);
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) => {
                bad_packets += 1;
                if bad_packets > MAX_BAD_PACKETS {
                    return Err(ClipError::Corrupt(format!(
                        "invalid data after {frames} frames"
                    )));
                }
                continue;
            }
            Err(e) => {
                return Err(ClipError::Truncated(format!(
                    "read error after {frames} frames: {e}"
                )))
            }
        }
        if packet.stream() != index {
            continue;
        }
        frames += 1;
        if let Some(ts) = packet.pts().or(packet.dts()) {
            first_ts = Some(first_ts.map_or(ts, |f| f.min(ts)));
            last_ts = Some(last_ts.map_or(ts, |l| l.max(ts)));
            let end = ts.saturating_add(packet.duration().max(0));
            last_end = Some(last_end.map_or(end, |l| l.max(end)));
        }
        if (head.is_none() || !head_samples.full()) && head_decoder.send_packet(&packet).is_ok() {
            while head_decoder.receive_frame(&mut frame).is_ok() {
                head_samples.take(&frame);
                if head.is_none() {
                    head = Some(std::mem::replace(&mut frame, Video::empty()));
                }
            }
        }
        tail_packets.push(packet);
    }
    if frames == 0 {
        return Err(ClipError::NoFrame(
            " (the video stream has no packets)".into(),
        ));
    }
    // Seconds the video's packets cover, by their timestamps.
    let covered = match (first_ts, last_end) {
        (Some(first), Some(end)) if end > first => Some(
            (end - first) as f64 * f64::from(time_base.numerator())
                / f64::from(time_base.denominator().max(1)),
        ),
        _ => None,
    };
    let frame_s = 1.0 / fps.as_f64();
    // Frames by the timestamps: more than were stored when they leave gaps. Such a
    // clip is shown at its real timing (each frame held until the next one's time).
    let spanned = match (first_ts, last_ts) {
        (Some(first), Some(last)) if last > first => {
            let ticks =
                (last - first) as u128 * time_base.numerator().max(0) as u128 * fps.num() as u128;
            let per_frame = time_base.denominator().max(1) as u128 * fps.den() as u128;
            u64::try_from((2 * ticks + per_frame) / (2 * per_frame) + 1).unwrap_or(u64::MAX)
        }
        _ => frames,
    };
    if spanned as f64 / fps.as_f64() > MAX_SPAN_S {
        return Err(ClipError::Corrupt(format!(
            "its timestamps spread {frames} frames over more than a day (a jump in the timestamps)"
        )));
    }
    let stored_frames = (spanned > frames).then_some(frames);
    if header_frames > frames {
        // The count in the header is a hint: an AVI index may list a dropped frame
        // that has no packet. Only timestamps that stop short mean a cut file.
        let listed_s = header_frames as f64 * frame_s;
        if covered.is_none_or(|c| c + 1.5 * frame_s < listed_s) {
            return Err(ClipError::Truncated(format!(
                "the header lists {header_frames} frames, only {frames} are present"
            )));
        }
    }
    if let (Some(promised), Some(covered)) = (promised, covered) {
        // Containers without a frame count (Matroska, WebM) still say how long they are.
        if covered + (2.0 * frame_s).max(0.1) < promised {
            return Err(ClipError::Truncated(format!(
                "the container says {promised:.3} s, the video stops at {covered:.3} s"
            )));
        }
    }
    if (head.is_none() || !head_samples.full()) && head_decoder.send_eof().is_ok() {
        while head_decoder.receive_frame(&mut frame).is_ok() {
            head_samples.take(&frame);
            if head.is_none() {
                head = Some(std::mem::replace(&mut frame, Video::empty()));
            }
        }
    }
    let head =
        head.ok_or_else(|| ClipError::NoFrame(format!(" ({frames} packets, none decodable)")))?;
    // The windows as long as this clip allows (a quarter of it at most).
    let (span, step) = if windows {
        window_shape(frames, fps)
    } else {
        (0, 1)
    };
    let want = samples(span, step) as usize;
    let head_window = (windows
        && !head_samples.failed
        && head_samples.luma.len() >= want * SAMPLE_BYTES)
        .then(|| {
            head_samples.luma.truncate(want * SAMPLE_BYTES);
            FrameWindow {
                first: 0,
                step,
                luma: head_samples.luma,
            }
        });
    let packets: Vec<Packet> = tail_packets.gops.into_iter().flatten().collect();
    let first_kept = frames - packets.len() as u64;
    let (tail, tail_window) = decode_last(
        &params,
        &codec,
        &packets,
        (span, step, want),
        WindowSampler::new(orientation),
    )?;
    let tail_window = tail_window.map(|(offset, luma)| FrameWindow {
        first: first_kept + offset,
        step,
        luma,
    });
    let stored_sar = crate::orient::sample_aspect_ratio(&mut input, index, &head);
    let sar = if orientation.swaps_axes() {
        stored_sar.inverse()
    } else {
        stored_sar
    };
    let (width, height) = orientation.displayed((head.width(), head.height()));

    let unusable = |e: String| ClipError::Corrupt(format!("the frame cannot be read: {e}"));
    let no_thumb = || ClipError::Corrupt("the frame cannot be converted to a thumbnail".into());
    // Signatures of the pictures as shown, so a turned clip matches its neighbours.
    let mut orienter = crate::orient::Orienter::new(orientation);
    let head_signature =
        signature_of(orienter.run(&head).map_err(unusable)?).ok_or_else(no_thumb)?;
    let tail_signature =
        signature_of(orienter.run(&tail).map_err(unusable)?).ok_or_else(no_thumb)?;
    Ok(Probed {
        container,
        codec,
        width,
        height,
        orientation,
        sar,
        pix_fmt: head
            .format()
            .descriptor()
            .map_or("unknown", |d| d.name())
            .to_string(),
        fps,
        frames: frames.max(spanned),
        stored_frames,
        has_audio,
        head: head_signature,
        tail: tail_signature,
        head_window,
        tail_window,
    })
}

/// What a clip's container says about its video without decoding: enough to tell
/// whether a plan's record of the clip (perhaps edited by hand) is still true.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamFacts {
    pub codec: String,
    /// The displayed size (after the display matrix).
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
    pub fps: Rational,
    pub has_audio: bool,
}

/// Opens `path` and reads its video stream's facts (one file open, no decoding).
pub fn stream_facts(path: &Path) -> Result<StreamFacts, String> {
    let input = ff::format::input(&path).map_err(|e| format!("cannot open: {e}"))?;
    let has_audio = input.streams().best(ff::media::Type::Audio).is_some();
    let stream = input
        .streams()
        .filter(|s| s.parameters().medium() == ff::media::Type::Video)
        .find(|s| !s.disposition().contains(Disposition::ATTACHED_PIC))
        .ok_or("no video stream")?;
    let orientation = crate::orient::stream_orientation(&stream, &path.display().to_string());
    let fps = frame_rate(stream.avg_frame_rate(), stream.rate()).map_err(|e| e.to_string())?;
    let params = stream.parameters();
    // SAFETY: plain fields of valid codec parameters.
    let stored = unsafe {
        let p = &*params.as_ptr();
        (p.width.max(0) as u32, p.height.max(0) as u32)
    };
    let (width, height) = orientation.displayed(stored);
    Ok(StreamFacts {
        codec: params.id().name().to_string(),
        width,
        height,
        orientation,
        fps,
        has_audio,
    })
}

/// How long the container says the video lasts, where it does not count frames:
/// the stream's own duration, Matroska's per-track `DURATION` tag, or (for a file
/// with this one stream) the container's duration. `None` when nothing is promised.
fn promised_seconds(
    stream: &ff::format::stream::Stream,
    container_duration: i64,
    streams: u32,
) -> Option<f64> {
    if stream.frames() > 0 {
        return None;
    }
    let tb = stream.time_base();
    if stream.duration() > 0 && tb.denominator() > 0 {
        return Some(
            stream.duration() as f64 * f64::from(tb.numerator()) / f64::from(tb.denominator()),
        );
    }
    if let Some(tag) = stream.metadata().get("DURATION") {
        // "HH:MM:SS.nnnnnnnnn"
        let mut parts = tag.split(':');
        let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
        let seconds = h.parse::<f64>().ok()? * 3600.0
            + m.parse::<f64>().ok()? * 60.0
            + s.parse::<f64>().ok()?;
        return (seconds > 0.0).then_some(seconds);
    }
    (streams == 1 && container_duration > 0)
        .then(|| container_duration as f64 / f64::from(ff::ffi::AV_TIME_BASE))
}

/// A tail window as decoded: the index of its first sample among the decoded frames,
/// and the samples.
type TailSamples = Option<(u64, Vec<u8>)>;

/// Decodes the kept packets (from a keyframe to the end) and returns the last frame
/// in display order, with the tail window: `samples` samples `step` frames apart,
/// ending on the last frame (`span` frames in all).
fn decode_last(
    params: &ff::codec::Parameters,
    codec: &str,
    packets: &[Packet],
    (span, step, samples): (u64, u64, usize),
    mut sampler: WindowSampler,
) -> Result<(Video, TailSamples), ClipError> {
    let mut decoder = open_decoder(params, codec, true)?;
    let mut frame = Video::empty();
    let mut last: Option<Video> = None;
    // Frames decode in display order, one per packet: frame i is in the window when
    // it is among the last `span`, and sampled counting back from the last.
    let total = packets.len() as u64;
    let from = total.saturating_sub(span);
    let sampled = |i: u64| i >= from && (total - 1 - i).is_multiple_of(step);
    let mut luma = Vec::with_capacity(samples * SAMPLE_BYTES);
    let (mut index, mut first_sample, mut failed) = (0u64, None, false);
    let mut keep_latest = |decoder: &mut ff::decoder::Video, last: &mut Option<Video>| {
        while decoder.receive_frame(&mut frame).is_ok() {
            if sampled(index) && !failed {
                first_sample.get_or_insert(index);
                failed |= !sampler.sample_into(&frame, &mut luma);
            }
            index += 1;
            let previous = last.replace(std::mem::replace(&mut frame, Video::empty()));
            // Recycle the older frame's buffers for the next receive.
            if let Some(old) = previous {
                frame = old;
            }
        }
    };
    for packet in packets {
        // A damaged packet in the middle is tolerated; the last frame is what counts.
        let _ = decoder.send_packet(packet);
        keep_latest(&mut decoder, &mut last);
    }
    let _ = decoder.send_eof();
    keep_latest(&mut decoder, &mut last);
    let last =
        last.ok_or_else(|| ClipError::Truncated("the last frames cannot be decoded".into()))?;
    // A frame that did not decode shifts the count: no window rather than a wrong one.
    let whole = !failed && index == total && luma.len() == samples * SAMPLE_BYTES;
    Ok((last, first_sample.filter(|_| whole).map(|f| (f, luma))))
}

/// A single-threaded decoder: scans run one file per core already. `fast` skips the
/// deblocking filter, which a 32×18 thumbnail cannot see.
fn open_decoder(
    params: &ff::codec::Parameters,
    codec: &str,
    fast: bool,
) -> Result<ff::decoder::Video, ClipError> {
    let open_error = |e: ff::Error| ClipError::DecoderOpen {
        codec: codec.to_string(),
        reason: e.to_string(),
    };
    let mut context = ff::codec::Context::from_parameters(params.clone()).map_err(open_error)?;
    context.set_threading(threading::Config {
        kind: threading::Type::None,
        count: 1,
        ..Default::default()
    });
    let mut decoder = context.decoder();
    if fast {
        decoder.skip_loop_filter(Discard::All);
    }
    decoder.video().map_err(open_error)
}

fn frame_rate(average: ff::Rational, real: ff::Rational) -> Result<Rational, ClipError> {
    for candidate in [average, real] {
        if candidate.numerator() > 0 && candidate.denominator() > 0 {
            if let Some(rate) =
                Rational::new(candidate.numerator() as u64, candidate.denominator() as u64)
            {
                if rate.as_f64() <= 1000.0 {
                    return Ok(rate);
                }
            }
        }
    }
    Err(ClipError::BadRate(format!(
        "{average} (average), {real} (base)"
    )))
}

/// FFmpeg names demuxers by families (`mov,mp4,m4a,…`); report the member the file's
/// extension names when there is one.
fn container_name(format_names: &str, path: &Path) -> String {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let mut names = format_names.split(',');
    if format_names.split(',').any(|n| n == ext) {
        return ext;
    }
    names.next().unwrap_or(format_names).to_string()
}
