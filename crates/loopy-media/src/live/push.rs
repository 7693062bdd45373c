//! `--push URL`: the live stream (video, and its sound when it has some) sent to an
//! RTMP or SRT receiver (OBS, a CDN ingest, `ffmpeg -listen 1`) by FFmpeg's own
//! protocols, no child process.
//!
//! The producer offers every packet, already on the stream's clock, to a bounded
//! queue; a thread of its own writes them in real time (packet by packet, when the
//! wall clock reaches them) to one muxer per connection: FLV for `rtmp://`, MPEG-TS
//! for `srt://` and the rest. When the receiver goes away the thread reconnects with
//! backoff (1 s doubling to 30 s) and resumes at the next IDR frame; while it is away,
//! packets are dropped at the queue, so the stream itself never waits for it.

use super::muxer::add_copied_stream;
use crate::error::RenderError;
use ffmpeg_next as ff;
use loopy_core::Rational;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Packets the queue holds (a few seconds of video): enough to ride out a slow write.
const QUEUE: usize = 512;
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the push did, for metrics.
#[derive(Default)]
pub struct PushStats {
    pub connected: AtomicBool,
    pub connections: AtomicU64,
    pub failures: AtomicU64,
    pub packets: AtomicU64,
    pub dropped: AtomicU64,
}

pub struct Pusher {
    queue: SyncSender<ff::Packet>,
    /// Set when a packet was dropped: the writer waits for the next IDR frame.
    resync: Arc<AtomicBool>,
    pub stats: Arc<PushStats>,
    thread: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// Where a packet is due: frame index `frame` of a stream that started at `origin`
/// with frame `first_frame`.
#[derive(Clone, Copy)]
pub struct Clock {
    pub origin: Instant,
    pub first_frame: u64,
    pub fps: Rational,
}

impl Clock {
    pub fn due(&self, frame: u64) -> Instant {
        let seconds = frame.saturating_sub(self.first_frame) as f64 / self.fps.as_f64();
        self.origin + Duration::from_secs_f64(seconds)
    }

    /// When the media time `seconds` (on the stream's clock) is due.
    fn due_at(&self, seconds: f64) -> Instant {
        let first = self.first_frame as f64 / self.fps.as_f64();
        self.origin + Duration::from_secs_f64((seconds - first).max(0.0))
    }
}

/// The sound's codec parameters and time base, when the stream has sound.
pub type AudioStream = (ff::codec::Parameters, ff::Rational);

impl Pusher {
    /// Starts pushing to `url` video with codec `params` (and sound, when `audio`);
    /// video packets offered must carry their output frame index as timestamps,
    /// sound packets their time in the sound's time base.
    pub fn start(
        url: String,
        params: ff::codec::Parameters,
        audio: Option<AudioStream>,
        clock: Clock,
    ) -> Pusher {
        let (queue, packets) = sync_channel(QUEUE);
        let stats = Arc::new(PushStats::default());
        let resync = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            url,
            params,
            audio,
            clock,
            packets,
            stats: Arc::clone(&stats),
            resync: Arc::clone(&resync),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::Builder::new()
            .name("loopy-push".into())
            .spawn(move || writer.run())
            .ok();
        Pusher {
            queue,
            resync,
            stats,
            thread,
            stop,
        }
    }

    /// Offers a video packet; never waits. A full queue (receiver away or slow)
    /// drops it.
    pub fn offer(&self, packet: &ff::Packet) {
        self.enqueue(packet.clone());
    }

    /// Offers a sound packet, like [`Pusher::offer`].
    pub fn offer_audio(&self, packet: &ff::Packet) {
        let mut packet = packet.clone();
        packet.set_stream(1);
        self.enqueue(packet);
    }

    fn enqueue(&self, packet: ff::Packet) {
        match self.queue.try_send(packet) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                self.resync.store(true, Ordering::Relaxed);
            }
        }
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Writer {
    url: String,
    params: ff::codec::Parameters,
    audio: Option<AudioStream>,
    clock: Clock,
    packets: Receiver<ff::Packet>,
    stats: Arc<PushStats>,
    resync: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

// SAFETY: the codec parameters are only read, by this one thread.
unsafe impl Send for Writer {}

impl Writer {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn run(self) {
        let mut backoff = Duration::from_secs(1);
        while !self.stopped() {
            let connected_at = Instant::now();
            match self.connect() {
                Ok(mut output) => {
                    self.stats.connected.store(true, Ordering::Relaxed);
                    self.stats.connections.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("push {}: connected", self.url);
                    let ended = self.send(&mut output);
                    self.stats.connected.store(false, Ordering::Relaxed);
                    if self.stopped() {
                        let _ = output.write_trailer();
                        return;
                    }
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("push {}: {ended}; reconnecting", self.url);
                }
                Err(e) => {
                    self.stats.failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "push {}: {e}; retrying in {} s",
                        self.url,
                        backoff.as_secs()
                    );
                }
            }
            // A connection that held for a while starts the backoff afresh.
            if connected_at.elapsed() > Duration::from_secs(10) {
                backoff = Duration::from_secs(1);
            }
            self.resync.store(true, Ordering::Relaxed);
            let deadline = Instant::now() + backoff;
            while !self.stopped() && Instant::now() < deadline {
                // Keep the queue moving while away: what it holds would be stale.
                let _ = self.packets.recv_timeout(Duration::from_millis(100));
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn connect(&self) -> Result<ff::format::context::Output, RenderError> {
        let fail = |e: ff::Error| RenderError::Ffmpeg(format!("cannot connect: {e}"));
        let format = if self.url.starts_with("rtmp") {
            "flv"
        } else {
            "mpegts"
        };
        let mut options = ff::Dictionary::new();
        // Give up on a receiver that stops reading, instead of blocking forever.
        options.set("rw_timeout", "5000000");
        let mut output = ff::format::output_as_with(&self.url, format, options).map_err(fail)?;
        add_copied_stream(&mut output, self.params.clone(), None).map_err(fail)?;
        if let Some((params, time_base)) = &self.audio {
            add_copied_stream(&mut output, params.clone(), Some(*time_base)).map_err(fail)?;
        }
        output.write_header().map_err(fail)?;
        Ok(output)
    }

    /// Writes packets as they fall due until the connection fails or the stream stops.
    fn send(&self, output: &mut ff::format::context::Output) -> String {
        let frame_tb = ff::Rational::new(self.clock.fps.den() as i32, self.clock.fps.num() as i32);
        let stream_tb = output.stream(0).map_or(frame_tb, |s| s.time_base());
        let audio_tb = self.audio.as_ref().map_or(frame_tb, |(_, tb)| *tb);
        let audio_out_tb = output.stream(1).map_or(audio_tb, |s| s.time_base());
        loop {
            if self.stopped() {
                return "stopped".into();
            }
            let mut packet = match self.packets.recv_timeout(Duration::from_millis(200)) {
                Ok(packet) => packet,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return "the stream ended".into(),
            };
            let sound = packet.stream() == 1;
            if self.resync.load(Ordering::Relaxed) {
                // A connection starts on an IDR frame; sound before it is dropped.
                if sound || !packet.is_key() {
                    continue;
                }
                self.resync.store(false, Ordering::Relaxed);
            }
            let pts = packet.pts().unwrap_or(0).max(0);
            let due = if sound {
                self.clock.due_at(
                    pts as f64 * f64::from(audio_tb.numerator())
                        / f64::from(audio_tb.denominator()),
                )
            } else {
                self.clock.due(pts as u64)
            };
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if sound {
                packet.rescale_ts(audio_tb, audio_out_tb);
            } else {
                packet.rescale_ts(frame_tb, stream_tb);
                packet.set_stream(0);
            }
            if let Err(e) = packet.write_interleaved(output) {
                return format!("the receiver went away ({e})");
            }
            self.stats.packets.fetch_add(1, Ordering::Relaxed);
        }
    }
}
