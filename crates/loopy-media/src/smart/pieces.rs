//! Encoded pieces on disk (conformed clips and transitions): where they live, that
//! they share the profile's parameter sets, and reading their packets or frames by
//! frame index (no B-frames: packet i is frame i).

use super::Profile;
use crate::cache::entry::{self, Verdict};
use crate::error::RenderError;
use crate::render::temp::TempOutput;
use ff::frame::Video;
use ff::Packet;
use ffmpeg_next as ff;
use loopy_core::plan::PlanClip;
use std::path::{Path, PathBuf};

/// Names a source clip by what decides its conformed frames: its content (the
/// fingerprint the scan recorded and the render checked against the file) and how it
/// is read (frame count and timing, rate, size, orientation, pixel shape). A clip
/// replaced by another, even one of the same size with its modification time put
/// back, gets another key; a clip merely renamed or touched keeps its pieces. Clips
/// with no fingerprint (made in memory) fall back to path, size and time.
pub fn clip_key(clip: &PlanClip) -> String {
    let identity = if clip.fingerprint.is_empty() {
        format!("path {}\n{}\n{}", clip.path, clip.size, clip.mtime_ns)
    } else {
        format!("content {}\n{}", clip.fingerprint, clip.size)
    };
    let reading = format!(
        "{}\n{:?}\n{}\n{}x{}\n{:?}\n{}",
        clip.frames,
        clip.stored_frames,
        clip.fps_rational,
        clip.width,
        clip.height,
        clip.orientation,
        clip.sar
    );
    crate::fingerprint::hash_hex(format!("{identity}\n{reading}").as_bytes())
}

pub fn conformed_path(profile: &Profile, root: &Path, clip: &PlanClip) -> PathBuf {
    profile
        .conformed_dir(root)
        .join(format!("{}.mkv", clip_key(clip)))
}

/// `<key of A>-<key of B>.mkv`: a transition names both clips, so one whose clip
/// changed or went away is recognisably stale.
pub fn transition_path(profile: &Profile, root: &Path, from: &PlanClip, to: &PlanClip) -> PathBuf {
    profile
        .transitions_dir(root)
        .join(format!("{}-{}.mkv", clip_key(from), clip_key(to)))
}

/// Opens a piece without `avformat_find_stream_info`, which would decode frames to
/// learn what the Matroska header of a piece Loopy wrote already says (a render opens
/// a piece per span: this was most of the time of a render from a warm cache).
fn open_piece(path: &Path) -> Result<ff::format::context::Input, ff::Error> {
    let name = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| ff::Error::InvalidData)?;
    let mut context = std::ptr::null_mut();
    // SAFETY: a null context and options ask FFmpeg to allocate; on success the
    // context is owned by the returned Input, which closes it.
    let ret = unsafe {
        ff::ffi::avformat_open_input(
            &mut context,
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if ret < 0 {
        return Err(ff::Error::from(ret));
    }
    // SAFETY: avformat_open_input succeeded, so the context is valid and ours.
    Ok(unsafe { ff::format::context::Input::wrap(context) })
}

fn open_video(path: &Path) -> Result<(ff::format::context::Input, usize), RenderError> {
    let fail = |e: ff::Error| RenderError::Ffmpeg(format!("{}: {e}", path.display()));
    let input = open_piece(path).map_err(fail)?;
    let index = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::Ffmpeg(format!("{}: no video stream", path.display())))?
        .index();
    Ok((input, index))
}

/// The codec parameters (with the parameter sets) of a piece's video stream.
pub fn parameters(path: &Path) -> Result<ff::codec::Parameters, RenderError> {
    let (input, index) = open_video(path)?;
    let stream = input
        .stream(index)
        .ok_or_else(|| RenderError::Ffmpeg(format!("{}: no video stream", path.display())))?;
    Ok(stream.parameters())
}

/// Checks that a freshly encoded piece carries the profile's parameter sets (the
/// first piece of a profile records them, as a checked entry). A piece that would
/// need parameter sets of its own cannot be joined, and is refused.
pub fn check_joinable(profile: &Profile, root: &Path, piece: &Path) -> Result<(), RenderError> {
    // The parameter sets (SPS/PPS, and VPS for H.265) as stored in the codec headers.
    let mine = crate::render::decode::extradata(&parameters(piece)?);
    let dir = profile.conformed_dir(root);
    let reference = dir.join("extradata.bin");
    match entry::check(&reference) {
        Verdict::Good(_) if std::fs::read(&reference).is_ok_and(|expected| expected == mine) => {
            Ok(())
        }
        Verdict::Good(_) => Err(RenderError::Ffmpeg(format!(
            "{}: its parameter sets differ from the profile's; it cannot be joined by copying",
            piece.display()
        ))),
        verdict => {
            if let Verdict::Damaged(reason) = verdict {
                tracing::warn!("{}: {reason}; recorded again", reference.display());
            }
            std::fs::create_dir_all(&dir).map_err(|source| RenderError::Io {
                path: dir.clone(),
                source,
            })?;
            let temp = TempOutput::beside(&reference)?;
            std::fs::write(temp.path(), &mine).map_err(|source| RenderError::Io {
                path: temp.path().to_path_buf(),
                source,
            })?;
            entry::commit(temp, &reference, 0, &[])
        }
    }
}

/// Writes a small file under a temporary name, then renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), RenderError> {
    // Unique per process and call: pieces are written by several threads at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".tmp{}-{n}", std::process::id()));
    let tmp = PathBuf::from(name);
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            RenderError::Io {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// Checks a cached piece before it is used (`full`: decoding every frame) and
/// discards it when damaged, so that it is made again; the verdict says which.
pub fn triage(path: &Path, full: bool) -> Verdict {
    let verdict = if full {
        entry::check_fully(path)
    } else {
        entry::check(path)
    };
    if let Verdict::Damaged(reason) = &verdict {
        tracing::warn!(
            "cache entry {} is damaged: {reason}; it is made again",
            path.display()
        );
        entry::discard(path);
    }
    verdict
}

/// Calls `each(i, packet)` for the video packets with frame index in `from..to`.
pub fn for_packets(
    path: &Path,
    from: u64,
    to: u64,
    mut each: impl FnMut(u64, Packet) -> Result<(), RenderError>,
) -> Result<u64, RenderError> {
    let (mut input, index) = open_video(path)?;
    let mut i = 0u64;
    while i < to {
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => {
                return Err(RenderError::Ffmpeg(format!(
                    "{}: read error: {e}",
                    path.display()
                )))
            }
        }
        if packet.stream() != index {
            continue;
        }
        if i >= from {
            if i == from && !packet.is_key() {
                return Err(RenderError::Ffmpeg(format!(
                    "{}: frame {from} is not a keyframe; the piece was not encoded for this profile",
                    path.display()
                )));
            }
            each(i, packet)?;
        }
        i += 1;
    }
    Ok(i.saturating_sub(from))
}

/// Decodes frames `from..from + count` of a piece, starting at the IDR frame `key`
/// (at or before `from`; the frames before `from` are decoded and dropped).
pub fn decode_frames(
    path: &Path,
    key: u64,
    from: u64,
    count: u64,
) -> Result<Vec<Video>, RenderError> {
    let params = parameters(path)?;
    let mut decoder = ff::codec::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| RenderError::ffmpeg("decoder", e))?;
    let mut frames = Vec::with_capacity(count as usize);
    let mut frame = Video::empty();
    let fail = |e| RenderError::ffmpeg("decode", e);
    // No B-frames: frames come out in packet order, the i-th of them is frame key + i.
    let mut next = key;
    let mut keep = |frame: &mut Video, frames: &mut Vec<Video>| {
        if next >= from {
            frames.push(std::mem::replace(frame, Video::empty()));
        }
        next += 1;
    };
    for_packets(path, key, from + count, |_, packet| {
        decoder.send_packet(&packet).map_err(fail)?;
        while decoder.receive_frame(&mut frame).is_ok() {
            keep(&mut frame, &mut frames);
        }
        Ok(())
    })?;
    decoder.send_eof().map_err(fail)?;
    while decoder.receive_frame(&mut frame).is_ok() {
        keep(&mut frame, &mut frames);
    }
    if frames.len() as u64 != count {
        return Err(RenderError::Ffmpeg(format!(
            "{}: {} of {count} frames decode",
            path.display(),
            frames.len()
        )));
    }
    Ok(frames)
}
