//! Decoding every frame of a clip to find damage a scan cannot see: corrupt bytes in
//! the middle of a file still demux into packets of the right count, but decode into
//! garbage. Decoders are asked to report every error they detect instead of hiding it
//! (`err_detect` crccheck, bitstream, buffer, explode), frames they flag as corrupt
//! count as damage, and FFmpeg's own message is quoted.

use crate::ffmpeg_log;
use ff::codec::threading;
use ff::frame::Video;
use ff::Packet;
use ffmpeg_next as ff;
use std::path::Path;

/// Where a clip first fails to decode, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Index (in display order) of the first frame that did not decode cleanly.
    pub frame: u64,
    pub reason: String,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "damaged at frame {}: {}", self.frame, self.reason)
    }
}

/// Asks a decoder (before it is opened) to look for every error it can detect, and
/// with `explode` to fail on it instead of concealing it. Only for a single-threaded
/// decoder: FFmpeg 5.1's frame-threaded mpeg4 decoder aborts the process (an
/// assertion in decode.c) when it explodes, so threaded decoders conceal and the
/// error is taken from their log ([`crate::ffmpeg_log::video_decode_errors`]).
pub fn report_every_error(context: &mut ff::codec::Context, explode: bool) {
    let mut flags = ff::ffi::AV_EF_CRCCHECK | ff::ffi::AV_EF_BITSTREAM | ff::ffi::AV_EF_BUFFER;
    if explode {
        flags |= ff::ffi::AV_EF_EXPLODE;
    }
    // SAFETY: plain field of a codec context that is not open yet.
    unsafe { (*context.as_mut_ptr()).err_recognition = flags }
}

/// Whether the decoder marked `frame` as damaged (concealed errors, corrupt data).
pub fn frame_is_damaged(frame: &Video) -> bool {
    // SAFETY: reads two plain fields of a valid frame.
    unsafe {
        let f = frame.as_ptr();
        (*f).decode_error_flags != 0 || (*f).flags & ff::ffi::AV_FRAME_FLAG_CORRUPT != 0
    }
}

/// Decodes every frame of `path` on this thread, calling `on_frame` after each.
/// Returns the number of frames, or the first damage with FFmpeg's reason.
pub fn verify_clip(path: &Path, on_frame: &(dyn Fn() + Sync)) -> Result<u64, Damage> {
    let (result, messages) = ffmpeg_log::capture(|| decode_all(path, on_frame));
    result.map_err(|mut damage| {
        if let Some(first) = messages.first() {
            damage.reason = format!("{} ({first})", damage.reason);
        }
        damage
    })
}

fn decode_all(path: &Path, on_frame: &(dyn Fn() + Sync)) -> Result<u64, Damage> {
    let at = |frame: u64| move |reason: String| Damage { frame, reason };
    let mut input = ff::format::input(&path).map_err(|e| at(0)(format!("cannot open: {e}")))?;
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| at(0)("no video stream".into()))?;
    let index = stream.index();
    let mut context = ff::codec::Context::from_parameters(stream.parameters())
        .map_err(|e| at(0)(format!("decoder: {e}")))?;
    context.set_threading(threading::Config {
        kind: threading::Type::None,
        count: 1,
        ..Default::default()
    });
    report_every_error(&mut context, true);
    let mut decoder = context
        .decoder()
        .video()
        .map_err(|e| at(0)(format!("decoder: {e}")))?;
    let mut frame = Video::empty();
    let (mut packets, mut decoded) = (0u64, 0u64);
    let mut last_dts: Option<i64> = None;
    let mut drain = |decoder: &mut ff::decoder::Video, decoded: &mut u64| -> Result<(), Damage> {
        loop {
            match decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    if frame_is_damaged(&frame) {
                        return Err(at(*decoded)(
                            "the decoder flags the frame as corrupt".into(),
                        ));
                    }
                    *decoded += 1;
                    on_frame();
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(())
                }
                Err(e) => return Err(at(*decoded)(format!("decode error: {e}"))),
            }
        }
    };
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) if packet.stream() == index => {
                // A timestamp that goes back breaks the clip's timeline even where
                // every picture decodes.
                if let Some(dts) = packet.dts() {
                    if last_dts.is_some_and(|last| dts <= last) {
                        return Err(at(decoded)(format!(
                            "timestamps go backwards at packet {packets} ({dts} after {})",
                            last_dts.unwrap_or_default()
                        )));
                    }
                    last_dts = Some(dts);
                }
                if packet.is_corrupt() {
                    return Err(at(decoded)(format!(
                        "the container marks packet {packets} as corrupt"
                    )));
                }
                packets += 1;
                decoder
                    .send_packet(&packet)
                    .map_err(|e| at(decoded)(format!("decode error: {e}")))?;
                drain(&mut decoder, &mut decoded)?;
                // Some decoders conceal an error and only say so in the log.
                if ffmpeg_log::captured_any() {
                    return Err(at(decoded)("FFmpeg reports a decoding error".into()));
                }
            }
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(at(decoded)(format!("read error: {e}"))),
        }
    }
    decoder
        .send_eof()
        .map_err(|e| at(decoded)(format!("decode error: {e}")))?;
    drain(&mut decoder, &mut decoded)?;
    if ffmpeg_log::captured_any() {
        return Err(at(decoded)("FFmpeg reports a decoding error".into()));
    }
    if decoded < packets {
        return Err(at(decoded)(format!(
            "only {decoded} of {packets} frames decode"
        )));
    }
    Ok(decoded)
}
