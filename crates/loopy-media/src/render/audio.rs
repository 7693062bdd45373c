//! The output's sound: `--audio FILE` (looped or cut to the video's length) or
//! `--audio clips` (each clip's own sound where its picture is, cross-faded with the
//! picture, silence for clips without sound), encoded as AAC (mp4, mov) or Opus (mkv,
//! webm). Audio is produced in step with the video frames so the muxer never has to
//! buffer one stream for the other.

use super::output_spec::Container;
use crate::error::RenderError;
use crate::job::AudioSource;
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

/// Adds the job's audio track (when it has one) and writes the container header: the
/// stream must exist before the header, and its time base is final only after it.
/// The track lasts exactly as long as the video.
pub fn write_header_with_audio(
    output: &mut ff::format::context::Output,
    job: &crate::job::RenderJob,
) -> Result<Option<AudioTrack>, RenderError> {
    let fps = job.plan.fps_rational;
    let duration = (job.total_frames() * fps.den(), fps.num());
    let container = job.container;
    let mut track = match &job.opts.audio {
        Some(AudioSource::File(path)) => {
            let source = LoopingSource::open(path)?;
            let channels = source.decoder.channels();
            if channels > 2 {
                tracing::warn!(
                    "--audio {}: {channels} channels are mixed down to stereo",
                    path.display()
                );
            }
            let rate = source.decoder.rate();
            Some(AudioTrack::open(
                Source::File(source),
                channels.clamp(1, 2),
                rate,
                output,
                container,
                duration,
            )?)
        }
        Some(AudioSource::Clips) => Some(AudioTrack::open(
            Source::Clips(ClipSound::new(job)),
            2,
            48_000,
            output,
            container,
            duration,
        )?),
        None => None,
    };
    container.write_header(output)?;
    if let Some(track) = track.as_mut() {
        track.header_written(output);
    }
    Ok(track)
}

/// Where a track's samples come from.
enum Source {
    File(LoopingSource),
    Clips(ClipSound),
}

/// Where encoded audio packets go: written to an output, or handed to a live stream.
type Emit<'a> = &'a mut dyn FnMut(&mut Packet) -> Result<(), RenderError>;

/// Sound from a source, resampled and encoded frame by frame; packets carry their
/// time in samples (time base 1 / rate). Shared by finite renders and live streams.
struct AudioEncoding {
    source: Source,
    resampler: Resampler,
    encoder: ff::encoder::audio::Encoder,
    encoder_tb: ff::Rational,
    format: Sample,
    layout: ChannelLayout,
    rate: u32,
    frame_size: usize,
    /// Resampled samples waiting to fill an encoder frame, planar f32 per channel.
    pending: Vec<Vec<f32>>,
    /// Samples handed to the encoder so far.
    sent: u64,
    /// Added to every timestamp (a restarted live stream goes on where it stopped).
    offset: u64,
    packet: Packet,
}

impl AudioEncoding {
    /// An encoder (`codec_name`) for `channels` (1 or 2) at a rate near `source_rate`;
    /// `global_header` when the container wants codec headers out of band.
    fn new(
        source: Source,
        channels: u16,
        source_rate: u32,
        codec_name: &str,
        global_header: bool,
    ) -> Result<Self, RenderError> {
        let layout = ChannelLayout::default(channels as i32);
        let format = match codec_name {
            "aac" => Sample::F32(ff::format::sample::Type::Planar),
            _ => Sample::F32(ff::format::sample::Type::Packed),
        };
        let rate = if codec_name == "libopus" {
            48_000
        } else {
            match source_rate {
                r @ (8_000 | 16_000 | 22_050 | 24_000 | 32_000 | 44_100 | 48_000) => r,
                _ => 48_000,
            }
        };
        let codec = ff::encoder::find_by_name(codec_name).ok_or_else(|| {
            RenderError::Usage(format!("this FFmpeg build has no {codec_name} encoder"))
        })?;
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
        let frame_size = match encoder.frame_size() {
            0 => 1024,
            n => n as usize,
        };
        Ok(AudioEncoding {
            source,
            resampler: None,
            encoder,
            encoder_tb,
            format,
            layout,
            rate,
            frame_size,
            pending: vec![Vec::new(); channels as usize],
            sent: 0,
            offset: 0,
            packet: Packet::empty(),
        })
    }

    /// Encodes whole frames up to `target` samples.
    fn advance(&mut self, target: u64, emit: Emit) -> Result<(), RenderError> {
        while self.sent + (self.frame_size as u64) <= target {
            self.fill(self.frame_size)?;
            self.send_frame(self.frame_size, emit)?;
        }
        Ok(())
    }

    /// Encodes up to `total` samples (a last partial frame included) and flushes.
    fn finish(&mut self, total: u64, emit: Emit) -> Result<(), RenderError> {
        self.advance(total, emit)?;
        let rest = total.saturating_sub(self.sent) as usize;
        if rest > 0 {
            self.fill(rest)?;
            self.send_frame(rest, emit)?;
        }
        self.encoder
            .send_eof()
            .map_err(|e| RenderError::ffmpeg("audio encode", e))?;
        self.drain(emit)
    }

    /// Decodes and resamples until `count` samples are pending.
    fn fill(&mut self, count: usize) -> Result<(), RenderError> {
        let file = match &mut self.source {
            Source::Clips(clips) => {
                let missing = count.saturating_sub(self.pending[0].len());
                return clips.mix_into(&mut self.pending, missing, self.rate, self.layout);
            }
            Source::File(file) => file,
        };
        let fail = |e| RenderError::ffmpeg("audio", e);
        let mut decoded = Audio::empty();
        while self.pending[0].len() < count {
            file.next(&mut decoded)?;
            let src_layout = match decoded.channel_layout() {
                l if l.is_empty() => ChannelLayout::default(decoded.channels() as i32),
                l => l,
            };
            decoded.set_channel_layout(src_layout);
            let converted =
                resample(&mut self.resampler, &decoded, self.rate, self.layout).map_err(fail)?;
            for (c, pending) in self.pending.iter_mut().enumerate() {
                pending.extend_from_slice(&converted.plane::<f32>(c)[..converted.samples()]);
            }
        }
        Ok(())
    }

    fn send_frame(&mut self, count: usize, emit: Emit) -> Result<(), RenderError> {
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
        frame.set_pts(Some((self.offset + self.sent) as i64));
        self.sent += count as u64;
        self.encoder
            .send_frame(&frame)
            .map_err(|e| RenderError::ffmpeg("audio encode", e))?;
        self.drain(emit)
    }

    fn drain(&mut self, emit: Emit) -> Result<(), RenderError> {
        while self.encoder.receive_packet(&mut self.packet).is_ok() {
            emit(&mut self.packet)?;
        }
        Ok(())
    }
}

/// The audio stream of the output.
pub struct AudioTrack {
    encoding: AudioEncoding,
    stream: usize,
    stream_tb: ff::Rational,
    /// The video's length in samples: the track is cut there.
    total: u64,
}

impl AudioTrack {
    /// Adds the audio stream to `output` (before its header is written): `channels`
    /// (1 or 2) at a rate near `source_rate`, `duration` = num / den seconds long.
    fn open(
        source: Source,
        channels: u16,
        source_rate: u32,
        output: &mut ff::format::context::Output,
        container: Container,
        duration: (u64, u64),
    ) -> Result<Self, RenderError> {
        let global_header = output
            .format()
            .flags()
            .contains(ff::format::Flags::GLOBAL_HEADER);
        let codec_name = container.audio_encoder();
        let encoding =
            AudioEncoding::new(source, channels, source_rate, codec_name, global_header)?;
        let codec = ff::encoder::find_by_name(codec_name).ok_or_else(|| {
            RenderError::Usage(format!("this FFmpeg build has no {codec_name} encoder"))
        })?;
        let mut stream = output
            .add_stream(codec)
            .map_err(|e| RenderError::ffmpeg("audio stream", e))?;
        stream.set_parameters(&encoding.encoder);
        stream.set_time_base(encoding.encoder_tb);
        let index = stream.index();
        let total = (duration.0 as u128 * encoding.rate as u128 / duration.1 as u128) as u64;
        Ok(AudioTrack {
            stream_tb: encoding.encoder_tb,
            encoding,
            stream: index,
            total,
        })
    }

    /// Reads the stream's time base once the header is written (muxers may change it).
    fn header_written(&mut self, output: &ff::format::context::Output) {
        if let Some(s) = output.stream(self.stream) {
            self.stream_tb = s.time_base();
        }
    }

    /// A writer of packets into this track's stream of `output`.
    fn writer<'o>(
        stream: usize,
        tbs: (ff::Rational, ff::Rational),
        output: &'o mut ff::format::context::Output,
    ) -> impl FnMut(&mut Packet) -> Result<(), RenderError> + 'o {
        move |packet: &mut Packet| {
            packet.set_stream(stream);
            packet.rescale_ts(tbs.0, tbs.1);
            packet
                .write_interleaved(output)
                .map_err(|e| RenderError::ffmpeg("cannot write audio", e))
        }
    }

    /// Encodes audio up to `seconds = num / den` of output (never past the video's end).
    pub fn advance_to(
        &mut self,
        output: &mut ff::format::context::Output,
        num: u64,
        den: u64,
    ) -> Result<(), RenderError> {
        let rate = self.encoding.rate;
        let target = ((num as u128 * rate as u128 / den as u128) as u64).min(self.total);
        let tbs = (self.encoding.encoder_tb, self.stream_tb);
        let mut write = Self::writer(self.stream, tbs, output);
        self.encoding.advance(target, &mut write)
    }

    /// Encodes the rest of the track (a last partial frame included) and flushes.
    pub fn finish(&mut self, output: &mut ff::format::context::Output) -> Result<(), RenderError> {
        let tbs = (self.encoding.encoder_tb, self.stream_tb);
        let mut write = Self::writer(self.stream, tbs, output);
        self.encoding.finish(self.total, &mut write)
    }
}

/// `loopy serve --audio FILE`: the file looped for as long as the stream runs, as AAC
/// packets with timestamps in samples from the stream's start (`offset_seconds` on a
/// restart), handed out up to the video's time so the two never drift apart.
pub struct LiveAudio {
    encoding: AudioEncoding,
}

impl LiveAudio {
    /// Opens `path` (its channels mixed down to stereo at most), with codec headers out
    /// of band (MP4 and FLV want them; MPEG-TS ignores them).
    pub fn open(path: &Path, offset: (u64, u64)) -> Result<Self, RenderError> {
        let source = LoopingSource::open(path)?;
        let channels = source.decoder.channels().clamp(1, 2);
        let rate = source.decoder.rate();
        let mut encoding = AudioEncoding::new(Source::File(source), channels, rate, "aac", true)?;
        encoding.offset =
            (offset.0 as u128 * encoding.rate as u128 / offset.1.max(1) as u128) as u64;
        Ok(LiveAudio { encoding })
    }

    /// The stream's codec parameters (with the AAC header) and time base.
    pub fn stream_info(&self) -> (ff::codec::Parameters, ff::Rational) {
        (
            ff::codec::Parameters::from(&self.encoding.encoder),
            self.encoding.encoder_tb,
        )
    }

    /// Encodes whole frames up to `num / den` seconds of this run, handing each packet
    /// (time base 1 / rate) to `emit`.
    pub fn advance_to(
        &mut self,
        num: u64,
        den: u64,
        emit: &mut dyn FnMut(&mut Packet) -> Result<(), RenderError>,
    ) -> Result<(), RenderError> {
        let target = (num as u128 * self.encoding.rate as u128 / den.max(1) as u128) as u64;
        // The encoder holds frames back (its look-ahead) and shifts its output by its
        // priming: feed it that much further, so the packets out reach `target`.
        self.encoding.advance(target + self.lead(), emit)
    }

    /// Samples the encoder holds back: its priming plus one frame.
    fn lead(&self) -> u64 {
        // SAFETY: reads a plain field of the open encoder's context.
        let padding = unsafe { (*self.encoding.encoder.as_ptr()).initial_padding }.max(0) as u64;
        padding + self.encoding.frame_size as u64
    }
}

/// A resampler to planar f32 at `rate` and `layout`, made anew when the input changes.
type Resampler = Option<(
    ff::software::resampling::Context,
    (Sample, ChannelLayout, u32),
)>;

/// Converts `decoded` (its channel layout set) to planar f32 at `rate` and `layout`.
fn resample(
    resampler: &mut Resampler,
    decoded: &Audio,
    rate: u32,
    layout: ChannelLayout,
) -> Result<Audio, ff::Error> {
    let key = (decoded.format(), decoded.channel_layout(), decoded.rate());
    if resampler.as_ref().map(|r| r.1) != Some(key) {
        let planar = Sample::F32(ff::format::sample::Type::Planar);
        let ctx =
            ff::software::resampling::Context::get(key.0, key.1, key.2, planar, layout, rate)?;
        *resampler = Some((ctx, key));
    }
    let capacity = decoded.samples() * rate as usize / key.2.max(1) as usize + 64;
    let mut converted = Audio::new(
        Sample::F32(ff::format::sample::Type::Planar),
        capacity,
        layout,
    );
    if let Some((ctx, _)) = resampler.as_mut() {
        ctx.run(decoded, &mut converted)?;
    }
    Ok(converted)
}

/// One entry's sound: where it starts and ends on the output (in samples), how long
/// it fades in and out, and its decoder (none when the clip has no sound, or its
/// sound ended or broke: silence then).
struct EntrySound {
    start: u64,
    end: u64,
    fade_in: u64,
    fade_out: u64,
    /// Samples of the clip's sound before the entry's in-point, still to drop.
    skip: u64,
    decoder: Option<(ff::format::context::Input, ff::decoder::Audio, usize)>,
    resampler: Resampler,
    /// Decoded, resampled samples not yet mixed, per channel.
    queue: Vec<Vec<f32>>,
    eof: bool,
}

impl EntrySound {
    fn open(path: &Path, span: (u64, u64, u64), fades: (u64, u64), channels: usize) -> Self {
        let (skip, start, end) = span;
        let decoder = ff::format::input(&path).ok().and_then(|input| {
            let stream = input.streams().best(ff::media::Type::Audio)?;
            let index = stream.index();
            let decoder = ff::codec::Context::from_parameters(stream.parameters())
                .and_then(|c| c.decoder().audio())
                .ok()?;
            Some((input, decoder, index))
        });
        EntrySound {
            start,
            end,
            fade_in: fades.0,
            fade_out: fades.1,
            skip,
            decoder,
            resampler: None,
            queue: vec![Vec::new(); channels],
            eof: false,
        }
    }

    /// Decodes until `count` samples are queued or the sound ends (then silence).
    fn ensure(&mut self, count: usize, rate: u32, layout: ChannelLayout) {
        let mut frame = Audio::empty();
        while self.queue[0].len() < count && !self.eof {
            let Some((input, decoder, index)) = self.decoder.as_mut() else {
                self.eof = true;
                break;
            };
            match decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    if frame.channel_layout().is_empty() {
                        frame.set_channel_layout(ChannelLayout::default(frame.channels() as i32));
                    }
                    match resample(&mut self.resampler, &frame, rate, layout) {
                        Ok(converted) => {
                            let samples = converted.samples();
                            let dropped = usize::try_from(self.skip)
                                .unwrap_or(usize::MAX)
                                .min(samples);
                            self.skip -= dropped as u64;
                            for (c, q) in self.queue.iter_mut().enumerate() {
                                q.extend_from_slice(&converted.plane::<f32>(c)[dropped..samples]);
                            }
                        }
                        Err(_) => self.eof = true,
                    }
                    continue;
                }
                Err(ff::Error::Eof) => {
                    self.eof = true;
                    break;
                }
                Err(_) => {}
            }
            let mut packet = Packet::empty();
            match packet.read(input) {
                Ok(()) if packet.stream() == *index => {
                    let _ = decoder.send_packet(&packet);
                }
                Ok(()) | Err(ff::Error::InvalidData) => {}
                Err(_) => {
                    if decoder.send_eof().is_err() {
                        self.eof = true;
                    }
                }
            }
        }
        for q in &mut self.queue {
            if q.len() < count {
                q.resize(count, 0.0);
            }
        }
    }

    /// The weight of this entry's sound at output sample `t`: linear fades where it
    /// overlaps its neighbours, so the two weights of a cross-fade add up to one.
    fn weight(&self, t: u64) -> f32 {
        let mut w = 1.0f32;
        if self.fade_in > 0 && t < self.start + self.fade_in {
            w = w.min(((t - self.start) as f32 + 0.5) / self.fade_in as f32);
        }
        if self.fade_out > 0 && t + self.fade_out >= self.end {
            w = w.min(((self.end - t) as f32 - 0.5) / self.fade_out as f32);
        }
        w.clamp(0.0, 1.0)
    }
}

/// Where one entry's sound goes, in output samples.
struct EntryPlace {
    path: PathBuf,
    /// (samples of the clip before the entry's in-point, first output sample, one past
    /// the last).
    span: (u64, u64, u64),
    /// Fade lengths (in, out).
    fades: (u64, u64),
}

/// `--audio clips`: the sound of each entry where its picture is. Entries are opened
/// as the output reaches them and dropped once past, so at most two are open.
pub struct ClipSound {
    entries: Vec<EntryPlace>,
    next: usize,
    active: Vec<EntrySound>,
    /// Output samples produced so far.
    cursor: u64,
}

impl ClipSound {
    fn new(job: &crate::job::RenderJob) -> Self {
        const RATE: u128 = 48_000;
        let plan = job.plan;
        let fps = plan.fps_rational;
        // The overlap of two entries, in samples.
        let overlap =
            (plan.crossfade_frames as u128 * fps.den() as u128 * RATE / fps.num() as u128) as u64;
        let mut entries = Vec::with_capacity(plan.sequence.len());
        let mut start = 0u64;
        let last = plan.sequence.len().saturating_sub(1);
        for (i, &clip) in plan.sequence.iter().enumerate() {
            let c = &plan.clips[clip];
            let samples = |frames: u64| {
                (frames as u128 * c.fps_rational.den() as u128 * RATE
                    / c.fps_rational.num() as u128) as u64
            };
            let cut = plan.entry_cut(i);
            let (skip, length) = (samples(cut.first), samples(cut.frames()));
            let fades = (
                if i > 0 { overlap } else { 0 },
                if i < last { overlap } else { 0 },
            );
            entries.push(EntryPlace {
                path: crate::job::clip_path(plan, clip),
                span: (skip, start, start + length),
                fades,
            });
            start = (start + length).saturating_sub(overlap);
        }
        ClipSound {
            entries,
            next: 0,
            active: Vec::new(),
            cursor: 0,
        }
    }

    /// Appends `count` mixed samples to `pending`.
    fn mix_into(
        &mut self,
        pending: &mut [Vec<f32>],
        count: usize,
        rate: u32,
        layout: ChannelLayout,
    ) -> Result<(), RenderError> {
        let (from, to) = (self.cursor, self.cursor + count as u64);
        while let Some(place) = self.entries.get(self.next) {
            if place.span.1 >= to {
                break;
            }
            self.active.push(EntrySound::open(
                &place.path,
                place.span,
                place.fades,
                pending.len(),
            ));
            self.next += 1;
        }
        let base = pending[0].len();
        for p in pending.iter_mut() {
            p.resize(base + count, 0.0);
        }
        for sound in &mut self.active {
            let (a, b) = (sound.start.max(from), sound.end.min(to));
            if a >= b {
                continue;
            }
            let n = (b - a) as usize;
            sound.ensure(n, rate, layout);
            let weights: Vec<f32> = (a..b).map(|t| sound.weight(t)).collect();
            let offset = base + (a - from) as usize;
            for (c, p) in pending.iter_mut().enumerate() {
                for (i, sample) in sound.queue[c].drain(..n).enumerate() {
                    p[offset + i] += sample * weights[i];
                }
            }
        }
        self.active.retain(|s| s.end > to);
        self.cursor = to;
        Ok(())
    }
}
