//! A `loopy serve` on loopback for tests: a library of solid-colour clips, the server
//! on a free port, and HTTP helpers for its API and playlists.

use super::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Solid clips, 3 s at 30 fps, 160x90, each its own colour (RGB).
pub const COLOURS: [(&str, [u8; 3]); 4] = [
    ("idle_red.mp4", [255, 0, 0]),
    ("idle_blue.mp4", [0, 0, 255]),
    ("idle_lime.mp4", [0, 255, 0]),
    ("talk_white.mp4", [255, 255, 255]),
];
pub const TOKEN: &str = "test-token-123";

pub fn library() -> &'static Path {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        fixture_dir("serve-lib", |dir| {
            for (name, [r, g, b]) in COLOURS {
                let colour = format!("0x{r:02x}{g:02x}{b:02x}");
                solid_clip(&dir.join(name), &colour, "160x90", "3");
            }
        })
    })
}

/// A library of its own (copies of the fixture clips): a stream keeps its restart
/// state in its folder, so streams of one folder would resume each other.
pub fn fresh_library() -> tempfile::TempDir {
    let dir = shared_tempdir();
    for (name, _) in COLOURS {
        std::fs::copy(library().join(name), dir.path().join(name)).expect("copy clip");
    }
    dir
}

/// A running `loopy serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub _library: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server on a fresh library (GOP 1 s, 0.3 s cross-fades) and waits
/// until it says where it listens.
pub fn serve(extra: &[&str]) -> Server {
    let dir = fresh_library();
    let mut server = serve_in(dir.path(), extra);
    server._library = Some(dir);
    server
}

/// Starts the server on `dir`, on a free port.
pub fn serve_in(dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(loopy_bin())
        .args(["serve", dir.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args([
            "--crossfade",
            "0.3s",
            "--gop",
            "30",
            "--seed",
            "3",
            "--token",
            TOKEN,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loopy serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("serving http://") {
                let _ = tx.send(rest.trim_end_matches("/live.m3u8").to_string());
            }
            eprintln!("[serve] {line}");
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("loopy serve did not start");
    Server {
        child,
        base: format!("http://{addr}"),
        _library: None,
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> ureq::Response {
        ureq::get(&self.url(path)).call().expect(path)
    }

    pub fn status_of(result: Result<ureq::Response, ureq::Error>) -> u16 {
        match result {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("request failed: {e}"),
        }
    }

    pub fn control(&self, path: &str, body: Option<&str>) -> serde_json::Value {
        let request = ureq::post(&self.url(path)).set("Authorization", &format!("Bearer {TOKEN}"));
        let response = match body {
            Some(json) => request
                .set("Content-Type", "application/json")
                .send_string(json),
            None => request.call(),
        }
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        response.into_json().expect("JSON answer")
    }

    /// The playlist, once it lists at least `segments` segments.
    pub fn playlist(&self, segments: usize) -> (String, m3u8_rs::MediaPlaylist) {
        self.playlist_at("/live.m3u8", segments)
    }

    pub fn playlist_at(&self, path: &str, segments: usize) -> (String, m3u8_rs::MediaPlaylist) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(response) = ureq::get(&self.url(path)).call() {
                let text = response.into_string().expect("playlist text");
                let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes())
                    .unwrap_or_else(|e| panic!("playlist does not parse: {e:?}\n{text}"));
                if parsed.segments.len() >= segments {
                    return (text, parsed);
                }
            }
            assert!(
                Instant::now() < deadline,
                "the playlist never reached {segments} segments"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn media_frame(&self) -> u64 {
        let state: serde_json::Value = self.get("/api/state").into_json().expect("state");
        (state["media_time_s"].as_f64().expect("media time") * 30.0).round() as u64
    }

    /// The body of `GET path`, as bytes.
    pub fn bytes(&self, path: &str) -> Vec<u8> {
        let mut bytes = Vec::new();
        let response = self.get(path);
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect(path);
        bytes
    }

    /// What the ffmpeg CLI's HLS reader says while following `playlist` for
    /// `seconds` of media (nothing, for a good stream).
    pub fn ffmpeg_complaints(&self, playlist: &str, seconds: u32) -> String {
        let read = Command::new("ffmpeg")
            .args(["-v", "error", "-i", &self.url(playlist)])
            .args(["-t", &seconds.to_string(), "-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        assert!(read.status.success(), "ffmpeg failed: {}", stderr(&read));
        stderr(&read)
    }
}

/// The mean colour (RGB) of every 160x90 frame in `bytes`, a piece of the stream
/// written to `file` (whose extension tells ffmpeg the container) and decoded.
pub fn frame_colours(bytes: &[u8], file: &Path) -> Vec<[f64; 3]> {
    std::fs::write(file, bytes).expect("write");
    super::frames::raw_frames(file, &[], "rgb24")
        .chunks_exact(160 * 90 * 3)
        .map(|frame| {
            let mut sum = [0f64; 3];
            for pixel in frame.chunks_exact(3) {
                for c in 0..3 {
                    sum[c] += pixel[c] as f64;
                }
            }
            sum.map(|s| s / (160.0 * 90.0))
        })
        .collect()
}
