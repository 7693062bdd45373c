//! HTTP: the HLS playlist and segments from memory, the low-latency preview
//! (`preview`), the JSON control API, health and Prometheus metrics.
//!
//! Control endpoints need `Authorization: Bearer <token>` (compared in constant time)
//! and share a rate limit; viewing is public unless the server protects it too.
//! Bodies are limited to 16 KiB (413 beyond), and no request ever names a file: clips
//! are named as the library lists them and looked up there.

mod preview;

use crate::hls::Variant;
use crate::state::{Command, Effect, Request, Shared};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Largest request body accepted.
pub const BODY_LIMIT: usize = 16 * 1024;
/// Control requests: a burst of this many, refilled at this many per second.
const RATE_BURST: f64 = 40.0;
const RATE_PER_SECOND: f64 = 20.0;

/// Who may do what.
#[derive(Clone)]
pub struct Access {
    pub token: Arc<str>,
    /// Viewing (playlist, segments, state, metrics) needs the token too.
    pub protect_viewing: bool,
}

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    access: Access,
    bucket: Arc<Mutex<(Instant, f64)>>,
}

pub fn router(shared: Arc<Shared>, access: Access) -> Router {
    let app = App {
        shared,
        access,
        bucket: Arc::new(Mutex::new((Instant::now(), RATE_BURST))),
    };
    let control = Router::new()
        .route("/api/signals", post(set_signals).delete(clear_signals))
        .route("/api/queue", post(queue))
        .route("/api/cut", post(cut))
        .route("/api/skip", post(skip))
        .route_layer(middleware::from_fn_with_state(app.clone(), control_guard));
    let viewing = Router::new()
        .route("/", get(index))
        .route("/dashboard.js", get(asset_js))
        .route("/dashboard.css", get(asset_css))
        .route("/preview.js", get(asset_preview_js))
        .route("/hls.light.min.js", get(asset_hls))
        .route("/api/events", get(events))
        .route("/openapi.json", get(openapi))
        .route("/live.m3u8", get(playlist_ts))
        .route("/live-fmp4.m3u8", get(playlist_fmp4))
        .route("/init.mp4", get(init_segment))
        .route("/segments/{name}", get(segment))
        .route("/preview", get(preview::preview_socket))
        .route("/preview.mp4", get(preview::preview_mp4))
        .route("/api/state", get(state))
        .route("/api/clips", get(clips))
        .route("/api/clips/{index}/thumb.png", get(thumbnail))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(app.clone(), viewing_guard));
    Router::new()
        .merge(control)
        .merge(viewing)
        .route("/healthz", get(healthz))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .with_state(app)
}

/// Whether the request carries `Authorization: Bearer <token>`; the scheme's name is
/// case-insensitive (RFC 7235), the token is compared in constant time.
fn bearer_ok(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map_or("", |(_, credentials)| credentials.trim());
    bool::from(given.as_bytes().ct_eq(token.as_bytes()))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// A 401 with the challenge RFC 7235 asks for, so clients know which scheme to use.
fn unauthorized(message: &str) -> Response {
    let mut response = refuse(StatusCode::UNAUTHORIZED, message);
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"loopy\""),
    );
    response
}

async fn control_guard(
    State(app): State<App>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if !bearer_ok(&headers, &app.access.token) {
        return unauthorized(
            "control needs `Authorization: Bearer <token>` (the token loopy serve printed, or --token)",
        );
    }
    let allowed = app.bucket.lock().is_ok_and(|mut bucket| {
        let (last, tokens) = *bucket;
        let now = Instant::now();
        let refilled =
            (tokens + now.duration_since(last).as_secs_f64() * RATE_PER_SECOND).min(RATE_BURST);
        *bucket = (now, (refilled - 1.0).max(-1.0));
        refilled >= 1.0
    });
    if !allowed {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many control requests; slow down",
        );
    }
    next.run(request).await
}

async fn viewing_guard(
    State(app): State<App>,
    headers: HeaderMap,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    if app.access.protect_viewing && !bearer_ok(&headers, &app.access.token) {
        return unauthorized("this stream needs `Authorization: Bearer <token>`");
    }
    next.run(request).await
}

async fn count_requests(
    State(app): State<App>,
    request: axum::extract::Request,
    next: Next,
) -> Response {
    let counters = &app.shared.counters;
    counters.requests.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    if response.status().is_server_error() {
        counters.errors.fetch_add(1, Ordering::Relaxed);
    }
    response
}

/// The dashboard: a page, its script and style, and hls.js, all compiled in.
async fn index() -> impl IntoResponse {
    asset(
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    )
}

/// The API described as OpenAPI 3 (kept beside the routes; a test calls every path).
async fn openapi() -> impl IntoResponse {
    asset("application/json", include_str!("../assets/openapi.json"))
}

async fn asset_js() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/dashboard.js"),
    )
}

async fn asset_preview_js() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/preview.js"),
    )
}

async fn asset_css() -> impl IntoResponse {
    asset(
        "text/css; charset=utf-8",
        include_str!("../assets/dashboard.css"),
    )
}

async fn asset_hls() -> impl IntoResponse {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../assets/hls.light.min.js"),
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Server-sent events: a `clip` event with the whole status at every clip change, a
/// `clip_failed` event when a clip is replaced mid-stream.
async fn events(State(app): State<App>) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio_stream::StreamExt;
    let changes = tokio_stream::wrappers::BroadcastStream::new(app.shared.events.subscribe())
        // A listener that fell behind misses changes, not the stream.
        .filter_map(|change| change.ok())
        .map(|(name, json)| {
            Ok::<_, std::convert::Infallible>(Event::default().event(name).data(json))
        });
    Sse::new(app.shared.until_closing(changes))
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn hls_headers(
    content_type: &'static str,
    cache: &'static str,
) -> [(header::HeaderName, HeaderValue); 3] {
    [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
    ]
}

async fn playlist_ts(State(app): State<App>) -> Response {
    playlist(&app, Variant::MpegTs)
}

async fn playlist_fmp4(State(app): State<App>) -> Response {
    playlist(&app, Variant::Fmp4 { map: "init.mp4" })
}

fn playlist(app: &App, variant: Variant) -> Response {
    app.shared
        .counters
        .playlist_requests
        .fetch_add(1, Ordering::Relaxed);
    if let Ok(mut times) = app.shared.playlist_times.lock() {
        times.push_back(Instant::now());
        if times.len() > 100_000 {
            times.pop_front();
        }
    }
    let text = match app.shared.window.read() {
        Ok(window) if window.latest().is_some() => window.playlist("segments/", variant),
        _ => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "no segment yet; retry in a second",
            )
        }
    };
    app.shared
        .counters
        .bytes_served
        .fetch_add(text.len() as u64, Ordering::Relaxed);
    (
        hls_headers("application/vnd.apple.mpegurl", "no-cache"),
        text,
    )
        .into_response()
}

async fn init_segment(State(app): State<App>) -> Response {
    let bytes = app
        .shared
        .init_segment
        .read()
        .map(|b| b.clone())
        .unwrap_or_default();
    if bytes.is_empty() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the stream has not started yet",
        );
    }
    (hls_headers("video/mp4", "no-cache"), bytes).into_response()
}

async fn segment(State(app): State<App>, Path(name): Path<String>) -> Response {
    let counters = &app.shared.counters;
    counters.segment_requests.fetch_add(1, Ordering::Relaxed);
    let (number, mp4) = match (name.strip_suffix(".ts"), name.strip_suffix(".m4s")) {
        (Some(n), _) => (n, false),
        (_, Some(n)) => (n, true),
        _ => return refuse(StatusCode::NOT_FOUND, "segments are N.ts or N.m4s"),
    };
    let found = number
        .parse::<u64>()
        .ok()
        .and_then(|n| app.shared.window.read().ok().and_then(|w| w.get(n)));
    match found {
        Some(segment) => {
            let bytes: Bytes = if mp4 {
                segment.mp4.clone()
            } else {
                segment.ts.clone()
            };
            counters
                .bytes_served
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
            let kind = if mp4 {
                "video/iso.segment"
            } else {
                "video/mp2t"
            };
            // Segments never change: players and caches may keep them.
            (hls_headers(kind, "public, max-age=86400, immutable"), bytes).into_response()
        }
        None => refuse(
            StatusCode::NOT_FOUND,
            "no such segment (it left the window, or never was)",
        ),
    }
}

async fn state(State(app): State<App>) -> Response {
    let shared = &app.shared;
    let status = shared.status.read().map(|s| s.clone()).unwrap_or_default();
    let frames = shared.counters.media_frames.load(Ordering::Relaxed);
    let mut value = serde_json::to_value(&status).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "uptime_s".into(),
            shared.started.elapsed().as_secs_f64().into(),
        );
        map.insert(
            "media_time_s".into(),
            (frames as f64 / shared.fps.as_f64()).into(),
        );
        map.insert("fps".into(), shared.fps.to_string().into());
        map.insert("target_duration_s".into(), shared.target_duration.into());
        map.insert(
            "segments".into(),
            shared.counters.segments.load(Ordering::Relaxed).into(),
        );
    }
    Json(value).into_response()
}

async fn clips(State(app): State<App>) -> Response {
    Json(&app.shared.library).into_response()
}

/// A clip's first frame as a small PNG, decoded on first request and kept.
async fn thumbnail(State(app): State<App>, Path(index): Path<usize>) -> Response {
    let cached = app
        .shared
        .thumbnails
        .lock()
        .ok()
        .and_then(|t| t.get(&index).cloned());
    let png = match cached {
        Some(png) => png,
        None => {
            let Some(clip) = app.shared.catalog.clips.get(index).cloned() else {
                return refuse(StatusCode::NOT_FOUND, "no clip with that index");
            };
            let root = std::path::PathBuf::from(&app.shared.catalog.root);
            let made = tokio::task::spawn_blocking(move || {
                loopy_media::library_sheet::first_frame_png(&root, &clip)
            })
            .await;
            match made {
                Ok(Ok(png)) => {
                    let png = Bytes::from(png);
                    if let Ok(mut thumbnails) = app.shared.thumbnails.lock() {
                        thumbnails.insert(index, png.clone());
                    }
                    png
                }
                Ok(Err(e)) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
                Err(_) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "thumbnail failed"),
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        png,
    )
        .into_response()
}

/// Sends a command to the producer and answers with the media time it takes effect.
async fn command(app: &App, command: Command) -> Response {
    let (reply, answer) = tokio::sync::oneshot::channel();
    let sent = app
        .shared
        .commands
        .lock()
        .map(|tx| tx.send(Request { command, reply }).is_ok())
        .unwrap_or(false);
    if !sent {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "the stream is not running");
    }
    match tokio::time::timeout(Duration::from_secs(10), answer).await {
        Ok(Ok(Ok(Effect { media_time, frame }))) => Json(serde_json::json!({
            "takes_effect_at_s": media_time,
            "takes_effect_at_frame": frame,
        }))
        .into_response(),
        Ok(Ok(Err(message))) => refuse(StatusCode::UNPROCESSABLE_ENTITY, &message),
        _ => refuse(StatusCode::SERVICE_UNAVAILABLE, "the stream did not answer"),
    }
}

async fn set_signals(State(app): State<App>, Json(body): Json<BTreeMap<String, f64>>) -> Response {
    // A tag no clip carries would steer nothing: named, with the tags there are.
    let known: std::collections::BTreeSet<&str> = app
        .shared
        .library
        .iter()
        .flat_map(|c| c.tags.iter().map(String::as_str))
        .collect();
    if let Some(unknown) = body.keys().find(|tag| !known.contains(tag.as_str())) {
        let tags: Vec<&str> = known.into_iter().collect();
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "no clip has the tag `{unknown}`; the library's tags are: {}",
                if tags.is_empty() {
                    "none".to_string()
                } else {
                    tags.join(", ")
                }
            ),
        );
    }
    let mut signals = Vec::with_capacity(body.len());
    for (tag, value) in &body {
        match loopy_core::spec::Signal::parse(&format!("{tag}={value}")) {
            Ok(signal) => signals.push(signal),
            Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        }
    }
    command(&app, Command::SetSignals(signals)).await
}

async fn clear_signals(State(app): State<App>) -> Response {
    command(&app, Command::SetSignals(Vec::new())).await
}

#[derive(Deserialize)]
struct QueueBody {
    clip: String,
}

async fn queue(State(app): State<App>, Json(body): Json<QueueBody>) -> Response {
    let Some(found) = app.shared.library.iter().find(|c| c.name == body.clip) else {
        return refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "no clip named `{}` in the library (GET /api/clips lists them)",
                body.clip
            ),
        );
    };
    command(&app, Command::Queue(found.index)).await
}

async fn cut(State(app): State<App>) -> Response {
    command(&app, Command::Cut).await
}

async fn skip(State(app): State<App>) -> Response {
    command(&app, Command::Skip).await
}

async fn healthz(State(app): State<App>) -> Response {
    let limit = Duration::from_secs(2 * app.shared.target_duration);
    let last = app.shared.last_segment.lock().ok().and_then(|l| *l);
    match last {
        Some(at) if at.elapsed() <= limit => (StatusCode::OK, "ok\n").into_response(),
        Some(at) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no segment for {:.1} s\n", at.elapsed().as_secs_f64()),
        )
            .into_response(),
        None if app.shared.started.elapsed() <= limit => {
            (StatusCode::OK, "starting\n").into_response()
        }
        None => (StatusCode::SERVICE_UNAVAILABLE, "no segment yet\n").into_response(),
    }
}

async fn metrics(State(app): State<App>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::render(&app.shared),
    )
        .into_response()
}
