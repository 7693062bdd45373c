//! The smart executor: clip spans copied from conformed clips, blend spans taken from
//! the transition cache or encoded (each transition decodes only k frames of either
//! side, from the IDR at len − k of A and at 0 of B), all joined by packet copy.

use super::layout::{copies, pieces_needed, PieceSpec, Source};
use super::pieces::{conformed_path, for_packets, parameters, triage};
use super::transition::cache_piece;
use super::Profile;
use crate::error::RenderError;
use crate::job::{RenderJob, SpanRecord};
use ffmpeg_next as ff;
use loopy_core::spans::SpanSource;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// Transitions the plan needs that are not cached, in the order the output meets
/// them, encoded by worker threads while the copy proceeds; the copy waits for a
/// transition only when it reaches it. Finished transitions are files in the cache,
/// so memory does not grow with how many there are.
struct TransitionQueue {
    missing: Vec<PieceSpec>,
    next: AtomicUsize,
    done: Mutex<HashMap<PieceSpec, Result<(), String>>>,
    ready: Condvar,
    /// Set when the copy fails: workers stop taking transitions.
    stop: AtomicBool,
    /// Workers still running (a worker that panicked counts as gone).
    alive: AtomicUsize,
}

/// Counts a worker out when it ends, however it ends.
struct Alive<'a>(&'a TransitionQueue);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
        self.0.ready.notify_all();
    }
}

impl TransitionQueue {
    /// `in_block[i]`: span i is rendered with its block, so needs no transition.
    fn new(job: &RenderJob, profile: &Profile, in_block: &[bool]) -> Self {
        let plan = job.plan;
        let missing = pieces_needed(plan, profile, job.placements, job.spans, in_block)
            .into_iter()
            .filter(|piece| !triage(&piece.path(plan, profile), false).is_good())
            .collect();
        TransitionQueue {
            missing,
            next: AtomicUsize::new(0),
            done: Mutex::new(HashMap::new()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            alive: AtomicUsize::new(0),
        }
    }

    /// One worker: takes the next transition until none is left.
    fn work(&self, job: &RenderJob, profile: &Profile, root: &Path, cancel: &AtomicBool) {
        let _alive = Alive(self);
        loop {
            if cancel.load(Ordering::Relaxed) || self.stop.load(Ordering::Relaxed) {
                return;
            }
            let i = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(&piece) = self.missing.get(i) else {
                return;
            };
            let result = cache_piece(job.plan, profile, root, piece).map_err(|e| e.to_string());
            if let Ok(mut done) = self.done.lock() {
                done.insert(piece, result);
            }
            self.ready.notify_all();
        }
    }

    fn was_encoded(&self, piece: PieceSpec) -> bool {
        self.missing.contains(&piece)
    }

    /// Waits until `piece` is in the cache (at once if it was cached before).
    fn wait_for(&self, piece: PieceSpec, cancel: &AtomicBool) -> Result<(), RenderError> {
        if !self.was_encoded(piece) {
            return Ok(());
        }
        let mut done = self
            .done
            .lock()
            .map_err(|_| RenderError::Ffmpeg("transition workers failed".into()))?;
        loop {
            if let Some(result) = done.get(&piece) {
                return result.clone().map_err(RenderError::Ffmpeg);
            }
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            if self.alive.load(Ordering::SeqCst) == 0 {
                return Err(RenderError::Ffmpeg(format!(
                    "the piece {piece:?} was not encoded (its worker stopped)"
                )));
            }
            done = self
                .ready
                .wait_timeout(done, std::time::Duration::from_millis(100))
                .map_err(|_| RenderError::Ffmpeg("transition workers failed".into()))?
                .0;
        }
    }
}

/// Renders `job` by joining pieces; every clip it uses must be conformed. Returns the
/// frames written and how each span was made.
pub fn run(
    job: &RenderJob,
    profile: &Profile,
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<(u64, Vec<SpanRecord>), RenderError> {
    let plan = job.plan;
    let root = Path::new(&plan.root);
    let blocks = super::blocks::blocks(plan, profile, job.spans);
    let mut in_block = vec![false; job.spans.len()];
    for block in &blocks {
        in_block[block.spans.0..=block.spans.1].fill(true);
    }
    let queue = TransitionQueue::new(job, profile, &in_block);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        let count = workers.min(queue.missing.len());
        queue.alive.store(count, Ordering::SeqCst);
        for _ in 0..count {
            scope.spawn(|| queue.work(job, profile, root, cancel));
        }
        let joined = join(job, profile, root, &queue, &blocks, cancel, on_progress);
        // Whatever happened, the workers stop taking transitions; finished ones stay cached.
        queue.stop.store(true, Ordering::SeqCst);
        joined
    })
}

/// Writes the output span by span, copying packets from conformed clips and
/// transitions (waiting for a transition still being encoded).
fn join(
    job: &RenderJob,
    profile: &Profile,
    root: &Path,
    queue: &TransitionQueue,
    blocks: &[super::blocks::Block],
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<(u64, Vec<SpanRecord>), RenderError> {
    let plan = job.plan;
    let expected = job.total_frames();
    let fps = plan.fps_rational;
    let fail = |what: &'static str| move |e: ff::Error| RenderError::ffmpeg(what, e);
    let mut output = ff::format::output_as(&job.temp, job.container.muxer())
        .map_err(fail("cannot create the output"))?;
    let first = conformed_path(profile, root, &plan.clips[plan.sequence[0]]);
    let frame_tb = ff::Rational::new(fps.den() as i32, fps.num() as i32);
    {
        let mut stream = output
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(fail("cannot add the video stream"))?;
        stream.set_parameters(parameters(&first)?);
        // SAFETY: valid parameters of the stream just added.
        unsafe {
            (*stream.parameters().as_mut_ptr()).codec_tag =
                job.container.codec_tag(profile.video_codec())
        };
        stream.set_time_base(frame_tb);
        stream.set_avg_frame_rate(ff::Rational::new(fps.num() as i32, fps.den() as i32));
    }
    let mut audio = crate::render::audio::write_header_with_audio(&mut output, job)?;
    let stream_tb = output.stream(0).map_or(frame_tb, |s| s.time_base());
    let mut written = 0u64;
    // Appends frames `from..from + count` of a piece to the output, as the next frames.
    let mut copy_range = |piece: &Path, from: u64, count: u64| -> Result<u64, RenderError> {
        for_packets(piece, from, from + count, |_, mut packet| {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            let at = written as i64;
            packet.set_pts(Some(at));
            packet.set_dts(Some(at));
            packet.set_duration(1);
            packet.rescale_ts(frame_tb, stream_tb);
            packet.set_stream(0);
            packet.set_position(-1);
            packet
                .write_interleaved(&mut output)
                .map_err(fail("cannot write to the output"))?;
            written += 1;
            if let Some(track) = audio.as_mut() {
                track.advance_to(&mut output, written * fps.den(), fps.num())?;
            }
            on_progress(written);
            Ok(())
        })
    };
    let mut records = Vec::with_capacity(job.spans.len());
    let last = plan.sequence.len() - 1;
    let mut index = 0;
    while index < job.spans.len() {
        let span = &job.spans[index];
        if let Some(block) = blocks.iter().find(|b| b.spans.0 == index) {
            // Entries a conformed clip cannot show exactly: rendered, then copied in.
            let (piece, from) = super::blocks::render_block(job, profile, block, cancel)?;
            let frames = block.end - block.start;
            let copied = copy_range(piece.path(), from, frames)?;
            if copied != frames {
                return Err(RenderError::Ffmpeg(format!(
                    "a rendered block holds {copied} of its {frames} frames"
                )));
            }
            for s in &job.spans[block.spans.0..=block.spans.1] {
                records.push(SpanRecord {
                    start_frame: s.start_frame,
                    frames: s.frames,
                    kind: if matches!(s.source, SpanSource::Clip { .. }) {
                        "clip"
                    } else {
                        "blend"
                    },
                    how: "rendered",
                    lead_in_frames: None,
                    lead_in_encoded: None,
                });
            }
            index = block.spans.1 + 1;
            continue;
        }
        index += 1;
        let mut how = "copied";
        let mut lead_in = None;
        let mut copied = 0;
        for copy in copies(plan, profile, job.placements, span) {
            let piece = match copy.source {
                Source::Conformed(path) => path,
                Source::Piece(piece) => {
                    queue.wait_for(piece, cancel)?;
                    let encoded = queue.was_encoded(piece);
                    match piece {
                        PieceSpec::Blend { .. } if encoded => how = "transition_encoded",
                        PieceSpec::Blend { .. } => how = "transition_cached",
                        PieceSpec::LeadIn { .. } => lead_in = Some((copy.count, encoded)),
                    }
                    piece.path(plan, profile)
                }
            };
            // Checked before the render (a memory lookup now): only a piece changed
            // since then fails here, and the render fails rather than copy it.
            if let crate::cache::entry::Verdict::Damaged(reason) =
                crate::cache::entry::check(&piece)
            {
                return Err(RenderError::Ffmpeg(format!(
                    "cache entry {} was damaged during the render: {reason}",
                    piece.display()
                )));
            }
            let got = copy_range(&piece, copy.from, copy.count)?;
            copied += got;
            if got != copy.count {
                let entry = match span.source {
                    SpanSource::Clip { entry } => entry,
                    SpanSource::Blend { from, .. } => from,
                };
                return Err(crate::job::clip_error(
                    plan,
                    entry.min(last),
                    span.start_frame,
                    format!(
                        "{} holds {got} of the {} frames needed (conformed for another length?)",
                        piece.display(),
                        copy.count
                    ),
                ));
            }
        }
        debug_assert_eq!(copied, span.frames);
        records.push(SpanRecord {
            start_frame: span.start_frame,
            frames: span.frames,
            kind: match span.source {
                SpanSource::Clip { .. } => "clip",
                SpanSource::Blend { .. } => "blend",
            },
            how,
            lead_in_frames: lead_in.map(|(frames, _)| frames),
            lead_in_encoded: lead_in.map(|(_, encoded)| encoded),
        });
    }
    if written != expected {
        return Err(RenderError::Ffmpeg(format!(
            "joined {written} frames, the plan has {expected}"
        )));
    }
    if let Some(track) = audio.as_mut() {
        track.finish(&mut output)?;
    }
    output
        .write_trailer()
        .map_err(fail("cannot finish the output"))?;
    Ok((written, records))
}
