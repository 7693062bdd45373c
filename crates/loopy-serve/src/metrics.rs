//! `/metrics` in Prometheus' text format: what the stream produced, what it cost, how
//! far its media clock is from the wall clock, and what was served.

use crate::state::Shared;
use std::fmt::Write;
use std::sync::atomic::Ordering;

pub fn render(shared: &Shared) -> String {
    let c = &shared.counters;
    let get = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::Relaxed);
    let mut text = String::with_capacity(2048);
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = write!(
            text,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    metric(
        "loopy_segments_total",
        "counter",
        "HLS segments produced",
        get(&c.segments) as f64,
    );
    metric(
        "loopy_transitions_encoded_total",
        "counter",
        "Cross-fades encoded (cuts included)",
        get(&c.transitions_encoded) as f64,
    );
    metric(
        "loopy_transitions_cached_total",
        "counter",
        "Cross-fades taken from the transition cache",
        get(&c.transitions_cached) as f64,
    );
    metric(
        "loopy_cuts_total",
        "counter",
        "Cuts asked for through the API",
        get(&c.cuts) as f64,
    );
    metric(
        "loopy_transition_encode_seconds_total",
        "counter",
        "Time spent encoding cross-fades",
        get(&c.encode_micros) as f64 / 1e6,
    );
    metric(
        "loopy_media_seconds",
        "gauge",
        "Media time published",
        get(&c.media_frames) as f64 / shared.fps.as_f64(),
    );
    metric(
        "loopy_drift_seconds",
        "gauge",
        "Start of the latest segment minus wall time since start (about 0 when paced)",
        c.drift_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    metric(
        "loopy_uptime_seconds",
        "gauge",
        "Seconds since the server started",
        shared.started.elapsed().as_secs_f64(),
    );
    metric(
        "loopy_http_requests_total",
        "counter",
        "HTTP requests",
        get(&c.requests) as f64,
    );
    metric(
        "loopy_playlist_requests_total",
        "counter",
        "Playlist requests",
        get(&c.playlist_requests) as f64,
    );
    metric(
        "loopy_segment_requests_total",
        "counter",
        "Segment requests",
        get(&c.segment_requests) as f64,
    );
    metric(
        "loopy_bytes_served_total",
        "counter",
        "Bytes of playlists and segments served",
        get(&c.bytes_served) as f64,
    );
    metric(
        "loopy_errors_total",
        "counter",
        "Server errors and failed cross-fades",
        get(&c.errors) as f64,
    );
    metric(
        "loopy_clip_failures_total",
        "counter",
        "Clips that failed mid-stream and were replaced",
        get(&c.clip_failures) as f64,
    );
    text
}
