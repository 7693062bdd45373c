//! What the producer thread and the HTTP handlers share: the HLS window, the status
//! the API reports, the counters `/metrics` exposes, and the command channel.

use crate::hls::Window;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};
use tokio_stream::wrappers::WatchStream;
use tokio_stream::{Stream, StreamExt};

/// A clip as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClipRef {
    pub index: usize,
    pub name: String,
    pub tags: Vec<String>,
}

/// The status `GET /api/state` returns (uptime and media time are added on read).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Status {
    pub now_playing: Option<ClipRef>,
    /// Media time (seconds) at which the current clip's cross-fade in began.
    pub now_playing_since: f64,
    /// Clips queued by hand, in the order they will play.
    pub queued: Vec<ClipRef>,
    pub signals: Vec<loopy_core::spec::Signal>,
    /// Clips played so far, most recent last (at most 20).
    pub history: Vec<ClipRef>,
    pub clips: usize,
    pub profile_id: String,
}

/// Counters for `/metrics`; all monotonic except the gauges noted.
#[derive(Default)]
pub struct Counters {
    pub segments: AtomicU64,
    pub transitions_encoded: AtomicU64,
    pub transitions_cached: AtomicU64,
    pub cuts: AtomicU64,
    /// Microseconds spent encoding transitions.
    pub encode_micros: AtomicU64,
    pub requests: AtomicU64,
    pub segment_requests: AtomicU64,
    pub playlist_requests: AtomicU64,
    pub bytes_served: AtomicU64,
    pub errors: AtomicU64,
    pub clip_failures: AtomicU64,
    /// Cache entries (conformed clips, cross-fades) that failed their check when the
    /// stream was about to play them; each is made again.
    pub cache_damaged: AtomicU64,
    /// Gauge: how far ahead of its schedule the latest frame was made, in
    /// microseconds (about 0 when paced, below 0 when late).
    pub drift_micros: std::sync::atomic::AtomicI64,
    /// Gauge: media frames published.
    pub media_frames: AtomicU64,
    /// Gauge: bits per second of the latest segment.
    pub bitrate: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A request to the producer, answered with the media time at which it takes effect.
pub enum Command {
    SetSignals(Vec<loopy_core::spec::Signal>),
    Queue(usize),
    Cut,
    Skip,
}

pub struct Request {
    pub command: Command,
    pub reply: tokio::sync::oneshot::Sender<Result<Effect, String>>,
}

/// When a command takes effect.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Effect {
    pub media_time: f64,
    pub frame: u64,
}

pub struct Shared {
    pub window: RwLock<Window>,
    pub status: RwLock<Status>,
    pub counters: Counters,
    pub commands: Mutex<std::sync::mpsc::Sender<Request>>,
    pub started: Instant,
    pub started_wall: SystemTime,
    pub fps: loopy_core::Rational,
    pub target_duration: u64,
    /// Every clip of the library, by index (for queueing by name).
    pub library: Vec<ClipRef>,
    /// The catalog, for thumbnails (first frames decoded on first request).
    pub catalog: loopy_core::Catalog,
    pub thumbnails: Mutex<std::collections::HashMap<usize, axum::body::Bytes>>,
    /// Wall-clock instant of the latest segment, for `/healthz`.
    pub last_segment: Mutex<Option<Instant>>,
    /// What `--push` did, when it is on.
    pub push: Mutex<Option<Arc<loopy_media::live::push::PushStats>>>,
    /// The fMP4 variant's init segment (`ftyp` + `moov`), set when the stream starts.
    pub init_segment: RwLock<axum::body::Bytes>,
    /// Events for `/api/events`: (`clip`, the status as JSON) after each clip change,
    /// (`clip_failed`, what failed and why) when a clip is replaced mid-stream.
    pub events: tokio::sync::broadcast::Sender<(&'static str, String)>,
    /// When playlists were asked for in the last ten seconds (players ask once per
    /// target duration), for the viewer estimate.
    pub playlist_times: Mutex<std::collections::VecDeque<Instant>>,
    /// The low-latency preview's players.
    pub preview: crate::preview::PreviewHub,
    /// Set when the server begins to shut down: endless responses (events, preview)
    /// end then, or they would hold a graceful shutdown open forever.
    pub closing: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    /// `stream`, ended when the server begins to shut down.
    pub fn until_closing<S>(&self, stream: S) -> impl Stream<Item = S::Item> + Send + 'static
    where
        S: Stream + Send + 'static,
        S::Item: Send + 'static,
    {
        let closing = WatchStream::new(self.closing.subscribe())
            .filter(|closing| *closing)
            .map(|_| None);
        stream.map(Some).merge(closing).map_while(|item| item)
    }
}
