//! `loopy serve` on loopback with real clients: the ffmpeg CLI reading the live HLS
//! stream, playlists parsed with m3u8-rs, the control API over HTTP (ureq), and the
//! pictures of the stream decoded to check that queued clips and cuts land.

mod common;

use common::serving::*;
use common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A 1.7 s tone in `dir`, for `--audio`.
fn short_tone(dir: &Path) -> std::path::PathBuf {
    let tone = dir.join("tone.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=330:duration=1.7",
        tone.to_str().unwrap(),
    ]);
    tone
}

/// Checks the rules every playlist must obey (segments named `N.{extension}`).
fn check_rules(text: &str, playlist: &m3u8_rs::MediaPlaylist, extension: &str) {
    assert!(!text.contains("DISCONTINUITY"), "{text}");
    assert!(!playlist.end_list);
    let target = playlist.target_duration as f32;
    assert!(playlist.segments.len() >= 6, "{text}");
    let listed: f32 = playlist.segments.iter().map(|s| s.duration).sum();
    assert!(
        listed >= 3.0 * target - 1.0,
        "window of {listed} s for target {target}"
    );
    for line in text.lines().filter(|l| l.starts_with("#EXTINF:")) {
        let value = &line["#EXTINF:".len()..line.len() - 1];
        assert_eq!(value.split('.').nth(1).map(str::len), Some(3), "{line}");
    }
    for (i, segment) in playlist.segments.iter().enumerate() {
        assert!(
            segment.duration <= target,
            "EXTINF {} > {target}",
            segment.duration
        );
        assert!(
            segment.program_date_time.is_some(),
            "no PROGRAM-DATE-TIME: {text}"
        );
        let sequence = playlist.media_sequence + i as u64;
        assert_eq!(segment.uri, format!("segments/{sequence}.{extension}"));
    }
}

#[test]
fn the_live_stream_reads_cleanly_and_its_playlists_obey_the_rules() {
    let server = serve(&[]);
    let (text, first) = server.playlist(6);
    check_rules(&text, &first, "ts");
    assert_eq!(first.target_duration, 1);
    // ffmpeg's HLS reader follows the live playlist for 12 s: not one message.
    assert_eq!(
        server.ffmpeg_complaints("/live.m3u8", 12),
        "",
        "ffmpeg reported problems reading the stream"
    );
    // The window slid, the media sequence only grew, and segments kept their numbers.
    let (text, later) = server.playlist(6);
    check_rules(&text, &later, "ts");
    assert!(
        later.media_sequence > first.media_sequence + 6,
        "the window did not slide"
    );
    // Every listed segment stands on its own: headers, IDR first, decodes cleanly.
    let tmp = shared_tempdir();
    for segment in &later.segments {
        let response = server.get(&format!("/{}", segment.uri));
        assert_eq!(response.header("Content-Type"), Some("video/mp2t"));
        assert_eq!(response.header("Access-Control-Allow-Origin"), Some("*"));
        let bytes = server.bytes(&format!("/{}", segment.uri));
        assert_eq!(bytes.first(), Some(&0x47), "not MPEG-TS");
        let file = tmp.path().join("one.ts");
        std::fs::write(&file, &bytes).expect("write segment");
        assert_eq!(
            common::frames::decode_errors(&file),
            "",
            "{} alone",
            segment.uri
        );
        let frames = frames_in(&file) as f32;
        assert!(
            (frames / 30.0 - segment.duration).abs() < 0.001,
            "{}",
            segment.uri
        );
    }
    let playlist = server.get("/live.m3u8");
    assert_eq!(playlist.header("Cache-Control"), Some("no-cache"));
    assert_eq!(
        playlist.header("Content-Type"),
        Some("application/vnd.apple.mpegurl")
    );
    // A segment that just left the playlist is still served for one more window.
    let gone = later.media_sequence - 1;
    let old = ureq::get(&server.url(&format!("/segments/{gone}.ts"))).call();
    assert_eq!(Server::status_of(old), 200, "segment {gone} left too early");
    let metrics = server.get("/metrics").into_string().expect("metrics");
    assert!(metrics.contains("loopy_segments_total "), "{metrics}");
    assert_eq!(
        Server::status_of(ureq::get(&server.url("/healthz")).call()),
        200
    );
}

#[test]
fn the_fmp4_variant_reads_cleanly_and_each_fragment_follows_the_init_segment() {
    // With sound: the fragments carry an AAC track beside the video.
    let sound = shared_tempdir();
    let tone = short_tone(sound.path());
    let server = serve(&["--audio", tone.to_str().unwrap()]);
    let (text, playlist) = server.playlist_at("/live-fmp4.m3u8", 6);
    check_rules(&text, &playlist, "m4s");
    assert!(text.contains("#EXT-X-VERSION:7\n"), "{text}");
    assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"), "{text}");
    assert_eq!(
        server.ffmpeg_complaints("/live-fmp4.m3u8", 8),
        "",
        "ffmpeg reported problems reading the fMP4 stream"
    );
    let init = server.bytes("/init.mp4");
    assert_eq!(&init[4..8], b"ftyp");
    let (_, playlist) = server.playlist_at("/live-fmp4.m3u8", 6);
    let tmp = shared_tempdir();
    for segment in playlist.segments.iter().take(3) {
        let mut file = init.clone();
        file.extend(server.bytes(&format!("/{}", segment.uri)));
        let path = tmp.path().join("one.mp4");
        std::fs::write(&path, file).expect("write");
        assert_eq!(common::frames::decode_errors(&path), "", "{}", segment.uri);
        let streams = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type",
                "-of",
                "csv=p=0",
            ])
            .arg(&path)
            .output()
            .expect("ffprobe");
        assert_eq!(
            stdout(&streams).split_whitespace().collect::<Vec<_>>(),
            ["video", "audio"]
        );
        let frames = frames_in(&path) as f32;
        assert!(
            (frames / 30.0 - segment.duration).abs() < 0.001,
            "{}",
            segment.uri
        );
    }
}

#[test]
fn the_control_api_checks_who_asks_and_what() {
    let server = serve(&[]);
    server.playlist(1);
    let cut = server.url("/api/cut");
    // A 401 names the scheme to use (RFC 7235), and the scheme's name is
    // case-insensitive.
    match ureq::post(&cut).call() {
        Err(ureq::Error::Status(401, response)) => assert_eq!(
            response.header("WWW-Authenticate"),
            Some("Bearer realm=\"loopy\"")
        ),
        other => panic!("no token: {:?}", other.map(|r| r.status())),
    }
    let wrong = ureq::post(&cut)
        .set("Authorization", "Bearer test-token-124")
        .call();
    assert_eq!(Server::status_of(wrong), 401);
    let lower_case = ureq::post(&cut)
        .set("Authorization", &format!("bearer {TOKEN}"))
        .call();
    assert_eq!(Server::status_of(lower_case), 200);
    let big = format!("{{\"talk\": 0.5, \"x\": \"{}\"}}", "a".repeat(20_000));
    let oversized = ureq::post(&server.url("/api/signals"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/json")
        .send_string(&big);
    assert_eq!(Server::status_of(oversized), 413);
    let unknown = ureq::post(&server.url("/api/queue"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"clip": "../../etc/passwd"}"#);
    match unknown {
        Err(ureq::Error::Status(404, response)) => {
            let text = response.into_string().expect("body");
            assert!(text.contains("no clip named"), "{text}");
        }
        other => panic!("unknown clip: {:?}", other.map(|r| r.status())),
    }
    let bad_signal = ureq::post(&server.url("/api/signals"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"talk": 3}"#);
    assert_eq!(Server::status_of(bad_signal), 422);
    // A tag no clip has would steer nothing: refused, naming the tags there are.
    let no_such_tag = ureq::post(&server.url("/api/signals"))
        .set("Authorization", &format!("Bearer {TOKEN}"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"nosuchtag": 0.5}"#);
    match no_such_tag {
        Err(ureq::Error::Status(422, response)) => {
            let text = response.into_string().expect("body");
            assert!(
                text.contains("nosuchtag") && text.contains("talk") && text.contains("idle"),
                "{text}"
            );
        }
        other => panic!("unknown tag: {:?}", other.map(|r| r.status())),
    }
    // Viewing is public unless protected.
    assert_eq!(
        Server::status_of(ureq::get(&server.url("/api/state")).call()),
        200
    );
    let answer = server.control("/api/signals", Some(r#"{"talk": 0.8}"#));
    assert!(answer["takes_effect_at_s"].as_f64().is_some(), "{answer}");
    let state: serde_json::Value = server.get("/api/state").into_json().expect("state");
    assert_eq!(state["signals"][0]["tag"], "talk", "{state}");
}

/// The media frames each listed segment starts at, from the playlist's own dates.
fn segment_starts(playlist: &m3u8_rs::MediaPlaylist, origin: (u64, i64)) -> Vec<u64> {
    playlist
        .segments
        .iter()
        .map(|s| {
            let date = s.program_date_time.expect("date").timestamp_millis();
            origin.0 + ((date - origin.1) as f64 * 30.0 / 1000.0).round() as u64
        })
        .collect()
}

#[test]
fn a_queued_clip_plays_next_and_a_cut_lands_within_a_gop() {
    let server = serve(&[]);
    let (_, first) = server.playlist(2);
    // Frame 0 is the first segment's date: media frames follow from the dates.
    assert_eq!(
        first.media_sequence, 0,
        "the first playlist starts at segment 0"
    );
    let origin = (
        0,
        first.segments[0]
            .program_date_time
            .expect("date")
            .timestamp_millis(),
    );
    let tmp = shared_tempdir();
    let colour_of = |name: &str| COLOURS.iter().find(|(n, _)| *n == name).expect("colour").1;

    // The picture at media frame `frame`, from the segment that holds it, once the
    // playlist lists that segment; also the playlist text at that moment.
    let colour_at = |frame: u64| -> ([f64; 3], String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (text, playlist) = server.playlist(1);
            let starts = segment_starts(&playlist, origin);
            let holder = starts.iter().rposition(|&s| s <= frame);
            if let Some(i) = holder.filter(|&i| i + 1 < starts.len()) {
                let bytes = server.bytes(&format!("/{}", playlist.segments[i].uri));
                return (
                    frame_colours(&bytes, &tmp.path().join("colour.ts"))
                        [(frame - starts[i]) as usize],
                    text,
                );
            }
            assert!(
                Instant::now() < deadline,
                "frame {frame} never reached the playlist"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let change_line = |text: &str, frame: u64| -> String {
        text.lines()
            .find(|l| l.contains(&format!("ID=\"clip-{frame}\"")))
            .unwrap_or_else(|| panic!("no clip change at frame {frame}:\n{text}"))
            .to_string()
    };

    // Queue the white clip: the next clip change brings it in, and after its 9-frame
    // cross-fade it is on screen, pure white.
    let queued = server.control("/api/queue", Some(r#"{"clip": "talk_white.mp4"}"#));
    let at = queued["takes_effect_at_frame"].as_u64().expect("frame");
    let (white, text) = colour_at(at + 12);
    assert!(
        change_line(&text, at).contains("X-CLIP=\"talk_white.mp4\""),
        "{text}"
    );
    let want = colour_of("talk_white.mp4").map(f64::from);
    assert!(
        white.iter().zip(want).all(|(a, b)| (a - b).abs() < 12.0),
        "{white:?} at {}",
        at + 12
    );

    // A cut: the stream cross-fades into the next clip at the next GOP start.
    let published = server.media_frame();
    let cut = server.control("/api/cut", None);
    let cut_at = cut["takes_effect_at_frame"].as_u64().expect("frame");
    assert!(
        cut_at <= published + 30 + 30,
        "the cut lands at frame {cut_at}, more than a GOP after the live edge {published}"
    );
    let (before, _) = colour_at(cut_at - 1);
    let (after, text) = colour_at(cut_at + 12);
    change_line(&text, cut_at);
    let distance: f64 = before.iter().zip(after).map(|(a, b)| (a - b).abs()).sum();
    assert!(
        distance > 100.0,
        "no change across the cut: {before:?} → {after:?}"
    );
}

#[test]
fn a_second_stream_of_the_same_folder_is_refused() {
    let server = serve(&[]);
    server.playlist(1);
    let dir = server._library.as_ref().expect("library").path();
    let second = Command::new(loopy_bin())
        .args(["serve", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(["--crossfade", "0.3s", "--gop", "30", "--token", TOKEN])
        .output()
        .expect("second loopy serve");
    assert!(!second.status.success());
    let message = stderr(&second);
    let pid = server.child.id().to_string();
    assert!(
        message.contains("another `loopy serve`") && message.contains(&pid),
        "{message}"
    );
    // The first goes on.
    let before = server.playlist(1).1.media_sequence;
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.playlist(1).1.media_sequence == before {
        assert!(Instant::now() < deadline, "the first stream stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn sigint_stops_the_stream_cleanly() {
    let mut server = serve(&[]);
    server.playlist(2);
    // Endless responses open (events, the preview) do not hold the stop up.
    let mut endless = Vec::new();
    for path in ["/api/events", "/preview.mp4"] {
        let response = server.get(path);
        endless.push(std::thread::spawn(move || {
            let _ = std::io::copy(&mut response.into_reader(), &mut std::io::sink());
        }));
    }
    let pid = server.child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = server.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "loopy serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status:?}");
    for reader in endless {
        reader.join().expect("the endless responses ended");
    }
    let dir = server._library.as_ref().expect("library").path();
    let piece = dir.join(format!(".loopy/serve/cut-{pid}.mkv"));
    assert!(!piece.exists(), "a cut piece was left behind");
}

/// Stops a server with SIGINT and waits for it.
fn interrupt(server: &mut Server) {
    let pid = server.child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(15);
    while server.child.try_wait().expect("wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "loopy serve did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_restart_goes_on_with_the_media_sequence_after_one_discontinuity() {
    let dir = fresh_library();
    let mut first = serve_in(dir.path(), &[]);
    let (_, before) = first.playlist(4);
    interrupt(&mut first);
    let last_before = before.media_sequence + before.segments.len() as u64 - 1;
    let media_before = before
        .segments
        .iter()
        .map(|s| s.duration as f64)
        .sum::<f64>();
    let second = serve_in(dir.path(), &[]);
    let (text, after) = second.playlist(3);
    assert!(after.media_sequence > last_before, "{text}");
    assert!(text.contains("#EXT-X-DISCONTINUITY\n"), "{text}");
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    assert_eq!(after.discontinuity_sequence, 0, "{text}");
    assert!(after.segments[0].discontinuity, "{text}");
    // The media clock goes on too: the state says where the first run stopped.
    let state: serde_json::Value = second.get("/api/state").into_json().expect("state");
    assert!(
        state["media_time_s"].as_f64().expect("media time") > media_before,
        "{state}"
    );
    assert_eq!(
        second.ffmpeg_complaints("/live.m3u8", 4),
        "",
        "ffmpeg reading the restarted stream"
    );
}

/// Resident memory of a process, in kB.
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn an_unpaced_soak_keeps_one_clock_with_cuts_and_signals_all_along() {
    // CI runs an hour of media time (AAC encoding of the looped sound sets the pace);
    // LOOPY_SOAK=1440m runs 24 hours the same way.
    let media = std::env::var("LOOPY_SOAK").unwrap_or_else(|_| "60m".into());
    let record = shared_tempdir();
    // A 2.3 s tone at 44.1 kHz, looped all along: its period fits no frame grid.
    let tone = record.path().join("tone.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:duration=2.3",
        "-ac",
        "2",
        "-ar",
        "44100",
        tone.to_str().unwrap(),
    ]);
    let recording = record.path().join("stream");
    let mut server = serve(&[
        "--unpaced",
        "--record",
        recording.to_str().unwrap(),
        "--stop-after",
        &media,
        "--audio",
        tone.to_str().unwrap(),
    ]);
    let pid = server.child.id();
    let mut rss = Vec::new();
    let mut commands = 0u32;
    while server.child.try_wait().expect("wait").is_none() {
        let path = match commands % 4 {
            0 => "/api/cut",
            1 => "/api/signals",
            2 => "/api/skip",
            _ => "/api/queue",
        };
        let body = match commands % 4 {
            1 => Some(if commands % 8 == 1 {
                r#"{"talk": 0.9}"#
            } else {
                r#"{"talk": -0.5}"#
            }),
            3 => Some(r#"{"clip": "idle_lime.mp4"}"#),
            _ => None,
        };
        let request =
            ureq::post(&server.url(path)).set("Authorization", &format!("Bearer {TOKEN}"));
        let _ = match body {
            Some(json) => request
                .set("Content-Type", "application/json")
                .send_string(json),
            None => request.call(),
        };
        commands += 1;
        rss.push(rss_kb(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(server.child.wait().expect("exit").success());
    assert!(
        commands > 100,
        "only {commands} commands reached the stream"
    );
    // Memory is flat: the last quarter of the run holds no more than the first.
    let quarter = rss.len() / 4;
    let early = rss[quarter..2 * quarter].iter().max().copied().unwrap_or(0);
    let late = rss[3 * quarter..].iter().max().copied().unwrap_or(0);
    assert!(
        late <= early + 16 * 1024,
        "RSS grew from {early} kB to {late} kB"
    );

    // The recorded stream, end to end: one playlist, no discontinuity, ENDLIST.
    let record = &recording;
    let text = std::fs::read_to_string(record.join("stream.m3u8")).expect("playlist");
    let playlist = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("parses");
    assert!(playlist.end_list);
    assert!(!text.contains("DISCONTINUITY"));
    let listed: f64 = playlist.segments.iter().map(|s| s.duration as f64).sum();
    let joined = record.join("all.ts");
    let mut all = Vec::new();
    for segment in &playlist.segments {
        all.extend(std::fs::read(record.join(&segment.uri)).expect("segment"));
    }
    std::fs::write(&joined, all).expect("join");
    assert_eq!(
        common::frames::decode_errors(&joined),
        "",
        "decoding the whole soak"
    );
    // Timestamps strictly increasing, one frame apart, spanning exactly the EXTINF sum.
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts",
            "-of",
            "csv=p=0",
        ])
        .arg(&joined)
        .output()
        .expect("ffprobe");
    let pts: Vec<i64> = stdout(&out)
        .lines()
        .filter_map(|l| l.split(',').next()?.trim().parse().ok())
        .collect();
    assert!(pts.len() > 1000, "{} packets", pts.len());
    // MPEG-TS timestamps wrap at 2^33; unwrap them before comparing.
    let mut unwrapped = Vec::with_capacity(pts.len());
    let mut offset = 0i64;
    for (i, &p) in pts.iter().enumerate() {
        if i > 0 && p + offset < unwrapped[i - 1] - (1 << 32) {
            offset += 1 << 33;
        }
        unwrapped.push(p + offset);
    }
    for pair in unwrapped.windows(2) {
        assert_eq!(
            pair[1] - pair[0],
            3000,
            "timestamps {} → {}",
            pair[0],
            pair[1]
        );
    }
    let span = (unwrapped[unwrapped.len() - 1] - unwrapped[0] + 3000) as f64 / 90_000.0;
    assert!(
        (span - listed).abs() < 1.0 / 30.0,
        "timestamps span {span} s, EXTINF sum {listed} s"
    );
    // Sound and picture end together at every segment boundary (within one AAC frame),
    // checked on fifty segments spread over the whole run.
    let step = (playlist.segments.len() / 50).max(1);
    for segment in playlist.segments.iter().skip(1).step_by(step) {
        let gap = av_end_gap(&record.join(&segment.uri));
        assert!(
            (0.0..1024.0 / 44_100.0).contains(&gap),
            "{}: video ends {gap:.4} s after the sound",
            segment.uri
        );
    }
    let wanted = common_seconds(&media);
    assert!(
        listed >= wanted,
        "{listed} s of media, {wanted} s asked for"
    );
}

/// End of the last video packet minus end of the last audio packet of a TS segment,
/// in seconds. Not for the first segment, whose first audio packets (the encoder's
/// priming) have negative times; good for 26 hours, where TS timestamps wrap.
fn av_end_gap(segment: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "packet=stream_index,pts,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(segment)
        .output()
        .expect("ffprobe");
    let (mut video, mut audio) = (0i64, 0i64);
    for line in stdout(&out).lines() {
        let fields: Vec<i64> = line
            .split(',')
            .filter_map(|f| f.trim().parse().ok())
            .collect();
        if let [stream, pts, duration] = fields[..] {
            let end = pts + duration;
            if stream == 0 {
                video = video.max(end);
            } else {
                audio = audio.max(end);
            }
        }
    }
    if audio == 0 {
        let keep = std::env::temp_dir().join("loopy-soak-no-sound.ts");
        let _ = std::fs::copy(segment, &keep);
        panic!(
            "{}: no sound (kept as {}); packets:\n{}",
            segment.display(),
            keep.display(),
            stdout(&out)
        );
    }
    (video - audio) as f64 / 90_000.0
}

fn common_seconds(text: &str) -> f64 {
    let minutes = text.trim_end_matches('m').parse::<f64>().unwrap_or(40.0);
    minutes * 60.0
}

/// `ffmpeg -listen 1` as an RTMP receiver writing what it gets to `out`.
fn rtmp_receiver(port: u16, out: &Path, extra: &[&str]) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-listen", "1", "-i"])
        .arg(format!("rtmp://127.0.0.1:{port}/live/x"))
        .args(extra)
        .args(["-c", "copy", "-y"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("start the receiver")
}

/// Where the video and the sound of `path` begin and end (seconds, by packets).
fn spans(path: &Path) -> ((f64, f64), (f64, f64)) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .args(["packet=codec_type,pts_time,duration_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe");
    let (mut video, mut sound) = ((f64::MAX, f64::MIN), (f64::MAX, f64::MIN));
    for line in stdout(&out).lines() {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(start), Some(length)) = (
            fields.get(1).and_then(|v| v.parse::<f64>().ok()),
            fields.get(2).and_then(|v| v.parse::<f64>().ok()),
        ) else {
            continue;
        };
        let span = if fields[0] == "audio" {
            &mut sound
        } else {
            &mut video
        };
        span.0 = span.0.min(start);
        span.1 = span.1.max(start + length);
    }
    assert!(sound.0 < sound.1, "no sound in {}", path.display());
    (video, sound)
}

fn frames_in(path: &Path) -> u64 {
    common::frames::probe(path)["streams"][0]["nb_read_frames"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn push_reaches_an_rtmp_receiver_and_comes_back_after_it_restarts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let tmp = shared_tempdir();
    let (first, second) = (tmp.path().join("first.flv"), tmp.path().join("second.flv"));
    let mut receiver = rtmp_receiver(port, &first, &[]);
    std::thread::sleep(Duration::from_millis(500));
    let url = format!("rtmp://127.0.0.1:{port}/live/x");
    // With sound: the push carries it beside the video.
    let tone = short_tone(tmp.path());
    let server = serve(&["--push", &url, "--audio", tone.to_str().unwrap()]);
    // The receiver probes its input for up to 5 s before it writes anything.
    std::thread::sleep(Duration::from_secs(8));
    // The receiver goes away (cleanly, so its file is complete)...
    let pid = receiver.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill");
    receiver.wait().expect("receiver ends");
    assert!(
        frames_in(&first) >= 60,
        "{} frames before the restart: {}",
        frames_in(&first),
        common::frames::probe(&first),
    );
    assert_eq!(common::frames::decode_errors(&first), "");
    let ((video_start, video_end), (sound_start, sound_end)) = spans(&first);
    assert!(
        (sound_start - video_start).abs() < 0.1 && (sound_end - video_end).abs() < 0.5,
        "sound {sound_start}..{sound_end} s beside video {video_start}..{video_end} s"
    );
    // ...and comes back: the push reconnects and sends three seconds more.
    let mut again = rtmp_receiver(port, &second, &["-t", "3"]);
    let deadline = Instant::now() + Duration::from_secs(40);
    while again.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "the push did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        frames_in(&second) >= 80,
        "{} frames after the restart",
        frames_in(&second)
    );
    assert_eq!(common::frames::decode_errors(&second), "");
    let metrics = server.get("/metrics").into_string().expect("metrics");
    let connections = metrics
        .lines()
        .find_map(|l| l.strip_prefix("loopy_push_connections_total "))
        .and_then(|v| v.parse::<f64>().ok())
        .expect("push metrics");
    assert!(connections >= 2.0, "{metrics}");
}

/// The lines of the server's event stream, from now on.
fn listen_to_events(server: &Server) -> std::sync::mpsc::Receiver<String> {
    let events = ureq::get(&server.url("/api/events"))
        .call()
        .expect("event stream");
    assert_eq!(events.header("Content-Type"), Some("text/event-stream"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(events.into_reader()).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The data of the next event named `name` (a generous limit: a stall never ends).
fn next_event(events: &std::sync::mpsc::Receiver<String>, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = events
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("no {name} event within 60 s"));
        if line == format!("event: {name}") {
            return events
                .recv_timeout(Duration::from_secs(5))
                .expect("the event's data");
        }
    }
}

/// The conformed pieces of the served library, sorted.
fn conformed_pieces(server: &Server) -> Vec<std::path::PathBuf> {
    let dir = server._library.as_ref().expect("library").path();
    let conformed = std::fs::read_dir(dir.join(".loopy/conformed"))
        .expect("conformed")
        .filter_map(Result::ok)
        .next()
        .expect("a profile")
        .path();
    let mut pieces: Vec<_> = std::fs::read_dir(&conformed)
        .expect("pieces")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "mkv"))
        .collect();
    pieces.sort();
    pieces
}

#[test]
fn a_damaged_piece_is_never_played_and_is_made_again() {
    let server = serve(&[]);
    server.playlist(2);
    let events = listen_to_events(&server);
    // Bytes overwritten in the middle of every conformed piece, length and time kept.
    let pieces = conformed_pieces(&server);
    let mut damaged = Vec::new();
    for piece in &pieces {
        let modified = std::fs::metadata(piece).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(piece).unwrap();
        let third = bytes.len() / 3;
        bytes[third..2 * third].fill(0x5a);
        std::fs::write(piece, &bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(piece)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        damaged.push(bytes);
    }
    // The next clip to play is refused, announced with the reason, and counted.
    let failed = next_event(&events, "clip_failed");
    assert!(failed.contains("damaged"), "{failed}");
    let metrics = server.get("/metrics").into_string().expect("metrics");
    assert!(
        metrics.contains("loopy_cache_damaged_total")
            && !metrics.contains("loopy_cache_damaged_total 0\n"),
        "no damage counted:\n{metrics}"
    );
    // Its piece is made again while the stream goes on: whole, every frame decodes.
    let deadline = Instant::now() + Duration::from_secs(120);
    let remade = loop {
        let remade = pieces
            .iter()
            .zip(&damaged)
            .find(|(p, bytes)| std::fs::read(p).is_ok_and(|now| &now != *bytes));
        if let Some((piece, _)) = remade {
            break piece.clone();
        }
        assert!(Instant::now() < deadline, "no piece was made again");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(common::frames::decode_errors(&remade), "");
    assert!(ffprobe_frames_and_rate(&remade).0 > 0);
    assert_eq!(server.ffmpeg_complaints("/live.m3u8", 6), "");
}

#[test]
fn a_clip_that_fails_mid_stream_is_replaced_and_announced() {
    let server = serve(&[]);
    server.playlist(2);
    let events = listen_to_events(&server);
    // One conformed clip disappears from the cache while the stream runs.
    let pieces = conformed_pieces(&server);
    std::fs::remove_file(&pieces[0]).expect("remove a piece");
    // It is named on the event stream when its turn comes, and the stream goes on.
    let failed = next_event(&events, "clip_failed");
    assert!(failed.contains("\"reason\""), "{failed}");
    let (_, before) = server.playlist(1);
    assert_eq!(
        server.ffmpeg_complaints("/live.m3u8", 6),
        "",
        "ffmpeg reading the stream after the failure"
    );
    // It goes on: segments keep coming (a generous limit: a stall never ends).
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.playlist(1).1.media_sequence <= before.media_sequence + 3 {
        assert!(Instant::now() < deadline, "the stream stalled");
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics = server.get("/metrics").into_string().expect("metrics");
    assert!(
        !metrics.contains("loopy_clip_failures_total 0\n"),
        "no failure counted:\n{metrics}"
    );
    assert_eq!(
        Server::status_of(ureq::get(&server.url("/healthz")).call()),
        200
    );
}

#[test]
fn the_openapi_document_lists_every_endpoint_and_each_one_answers() {
    let server = serve(&[]);
    server.playlist(1);
    let spec: serde_json::Value = server
        .get("/openapi.json")
        .into_json()
        .expect("OpenAPI JSON");
    assert!(spec["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.")));
    let paths = spec["paths"].as_object().expect("paths");
    let expected = [
        "/",
        "/live.m3u8",
        "/live-fmp4.m3u8",
        "/init.mp4",
        "/segments/{name}",
        "/preview",
        "/preview.mp4",
        "/api/state",
        "/api/clips",
        "/api/clips/{index}/thumb.png",
        "/api/events",
        "/api/signals",
        "/api/queue",
        "/api/cut",
        "/api/skip",
        "/metrics",
        "/healthz",
        "/openapi.json",
    ];
    assert_eq!(
        paths
            .keys()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        expected.into_iter().collect(),
    );
    // Every documented operation exists: not 404/405 (the segment name aside), and
    // the secured ones say 401 without the token.
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            if ["/api/events", "/preview", "/preview.mp4"].contains(&path.as_str()) {
                continue; // endless streams, read in their own tests
            }
            let concrete = path.replace("{name}", "0.ts").replace("{index}", "0");
            let request = ureq::request(&method.to_uppercase(), &server.url(&concrete));
            let status = Server::status_of(match method.as_str() {
                "post" => request
                    .set("Content-Type", "application/json")
                    .send_string("{}"),
                _ => request.call(),
            });
            let secured = operation.get("security").is_some();
            if secured {
                assert_eq!(status, 401, "{method} {path} without the token");
            } else if concrete != "/segments/0.ts" {
                assert!(status == 200, "{method} {path}: {status}");
            }
        }
    }
}

#[test]
fn vlc_reads_both_variants_by_url() {
    if !have_tool(Path::new("/usr/bin/cvlc").exists(), "VLC (cvlc)") {
        return;
    }
    let server = serve(&[]);
    server.playlist(3);
    // VLC refuses to run as root: the tests run it as nobody then, writing here.
    let dir = shared_tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    for (i, playlist) in ["/live.m3u8", "/live-fmp4.m3u8"].into_iter().enumerate() {
        let out = dir.path().join(format!("vlc{i}.ts"));
        let mut vlc = if is_root() {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                "cvlc",
            ]);
            c
        } else {
            Command::new("cvlc")
        };
        // VLC's own HLS reader (its "adaptive" module) follows the live playlist for
        // six seconds and remuxes what it gets, untouched, into a file.
        let run = vlc
            .args(["-I", "dummy", "--no-audio"])
            .arg(server.url(playlist))
            .arg("--sout")
            .arg(format!("#std{{access=file,mux=ts,dst={}}}", out.display()))
            .args(["--run-time", "6", "--play-and-exit"])
            .env("HOME", dir.path())
            .output()
            .expect("cvlc");
        assert!(run.status.success(), "{playlist}: {}", stderr(&run));
        assert!(
            frames_in(&out) >= 90,
            "{playlist}: VLC got {} frames\n{}",
            frames_in(&out),
            stderr(&run)
        );
        assert_eq!(common::frames::decode_errors(&out), "", "{playlist}");
    }
}

#[test]
fn a_port_in_use_is_said_at_once_and_once() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = taken.local_addr().expect("address").port();
    let dir = fresh_library();
    let out = loopy(&[
        "serve",
        dir.path().to_str().unwrap(),
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(
        text.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{text}"
    );
    assert_eq!(text.matches("in use").count(), 1, "{text}");
    // Before any scanning or conforming.
    assert!(!dir.path().join(".loopy").exists(), "{text}");
}
