//! `loopy make-clip OUT --size WxH --fps F`: raw RGB24 frames from stdin encoded into
//! a clip, so that generated loops (the ComfyUI pack's Clip From Images node) join a
//! library without another tool. Written atomically; nothing is left when the input
//! is short or the work is interrupted.

use crate::args::MakeClipArgs;
use crate::exit::usage;
use anyhow::{Context, Result};
use loopy_core::Rational;
use loopy_media::rawframes::{make_clip_from_rgb, ClipSpec};
use loopy_media::render::{EncoderSettings, VideoCodec};

pub fn run(args: &MakeClipArgs) -> Result<()> {
    let size = super::render::parse_size(&args.size)?;
    let fps: Rational = args
        .fps
        .parse()
        .map_err(|e| usage(format!("--fps `{}`: {e}", args.fps)))?;
    let codec = VideoCodec::parse(&args.codec)?;
    if !matches!(codec, VideoCodec::H264 | VideoCodec::H265) {
        return Err(usage("make-clip writes h264 or h265"));
    }
    let encoder = EncoderSettings {
        crf: Some(args.crf),
        preset: Some(args.preset.clone()),
        ..Default::default()
    };
    encoder.validate(codec)?;
    loopy_media::output_file::check_video(&args.output, args.force)?;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(usage(
            "make-clip reads raw RGB24 frames from stdin: pipe them in",
        ));
    }
    let spec = ClipSpec {
        size,
        fps,
        codec,
        encoder,
    };
    let interrupt = crate::interrupt::Interrupt::install()?;
    let meter = crate::progress::Meter::new("make-clip", 0, "{spinner} {pos} frames");
    let mut stdin = std::io::stdin().lock();
    let result = make_clip_from_rgb(
        &mut stdin,
        &spec,
        &args.output,
        args.force,
        &interrupt.cancel,
        &|done| meter.set_position(done),
    );
    meter.finish();
    let frames = interrupt
        .exit_if_cancelled(result, "")
        .with_context(|| format!("{} was not written", args.output.display()))?;
    if args.json {
        crate::output::print_json(&serde_json::json!({
            "output": args.output,
            "frames": frames,
            "width": size.0,
            "height": size.1,
            "fps": fps.to_string(),
        }))
    } else {
        crate::output::say(
            &format!(
                "wrote {}: {frames} frames, {}x{} at {fps} fps",
                args.output.display(),
                size.0,
                size.1
            ),
            true,
        )
    }
}
