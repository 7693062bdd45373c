//! How each span of a smart render is assembled: which frames of which conformed
//! clip it copies, and which small pieces (cross-fades, lead-ins) it copies first.
//!
//! An entry shows a run of its conformed clip's frames: from its in-point (the
//! plan's first source frame, re-timed) for as many frames as its placement spans.
//! A whole-clip entry starts at 0, so its body (after the cross-fade) starts on the
//! IDR frame at k and its tail fade is the pair's cached transition. An entry of a
//! plan with cut points may start between two IDR frames: the frames up to the next
//! one are a *lead-in* piece, encoded once and cached like a transition; the body
//! is copied from that IDR frame on. A body may end on any frame (no B-frames).

use super::conform::conformed_frames;
use super::pieces::{clip_key, conformed_path, transition_path};
use super::transition::tail_start;
use super::Profile;
use loopy_core::cuts::{CutMatrix, EntryCut};
use loopy_core::spans::{spans, Span, SpanSource};
use loopy_core::timeline::Placement;
use loopy_core::Plan;
use std::path::{Path, PathBuf};

/// A piece a smart render encodes when the cache does not hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PieceSpec {
    /// The cross-fade from clip `a` (conformed frames `a_from..+k`) into clip `b`
    /// (`b_from..+k`).
    Blend {
        a: usize,
        a_from: u64,
        b: usize,
        b_from: u64,
    },
    /// Clip `clip`'s conformed frames `from..to`, starting on an IDR frame.
    LeadIn { clip: usize, from: u64, to: u64 },
}

impl PieceSpec {
    /// Where the cache keeps it. The cross-fade between a clip's end and another's
    /// start is the pair's transition, shared with whole-clip plans; the others name
    /// their frames.
    pub fn path(&self, plan: &Plan, profile: &Profile) -> PathBuf {
        let root = Path::new(&plan.root);
        match *self {
            PieceSpec::Blend {
                a,
                a_from,
                b,
                b_from,
            } => {
                let (a, b) = (&plan.clips[a], &plan.clips[b]);
                if a_from == tail_start(profile, a) && b_from == 0 {
                    transition_path(profile, root, a, b)
                } else {
                    profile.transitions_dir(root).join(format!(
                        "{}-{}@{a_from}-{b_from}.mkv",
                        clip_key(a),
                        clip_key(b)
                    ))
                }
            }
            PieceSpec::LeadIn { clip, from, .. } => profile
                .transitions_dir(root)
                .join(format!("{}@{from}.mkv", clip_key(&plan.clips[clip]))),
        }
    }

    /// What it joins, for progress lines: "a.mp4 → b.mp4" or "b.mp4 from frame 7".
    pub fn describe(&self, plan: &Plan) -> String {
        match *self {
            PieceSpec::Blend {
                a,
                a_from,
                b,
                b_from,
            } => format!(
                "{} @{a_from} → {} @{b_from}",
                plan.clips[a].path, plan.clips[b].path
            ),
            PieceSpec::LeadIn { clip, from, .. } => {
                format!("{} from frame {from}", plan.clips[clip].path)
            }
        }
    }

    /// Frames it holds.
    pub fn frames(&self, profile: &Profile) -> u64 {
        match *self {
            PieceSpec::Blend { .. } => profile.crossfade,
            PieceSpec::LeadIn { from, to, .. } => to - from,
        }
    }
}

/// Where a span's frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Conformed(PathBuf),
    Piece(PieceSpec),
}

/// Frames `from..from + count` of `source`, appended to the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub source: Source,
    pub from: u64,
    pub count: u64,
}

/// The conformed frame entry `entry` starts on: its in-point re-timed to the output
/// rate, `None` when that falls between two output frames (the entry is then
/// rendered in a block).
pub fn entry_start(plan: &Plan, profile: &Profile, entry: usize) -> Option<u64> {
    let first = plan.entry_cut(entry).first;
    let clip = plan.clips[plan.sequence[entry]].fps_rational;
    let num = first as u128 * profile.fps.num() as u128 * clip.den() as u128;
    let den = profile.fps.den() as u128 * clip.num() as u128;
    num.is_multiple_of(den).then(|| (num / den) as u64)
}

/// What `span` copies, in order (`placements` are the plan's).
pub fn copies(plan: &Plan, profile: &Profile, placements: &[Placement], span: &Span) -> Vec<Copy> {
    let root = Path::new(&plan.root);
    let k = profile.crossfade;
    let start = |entry: usize| entry_start(plan, profile, entry).unwrap_or(0);
    match span.source {
        SpanSource::Clip { entry } => {
            let clip = &plan.clips[plan.sequence[entry]];
            let conformed = conformed_path(profile, root, clip);
            let from = start(entry) + if entry > 0 { k } else { 0 };
            let keys = profile.keyframes(conformed_frames(clip, profile));
            if keys.is_idr(from) {
                return vec![Copy {
                    source: Source::Conformed(conformed),
                    from,
                    count: span.frames,
                }];
            }
            let to = keys.at_or_after(from);
            let lead = (to - from).min(span.frames);
            let mut out = vec![Copy {
                source: Source::Piece(PieceSpec::LeadIn {
                    clip: plan.sequence[entry],
                    from,
                    to,
                }),
                from: 0,
                count: lead,
            }];
            if span.frames > lead {
                out.push(Copy {
                    source: Source::Conformed(conformed),
                    from: to,
                    count: span.frames - lead,
                });
            }
            out
        }
        SpanSource::Blend { from, to } => vec![Copy {
            source: Source::Piece(PieceSpec::Blend {
                a: plan.sequence[from],
                a_from: start(from) + placements[from].frames - k,
                b: plan.sequence[to],
                b_from: start(to),
            }),
            from: 0,
            count: span.frames,
        }],
    }
}

/// The pieces the spans not rendered in blocks need, each once, in output order.
pub fn pieces_needed(
    plan: &Plan,
    profile: &Profile,
    placements: &[Placement],
    spans: &[Span],
    in_block: &[bool],
) -> Vec<PieceSpec> {
    let mut seen = std::collections::BTreeSet::new();
    spans
        .iter()
        .zip(in_block)
        .filter(|(_, &blocked)| !blocked)
        .flat_map(|(span, _)| copies(plan, profile, placements, span))
        .filter_map(|c| match c.source {
            Source::Piece(piece) => Some(piece),
            Source::Conformed(_) => None,
        })
        .filter(|piece| seen.insert(*piece))
        .collect()
}

/// Every piece a plan of `library` (a plan holding the library's clips) could need
/// at a cut from one clip into another, each once: what `loopy conform --transitions`
/// encodes so that renders of any seed encode nothing. Whole clips (`cuts` `None`):
/// each ordered pair's cross-fade from A's end into B's start. With the library's
/// cut matrix: each pair's cross-fade between its best out- and in-points and B's
/// lead-in from there, as a plan meets them (an entry too short for its cross-fades
/// is widened by the planner, and one whose in-point falls between output frames is
/// rendered in a block: those few are encoded by the render that meets them).
pub fn pair_pieces(library: &Plan, profile: &Profile, cuts: Option<&CutMatrix>) -> Vec<PieceSpec> {
    let k = profile.crossfade;
    let clips = &library.clips;
    let usable: Vec<usize> = (0..clips.len())
        .filter(|&c| conformed_frames(&clips[c], profile) >= k.max(1))
        .collect();
    let pairs = usable
        .iter()
        .flat_map(|&a| usable.iter().map(move |&b| (a, b)))
        .filter(|&(a, b)| clips[a].path != clips[b].path);
    let Some(cuts) = cuts.filter(|m| m.len() == clips.len()) else {
        return match k {
            0 => Vec::new(),
            _ => pairs
                .map(|(a, b)| PieceSpec::Blend {
                    a,
                    a_from: tail_start(profile, &clips[a]),
                    b,
                    b_from: 0,
                })
                .collect(),
        };
    };
    // A two-entry plan per pair, laid out as a render would.
    let mut pair = Plan {
        trim_end_frames: 0,
        ..library.clone()
    };
    let mut seen = std::collections::BTreeSet::new();
    for (a, b) in pairs {
        let choice = cuts.get(a, b);
        let (out, into) = (
            EntryCut {
                first: 0,
                last: choice.out_frame,
            },
            EntryCut {
                first: choice.in_frame,
                last: clips[b].frames.saturating_sub(1),
            },
        );
        if into.first > into.last || out.frames() < k || into.frames() < 2 * k {
            continue;
        }
        pair.sequence = vec![a, b];
        pair.cuts = vec![out, into];
        if entry_start(&pair, profile, 1).is_none() {
            continue;
        }
        let placements = pair.placements();
        let spans = spans(&placements, k);
        let in_block = vec![false; spans.len()];
        for piece in pieces_needed(&pair, profile, &placements, &spans, &in_block) {
            seen.insert(piece);
        }
    }
    seen.into_iter().collect()
}
