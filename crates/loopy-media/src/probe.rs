//! Reads one clip: container facts, an exact frame count, and the signatures of its
//! first and last frames.
//!
//! The file is demuxed once from start to end (cheap: no decoding), which counts the
//! video packets exactly and notices truncation. The first frame is decoded on the
//! way; for the last one, only the packets since the last keyframe are kept and
//! decoded at the end, with the deblocking filter skipped (a 32×18 thumbnail cannot
//! tell), so reaching the last frame costs at most one GOP of fast decoding.

use crate::error::ClipError;
use crate::signature_frame::signature_of;
use ff::codec::threading;
use ff::format::stream::Disposition;
use ff::frame::Video;
use ff::{Discard, Packet};
use ffmpeg_next as ff;
use loopy_core::{Rational, Signature};
use std::path::Path;

/// Packets FFmpeg may reject as invalid before a file counts as corrupt.
const MAX_BAD_PACKETS: u32 = 32;

/// What probing a clip finds out.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub container: String,
    pub codec: String,
    pub width: u32,
    pub height: u32,
    pub pix_fmt: String,
    pub fps: Rational,
    pub frames: u64,
    pub has_audio: bool,
    pub head: Signature,
    pub tail: Signature,
}

/// Probes one clip. Every failure is a [`ClipError`] whose text tells a user what is
/// wrong with the file.
pub fn probe_clip(path: &Path) -> Result<Probed, ClipError> {
    let meta = std::fs::metadata(path).map_err(|e| ClipError::Unreadable(e.to_string()))?;
    if meta.len() == 0 {
        return Err(ClipError::Empty);
    }
    // Opening it ourselves first turns FFmpeg's vague I/O errors into the OS's reason.
    std::fs::File::open(path).map_err(|e| ClipError::Unreadable(e.to_string()))?;
    let mut input = ff::format::input(&path).map_err(|e| ClipError::NotMedia(e.to_string()))?;

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
    let header_frames = u64::try_from(stream.frames()).unwrap_or(0);
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
    let mut gop: Vec<Packet> = Vec::new();
    let (mut frames, mut bad_packets) = (0u64, 0u32);
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
        if head.is_none()
            && head_decoder.send_packet(&packet).is_ok()
            && head_decoder.receive_frame(&mut frame).is_ok()
        {
            head = Some(std::mem::replace(&mut frame, Video::empty()));
        }
        if packet.is_key() {
            gop.clear();
        }
        gop.push(packet);
    }
    if frames == 0 {
        return Err(ClipError::NoFrame(
            " (the video stream has no packets)".into(),
        ));
    }
    if header_frames > frames {
        return Err(ClipError::Truncated(format!(
            "the header lists {header_frames} frames, only {frames} are present"
        )));
    }
    if head.is_none()
        && head_decoder.send_eof().is_ok()
        && head_decoder.receive_frame(&mut frame).is_ok()
    {
        head = Some(frame);
    }
    let head =
        head.ok_or_else(|| ClipError::NoFrame(format!(" ({frames} packets, none decodable)")))?;
    let tail = decode_last(&params, &codec, &gop)?;

    let unusable = || ClipError::Corrupt("the frame cannot be converted to a thumbnail".into());
    Ok(Probed {
        container,
        codec,
        width: head.width(),
        height: head.height(),
        pix_fmt: head
            .format()
            .descriptor()
            .map_or("unknown", |d| d.name())
            .to_string(),
        fps,
        frames,
        has_audio,
        head: signature_of(&head).ok_or_else(unusable)?,
        tail: signature_of(&tail).ok_or_else(unusable)?,
    })
}

/// Decodes the packets of the last GOP and returns the last frame in display order.
fn decode_last(
    params: &ff::codec::Parameters,
    codec: &str,
    gop: &[Packet],
) -> Result<Video, ClipError> {
    let mut decoder = open_decoder(params, codec, true)?;
    let mut frame = Video::empty();
    let mut last: Option<Video> = None;
    let mut keep_latest = |decoder: &mut ff::decoder::Video, last: &mut Option<Video>| {
        while decoder.receive_frame(&mut frame).is_ok() {
            let previous = last.replace(std::mem::replace(&mut frame, Video::empty()));
            // Recycle the older frame's buffers for the next receive.
            if let Some(old) = previous {
                frame = old;
            }
        }
    };
    for packet in gop {
        // A damaged packet in the middle is tolerated; the last frame is what counts.
        let _ = decoder.send_packet(packet);
        keep_latest(&mut decoder, &mut last);
    }
    let _ = decoder.send_eof();
    keep_latest(&mut decoder, &mut last);
    last.ok_or_else(|| ClipError::Truncated("the last frames cannot be decoded".into()))
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
