//! `loopy conform DIR [output options]`: encode every clip once into the output
//! profile, so later renders copy clip bodies and encode only cross-fades;
//! `--transitions`: also every pair's cross-fade; `--status`: what is conformed, for
//! which profile, and its size on disk.

use super::render::Encoding;
use crate::args::ConformArgs;
use crate::exit::usage;
use crate::output::{count, print_json, say};
use anyhow::Result;
use loopy_core::catalog::most_common;
use loopy_core::plan::PlanClip;
use loopy_core::spec::CrossfadeSpec;
use loopy_core::{Plan, Rational};
use loopy_media::cache::cuts::cut_matrix;
use loopy_media::job::{CopyMode, RenderOptions, SmartMode};
use loopy_media::smart::conform::ConformOptions;
use loopy_media::smart::layout::pair_pieces;
use loopy_media::smart::transition::warm_pieces;
use loopy_media::smart::{conform_clips, Profile};
use std::path::Path;

pub fn run(args: &ConformArgs) -> Result<()> {
    if args.status {
        return status(&args.dir, args.json);
    }
    if args.encode.threads.is_some() {
        return Err(usage(
            "--threads does not apply to conform: it encodes one clip per core, one thread each",
        ));
    }
    let encoding = Encoding::parse(&args.encode, loopy_media::render::VideoCodec::H264)?;
    let fps: Option<Rational> = args.fps.as_deref().map(str::parse).transpose()?;
    let crossfade = CrossfadeSpec::parse(&args.crossfade)?;
    let report = super::folder::scan(&args.dir, &args.folder)?;
    let catalog = &report.catalog;
    let fps = match fps {
        Some(f) => f,
        None => catalog
            .most_common_fps()
            .ok_or_else(|| usage("no clip to take a frame rate from"))?,
    };
    let (library, profile) = library_profile(catalog, fps, crossfade, encoding, !args.whole_clips)?;
    let clips = &library.clips;
    let bar = crate::progress::ConformBar::new();
    let started = std::time::Instant::now();
    let interrupt = crate::interrupt::Interrupt::install()?;
    let done = conform_clips(
        Path::new(&catalog.root),
        clips,
        &profile,
        &interrupt.cancel,
        &bar,
        ConformOptions {
            prune_stale: true,
            verify: args.folder.verify,
        },
    );
    bar.finish();
    let done = interrupt.exit_if_cancelled(
        done,
        "interrupted: the clips conformed so far are kept, nothing half-written",
    )?;
    let warmed = if args.transitions {
        // Plans that cut inside clips meet each pair at its best cut (and may
        // enter the next clip between two IDR frames): those pieces are warmed.
        // The matrix plans keep in the folder's cache: scored once for both.
        let keep = matches!(report.cache, loopy_media::CacheStatus::Used { .. });
        let cuts = (profile.head_keys > 0)
            .then(|| cut_matrix(Path::new(&catalog.root), &catalog.clips, keep))
            .flatten();
        let pieces = pair_pieces(&library, &profile, cuts.as_ref());
        let bar = crate::progress::ConformBar::transitions();
        let warmed = warm_pieces(
            &library,
            &profile,
            &pieces,
            &interrupt.cancel,
            &bar,
            args.folder.verify,
        );
        bar.finish();
        Some(interrupt.exit_if_cancelled(
            warmed,
            "interrupted: the clips and cross-fades encoded so far are kept, nothing half-written",
        )?)
    } else {
        None
    };
    // What the profile takes now, conformed clips and transitions: as `loopy cache`
    // and `conform --status` count it.
    let bytes = loopy_media::cache::usage::profile_bytes(Path::new(&catalog.root), &profile.id());
    if args.json {
        return print_json(&serde_json::json!({
            "profile_id": profile.id(),
            "profile": profile,
            "report": done,
            "transitions": warmed,
            "bytes": bytes,
            "wall_s": started.elapsed().as_secs_f64(),
        }));
    }
    let repaired = |n: usize| {
        if n > 0 {
            format!(" ({n} of them damaged in the cache)")
        } else {
            String::new()
        }
    };
    let transitions = warmed.map_or(String::new(), |w| {
        format!(
            "; {} encoded{}, {} already were",
            count(w.encoded as u64, "transition piece"),
            repaired(w.repaired),
            w.cached
        )
    });
    say(
        &format!(
            "profile {}: {} conformed{}, {} already were, {} stale removed{transitions}; {:.1} MB in {:.1} s",
            profile.id(),
            count(done.conformed as u64, "clip"),
            repaired(done.repaired),
            done.reused,
            done.pruned,
            bytes as f64 / 1e6,
            started.elapsed().as_secs_f64()
        ),
        false,
    )
}

/// The profile a library is conformed to for `fps`, `crossfade` and the encoding
/// options (what a render or a stream of it would use; with `cut_points`, the
/// default, what a render of a plan with cut points would use), and the library as
/// one plan of all its clips.
pub fn library_profile(
    catalog: &loopy_core::Catalog,
    fps: Rational,
    crossfade: CrossfadeSpec,
    encoding: Encoding,
    cut_points: bool,
) -> Result<(Plan, Profile)> {
    let clips: Vec<PlanClip> = catalog.clips.iter().map(PlanClip::from_clip).collect();
    let first = clips
        .first()
        .ok_or_else(|| usage("no usable clip in the library"))?;
    // The library as one plan: the profile is what a render of it would use.
    let mut library = Plan::single(&catalog.root, first.clone(), fps);
    library.clips = clips.clone();
    library.sequence = (0..clips.len()).collect();
    library.crossfade_frames = crossfade.frames_at(fps);
    library.settings.cut_points = cut_points;
    let size = encoding
        .size
        .or_else(|| most_common(clips.iter().map(|c| (c.width, c.height))))
        .unwrap_or((1280, 720));
    let opts = RenderOptions {
        output: Path::new(&catalog.root).join("conform"),
        size,
        fit: encoding.fit,
        codec: encoding.codec,
        encoder: encoding.encoder,
        copy: CopyMode::Never,
        force: true,
        skip_bad: false,
        verify: false,
        thumbnails_every: None,
        audio: None,
        smart: SmartMode::Always,
    };
    let profile = Profile::for_render(&library, &opts).map_err(usage)?;
    Ok((library, profile))
}

/// `conform --status`: the cache's listing, as `loopy cache DIR` prints it.
fn status(dir: &Path, json: bool) -> Result<()> {
    let root = std::fs::canonicalize(dir).map_err(|e| usage(format!("{}: {e}", dir.display())))?;
    let profiles = loopy_media::cache::usage::profiles(&root);
    if json {
        return print_json(&profiles);
    }
    super::cache::print_listing(&profiles)
}
