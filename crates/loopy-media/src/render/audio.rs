//! `--audio FILE`: one audio track beside the video, looped or cut to the video's
//! length, encoded as AAC (mp4, mov) or Opus (mkv, webm). Audio is produced in step
//! with the video frames so the muxer never has to buffer one stream for the other.

use super::output_spec::Container;
use crate::error::RenderError;
use ff::format::Sample;
use ff::frame::Audio;
use ff::{ChannelLayout, Packet};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// Decodes the source file, starting over at its end.
struct LoopingSource {
    path: PathBuf,
    input: ff::format::context::Input,
    decoder: ff::decoder::Audio,
    stream: usize,
    /// Samples decoded in the current pass: a pass with none means the file is silent.
    pass_samples: u64,
}

impl LoopingSource {
    fn open(path: &Path) -> Result<Self, RenderError> {
        let bad =
            |reason: String| RenderError::Usage(format!("--audio {}: {reason}", path.display()));
        std::fs::File::open(path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let input = ff::format::input(&path).map_err(|e| bad(format!("cannot open: {e}")))?;
        let stream = input
            .streams()
            .best(ff::media::Type::Audio)
            .ok_or_else(|| bad("no audio stream".into()))?;
        let index = stream.index();
        let decoder = ff::codec::Context::from_parameters(stream.parameters())
            .and_then(|c| c.decoder().audio())
            .map_err(|e| bad(format!("cannot decode: {e}")))?;
        Ok(LoopingSource {
            path: path.to_path_buf(),
            input,
            decoder,
            stream: index,
            pass_samples: 0,
        })
    }

    /// The next decoded frame, looping at the end of the file.
    fn next(&mut self, frame: &mut Audio) -> Result<(), RenderError> {
        loop {
            match self.decoder.receive_frame(frame) {
                Ok(()) => {
                    self.pass_samples += frame.samples() as u64;
                    return Ok(());
                }
                Err(ff::Error::Eof) => {
                    if self.pass_samples == 0 {
                        return Err(RenderError::Usage(format!(
                            "--audio {}: no audio could be decoded",
                            self.path.display()
                        )));
                    }
                    *self = LoopingSource::open(&self.path)?;
                    continue;
                }
                Err(_) => {}
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream => {
                    let _ = self.decoder.send_packet(&packet);
                }
                Ok(()) | Err(ff::Error::InvalidData) => {}
                Err(_) => {
                    let _ = self.decoder.send_eof();
                }
            }
        }
    }
}

/// Adds the audio track (when there is one) and writes the container header: the
/// stream must exist before the header, and its time base is final only after it.
/// `frames` at `fps` is the video's length, which the track is looped or cut to.
pub fn write_header_with_audio(
    output: &mut ff::format::context::Output,
    container: Container,
    audio: Option<&Path>,
    frames: u64,
    fps: loopy_core::Rational,
) -> Result<Option<AudioTrack>, RenderError> {
    let mut track = match audio {
        Some(path) => Some(AudioTrack::open(
            path,
            output,
            container,
            (frames * fps.den(), fps.num()),
        )?),
        None => None,
    };
    container.write_header(output)?;
    if let Some(track) = track.as_mut() {
        track.header_written(output);
    }
    Ok(track)
}

/// The audio stream of the output.
pub struct AudioTrack {
    source: LoopingSource,
    resampler: Option<(
        ff::software::resampling::Context,
        (Sample, ChannelLayout, u32),
    )>,
    encoder: ff::encoder::audio::Encoder,
    stream: usize,
    encoder_tb: ff::Rational,
    stream_tb: ff::Rational,
    format: Sample,
    layout: ChannelLayout,
    rate: u32,
    frame_size: usize,
    /// Resampled samples waiting to fill an encoder frame, planar f32 per channel.
    pending: Vec<Vec<f32>>,
    /// Samples handed to the encoder so far.
    sent: u64,
    /// The video's length in samples: the track is cut there.
    total: u64,
    packet: Packet,
}

impl AudioTrack {
    /// Adds the audio stream to `output` (before its header is written).
    pub fn open(
        path: &Path,
        output: &mut ff::format::context::Output,
        container: Container,
        duration: (u64, u64),
    ) -> Result<Self, RenderError> {
        let source = LoopingSource::open(path)?;
        let channels = source.decoder.channels().clamp(1, 2);
        let layout = ChannelLayout::default(channels as i32);
        let (codec_name, format) = match container.audio_encoder() {
            "aac" => ("aac", Sample::F32(ff::format::sample::Type::Planar)),
            other => (other, Sample::F32(ff::format::sample::Type::Packed)),
        };
        let rate = if codec_name == "libopus" {
            48_000
        } else {
            match source.decoder.rate() {
                r @ (8_000 | 16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000) => r,
                _ => 48_000,
            }
        };
        let codec = ff::encoder::find_by_name(codec_name).ok_or_else(|| {
            RenderError::Usage(format!("this FFmpeg build has no {codec_name} encoder"))
        })?;
        let global_header = output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let mut enc = ff::codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(|e| RenderError::ffmpeg("audio encoder", e))?;
        enc.set_rate(rate as i32);
        enc.set_format(format);
        enc.set_channel_layout(layout);
        enc.set_channels(channels as i32);
        enc.set_bit_rate(if channels == 1 { 96_000 } else { 160_000 });
        let encoder_tb = ff::Rational::new(1, rate as i32);
        enc.set_time_base(encoder_tb);
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc
            .open_as(codec)
            .map_err(|e| RenderError::ffmpeg("audio encoder", e))?;
        let mut stream = output
            .add_stream(codec)
            .map_err(|e| RenderError::ffmpeg("audio stream", e))?;
        stream.set_parameters(&encoder);
        stream.set_time_base(encoder_tb);
        let index = stream.index();
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        let total = (duration.0 as u128 * rate as u128 / duration.1 as u128) as u64;
        Ok(AudioTrack {
            source,
            resampler: None,
            encoder,
            stream: index,
            encoder_tb,
            stream_tb: encoder_tb,
            format,
            layout,
            rate,
            frame_size,
            pending: vec![Vec::new(); channels as usize],
            sent: 0,
            total,
            packet: Packet::empty(),
        })
    }

    /// Reads the stream's time base once the header is written (muxers may change it).
    fn header_written(&mut self, output: &ff::format::context::Output) {
        if let Some(s) = output.stream(self.stream) {
            self.stream_tb = s.time_base();
        }
    }

    /// Encodes audio up to `seconds = num / den` of output (never past the video's end).
    pub fn advance_to(
        &mut self,
        output: &mut ff::format::context::Output,
        num: u64,
        den: u64,
    ) -> Result<(), RenderError> {
        let target = ((num as u128 * self.rate as u128 / den as u128) as u64).min(self.total);
        while self.sent + (self.frame_size as u64) <= target {
            self.fill(self.frame_size)?;
            self.send_frame(self.frame_size, output)?;
        }
        Ok(())
    }

    /// Encodes the rest of the track (a last partial frame included) and flushes.
    pub fn finish(&mut self, output: &mut ff::format::context::Output) -> Result<(), RenderError> {
        self.advance_to(output, self.total, self.rate as u64)?;
        let rest = (self.total - self.sent) as usize;
        if rest > 0 {
            self.fill(rest)?;
            self.send_frame(rest, output)?;
        }
        self.encoder
            .send_eof()
            .map_err(|e| RenderError::ffmpeg("audio encode", e))?;
        self.drain(output)
    }

    /// Decodes and resamples until `count` samples are pending.
    fn fill(&mut self, count: usize) -> Result<(), RenderError> {
        let fail = |e| RenderError::ffmpeg("audio", e);
        let mut decoded = Audio::empty();
        while self.pending[0].len() < count {
            self.source.next(&mut decoded)?;
            let src_layout = match decoded.channel_layout() {
                l if l.is_empty() => ChannelLayout::default(decoded.channels() as i32),
                l => l,
            };
            let key = (decoded.format(), src_layout, decoded.rate());
            if self.resampler.as_ref().map(|r| r.1) != Some(key) {
                let planar = Sample::F32(ff::format::sample::Type::Planar);
                let ctx = ff::software::resampling::Context::get(
                    key.0,
                    key.1,
                    key.2,
                    planar,
                    self.layout,
                    self.rate,
                )
                .map_err(fail)?;
                self.resampler = Some((ctx, key));
            }
            decoded.set_channel_layout(src_layout);
            let capacity = decoded.samples() * self.rate as usize / key.2.max(1) as usize + 64;
            let mut converted = Audio::new(
                Sample::F32(ff::format::sample::Type::Planar),
                capacity,
                self.layout,
            );
            if let Some((ctx, _)) = self.resampler.as_mut() {
                ctx.run(&decoded, &mut converted).map_err(fail)?;
            }
            for (c, pending) in self.pending.iter_mut().enumerate() {
                pending.extend_from_slice(&converted.plane::<f32>(c)[..converted.samples()]);
            }
        }
        Ok(())
    }

    fn send_frame(
        &mut self,
        count: usize,
        output: &mut ff::format::context::Output,
    ) -> Result<(), RenderError> {
        let channels = self.pending.len();
        let mut frame = Audio::new(self.format, count, self.layout);
        if self.format.is_planar() {
            for c in 0..channels {
                frame.plane_mut::<f32>(c)[..count].copy_from_slice(&self.pending[c][..count]);
            }
        } else {
            let data = frame.plane_mut::<f32>(0);
            for i in 0..count {
                for c in 0..channels {
                    data[i * channels + c] = self.pending[c][i];
                }
            }
        }
        for pending in &mut self.pending {
            pending.drain(..count);
        }
        frame.set_rate(self.rate);
        frame.set_pts(Some(self.sent as i64));
        self.sent += count as u64;
        self.encoder
            .send_frame(&frame)
            .map_err(|e| RenderError::ffmpeg("audio encode", e))?;
        self.drain(output)
    }

    fn drain(&mut self, output: &mut ff::format::context::Output) -> Result<(), RenderError> {
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            self.packet.set_stream(self.stream);
            self.packet.rescale_ts(self.encoder_tb, self.stream_tb);
            self.packet
                .write_interleaved(output)
                .map_err(|e| RenderError::ffmpeg("cannot write audio", e))?;
        }
        Ok(())
    }
}
