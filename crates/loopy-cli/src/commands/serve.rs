//! `loopy serve DIR`: scan, conform the library for the stream's profile (with
//! progress), then stream it endlessly as HLS with the control API.

use crate::args::ServeArgs;
use crate::exit::usage;
use anyhow::{Context, Result};
use loopy_core::spec::CrossfadeSpec;
use loopy_core::Rational;
use loopy_media::smart::conform_clips;
use loopy_serve::{Access, ProducerConfig, ServeConfig};
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

pub fn run(args: &ServeArgs) -> Result<()> {
    let plan_args = &args.plan;
    if plan_args.duration.is_some() || plan_args.count.is_some() || plan_args.exact {
        return Err(usage(
            "a stream has no length: --duration, --count and --exact do not apply to serve",
        ));
    }
    if let Some(url) = &args.push {
        let schemes = ["rtmp://", "rtmps://", "srt://", "udp://", "tcp://"];
        if !schemes.iter().any(|s| url.starts_with(s)) {
            return Err(usage(format!(
                "--push {url}: give an rtmp://, rtmps://, srt://, udp:// or tcp:// URL"
            )));
        }
    }
    if plan_args.cut_points {
        return Err(usage(
            "--cut-points is for `loopy plan` and `loopy render`: the live stream plays whole clips for now",
        ));
    }
    // The port first: one in use is said before any scanning or conforming.
    let listener = loopy_serve::bind(args.listen)?;
    let report = super::folder::scan(&args.dir, &args.folder)?;
    let catalog = report.catalog;
    // The endless plan takes every planning option but a length.
    let mut with_length = plan_args.clone();
    with_length.count = Some(1);
    let parsed = super::plan::ParsedPlanArgs::parse(&with_length)?;
    // The live chain plays whole clips for now (its pieces are whole conformed clips);
    // the library is still conformed as plans that cut inside clips need it, so that
    // `loopy conform`, renders and streams share one cache.
    let mut whole = plan_args.clone();
    whole.whole_clips = true;
    whole.cut_points = false;
    let plan = super::plan::plan_options(&catalog, &whole, parsed)?;
    let fps: Rational = match plan.fps {
        Some(fps) => fps,
        None => catalog
            .most_common_fps()
            .ok_or_else(|| usage("no clip to take a frame rate from"))?,
    };
    let crossfade: CrossfadeSpec = plan.crossfade;
    let encoding =
        super::render::Encoding::parse(&args.encode, loopy_media::render::VideoCodec::H264)?;
    let (library, profile) = super::conform::library_profile(
        &catalog,
        fps,
        crossfade,
        encoding,
        plan_args.cuts_inside(),
    )?;
    let clips = library.clips;

    // Conform what is not conformed yet, with progress, before the stream starts.
    let bar = crate::progress::ConformBar::new();
    let interrupt = crate::interrupt::Interrupt::install()?;
    let conformed = conform_clips(
        Path::new(&catalog.root),
        &clips,
        &profile,
        &interrupt.cancel,
        &bar,
        loopy_media::smart::conform::ConformOptions::default(),
    );
    bar.finish();
    let conformed = interrupt
        .exit_if_cancelled(conformed, "")
        .context("cannot conform the library for the stream")?;
    if conformed.conformed > 0 {
        tracing::info!(
            "conformed {} for profile {}",
            crate::output::count(conformed.conformed as u64, "clip"),
            profile.id()
        );
    }

    let stop_after_frames = args
        .stop_after
        .as_deref()
        .map(|text| {
            loopy_core::spec::parse_duration_ms(text)
                .map(|ms| loopy_core::spec::ms_to_frames_ceil(ms, profile.fps))
        })
        .transpose()?;
    let token = args.token.clone().unwrap_or_else(random_token);
    let print_token = args.token.is_none();
    let config = ServeConfig {
        listener,
        access: Access {
            token: token.clone().into(),
            protect_viewing: args.protect_viewing,
        },
        window: args.window,
        producer: ProducerConfig {
            segment_frames: loopy_serve::segment_frames(&profile),
            record: args.record.clone(),
            push: args.push.clone(),
            audio: args.audio.clone(),
            stop_after_frames,
            catalog,
            plan,
            profile,
            paced: !args.unpaced,
        },
    };
    loopy_serve::serve_blocking(config, |addr| {
        crate::output::say(&format!("serving http://{addr}/live.m3u8"), true).ok();
        if print_token {
            crate::output::say(&format!("control token: {token}"), true).ok();
        }
    })?;
    Ok(())
}

/// 128 random bits as hex, from the standard library's randomly keyed hashers.
fn random_token() -> String {
    let word = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}
