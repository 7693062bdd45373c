//! Test helpers: clips made by the ffmpeg command line at test time, the real
//! `loopy` binary, and a way to run it as an unprivileged user (CI runs as root, and
//! root ignores file permissions, so permission tests drop to `nobody`).

#![allow(dead_code)]

pub mod browser;
pub mod frames;
pub mod serving;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Whether a tool that `scripts/setup` installs best effort is `present`: when it is
/// not, the test fails under CI and elsewhere says it is skipped.
pub fn have_tool(present: bool, what: &str) -> bool {
    if !present {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what}: not installed (scripts/setup installs it)"
        );
        eprintln!("SKIPPED: {what} not installed (scripts/setup installs it)");
    }
    present
}

/// Runs the ffmpeg CLI, panicking with its stderr on failure.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lossless H.264 yuv420p clip of the lavfi `source`, `extra` ffmpeg options (frame
/// count, GOP, metadata) before the encoder's: decoded pixels equal the source's.
pub fn lossless_clip(path: &Path, source: &str, extra: &[&str]) {
    let mut args = vec!["-f", "lavfi", "-i", source];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "-c:v",
        "libx264",
        "-qp",
        "0",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        path.to_str().expect("utf-8 path"),
    ]);
    ffmpeg(&args);
}

/// A synthetic test-pattern clip: `size` like "64x36", `rate` like "30" or "30000/1001".
pub fn make_clip(path: &Path, size: &str, rate: &str, seconds: &str, codec_args: &[&str]) {
    let source = format!("testsrc2=s={size}:r={rate}:d={seconds}");
    let mut args = vec!["-f", "lavfi", "-i", &source];
    args.extend_from_slice(codec_args);
    let target = path.to_str().expect("utf-8 path");
    args.push(target);
    ffmpeg(&args);
}

/// A clip of one flat colour (an ffmpeg colour name or `0xRRGGBB`), 30 fps, H.264
/// yuv420p: easy to recognise in a decoded picture.
pub fn solid_clip(path: &Path, colour: &str, size: &str, seconds: &str) {
    let source = format!("color=c={colour}:s={size}:r=30:d={seconds}");
    let target = path.to_str().expect("utf-8 path");
    ffmpeg(&[
        "-f", "lavfi", "-i", &source, "-pix_fmt", "yuv420p", "-c:v", "libx264", target,
    ]);
}

/// H.264 with a short GOP, the common case.
pub const H264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-g",
    "10",
    "-pix_fmt",
    "yuv420p",
];

/// File names [`make_mixed_library`] writes, in path order.
pub const MIXED: [&str; 6] = [
    "a_h264.mp4",
    "b_vp9.webm",
    "c_mpeg4.avi",
    "d_prores.mov",
    "e_h265.mkv",
    "f_h264.m4v",
];

/// Clips of every shape a real library mixes: sizes, rates (30000/1001 included),
/// codecs, containers, a 10-bit 4:2:2 ProRes.
pub fn make_mixed_library(dir: &Path) {
    let p = |name: &str| dir.join(name);
    make_clip(&p("a_h264.mp4"), "64x36", "30", "1", H264);
    make_clip(
        &p("b_vp9.webm"),
        "96x54",
        "25",
        "1.2",
        &[
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
        ],
    );
    make_clip(&p("c_mpeg4.avi"), "80x44", "24", "1", &["-c:v", "mpeg4"]);
    make_clip(
        &p("d_prores.mov"),
        "64x36",
        "30000/1001",
        "1",
        &["-c:v", "prores_ks", "-profile:v", "0"],
    );
    make_clip(
        &p("e_h265.mkv"),
        "160x90",
        "60",
        "0.5",
        &[
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error",
        ],
    );
    make_clip(&p("f_h264.m4v"), "64x36", "24", "1", H264);
}

/// A folder readable by every user, so that `as_nobody` runs can see it.
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("loopy-test-")
        .tempdir()
        .expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

pub fn loopy_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_loopy"))
}

pub fn loopy(args: &[&str]) -> Output {
    Command::new(loopy_bin())
        .args(args)
        .output()
        .expect("run loopy")
}

pub fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Runs loopy as user `nobody` when the tests run as root (through `setpriv`), so
/// that permissions apply; as the current user otherwise.
pub fn loopy_unprivileged(args: &[&str]) -> Output {
    if !is_root() {
        return loopy(args);
    }
    // The build folder may not be reachable for nobody: run a copy from /tmp.
    static COPY: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, bin) = COPY.get_or_init(|| {
        let dir = shared_tempdir();
        let bin = dir.path().join("loopy");
        std::fs::copy(loopy_bin(), &bin).expect("copy binary");
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        (dir, bin)
    });
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(bin)
        .args(args)
        .output()
        .expect("setpriv (util-linux) is needed to test permissions as root")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            stdout(out),
            stderr(out)
        )
    })
}

/// Frames and average rate as ffprobe sees them: an independent oracle.
pub fn ffprobe_frames_and_rate(path: &Path) -> (u64, String) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
        .args([
            "-show_entries",
            "stream=nb_read_packets,avg_frame_rate",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.trim().split(',');
    let rate = fields.next().unwrap_or_default().to_string();
    let frames = fields.next().and_then(|f| f.parse().ok()).unwrap_or(0);
    (frames, rate)
}

/// A fixture folder under Cargo's scratch space for tests, made afresh once per test
/// binary run (statics are never dropped, so a temporary folder would leak).
pub fn fixture_dir(name: &str, fill: impl FnOnce(&Path)) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create fixture folder");
    fill(&dir);
    dir
}

/// A small folder of four tagged H.264 clips for planning tests, made once per test binary.
pub fn plan_folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fixture_dir("plan", |dir| {
            for (name, seconds) in [
                ("idle_a.mp4", "1"),
                ("idle_b.mp4", "1.5"),
                ("talk_a.mp4", "1"),
                ("wave_a.mp4", "2"),
            ] {
                make_clip(&dir.join(name), "64x36", "30", seconds, H264);
            }
        })
    })
}

/// Overwrites a run of bytes in the middle of a file with noise (same size): damage a
/// plain scan cannot see.
pub fn corrupt_middle(path: &Path, length: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for b in &mut bytes[middle..middle + length] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    std::fs::write(path, bytes).unwrap();
}

/// The sidecar `OUT.plan.json` a render writes beside `out`, as JSON.
pub fn sidecar_json(out: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(format!("{}.plan.json", out.display()))
        .unwrap_or_else(|e| panic!("no sidecar beside {}: {e}", out.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("sidecar of {}: {e}", out.display()))
}
