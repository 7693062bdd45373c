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
        "loopy_media_frames_total",
        "counter",
        "Media frames published (the stream's clock, in frames)",
        get(&c.media_frames) as f64,
    );
    metric(
        "loopy_stream_bitrate_bits_per_second",
        "gauge",
        "Bit rate of the latest segment",
        get(&c.bitrate) as f64,
    );
    metric(
        "loopy_process_cpu_seconds_total",
        "counter",
        "CPU time of this process (user + system)",
        process_cpu_seconds(),
    );
    metric(
        "loopy_viewers_estimate",
        "gauge",
        "Playlist requests in the last 10 s, times the target duration, over 10 s",
        viewers(shared),
    );
    metric(
        "loopy_drift_seconds",
        "gauge",
        "How far ahead of its schedule the latest frame was made (about 0 when paced, below 0 when late)",
        c.drift_micros.load(Ordering::Relaxed) as f64 / 1e6,
    );
    metric(
        "loopy_preview_clients",
        "gauge",
        "Players connected to the low-latency preview",
        get(&shared.preview.clients) as f64,
    );
    metric(
        "loopy_preview_bytes_total",
        "counter",
        "Bytes sent to preview players",
        get(&shared.preview.bytes_sent) as f64,
    );
    metric(
        "loopy_uptime_seconds",
        "gauge",
        "Seconds since the server started",
        shared.started.elapsed().as_secs_f64(),
    );
    if let Some(push) = shared.push.lock().ok().and_then(|p| p.clone()) {
        let count = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed) as f64;
        let connected = f64::from(u8::from(push.connected.load(Ordering::Relaxed)));
        metric(
            "loopy_push_connected",
            "gauge",
            "1 while the push receiver is connected",
            connected,
        );
        metric(
            "loopy_push_connections_total",
            "counter",
            "Push connections made",
            count(&push.connections),
        );
        metric(
            "loopy_push_failures_total",
            "counter",
            "Push connections lost or refused",
            count(&push.failures),
        );
        metric(
            "loopy_push_packets_total",
            "counter",
            "Packets pushed",
            count(&push.packets),
        );
        metric(
            "loopy_push_dropped_total",
            "counter",
            "Packets dropped while the receiver was away",
            count(&push.dropped),
        );
    }
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
    metric(
        "loopy_cache_damaged_total",
        "counter",
        "Cache entries that failed their checksum before use and were made again",
        get(&c.cache_damaged) as f64,
    );
    text
}

/// User + system CPU of this process from `/proc/self/stat` (0 where there is none).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) are space-separated.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // SAFETY: sysconf only reads a system constant.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) + ticks(12)) / per_second
}

/// Players fetch the playlist about once per target duration.
fn viewers(shared: &Shared) -> f64 {
    let window = std::time::Duration::from_secs(10);
    let Ok(mut times) = shared.playlist_times.lock() else {
        return 0.0;
    };
    while times.front().is_some_and(|t| t.elapsed() > window) {
        times.pop_front();
    }
    (times.len() as f64 * shared.target_duration as f64 / window.as_secs_f64()).round()
}
