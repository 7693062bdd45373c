//! The frame pipeline: four stages on their own threads, joined by bounded channels.
//!
//! ```text
//! decode ──▶ scale + re-time ──▶ cross-fade ──▶ encode + mux (calling thread)
//!    ▲ shells      │ pool ◀───────────┴──────────────┘ frames handed back
//! ```
//!
//! The decoder runs ahead by the channel capacity, so the next clip is opened and
//! decoding while the encoder is still on the current one. Output-sized frames come
//! from a pool and go back to it once encoded; only a cross-fade holds frames (the
//! outgoing clip's last `crossfade` frames), so memory does not grow with length.

use super::blend::{blend_into, incoming_weight};
use super::decode::ClipReader;
use super::encode::VideoSink;
use super::frames::{copy_picture, make_writable, FramePool, PoolReturn};
use super::scale::FitScaler;
use super::thumbs::ContactSheet;
use crate::error::RenderError;
use crate::job::{clip_error, clip_path, RenderJob, RenderOptions, Substitution};
use crate::orient::Orienter;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::frame::Video;
use loopy_core::spans::SpanSource;
use loopy_core::timeline::{Placement, Retimer, Timeline};
use loopy_core::Plan;
use loopy_core::Rational;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};

/// Channel capacities, in frames. Small on purpose: at 1080p each frame is 3 MB, and
/// deeper queues bought no speed but 170 MB of peak memory (docs/BENCHMARKS.md).
const DECODED_QUEUE: usize = 2;
const STAGE_QUEUE: usize = 1;

/// Frames a clip may come up short (decoders may drop a damaged frame at the very
/// end) before the render fails instead of repeating the last frame.
const MAX_MISSING_FRAMES: u64 = 2;

enum Decoded {
    Frame {
        entry: usize,
        index: u64,
        frame: Video,
    },
    /// The rest of `entry` comes from `clip` (a substitute for a clip that broke).
    Switch {
        entry: usize,
        clip: usize,
    },
    EndOfEntry {
        entry: usize,
    },
    Done,
}

/// Where an output frame sits relative to the cross-fades around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Solo,
    /// Among the last `crossfade` frames of a clip that another follows.
    Tail,
    /// Frame `j` of a clip's first `crossfade` frames, blended over the previous tail.
    Head(u64),
}

enum Out {
    Frame { k: u64, role: Role, frame: Video },
    Done,
}

/// A stage ended because a neighbour did; the neighbour's error is the one to report.
fn stopped() -> RenderError {
    RenderError::Ffmpeg("pipeline stage stopped".into())
}

fn is_stopped(e: &RenderError) -> bool {
    matches!(e, RenderError::Ffmpeg(m) if m == "pipeline stage stopped")
}

/// What the pipeline made besides the video: the frames written, the clips replaced
/// on the way (`--skip-bad`) and the contact sheet (PNG), which the caller writes
/// once the video is in place.
pub struct Made {
    pub frames: u64,
    pub substitutions: Vec<Substitution>,
    pub thumbnails: Option<Vec<u8>>,
}

pub fn run(
    job: &RenderJob,
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<Made, RenderError> {
    let RenderJob {
        plan,
        placements,
        spans,
        opts,
        ..
    } = *job;
    let expected = job.total_frames();
    debug_assert_eq!(spans.iter().map(|s| s.frames).sum::<u64>(), expected);
    let blends = spans
        .iter()
        .filter(|s| matches!(s.source, SpanSource::Blend { .. }))
        .count();
    tracing::debug!(
        "{} spans, {blends} of them cross-fades, {expected} frames",
        spans.len()
    );

    let (pool, pool_return) = FramePool::new(Pixel::YUV420P, opts.size.0, opts.size.1);
    let (decoded_tx, decoded_rx) = sync_channel::<Decoded>(DECODED_QUEUE);
    let (shell_tx, shell_rx) = channel::<Video>();
    let (composed_tx, composed_rx) = sync_channel::<Out>(STAGE_QUEUE);
    let (encode_tx, encode_rx) = sync_channel::<Out>(STAGE_QUEUE);
    let mut sink = VideoSink::open(job)?;
    let mut sheet = match opts.thumbnails_every {
        Some(every) => Some(ContactSheet::new(opts.size, every.max(1), expected)?),
        None => None,
    };

    let (stage_results, encoded, substitutions) = std::thread::scope(|scope| {
        let decode = scope.spawn(|| {
            decode_stage(
                plan,
                placements,
                opts.skip_bad,
                decoded_tx,
                shell_rx,
                cancel,
            )
        });
        let retime = {
            let pool_return = pool_return.clone();
            scope.spawn(move || {
                retime_stage(
                    plan,
                    placements,
                    opts,
                    pool,
                    decoded_rx,
                    shell_tx,
                    composed_tx,
                    pool_return,
                )
            })
        };
        let fade = {
            let pool_return = pool_return.clone();
            let crossfade = plan.crossfade_frames;
            scope.spawn(move || crossfade_stage(crossfade, composed_rx, encode_tx, pool_return))
        };
        let encoded = encode_stage(
            &mut sink,
            sheet.as_mut(),
            encode_rx,
            pool_return,
            cancel,
            on_progress,
        );
        let joined = |h: std::thread::ScopedJoinHandle<'_, Result<(), RenderError>>| {
            h.join()
                .unwrap_or_else(|_| Err(RenderError::Ffmpeg("a pipeline stage panicked".into())))
        };
        let (substitutions, decoded) = match decode.join() {
            Ok(Ok(substitutions)) => (substitutions, Ok(())),
            Ok(Err(e)) => (Vec::new(), Err(e)),
            Err(_) => (
                Vec::new(),
                Err(RenderError::Ffmpeg("a pipeline stage panicked".into())),
            ),
        };
        (
            [decoded, joined(retime), joined(fade)],
            encoded,
            substitutions,
        )
    });
    if cancel.load(Ordering::Relaxed) {
        return Err(RenderError::Cancelled);
    }
    // In pipeline order; a stage that only saw its neighbour stop is not the cause.
    let mut errors: Vec<RenderError> = stage_results.into_iter().filter_map(Result::err).collect();
    let written = encoded.unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    if let Some(first) = errors.iter().position(|e| !is_stopped(e)) {
        return Err(errors.swap_remove(first));
    }
    if !errors.is_empty() {
        return Err(stopped());
    }
    if written != expected {
        return Err(RenderError::Ffmpeg(format!(
            "wrote {written} frames, the plan has {expected}"
        )));
    }
    sink.finish()?;
    Ok(Made {
        frames: written,
        substitutions,
        thumbnails: sheet.map(|s| s.png()).transpose()?,
    })
}

fn decode_stage(
    plan: &Plan,
    placements: &[Placement],
    skip_bad: bool,
    out: SyncSender<Decoded>,
    shells: Receiver<Video>,
    cancel: &AtomicBool,
) -> Result<Vec<Substitution>, RenderError> {
    let mut previous: Option<ClipReader> = None;
    let mut substitutions = Vec::new();
    for (entry, &clip) in plan.sequence.iter().enumerate() {
        let path = clip_path(plan, clip);
        let fps = plan.clips[clip].fps_rational;
        let reader = match previous.take() {
            Some(r) => r.next_clip(&path, fps),
            None => ClipReader::open(&path, fps),
        };
        let open_error = |reason| clip_error(plan, entry, placements[entry].start_frame, reason);
        let reader = previous.insert(reader.map_err(open_error)?);
        // Frames past the entry's out-point are not shown: stop decoding there.
        let out_point = plan.entry_cut(entry).last;
        let mut last_index: Option<u64> = None;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            let mut frame = shells.try_recv().unwrap_or_else(|_| Video::empty());
            match reader.next_frame(&mut frame) {
                Ok(Some(index)) => {
                    last_index = Some(index);
                    out.send(Decoded::Frame {
                        entry,
                        index,
                        frame,
                    })
                    .map_err(|_| stopped())?;
                    if index >= out_point {
                        break;
                    }
                }
                Ok(None) => break,
                Err(reason) => {
                    let next = last_index.map_or(0, |i| i + 1);
                    let at = placements[entry].start_frame
                        + output_frames_for(next, plan.clips[clip].fps_rational, plan.fps_rational);
                    if !skip_bad {
                        return Err(clip_error(plan, entry, at, reason));
                    }
                    // The decoder's state is suspect: the next clip gets a fresh one.
                    previous = None;
                    let substitution =
                        finish_with_substitute(plan, entry, next, reason, &out, cancel)?;
                    substitutions.push(substitution);
                    break;
                }
            }
        }
        out.send(Decoded::EndOfEntry { entry })
            .map_err(|_| stopped())?;
    }
    out.send(Decoded::Done).map_err(|_| stopped())?;
    Ok(substitutions)
}

/// Output frames that `source_frames` frames of a clip at `clip_fps` span at `out_fps`.
fn output_frames_for(source_frames: u64, clip_fps: Rational, out_fps: Rational) -> u64 {
    let num = source_frames as u128 * out_fps.num() as u128 * clip_fps.den() as u128;
    let den = out_fps.den() as u128 * clip_fps.num() as u128;
    (num / den.max(1)) as u64
}

/// `--skip-bad` for a clip that breaks mid-stream: the rest of the entry (source
/// frames `from` on) is taken from another clip, looped if it is shorter, so the
/// output keeps its length and timeline. The choice depends only on the seed and
/// the entry.
fn finish_with_substitute(
    plan: &Plan,
    entry: usize,
    from: u64,
    reason: String,
    out: &SyncSender<Decoded>,
    cancel: &AtomicBool,
) -> Result<Substitution, RenderError> {
    let planned = plan.sequence[entry];
    let neighbours = [
        entry.checked_sub(1).map(|e| plan.sequence[e]),
        plan.sequence.get(entry + 1).copied(),
    ];
    let n = plan.clips.len();
    let offset = (plan.seed.wrapping_add(entry as u64 * 0x9E37_79B9) % n.max(1) as u64) as usize;
    let needed = plan.entry_cut(entry).last + 1;
    let start = plan.placements()[entry].start_frame;
    let mut index = from;
    let mut used: Vec<&str> = Vec::new();
    for candidate in (0..n).map(|i| (offset + i) % n) {
        if candidate == planned || neighbours.contains(&Some(candidate)) {
            continue;
        }
        out.send(Decoded::Switch {
            entry,
            clip: candidate,
        })
        .map_err(|_| stopped())?;
        let before = index;
        // A substitute that breaks as well hands over to the next candidate.
        let finished = feed_substitute(plan, candidate, entry, &mut index, needed, out, cancel)?;
        if index > before {
            used.push(&plan.clips[candidate].path);
        }
        if finished {
            return Ok(Substitution {
                entry,
                planned: plan.clips[planned].path.clone(),
                used: used.join(", "),
                reason: format!("{reason}; source frames {from} on were taken from the substitute"),
            });
        }
    }
    Err(clip_error(
        plan,
        entry,
        start,
        format!("{reason}; no other clip can replace it"),
    ))
}

/// Sends frames of `clip` as source frames `index..needed` of `entry`, looping the
/// clip if it is shorter. `Ok(false)` when the clip cannot be opened or breaks.
fn feed_substitute(
    plan: &Plan,
    clip: usize,
    entry: usize,
    index: &mut u64,
    needed: u64,
    out: &SyncSender<Decoded>,
    cancel: &AtomicBool,
) -> Result<bool, RenderError> {
    let path = clip_path(plan, clip);
    let fps = plan.clips[clip].fps_rational;
    let Ok(mut reader) = ClipReader::open(&path, fps) else {
        return Ok(false);
    };
    let mut since_open = 0u64;
    while *index < needed {
        if cancel.load(Ordering::Relaxed) {
            return Err(RenderError::Cancelled);
        }
        let mut frame = Video::empty();
        match reader.next_frame(&mut frame) {
            Ok(Some(_)) => {
                out.send(Decoded::Frame {
                    entry,
                    index: *index,
                    frame,
                })
                .map_err(|_| stopped())?;
                *index += 1;
                since_open += 1;
            }
            // Shorter than what is left: loop it.
            Ok(None) if since_open > 0 => match ClipReader::open(&path, fps) {
                Ok(again) => {
                    reader = again;
                    since_open = 0;
                }
                Err(_) => return Ok(false),
            },
            Ok(None) | Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// Per-entry state of the re-timing stage.
struct EntryState {
    entry: usize,
    retimer: Retimer,
    end: u64,
    next_k: u64,
    held: Option<Video>,
    held_index: u64,
    scaler: Option<FitScaler>,
    scaler_for: Option<((u32, u32), Pixel)>,
    /// Turns the clip's frames upright first, when its display matrix says so.
    orienter: Option<Orienter>,
    sar: Rational,
}

#[allow(clippy::too_many_arguments)]
fn retime_stage(
    plan: &Plan,
    placements: &[Placement],
    opts: &RenderOptions,
    mut pool: FramePool,
    input: Receiver<Decoded>,
    shells: Sender<Video>,
    out: SyncSender<Out>,
    pool_return: PoolReturn,
) -> Result<(), RenderError> {
    let crossfade = plan.crossfade_frames;
    let last_entry = plan.sequence.len() - 1;
    let mut timeline = Timeline::new(plan.fps_rational, crossfade);
    let mut state: Option<EntryState> = None;
    let role_of = |entry: usize, k: u64| {
        let p = placements[entry];
        if entry > 0 && k < p.start_frame + crossfade {
            Role::Head(k - p.start_frame)
        } else if entry < last_entry && k >= p.start_frame + p.frames - crossfade {
            Role::Tail
        } else {
            Role::Solo
        }
    };
    let clip_error =
        |entry: usize, frame: u64, reason: String| clip_error(plan, entry, frame, reason);
    // An entry's state starts with its first frame (or a switch to a substitute).
    let new_state = |entry: usize, timeline: &mut Timeline| {
        let clip = &plan.clips[plan.sequence[entry]];
        let (_, retimer) = timeline.push_with_retimer(plan.entry_cut(entry), clip.fps_rational);
        let p = placements[entry];
        EntryState {
            entry,
            retimer,
            end: p.start_frame + p.frames,
            next_k: p.start_frame,
            held: None,
            held_index: 0,
            scaler: None,
            scaler_for: None,
            orienter: (!clip.orientation.is_identity()).then(|| Orienter::new(clip.orientation)),
            sar: clip.sar,
        }
    };
    // Sends the held frame for `count` consecutive output frames: copies for all but
    // the last, which moves the held frame itself.
    let emit = |s: &mut EntryState, count: u64, pool: &mut FramePool| -> Result<(), RenderError> {
        for i in 0..count {
            let frame = if i + 1 == count {
                s.held.take()
            } else {
                let mut copy = pool
                    .take()
                    .map_err(|e| RenderError::ffmpeg("frame pool", e))?;
                if let Some(held) = s.held.as_ref() {
                    copy_picture(&mut copy, held)
                        .map_err(|e| RenderError::ffmpeg("frame copy", e))?;
                }
                Some(copy)
            };
            let frame =
                frame.ok_or_else(|| clip_error(s.entry, s.next_k, "no frame to show".into()))?;
            out.send(Out::Frame {
                k: s.next_k,
                role: role_of(s.entry, s.next_k),
                frame,
            })
            .map_err(|_| stopped())?;
            s.next_k += 1;
        }
        Ok(())
    };
    loop {
        match input.recv().map_err(|_| stopped())? {
            Decoded::Frame {
                entry,
                index,
                frame,
            } => {
                if state.as_ref().map(|s| s.entry) != Some(entry) {
                    state = Some(new_state(entry, &mut timeline));
                }
                let Some(s) = state.as_mut() else { continue };
                let mut pending = 0;
                while s.next_k + pending < s.end
                    && s.retimer.source_frame(s.next_k + pending) < index
                {
                    pending += 1;
                }
                if s.held.is_some() {
                    emit(s, pending, &mut pool)?;
                }
                let shown = s.next_k < s.end && s.retimer.source_frame(s.next_k) <= index;
                if !shown {
                    let _ = shells.send(frame);
                    continue;
                }
                let turned = s.orienter.is_some();
                let upright = match s.orienter.as_mut() {
                    Some(orienter) => orienter
                        .run(&frame)
                        .map_err(|r| clip_error(entry, s.next_k, r))?,
                    None => &frame,
                };
                let key = ((upright.width(), upright.height()), upright.format());
                if s.scaler_for != Some(key) {
                    s.scaler = FitScaler::new(key.0, key.1, s.sar, opts.size, opts.fit)
                        .map_err(|r| clip_error(entry, s.next_k, r))?;
                    s.scaler_for = Some(key);
                }
                let converted = match s.scaler.as_mut() {
                    Some(scaler) => {
                        let mut target = pool
                            .take()
                            .map_err(|e| RenderError::ffmpeg("frame pool", e))?;
                        scaler
                            .run(upright, &mut target)
                            .map_err(|r| clip_error(entry, s.next_k, r))?;
                        let _ = shells.send(frame);
                        target
                    }
                    None if turned => {
                        // Turned to exactly the output's size: copy out of the orienter.
                        let mut target = pool
                            .take()
                            .map_err(|e| RenderError::ffmpeg("frame pool", e))?;
                        copy_picture(&mut target, upright)
                            .map_err(|e| RenderError::ffmpeg("frame copy", e))?;
                        let _ = shells.send(frame);
                        target
                    }
                    None => frame,
                };
                if let Some(old) = s.held.replace(converted) {
                    pool_return.give(old);
                }
                s.held_index = index;
            }
            Decoded::Switch { entry, clip } => {
                if state.as_ref().map(|s| s.entry) != Some(entry) {
                    state = Some(new_state(entry, &mut timeline));
                }
                if let Some(s) = state.as_mut() {
                    let substitute = &plan.clips[clip];
                    s.orienter = (!substitute.orientation.is_identity())
                        .then(|| Orienter::new(substitute.orientation));
                    s.sar = substitute.sar;
                    s.scaler_for = None;
                }
            }
            Decoded::EndOfEntry { entry } => {
                let Some(mut s) = state.take().filter(|s| s.entry == entry) else {
                    return Err(clip_error(
                        entry,
                        placements[entry].start_frame,
                        "no frame could be decoded".into(),
                    ));
                };
                let remaining = s.end - s.next_k;
                if remaining > 0 {
                    let wanted = s.retimer.source_frame(s.end - 1);
                    if s.held.is_none() || wanted > s.held_index + MAX_MISSING_FRAMES {
                        return Err(clip_error(
                            entry,
                            s.next_k,
                            format!(
                                "the clip ends after source frame {}, the plan needs frame {wanted} (changed since the scan?)",
                                s.held_index
                            ),
                        ));
                    }
                    emit(&mut s, remaining, &mut pool)?;
                }
                if let Some(old) = s.held.take() {
                    pool_return.give(old);
                }
            }
            Decoded::Done => {
                tracing::debug!("frame pool: {} frames allocated", pool.allocated());
                return out.send(Out::Done).map_err(|_| stopped());
            }
        }
    }
}

fn crossfade_stage(
    crossfade: u64,
    input: Receiver<Out>,
    out: SyncSender<Out>,
    pool_return: PoolReturn,
) -> Result<(), RenderError> {
    let mut outgoing: VecDeque<(u64, Video)> = VecDeque::with_capacity(crossfade as usize);
    loop {
        match input.recv().map_err(|_| stopped())? {
            Out::Frame {
                k,
                role: Role::Tail,
                frame,
            } => outgoing.push_back((k, frame)),
            Out::Frame {
                k,
                role: Role::Head(j),
                mut frame,
            } => {
                let (tail_k, tail) = outgoing.pop_front().ok_or_else(|| {
                    RenderError::Ffmpeg(format!("cross-fade at frame {k} has no outgoing frame"))
                })?;
                if tail_k != k {
                    return Err(RenderError::Ffmpeg(format!(
                        "cross-fade misaligned: {tail_k} vs {k}"
                    )));
                }
                make_writable(&mut frame).map_err(|e| RenderError::ffmpeg("cross-fade", e))?;
                blend_into(&mut frame, &tail, incoming_weight(j, crossfade));
                pool_return.give(tail);
                out.send(Out::Frame {
                    k,
                    role: Role::Solo,
                    frame,
                })
                .map_err(|_| stopped())?;
            }
            Out::Frame {
                k,
                role: Role::Solo,
                frame,
            } => out
                .send(Out::Frame {
                    k,
                    role: Role::Solo,
                    frame,
                })
                .map_err(|_| stopped())?,
            Out::Done => return out.send(Out::Done).map_err(|_| stopped()),
        }
    }
}

fn encode_stage(
    sink: &mut VideoSink,
    mut sheet: Option<&mut ContactSheet>,
    input: Receiver<Out>,
    pool_return: PoolReturn,
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, RenderError> {
    let mut written = 0u64;
    loop {
        match input.recv().map_err(|_| stopped())? {
            Out::Frame { k, mut frame, .. } => {
                if cancel.load(Ordering::Relaxed) {
                    return Err(RenderError::Cancelled);
                }
                if k != written {
                    return Err(RenderError::Ffmpeg(format!(
                        "frame {k} arrived where {written} was expected"
                    )));
                }
                if let Some(sheet) = sheet.as_deref_mut() {
                    sheet.offer(k, &frame)?;
                }
                sink.write(&mut frame, k)?;
                pool_return.give(frame);
                written += 1;
                on_progress(written);
            }
            Out::Done => return Ok(written),
        }
    }
}
