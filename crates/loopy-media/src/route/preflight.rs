//! Before any frame is encoded, every clip the plan uses is opened, its video packets
//! counted against the plan (a clip cut short or replaced since the scan shows up
//! here) and its first frame decoded. So a missing, changed or damaged clip fails fast
//! with its name — or, with `--skip-bad`, is replaced by another clip and recorded.
//! A copy-only render without `--skip-bad` just opens each clip: copying counts every
//! packet anyway and names a clip whose count is off.

use crate::error::RenderError;
use crate::job::{clip_error, clip_path, Substitution};
use crate::render::decode::ClipReader;
use ffmpeg_next::frame::Video;
use loopy_core::Plan;
use rayon::prelude::*;
use std::collections::BTreeMap;

pub struct Checked {
    pub plan: Plan,
    pub substitutions: Vec<Substitution>,
}

/// Video packets (one per frame) in the file, by demuxing without decoding.
fn count_frames(path: &std::path::Path) -> Result<u64, String> {
    let mut input = ffmpeg_next::format::input(&path).map_err(|e| format!("cannot open: {e}"))?;
    let stream = input
        .streams()
        .best(ffmpeg_next::media::Type::Video)
        .ok_or("no video stream")?
        .index();
    let mut frames = 0;
    loop {
        // A fresh packet per read: av_read_frame does not release a reused one's data.
        let mut packet = ffmpeg_next::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => frames += u64::from(packet.stream() == stream),
            Err(ffmpeg_next::Error::Eof) => return Ok(frames),
            Err(ffmpeg_next::Error::InvalidData) => {}
            Err(e) => return Err(format!("read error after {frames} frames: {e}")),
        }
    }
}

/// What is wrong with a clip, if anything: missing, unreadable, a frame count other
/// than planned, or no decodable first frame. A copy-only render without `--skip-bad`
/// (`thorough` false) only opens the clip: the copy itself counts every packet.
fn problem_with(plan: &Plan, clip: usize, thorough: bool, verify: bool) -> Option<String> {
    let path = clip_path(plan, clip);
    if !path.exists() {
        return Some("missing (moved or deleted since the scan?)".into());
    }
    if let Some(changed) = changed_since_planning(&plan.clips[clip], &path) {
        return Some(changed);
    }
    if let Some(wrong) = recorded_wrongly(&plan.clips[clip], &path) {
        return Some(wrong);
    }
    if !thorough {
        return ffmpeg_next::format::input(&path)
            .err()
            .map(|e| format!("cannot open: {e}"));
    }
    let planned = plan.clips[clip]
        .stored_frames
        .unwrap_or(plan.clips[clip].frames);
    match count_frames(&path) {
        Err(reason) => return Some(reason),
        Ok(found) if found != planned => {
            return Some(format!(
                "has {found} frames, the plan expects {planned} (changed since the scan?)"
            ))
        }
        Ok(_) => {}
    }
    let mut reader = match ClipReader::open_with_threads(&path, plan.clips[clip].fps_rational, 1) {
        Ok(r) => r,
        Err(reason) => return Some(reason),
    };
    let mut frame = Video::empty();
    match reader.next_frame(&mut frame) {
        Ok(Some(_)) => {}
        Ok(None) => return Some("no frame could be decoded".into()),
        Err(reason) => return Some(reason),
    }
    if verify {
        return crate::verify::verify_clip(&path, &|| {})
            .err()
            .map(|damage| damage.to_string());
    }
    None
}

/// Whether the file is no longer the one planned: another size or other content
/// (its fingerprint, read every time: a clip replaced by one of the same size with
/// its modification time put back is still another clip, and smart render keys its
/// cache by content). A plan from an older Loopy (no size recorded) is only checked
/// by frame count.
fn changed_since_planning(
    clip: &loopy_core::plan::PlanClip,
    path: &std::path::Path,
) -> Option<String> {
    if clip.size == 0 {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if meta.len() != clip.size {
        return Some(format!(
            "changed since planning: {} bytes, the plan recorded {} (plan again)",
            meta.len(),
            clip.size
        ));
    }
    if clip.fingerprint.is_empty() {
        return None;
    }
    match crate::fingerprint::fingerprint(path) {
        Ok(now) if now == clip.fingerprint => None,
        Ok(_) => Some("replaced since planning: same size, other content (plan again)".into()),
        Err(e) => Some(format!("cannot read: {e}")),
    }
}

/// Whether the plan records the clip as something it is not (a hand-edited plan):
/// codec, displayed size, orientation, frame rate or sound. The render trusts these
/// figures (a wrong rate plays the clip at the wrong speed), so each is checked
/// against the file, as its size and content are.
fn recorded_wrongly(clip: &loopy_core::plan::PlanClip, path: &std::path::Path) -> Option<String> {
    let facts = match crate::probe::stream_facts(path) {
        Ok(facts) => facts,
        Err(reason) => return Some(reason),
    };
    let differs = |what: &str, recorded: String, actual: String| {
        Some(format!(
            "the plan records {what} {recorded}, the file has {actual} (a hand-edited plan? plan again)"
        ))
    };
    if facts.fps != clip.fps_rational {
        return differs(
            "a frame rate of",
            clip.fps_rational.to_string(),
            facts.fps.to_string(),
        );
    }
    if (facts.width, facts.height) != (clip.width, clip.height) {
        return differs(
            "a size of",
            format!("{}x{}", clip.width, clip.height),
            format!("{}x{}", facts.width, facts.height),
        );
    }
    if facts.codec != clip.codec {
        return differs("codec", clip.codec.clone(), facts.codec);
    }
    if facts.orientation != clip.orientation {
        return differs(
            "orientation",
            clip.orientation.describe(),
            facts.orientation.describe(),
        );
    }
    if facts.has_audio != clip.has_audio {
        let says = |sound: bool| if sound { "a" } else { "no" }.to_string();
        return differs(
            "a clip with",
            says(clip.has_audio) + " sound track",
            says(facts.has_audio) + " sound track",
        );
    }
    let implied = clip.frames as f64 / clip.fps_rational.as_f64();
    if (clip.duration_s - implied).abs() > 1.0 / clip.fps_rational.as_f64() {
        return differs(
            "a duration of",
            format!("{:.3} s", clip.duration_s),
            format!(
                "{} frames at {} fps ({implied:.3} s)",
                clip.frames, clip.fps_rational
            ),
        );
    }
    None
}

/// The plan with the content fingerprint of every used clip filled in where an
/// older plan recorded none (the cache of smart render is keyed by it).
fn with_fingerprints(plan: &Plan, used: &[usize]) -> Plan {
    let mut plan = plan.clone();
    for &c in used {
        if plan.clips[c].fingerprint.is_empty() {
            if let Ok(print) = crate::fingerprint::fingerprint(&clip_path(&plan, c)) {
                plan.clips[c].fingerprint = print;
            }
        }
    }
    plan
}

/// Checks every clip the plan uses (in parallel: `verify` decodes whole clips), then
/// fails on the first bad entry or, with `skip_bad`, replaces bad clips.
pub fn check(
    plan: &Plan,
    skip_bad: bool,
    copy_only: bool,
    verify: bool,
) -> Result<Checked, RenderError> {
    let thorough = skip_bad || !copy_only || verify;
    let used = plan.clips_used();
    let mut verdicts: BTreeMap<usize, Option<String>> = used
        .par_iter()
        .map(|&clip| (clip, problem_with(plan, clip, thorough, verify)))
        .collect();
    let bad_entry = plan.sequence.iter().position(|c| verdicts[c].is_some());
    let Some(first_bad) = bad_entry else {
        return Ok(Checked {
            plan: with_fingerprints(plan, &used),
            substitutions: Vec::new(),
        });
    };
    if !skip_bad {
        let clip = plan.sequence[first_bad];
        let reason = verdicts[&clip].clone().unwrap_or_default();
        return Err(clip_error(
            plan,
            first_bad,
            plan.placements()[first_bad].start_frame,
            format!("{reason} (pass --skip-bad to replace broken clips)"),
        ));
    }
    let mut fixed = plan.clone();
    let mut substitutions = Vec::new();
    for entry in 0..fixed.sequence.len() {
        let clip = fixed.sequence[entry];
        let Some(reason) = verdicts.get(&clip).cloned().flatten() else {
            continue;
        };
        let prev = entry.checked_sub(1).map(|e| fixed.sequence[e]);
        let next = fixed.sequence.get(entry + 1).copied();
        // Candidates in a fixed order; the choice depends only on the seed and entry.
        let mut candidates = Vec::new();
        for c in 0..fixed.clips.len() {
            if Some(c) == prev || Some(c) == next {
                continue;
            }
            if verdicts
                .entry(c)
                .or_insert_with(|| problem_with(plan, c, thorough, verify))
                .is_none()
            {
                candidates.push(c);
            }
        }
        if candidates.is_empty() {
            return Err(clip_error(
                plan,
                entry,
                fixed.placements()[entry].start_frame,
                format!("{reason}; no other usable clip can replace it"),
            ));
        }
        let pick = candidates[(fixed.seed.wrapping_add(entry as u64 * 0x9E37_79B9)
            % candidates.len() as u64) as usize];
        fixed.sequence[entry] = pick;
        // The planned in/out points belong to the broken clip: the substitute is whole.
        if let Some(cut) = fixed.cuts.get_mut(entry) {
            *cut = loopy_core::cuts::EntryCut::whole(fixed.clips[pick].frames);
        }
        substitutions.push(Substitution {
            entry,
            planned: plan.clips[clip].path.clone(),
            used: plan.clips[pick].path.clone(),
            reason,
        });
    }
    // Lengths changed: the last entry's trim and the statistics follow the new sequence.
    if fixed.trim_end_frames > 0 {
        let natural: u64 = {
            let mut p = fixed.clone();
            p.trim_end_frames = 0;
            p.placements()
                .last()
                .map_or(0, |l| l.start_frame + l.frames)
        };
        let target = plan.stats.total_frames;
        fixed.trim_end_frames = natural.saturating_sub(target);
    }
    fixed.stats = fixed.recompute_stats();
    Ok(Checked {
        plan: with_fingerprints(&fixed, &fixed.clips_used()),
        substitutions,
    })
}
