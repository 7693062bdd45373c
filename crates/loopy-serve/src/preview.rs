//! The low-latency preview's fan-out: the producer hands over one fMP4 fragment per
//! frame; every player (WebSocket or chunked HTTP) gets the init segment, the
//! fragments since the latest IDR frame (so it can start decoding at once), then each
//! new fragment as it is made. A player that falls a whole queue behind is dropped
//! (it reconnects), so a slow one never holds the stream or memory back.

use axum::body::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::{Stream, StreamExt};

/// Fragments a player may be behind before it is dropped (seconds of video).
const QUEUE: usize = 240;
/// Fragments kept for players joining mid-GOP; a longer GOP is not kept whole (its
/// joiners wait for the next IDR frame).
const BACKLOG: usize = 600;

/// One frame's fragment (`moof` + `mdat`), and whether it starts a GOP.
#[derive(Clone)]
pub struct Fragment {
    pub bytes: Bytes,
    pub key: bool,
}

pub struct PreviewHub {
    init: RwLock<Bytes>,
    /// Fragments from the latest IDR frame on (empty when that GOP outgrew BACKLOG).
    backlog: Mutex<Vec<Bytes>>,
    sender: broadcast::Sender<Fragment>,
    /// Gauge: players connected.
    pub clients: AtomicU64,
    pub bytes_sent: AtomicU64,
}

impl Default for PreviewHub {
    fn default() -> Self {
        PreviewHub {
            init: RwLock::new(Bytes::new()),
            backlog: Mutex::new(Vec::new()),
            sender: broadcast::channel(QUEUE).0,
            clients: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
        }
    }
}

impl PreviewHub {
    pub fn set_init(&self, init: &[u8]) {
        if let Ok(mut slot) = self.init.write() {
            *slot = Bytes::copy_from_slice(init);
        }
    }

    /// Hands one frame's fragment to every player.
    pub fn publish(&self, fragment: Vec<u8>, key: bool) {
        let bytes = Bytes::from(fragment);
        // Under the backlog's lock, so that a player subscribing meanwhile gets each
        // fragment exactly once: in its backlog or from the channel.
        let Ok(mut backlog) = self.backlog.lock() else {
            return;
        };
        if key {
            backlog.clear();
        }
        if backlog.len() < BACKLOG && (key || !backlog.is_empty()) {
            backlog.push(bytes.clone());
        } else {
            backlog.clear();
        }
        // Nobody watching is fine.
        let _ = self.sender.send(Fragment { bytes, key });
    }

    /// What a new player gets: the init segment, the GOP so far, then live fragments
    /// until it falls behind or the stream ends. `None` before the stream started.
    pub fn subscribe(&self) -> Option<impl Stream<Item = Bytes> + Send + 'static> {
        let init = self.init.read().ok()?.clone();
        if init.is_empty() {
            return None;
        }
        let backlog = self.backlog.lock().ok()?;
        let receiver = self.sender.subscribe();
        let mut waiting_for_key = backlog.is_empty();
        let start: Vec<Bytes> = std::iter::once(init)
            .chain(backlog.iter().cloned())
            .collect();
        drop(backlog);
        let live = BroadcastStream::new(receiver)
            .map_while(Result::ok)
            .filter_map(move |fragment| {
                waiting_for_key &= !fragment.key;
                (!waiting_for_key).then_some(fragment.bytes)
            });
        Some(tokio_stream::iter(start).chain(live))
    }

    pub fn count_sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}
