//! `loopy frames VIDEO`: a range of a video's frames as raw RGB24 on stdout, for
//! programs that hold pictures as arrays (the ComfyUI pack's Loopy Frames node), or
//! with `--info` what they need to read them: size, rate and frame count.

use crate::args::FramesArgs;
use crate::exit::usage;
use anyhow::{Context, Result};
use loopy_media::rawframes::{rgb_frame_bytes, write_rgb_frames, FrameRange};
use loopy_media::RenderError;

pub fn run(args: &FramesArgs) -> Result<()> {
    let probed = loopy_media::probe_clip(&args.video)
        .with_context(|| format!("cannot read {}", args.video.display()))?;
    let available = probed.frames.saturating_sub(args.start);
    let count = args.count.map_or(available, |c| c.min(available));
    if args.info {
        return crate::output::print_json(&serde_json::json!({
            "width": probed.width,
            "height": probed.height,
            "fps": probed.fps.to_string(),
            "frames": probed.frames,
            "range_frames": count,
            "bytes_per_frame": rgb_frame_bytes((probed.width, probed.height)),
        }));
    }
    if args.start >= probed.frames {
        return Err(usage(format!(
            "--start {} is past the end: {} has {} frames (0 to {})",
            args.start,
            args.video.display(),
            probed.frames,
            probed.frames.saturating_sub(1)
        )));
    }
    if let Some(asked) = args.count.filter(|&asked| asked > available) {
        tracing::warn!(
            "--count {asked} from frame {}: only {available} frame{} to the end; writing {available}",
            args.start,
            if available == 1 { "" } else { "s" }
        );
    }
    if let Some(max) = args.max_frames.filter(|&max| count > max) {
        return Err(usage(format!(
            "{} frames from frame {} would be written, more than --max-frames {max}; \
             raise --max-frames or take a shorter range with --start/--count",
            count, args.start
        )));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        return Err(usage(
            "frames are raw RGB24 bytes: redirect stdout to a file or a pipe",
        ));
    }
    let interrupt = crate::interrupt::Interrupt::install()?;
    let meter = crate::progress::Meter::new("frames", count, "{bar:30} {pos}/{len} frames");
    let range = FrameRange {
        start: args.start,
        count: Some(count),
    };
    let mut stdout = std::io::stdout().lock();
    let result = write_rgb_frames(
        &args.video,
        &probed,
        range,
        &mut stdout,
        &interrupt.cancel,
        &|done| meter.set_position(done),
    );
    meter.finish();
    match interrupt.exit_if_cancelled(result, "") {
        Ok(written) if written < count => Err(anyhow::anyhow!(
            "{}: only {written} of the {count} frames from frame {} could be decoded",
            args.video.display(),
            args.start
        )),
        Ok(_) => Ok(()),
        Err(RenderError::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
