//! The encoder and muxer end of the pipeline: opens the output container, encodes
//! frames with timestamps taken from their output index, and writes packets with
//! correct durations.

use super::output_spec::VideoCodec;
use crate::error::RenderError;
use ff::codec::threading;
use ff::format::Pixel;
use ff::frame::Video;
use ff::{Dictionary, Packet};
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::path::Path;

/// Encoder settings from the command line; `None` means the encoder's Loopy default.
#[derive(Debug, Clone, Default)]
pub struct EncoderSettings {
    pub crf: Option<u32>,
    pub preset: Option<String>,
    /// Bits per second; replaces the CRF when given.
    pub bitrate: Option<u64>,
    pub gop: Option<u32>,
    pub pix_fmt: Option<String>,
    /// Encoder threads; 0 lets the encoder decide.
    pub threads: usize,
    /// Forced IDR frames of a smart-render profile (closed GOPs, no B-frames, no scene
    /// cuts), so that pieces encoded apart join by copying packets.
    pub keyframes: Option<Keyframes>,
}

/// Where a smart-render profile places IDR frames in a piece of `frames` frames: at 0,
/// at the cross-fade length k, every `gop` frames after k, and at `frames − k`. A clip
/// body then starts and ends on a GOP boundary whatever cross-fades surround it. For
/// plans that enter clips inside their head window (`--cut-points`), also every
/// `head_every` frames from k up to `k + head_span`, so that a body entered there
/// starts on an IDR frame within a few frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyframes {
    pub crossfade: u64,
    pub gop: u64,
    pub frames: u64,
    /// 0: no extra IDR frames in the head.
    pub head_every: u64,
    pub head_span: u64,
}

impl Keyframes {
    pub fn is_idr(&self, i: u64) -> bool {
        let k = self.crossfade;
        i == 0
            || (k > 0 && (i == k || i + k == self.frames))
            || (i > k && (i - k).is_multiple_of(self.gop.max(1)))
            || (self.head_every > 0
                && i > k
                && i - k <= self.head_span
                && (i - k).is_multiple_of(self.head_every))
    }

    /// The last IDR frame at or before `i`.
    pub fn at_or_before(&self, i: u64) -> u64 {
        (0..=i).rev().find(|&j| self.is_idr(j)).unwrap_or(0)
    }

    /// The first IDR frame at or after `i` (`frames` when none is left).
    pub fn at_or_after(&self, i: u64) -> u64 {
        (i..self.frames)
            .find(|&j| self.is_idr(j))
            .unwrap_or(self.frames)
    }
}

/// What a [`VideoSink`] writes: container, codec, size, rate and encoder settings.
#[derive(Debug, Clone, Copy)]
pub struct SinkSpec<'a> {
    pub container: super::output_spec::Container,
    pub codec: VideoCodec,
    pub size: (u32, u32),
    pub fps: Rational,
    pub settings: &'a EncoderSettings,
}

pub struct VideoSink {
    output: ff::format::context::Output,
    encoder: ff::encoder::video::Encoder,
    stream: usize,
    encoder_tb: ff::Rational,
    stream_tb: ff::Rational,
    /// Converts blended yuv420p to the encoder's format when they differ (ProRes).
    convert: Option<(ff::software::scaling::Context, Video)>,
    audio: Option<super::audio::AudioTrack>,
    fps: Rational,
    keyframes: Option<Keyframes>,
    packet: Packet,
    pub packets: u64,
}

/// x264 and x265 presets, fastest first.
const X26X_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];
/// prores_ks profiles.
const PRORES_PROFILES: [&str; 6] = ["proxy", "lt", "standard", "hq", "4444", "4444xq"];

impl EncoderSettings {
    /// Refuses values the codec's encoder would reject (or ignore), naming the option
    /// and what it accepts, before any work starts.
    pub fn validate(&self, codec: VideoCodec) -> Result<(), RenderError> {
        let bad = |m: String| Err(RenderError::Usage(m));
        let name = codec.name();
        let (crf_range, preset_help): (Option<(u32, u32)>, String) = match codec {
            VideoCodec::H264 | VideoCodec::H265 => (Some((0, 51)), X26X_PRESETS.join(", ")),
            VideoCodec::Vp9 => (Some((0, 63)), "a cpu-used number from -8 to 8".into()),
            VideoCodec::Av1 => (Some((1, 63)), "a number from 0 to 13".into()),
            VideoCodec::ProRes => (None, PRORES_PROFILES.join(", ")),
        };
        if let Some(preset) = &self.preset {
            let ok = match codec {
                VideoCodec::H264 | VideoCodec::H265 => X26X_PRESETS.contains(&preset.as_str()),
                VideoCodec::Vp9 => preset.parse::<i32>().is_ok_and(|v| (-8..=8).contains(&v)),
                VideoCodec::Av1 => preset.parse::<i32>().is_ok_and(|v| (0..=13).contains(&v)),
                VideoCodec::ProRes => PRORES_PROFILES.contains(&preset.as_str()),
            };
            if !ok {
                return bad(format!(
                    "--preset `{preset}` is not a {name} preset (expected {preset_help})"
                ));
            }
        }
        match (crf_range, self.crf) {
            (None, Some(_)) => {
                return bad(format!(
                "--crf does not apply to {name}: its quality is set by the profile (--preset {})",
                PRORES_PROFILES.join("|")
            ))
            }
            (Some((low, high)), Some(crf)) if !(low..=high).contains(&crf) => {
                return bad(format!(
                    "--crf {crf} is out of range for {name} ({low} to {high})"
                ))
            }
            _ => {}
        }
        if codec == VideoCodec::ProRes {
            if self.bitrate.is_some() {
                return bad(
                    "--bitrate does not apply to prores: its rate is set by the profile (--preset)"
                        .into(),
                );
            }
            if self.gop.is_some() {
                return bad("--gop does not apply to prores: every frame is a keyframe".into());
            }
        }
        if self.gop == Some(0) {
            return bad("--gop must be at least 1".into());
        }
        if let Some(pix_name) = &self.pix_fmt {
            let pix: Pixel = pix_name.parse().map_err(|_| {
                RenderError::Usage(format!("--pix-fmt: unknown pixel format `{pix_name}`"))
            })?;
            let supported: Vec<Pixel> = ff::encoder::find_by_name(codec.encoder_name())
                .and_then(|c| c.video().ok())
                .and_then(|v| v.formats().map(|f| f.collect()))
                .unwrap_or_default();
            if !supported.is_empty() && !supported.contains(&pix) {
                let names: Vec<&str> = supported
                    .iter()
                    .filter_map(|p| p.descriptor().map(|d| d.name()))
                    .collect();
                return bad(format!(
                    "--pix-fmt {pix_name}: {} cannot encode it (it takes {})",
                    codec.encoder_name(),
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }
}

fn options_for(codec: VideoCodec, settings: &EncoderSettings) -> Dictionary<'static> {
    let mut opts = Dictionary::new();
    let preset = settings.preset.clone();
    if settings.keyframes.is_some() {
        // Joinable pieces: no B-frames (decode order = display order, so any GOP can
        // end early), no scene-cut keyframes, forced keyframes as IDR.
        opts.set("forced-idr", "1");
        match codec {
            VideoCodec::H264 => opts.set("x264-params", "scenecut=0:bframes=0"),
            VideoCodec::H265 => opts.set(
                "x265-params",
                "log-level=error:scenecut=0:bframes=0:open-gop=0:repeat-headers=0",
            ),
            _ => {}
        }
    }
    match codec {
        VideoCodec::H264 | VideoCodec::H265 => {
            opts.set("preset", preset.as_deref().unwrap_or("veryfast"));
            if settings.bitrate.is_none() {
                let crf = settings
                    .crf
                    .unwrap_or(if codec == VideoCodec::H264 { 23 } else { 28 });
                opts.set("crf", &crf.to_string());
            }
            if codec == VideoCodec::H265 && settings.keyframes.is_none() {
                opts.set("x265-params", "log-level=error");
            }
        }
        VideoCodec::Vp9 => {
            opts.set("deadline", "good");
            opts.set("cpu-used", preset.as_deref().unwrap_or("5"));
            opts.set("row-mt", "1");
            if settings.bitrate.is_none() {
                opts.set("crf", &settings.crf.unwrap_or(32).to_string());
                opts.set("b", "0");
            }
        }
        VideoCodec::Av1 => {
            opts.set("preset", preset.as_deref().unwrap_or("10"));
            if settings.bitrate.is_none() {
                opts.set("crf", &settings.crf.unwrap_or(35).to_string());
            }
        }
        VideoCodec::ProRes => {
            opts.set("profile", preset.as_deref().unwrap_or("standard"));
        }
    }
    opts
}

impl VideoSink {
    /// Opens the job's temporary output with the video encoder (and audio track) its
    /// options ask for, and writes the header.
    pub fn open(job: &crate::job::RenderJob) -> Result<Self, RenderError> {
        let opts = job.opts;
        let spec = SinkSpec {
            container: job.container,
            codec: opts.codec,
            size: opts.size,
            fps: job.plan.fps_rational,
            settings: &opts.encoder,
        };
        let mut sink = Self::create(job.temp, &spec)?;
        sink.audio = super::audio::write_header_with_audio(&mut sink.output, job)?;
        sink.header_written();
        Ok(sink)
    }

    /// A video-only output at `path` (a clip made from raw frames), header written.
    pub fn open_video_only(path: &Path, spec: &SinkSpec) -> Result<Self, RenderError> {
        let mut sink = Self::create(path, spec)?;
        spec.container.write_header(&mut sink.output)?;
        sink.header_written();
        Ok(sink)
    }

    /// The muxer may change the stream's time base when it writes the header.
    fn header_written(&mut self) {
        if let Some(stream) = self.output.stream(self.stream) {
            self.stream_tb = stream.time_base();
        }
    }

    /// The output container with its video stream, before the header.
    fn create(path: &Path, spec: &SinkSpec) -> Result<Self, RenderError> {
        let SinkSpec {
            container,
            codec,
            size,
            fps,
            settings,
        } = *spec;
        let fail = |what: &'static str| move |e: ff::Error| RenderError::ffmpeg(what, e);
        let mut output = ff::format::output_as(&path, container.muxer())
            .map_err(fail("cannot create the output"))?;
        let global_header = output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let ff_codec = ff::encoder::find_by_name(codec.encoder_name()).ok_or_else(|| {
            RenderError::Usage(format!(
                "this FFmpeg build has no {} encoder",
                codec.encoder_name()
            ))
        })?;
        let pix_name = settings
            .pix_fmt
            .as_deref()
            .unwrap_or(codec.default_pix_fmt());
        let pix: Pixel = pix_name
            .parse()
            .map_err(|_| RenderError::Usage(format!("unknown pixel format `{pix_name}`")))?;
        let encoder_tb = ff::Rational::new(fps.den() as i32, fps.num() as i32);
        let mut context = ff::codec::Context::new_with_codec(ff_codec);
        context.set_threading(threading::Config {
            kind: threading::Type::Frame,
            count: settings.threads,
            ..Default::default()
        });
        let mut enc = context.encoder().video().map_err(fail("encoder"))?;
        enc.set_width(size.0);
        enc.set_height(size.1);
        enc.set_format(pix);
        enc.set_time_base(encoder_tb);
        enc.set_frame_rate(Some(ff::Rational::new(fps.num() as i32, fps.den() as i32)));
        if let Some(gop) = settings.gop {
            enc.set_gop(gop);
        }
        if let Some(bitrate) = settings.bitrate {
            enc.set_bit_rate(bitrate as usize);
        }
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc.open_with(options_for(codec, settings)).map_err(|e| {
            RenderError::Usage(format!(
                "{} cannot encode {pix_name} at {}x{}: {e}",
                codec.encoder_name(),
                size.0,
                size.1
            ))
        })?;
        let mut stream = output
            .add_stream(ff_codec)
            .map_err(fail("cannot add the video stream"))?;
        stream.set_parameters(&encoder);
        // SAFETY: the stream's codec parameters are valid; a zero tag lets the muxer choose.
        unsafe { (*stream.parameters().as_mut_ptr()).codec_tag = container.codec_tag(codec) };
        stream.set_time_base(encoder_tb);
        stream.set_avg_frame_rate(ff::Rational::new(fps.num() as i32, fps.den() as i32));
        let stream_index = stream.index();
        let convert = if pix == Pixel::YUV420P {
            None
        } else {
            let scaler = ff::software::scaling::Context::get(
                Pixel::YUV420P,
                size.0,
                size.1,
                pix,
                size.0,
                size.1,
                ff::software::scaling::Flags::BICUBIC,
            )
            .map_err(fail("pixel format conversion"))?;
            Some((scaler, Video::new(pix, size.0, size.1)))
        };
        Ok(VideoSink {
            output,
            encoder,
            stream: stream_index,
            encoder_tb,
            stream_tb: encoder_tb,
            convert,
            audio: None,
            fps,
            keyframes: settings.keyframes,
            packet: Packet::empty(),
            packets: 0,
        })
    }
}

impl VideoSink {
    /// Encodes output frame number `index`. The frame's own picture type is cleared:
    /// a decoder's keyframe flag must not force keyframes in the output.
    pub fn write(&mut self, frame: &mut Video, index: u64) -> Result<(), RenderError> {
        let fail = |e| RenderError::ffmpeg("encode", e);
        let source = match self.convert.as_mut() {
            Some((scaler, converted)) => {
                // A frame-threaded encoder (prores_ks) may still hold the last
                // converted picture: writing into it would change a frame not yet
                // encoded. A buffer still referenced is swapped for a new one.
                super::frames::make_writable(converted).map_err(fail)?;
                scaler.run(frame, converted).map_err(fail)?;
                converted
            }
            None => frame,
        };
        source.set_pts(Some(index as i64));
        let forced = self.keyframes.is_some_and(|k| k.is_idr(index));
        source.set_kind(if forced {
            ff::picture::Type::I
        } else {
            ff::picture::Type::None
        });
        self.encoder.send_frame(source).map_err(fail)?;
        self.drain()?;
        if let Some(track) = self.audio.as_mut() {
            // Audio up to the end of this frame, so the two streams stay interleaved.
            track.advance_to(
                &mut self.output,
                (index + 1) * self.fps.den(),
                self.fps.num(),
            )?;
        }
        Ok(())
    }

    /// Flushes the encoder and finishes the file.
    pub fn finish(mut self) -> Result<u64, RenderError> {
        self.encoder
            .send_eof()
            .map_err(|e| RenderError::ffmpeg("encode", e))?;
        self.drain()?;
        if let Some(track) = self.audio.as_mut() {
            track.finish(&mut self.output)?;
        }
        self.output
            .write_trailer()
            .map_err(|e| RenderError::ffmpeg("cannot finish the output", e))?;
        Ok(self.packets)
    }

    fn drain(&mut self) -> Result<(), RenderError> {
        loop {
            match self.encoder.receive_packet(&mut self.packet) {
                Ok(()) => {
                    if self.packet.duration() <= 0 {
                        self.packet.set_duration(1);
                    }
                    self.packet.set_stream(self.stream);
                    self.packet.rescale_ts(self.encoder_tb, self.stream_tb);
                    self.packet
                        .write_interleaved(&mut self.output)
                        .map_err(|e| RenderError::ffmpeg("cannot write to the output", e))?;
                    self.packets += 1;
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(())
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(RenderError::ffmpeg("encode", e)),
            }
        }
    }
}
