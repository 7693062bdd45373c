//! Encoding one cross-fade piece: k conformed frames of clip A from any frame (len − k,
//! an IDR frame, for a planned transition; wherever a live cut falls)
//! blended with B's first k frames, written as one closed GOP with the profile, so it
//! joins A's body before it and B's body after it by packet copy.

use super::conform::{conformed_frames, failures, none_failed, ConformProgress};
use super::layout::PieceSpec;
use super::pieces::{check_joinable, conformed_path, decode_frames, transition_path, triage};
use super::Profile;
use crate::cache::entry::{self, Verdict};
use crate::error::RenderError;
use crate::render::blend::{blend_into, incoming_weight};
use crate::render::encode::{SinkSpec, VideoSink};
use crate::render::temp::TempOutput;
use crate::render::Container;
use loopy_core::plan::PlanClip;
use loopy_core::Plan;
use rayon::prelude::*;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Where a cross-fade from `a` starts: its last k frames.
pub fn tail_start(profile: &Profile, a: &PlanClip) -> u64 {
    conformed_frames(a, profile).saturating_sub(profile.crossfade)
}

/// Where in clip A a cross-fade starts: frame `frame`, decoded from the IDR frame
/// `key` at or before it (the same frame for a planned transition; for a live cut,
/// the start of the GOP the cut falls in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FadeStart {
    pub key: u64,
    pub frame: u64,
}

impl FadeStart {
    /// A cross-fade that starts on an IDR frame.
    pub fn at_key(frame: u64) -> Self {
        FadeStart { key: frame, frame }
    }
}

/// Encodes the cross-fade from `a` (its conformed frames `from.frame..+k`) into `b`
/// into a temporary file beside `target`, finished and checked joinable: the caller
/// publishes it as a cache entry ([`cache_crossfade`]) or moves it into place.
pub fn encode_crossfade(
    profile: &Profile,
    root: &Path,
    a: &PlanClip,
    from: FadeStart,
    b: &PlanClip,
    target: &Path,
) -> Result<TempOutput, RenderError> {
    encode_blend(profile, root, (a, from), (b, FadeStart::at_key(0)), target)
}

/// The cross-fade from `a`'s conformed frames `from.frame..+k` into `b`'s
/// `to.frame..+k` (each decoded from its IDR frame `key`), like [`encode_crossfade`].
pub fn encode_blend(
    profile: &Profile,
    root: &Path,
    (a, from): (&PlanClip, FadeStart),
    (b, to): (&PlanClip, FadeStart),
    target: &Path,
) -> Result<TempOutput, RenderError> {
    let k = profile.crossfade;
    let tails = decode_frames(&conformed_path(profile, root, a), from.key, from.frame, k)?;
    let mut heads = decode_frames(&conformed_path(profile, root, b), to.key, to.frame, k)?;
    let (temp, mut sink) = open_piece(profile, target, k)?;
    for (j, (head, tail)) in heads.iter_mut().zip(&tails).enumerate() {
        crate::render::frames::make_writable(head).map_err(|e| RenderError::ffmpeg("blend", e))?;
        blend_into(head, tail, incoming_weight(j as u64, k));
        sink.write(head, j as u64)?;
    }
    sink.finish()?;
    check_joinable(profile, root, temp.path())?;
    Ok(temp)
}

/// `clip`'s conformed frames `from..to` re-encoded as a piece that starts on an IDR
/// frame: how a body entered between two IDR frames of its conformed clip starts
/// (the rest is copied from the IDR frame `to` on).
pub fn encode_lead_in(
    profile: &Profile,
    root: &Path,
    clip: &PlanClip,
    (from, to): (u64, u64),
    target: &Path,
) -> Result<TempOutput, RenderError> {
    let conformed = conformed_path(profile, root, clip);
    let key = profile
        .keyframes(conformed_frames(clip, profile))
        .at_or_before(from);
    let mut frames = decode_frames(&conformed, key, from, to - from)?;
    let (temp, mut sink) = open_piece(profile, target, to - from)?;
    for (j, frame) in frames.iter_mut().enumerate() {
        sink.write(frame, j as u64)?;
    }
    sink.finish()?;
    check_joinable(profile, root, temp.path())?;
    Ok(temp)
}

/// A temporary piece of `frames` frames beside `target`, and the encoder writing it.
fn open_piece(
    profile: &Profile,
    target: &Path,
    frames: u64,
) -> Result<(TempOutput, VideoSink), RenderError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let temp = TempOutput::beside(target)?;
    let settings = profile.encoder(frames, 1);
    let spec = SinkSpec {
        container: Container::Mkv,
        codec: profile.video_codec(),
        size: (profile.width, profile.height),
        fps: profile.fps,
        settings: &settings,
    };
    let sink = VideoSink::open_video_only(temp.path(), &spec)?;
    Ok((temp, sink))
}

/// Encodes the planned cross-fade from `a`'s tail into `b` and publishes it as the
/// pair's cache entry.
pub fn cache_crossfade(
    profile: &Profile,
    root: &Path,
    a: &PlanClip,
    b: &PlanClip,
) -> Result<(), RenderError> {
    let target = transition_path(profile, root, a, b);
    let start = FadeStart::at_key(tail_start(profile, a));
    let temp = encode_crossfade(profile, root, a, start, b, &target)?;
    entry::commit(temp, &target, profile.crossfade, &[&a.path, &b.path])
}

/// Encodes a piece a smart render needs and publishes it in the cache: a cross-fade
/// (the pair's transition when it joins A's end to B's start) or a lead-in. `plan`'s
/// clips are what the piece's indices name.
pub fn cache_piece(
    plan: &Plan,
    profile: &Profile,
    root: &Path,
    piece: PieceSpec,
) -> Result<(), RenderError> {
    let clips = &plan.clips;
    let target = piece.path(plan, profile);
    let starts = |clip: usize, frame: u64| FadeStart {
        key: profile
            .keyframes(conformed_frames(&clips[clip], profile))
            .at_or_before(frame),
        frame,
    };
    match piece {
        PieceSpec::Blend { a, b, .. }
            if target == transition_path(profile, root, &clips[a], &clips[b]) =>
        {
            cache_crossfade(profile, root, &clips[a], &clips[b])
        }
        PieceSpec::Blend {
            a,
            a_from,
            b,
            b_from,
        } => {
            let temp = encode_blend(
                profile,
                root,
                (&clips[a], starts(a, a_from)),
                (&clips[b], starts(b, b_from)),
                &target,
            )?;
            entry::commit(
                temp,
                &target,
                profile.crossfade,
                &[&clips[a].path, &clips[b].path],
            )
        }
        PieceSpec::LeadIn { clip, from, to } => {
            let temp = encode_lead_in(profile, root, &clips[clip], (from, to), &target)?;
            entry::commit(temp, &target, to - from, &[&clips[clip].path])
        }
    }
}

/// What [`warm_pieces`] did.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct WarmReport {
    /// Pieces (cross-fades and lead-ins) encoded now.
    pub encoded: usize,
    /// Pieces that were cached already.
    pub cached: usize,
    /// Cached pieces that failed their check and were encoded again.
    pub repaired: usize,
}

/// Encodes every piece of `pieces` (indices into `library`'s clips, all conformed)
/// that is not cached yet: with [`super::layout::pair_pieces`], what `loopy conform
/// --transitions` does, so that a render of any plan of the library, whatever its
/// seed, encodes nothing. Pieces run in parallel, one encoder thread each; each is
/// written atomically, so an interrupted run keeps what it finished and nothing
/// half-written.
pub fn warm_pieces(
    library: &Plan,
    profile: &Profile,
    pieces: &[PieceSpec],
    cancel: &AtomicBool,
    progress: &(dyn ConformProgress + Sync),
    verify: bool,
) -> Result<WarmReport, RenderError> {
    if pieces.is_empty() {
        return Ok(WarmReport::default());
    }
    let root = Path::new(&library.root);
    let _in_use = profile.share(root)?;
    let verdicts: Vec<Verdict> = pieces
        .par_iter()
        .map(|piece| triage(&piece.path(library, profile), verify))
        .collect();
    let repaired = verdicts
        .iter()
        .filter(|v| matches!(v, Verdict::Damaged(_)))
        .count();
    let missing: Vec<PieceSpec> = pieces
        .iter()
        .zip(&verdicts)
        .filter(|(_, v)| !v.is_good())
        .map(|(&piece, _)| piece)
        .collect();
    progress.start(missing.iter().map(|p| p.frames(profile)).sum());
    let results: Vec<Result<(), RenderError>> = missing
        .par_iter()
        .map(|&piece| {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            let done = cache_piece(library, profile, root, piece);
            for _ in 0..piece.frames(profile) {
                progress.frame();
            }
            progress.clip_done(&piece.describe(library));
            done
        })
        .collect();
    none_failed(
        &failures(results)?,
        missing.len(),
        "cross-fades or lead-ins could not be encoded",
    )?;
    Ok(WarmReport {
        encoded: missing.len(),
        cached: pieces.len() - missing.len(),
        repaired,
    })
}
