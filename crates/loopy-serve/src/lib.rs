//! `loopy serve`: an endless, steerable live stream.
//!
//! ```text
//! producer thread ──segments──▶ HLS window (memory) ◀── GET /live.m3u8, /segments/N.ts
//!   LiveChain (next clip)          status, counters ◀── GET /api/state, /metrics, /healthz
//!   pieces → GOPs → TS muxer   ◀── commands ◀──────────── POST /api/signals|queue|cut|skip
//! ```
//!
//! The library must be conformed for the stream's profile first (the CLI does it);
//! the producer copies clip bodies and encodes only cross-fades it has never met.

pub mod api;
pub mod hls;
pub mod metrics;
pub mod preview;
pub mod producer;
pub mod record;
pub mod resume;
pub mod state;

use loopy_core::Catalog;
use loopy_media::smart::Profile;
use state::{ClipRef, Counters, Shared, Status};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

pub use api::Access;
pub use producer::ProducerConfig;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the library is not conformed for this stream's profile (missing: {0})")]
    NotConformed(String),
    #[error(transparent)]
    Producer(#[from] producer::ProducerError),
    #[error(transparent)]
    Locked(#[from] resume::LockError),
    #[error("the HTTP server failed: {0}")]
    Http(std::io::Error),
    #[error("cannot start the producer thread: {0}")]
    Thread(std::io::Error),
    #[error("the producer thread panicked")]
    Panicked,
}

pub struct ServeConfig {
    /// The socket, bound before the library is conformed (see [`bind`]), so that a
    /// port in use is said at once.
    pub listener: std::net::TcpListener,
    pub access: Access,
    /// Segments listed in the playlist (at least 6).
    pub window: usize,
    pub producer: ProducerConfig,
}

/// Binds the address the stream will be served on.
pub fn bind(addr: SocketAddr) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr)
        .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
        .map_err(|source| ServeError::Listen { addr, source })
}

/// Segments listed by default: six, and at least three target durations.
pub const DEFAULT_WINDOW: usize = 6;

/// Longest segment in frames for `profile`: one GOP, or a cross-fade if longer.
pub fn segment_frames(profile: &Profile) -> u64 {
    profile.gop.max(profile.crossfade).max(1)
}

/// Runs the stream until `shutdown` resolves; `on_listening` hears the bound address.
pub async fn run(
    config: ServeConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let ServeConfig {
        listener,
        access,
        window,
        producer,
    } = config;
    let root = std::path::PathBuf::from(&producer.catalog.root);
    let missing = producer::missing_pieces(&producer.profile, &root, &producer.catalog);
    if !missing.is_empty() {
        return Err(ServeError::NotConformed(missing.join(", ")));
    }
    let fps = producer.profile.fps;
    let target_duration = segment_frames(&producer.profile)
        .saturating_mul(fps.den())
        .div_ceil(fps.num())
        .max(1);
    // At least six segments and three target durations in the playlist.
    let seconds_per_segment = (producer.segment_frames as f64 / fps.as_f64()).max(1e-3);
    let listed = window
        .max(DEFAULT_WINDOW)
        .max((3.0 * target_duration as f64 / seconds_per_segment).ceil() as usize);
    let _lock = resume::lock(&root)?;
    let resume = resume::load(&root).unwrap_or_default();
    if resume.runs > 0 {
        tracing::info!(
            "resuming the stream at segment {} ({:.1} s of media)",
            resume.next_sequence,
            resume.next_time_s
        );
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared {
        window: RwLock::new(hls::Window::new(
            listed,
            target_duration,
            fps,
            resume.runs.saturating_sub(1),
        )),
        status: RwLock::new(Status {
            clips: producer.catalog.clips.len(),
            profile_id: producer.profile.id(),
            signals: producer.plan.signals.clone(),
            ..Default::default()
        }),
        counters: Counters::default(),
        commands: Mutex::new(tx),
        started: Instant::now(),
        started_wall: SystemTime::now(),
        fps,
        target_duration,
        library: library(&producer.catalog),
        catalog: producer.catalog.clone(),
        thumbnails: Mutex::new(std::collections::HashMap::new()),
        last_segment: Mutex::new(None),
        push: Mutex::new(None),
        init_segment: RwLock::new(axum::body::Bytes::new()),
        events: tokio::sync::broadcast::channel(64).0,
        playlist_times: Mutex::new(std::collections::VecDeque::new()),
        preview: preview::PreviewHub::default(),
        closing: tokio::sync::watch::channel(false).0,
    });
    let listener = tokio::net::TcpListener::from_std(listener).map_err(ServeError::Http)?;
    let bound = listener.local_addr().map_err(ServeError::Http)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    let thread = producer::spawn(
        producer,
        resume,
        Arc::clone(&shared),
        rx,
        Arc::clone(&stop),
        done_tx,
    )
    .map_err(ServeError::Thread)?;
    on_listening(bound);
    let app = api::router(Arc::clone(&shared), access);
    // The server stops when asked to, or when the stream ends on its own; endless
    // responses end then too.
    let closing = Arc::clone(&shared);
    let either = async move {
        tokio::select! {
            _ = shutdown => {}
            _ = done_rx => {}
        }
        closing.closing.send_replace(true);
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(either)
        .await
        .map_err(ServeError::Http);
    stop.store(true, Ordering::SeqCst);
    let produced = tokio::task::spawn_blocking(move || thread.join())
        .await
        .map_err(|_| ServeError::Panicked)?
        .map_err(|_| ServeError::Panicked)?;
    served?;
    produced.map_err(ServeError::from)
}

fn library(catalog: &Catalog) -> Vec<ClipRef> {
    catalog
        .clips
        .iter()
        .enumerate()
        .map(|(index, clip)| ClipRef {
            index,
            name: clip.path.clone(),
            tags: clip.tags.clone(),
        })
        .collect()
}

/// Runs the stream on its own runtime until SIGINT or SIGTERM (a graceful stop: the
/// segment in progress is published, open requests are answered).
pub fn serve_blocking(
    config: ServeConfig,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(ServeError::Http)?;
    runtime.block_on(async {
        let shutdown = async {
            let interrupt = tokio::signal::ctrl_c();
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut terminate) => {
                    tokio::select! {
                        _ = interrupt => {}
                        _ = terminate.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = interrupt.await;
                }
            }
            tracing::info!("stopping: publishing the last segment");
        };
        run(config, shutdown, on_listening).await
    })
}
