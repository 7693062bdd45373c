//! The copy path: when every clip already is what the output needs, packets are
//! concatenated without decoding, with timestamps rewritten from each span's start.

use crate::error::RenderError;
use crate::job::{clip_error, clip_path, RenderJob, RenderOptions};
use ff::Packet;
use ffmpeg_next as ff;
use loopy_core::spans::{SpanMode, SpanSource};
use loopy_core::Plan;
use std::sync::atomic::{AtomicBool, Ordering};

/// `Ok` when the plan can be rendered by copying packets, else the reason it cannot.
pub fn can_copy(plan: &Plan, opts: &RenderOptions) -> Result<(), String> {
    if plan.crossfade_frames > 0 {
        return Err("cross-fades need decoded frames".into());
    }
    if plan.trim_end_frames > 0 {
        return Err("--exact trims the last clip inside a group of pictures".into());
    }
    if plan.cuts_inside_clips() {
        return Err("the plan cuts inside clips (--cut-points), between keyframes".into());
    }
    if opts.thumbnails_every.is_some() {
        return Err("--thumbnails needs decoded frames".into());
    }
    let want_pix = opts
        .encoder
        .pix_fmt
        .as_deref()
        .unwrap_or(opts.codec.default_pix_fmt());
    let used = plan.clips_used();
    let mut extradata: Option<Vec<u8>> = None;
    for &c in &used {
        let clip = &plan.clips[c];
        let mismatch = |what: String| Err(format!("{} {what}", clip.path));
        if let Some(stored) = clip.stored_frames {
            return mismatch(format!(
                "stores {stored} of its {} frames (gaps in its timestamps); copied packets would not keep its timing",
                clip.frames
            ));
        }
        if !clip.orientation.is_identity() {
            return mismatch(format!(
                "is stored {} (display matrix); copied packets would show it as stored",
                clip.orientation.describe()
            ));
        }
        if !clip.sar.is_one() {
            return mismatch(format!(
                "has non-square pixels ({}); the output's are square",
                clip.sar
            ));
        }
        if clip.codec != opts.codec.codec_name() {
            return mismatch(format!(
                "is {}, the output is {}",
                clip.codec,
                opts.codec.name()
            ));
        }
        if (clip.width, clip.height) != opts.size {
            return mismatch(format!(
                "is {}x{}, the output is {}x{}",
                clip.width, clip.height, opts.size.0, opts.size.1
            ));
        }
        if clip.fps_rational != plan.fps_rational {
            return mismatch(format!(
                "runs at {} fps, the output at {}",
                clip.fps_rational, plan.fps_rational
            ));
        }
        if clip.pix_fmt != want_pix {
            return mismatch(format!("is {}, the output is {want_pix}", clip.pix_fmt));
        }
        let input =
            ff::format::input(&clip_path(plan, c)).map_err(|e| format!("{}: {e}", clip.path))?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| format!("{}: no video stream", clip.path))?;
        let bytes = super::decode::extradata(&stream.parameters());
        match &extradata {
            None => extradata = Some(bytes),
            Some(first) if *first != bytes => {
                return mismatch("was encoded with other settings (different codec headers)".into())
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Concatenates the clips' packets. Returns the number of frames written.
pub fn run(
    job: &RenderJob,
    cancel: &AtomicBool,
    on_progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, RenderError> {
    let RenderJob {
        plan,
        placements,
        spans,
        container,
        temp,
        ..
    } = *job;
    let expected = job.total_frames();
    let fail = |what: &'static str| move |e: ff::Error| RenderError::ffmpeg(what, e);
    let mut output = ff::format::output_as(&temp, container.muxer())
        .map_err(fail("cannot create the output"))?;
    let first = ff::format::input(&clip_path(plan, plan.sequence[0]))
        .map_err(fail("cannot open the first clip"))?;
    let first_stream = first
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| RenderError::Ffmpeg("no video stream".into()))?;
    let out_tb = first_stream.time_base();
    {
        let mut stream = output
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(fail("cannot add the video stream"))?;
        stream.set_parameters(first_stream.parameters());
        // SAFETY: valid parameters; a zero tag lets the muxer pick its own.
        unsafe {
            (*stream.parameters().as_mut_ptr()).codec_tag = container.codec_tag(job.opts.codec)
        };
        stream.set_time_base(out_tb);
        let fps = plan.fps_rational;
        stream.set_avg_frame_rate(ff::Rational::new(fps.num() as i32, fps.den() as i32));
    }
    drop(first);
    let fps = plan.fps_rational;
    // An audio track is encoded while the video is copied, in step with it.
    let mut audio = super::audio::write_header_with_audio(&mut output, job)?;
    let stream_tb = output.stream(0).map(|s| s.time_base()).unwrap_or(out_tb);
    // Output frame k starts at k · fps.den / fps.num seconds, in stream time-base units.
    let at_frame = |k: u64| -> i64 {
        let num = k as i128 * fps.den() as i128 * stream_tb.denominator() as i128;
        let den = fps.num() as i128 * stream_tb.numerator() as i128;
        ((2 * num + den) / (2 * den)) as i64
    };
    let frame_ticks = at_frame(1).max(1);
    let mut written = 0u64;
    for span in spans {
        let SpanSource::Clip { entry } = span.source else {
            return Err(RenderError::Ffmpeg("a blend span cannot be copied".into()));
        };
        debug_assert_eq!(span.mode, SpanMode::Copy);
        let clip = plan.sequence[entry];
        let path = clip_path(plan, clip);
        let clip_error =
            |reason: String| clip_error(plan, entry, placements[entry].start_frame, reason);
        let mut input =
            ff::format::input(&path).map_err(|e| clip_error(format!("cannot open: {e}")))?;
        let stream = input
            .streams()
            .best(ff::media::Type::Video)
            .ok_or_else(|| clip_error("no video stream".into()))?;
        let (index, in_tb) = (stream.index(), stream.time_base());
        let start = stream.start_time();
        let origin = if start == ff::ffi::AV_NOPTS_VALUE {
            0
        } else {
            start
        };
        let offset = at_frame(placements[entry].start_frame);
        let entry_start = written;
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(RenderError::Cancelled);
            }
            // A fresh packet per read: av_read_frame does not release a reused one's
            // data (skipped audio packets would leak).
            let mut packet = Packet::empty();
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                Err(e) => return Err(clip_error(format!("read error: {e}"))),
            }
            if packet.stream() != index {
                continue;
            }
            let shift = |t: Option<i64>| t.map(|t| t - origin);
            packet.set_pts(shift(packet.pts()));
            packet.set_dts(shift(packet.dts()));
            packet.rescale_ts(in_tb, stream_tb);
            packet.set_pts(packet.pts().map(|t| t + offset));
            packet.set_dts(packet.dts().map(|t| t + offset));
            if packet.duration() <= 0 {
                packet.set_duration(frame_ticks);
            }
            packet.set_stream(0);
            packet.set_position(-1);
            packet
                .write_interleaved(&mut output)
                .map_err(|e| clip_error(format!("cannot write: {e}")))?;
            written += 1;
            if let Some(track) = audio.as_mut() {
                track.advance_to(&mut output, written * fps.den(), fps.num())?;
            }
            on_progress(written);
        }
        let planned = plan.clips[clip].frames;
        if written - entry_start != planned {
            return Err(clip_error(format!(
                "has {} frames, the plan expects {planned} (changed since the scan?)",
                written - entry_start
            )));
        }
    }
    if written != expected {
        return Err(RenderError::Ffmpeg(format!(
            "copied {written} frames, the plan has {expected} (a clip changed since the scan?)"
        )));
    }
    if let Some(track) = audio.as_mut() {
        track.finish(&mut output)?;
    }
    output
        .write_trailer()
        .map_err(fail("cannot finish the output"))?;
    Ok(written)
}
