//! `loopy scan` on real folders made by ffmpeg at test time: a messy library of
//! mixed sizes, rates, containers and codecs plus every kind of bad file.

mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

/// Expected skip reasons, as substrings of what loopy prints.
const BAD: [(&str, &str); 7] = [
    ("audio_only.mp4", "no video stream (audio only)"),
    ("empty.mp4", "empty file"),
    ("notes.mp4", "not a video file"),
    ("random.mp4", "not a video file"),
    ("truncated_fast.mp4", "truncated"),
    ("truncated_moov.mp4", "truncated: the `mdat` box needs"),
    ("unknown.avi", "unknown video codec"),
];

fn make_messy(dir: &Path) {
    let p = |name: &str| dir.join(name);
    make_mixed_library(dir);

    std::fs::write(p("empty.mp4"), b"").unwrap();
    let noise: Vec<u8> = (0u32..8192)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(p("random.mp4"), noise).unwrap();
    std::fs::write(
        p("notes.mp4"),
        "these are my notes, not a video\n".repeat(50),
    )
    .unwrap();
    std::fs::write(p("readme.txt"), "not matched by the default patterns").unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=d=1",
        "-c:a",
        "aac",
        p("audio_only.mp4").to_str().unwrap(),
    ]);

    // An AVI whose video fourcc FFmpeg does not know.
    let avi = dir.join("mpeg4.avi.tmp");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x36:r=30:d=1",
        "-c:v",
        "mpeg4",
        "-f",
        "avi",
        avi.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&avi).unwrap();
    let patched: Vec<u8> = replace_all(&bytes, b"FMP4", b"QQQQ");
    assert_ne!(bytes, patched, "the fourcc was found and replaced");
    std::fs::write(p("unknown.avi"), patched).unwrap();
    std::fs::remove_file(&avi).unwrap();

    // Truncated with the index first (frames missing) and with the index last (no index).
    for (name, flags) in [
        ("truncated_fast.mp4", "+faststart"),
        ("truncated_moov.mp4", ""),
    ] {
        let full = dir.join(format!("{name}.full"));
        let mut args = vec!["-f", "lavfi", "-i", "testsrc2=s=64x36:r=30:d=2"];
        args.extend_from_slice(H264);
        if !flags.is_empty() {
            args.extend_from_slice(&["-movflags", flags]);
        }
        args.extend_from_slice(&["-f", "mp4", full.to_str().unwrap()]);
        ffmpeg(&args);
        let bytes = std::fs::read(&full).unwrap();
        std::fs::write(p(name), &bytes[..bytes.len() * 6 / 10]).unwrap();
        std::fs::remove_file(&full).unwrap();
    }
}

fn replace_all(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = haystack.to_vec();
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            i += from.len();
        } else {
            i += 1;
        }
    }
    out
}

/// The messy library, generated once per run; tests that change files work on a copy.
fn messy() -> &'static Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| fixture_dir("messy", make_messy))
}

fn copy_of_messy() -> tempfile::TempDir {
    let dir = shared_tempdir();
    for entry in std::fs::read_dir(messy()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
        }
    }
    dir
}

#[test]
fn messy_folder_lists_good_clips_and_names_every_bad_file() {
    let dir = copy_of_messy();
    let out = loopy(&["scan", dir.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog = json(&out);
    let clips = catalog["clips"].as_array().unwrap();
    let names: Vec<&str> = clips.iter().map(|c| c["path"].as_str().unwrap()).collect();
    assert_eq!(names, MIXED, "usable clips, sorted by path");

    for clip in clips {
        let path = dir.path().join(clip["path"].as_str().unwrap());
        let (frames, rate) = ffprobe_frames_and_rate(&path);
        assert_eq!(
            clip["frames"].as_u64().unwrap(),
            frames,
            "{}: frame count",
            path.display()
        );
        assert_eq!(
            clip["fps"].as_str().unwrap(),
            rate.trim_end_matches("/1"),
            "{}: rate",
            path.display()
        );
        assert!(clip["seamless_score"].as_f64().unwrap() >= 0.0);
        assert_eq!(clip["head"]["luma"].as_str().unwrap().len(), 32 * 18 * 2);
    }
    let by_name = |n: &str| clips.iter().find(|c| c["path"] == n).unwrap();
    assert_eq!(by_name("e_h265.mkv")["width"], 160);
    assert_eq!(by_name("e_h265.mkv")["codec"], "hevc");
    assert_eq!(by_name("d_prores.mov")["fps"], "30000/1001");
    assert_eq!(by_name("d_prores.mov")["pix_fmt"], "yuv422p10le");
    assert_eq!(by_name("b_vp9.webm")["container"], "webm");
    assert_eq!(by_name("a_h264.mp4")["tags"], serde_json::json!(["a"]));

    let skipped = catalog["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), BAD.len(), "{skipped:?}");
    let err = stderr(&out);
    for (name, reason) in BAD {
        let entry = skipped
            .iter()
            .find(|s| s["path"] == name)
            .unwrap_or_else(|| panic!("{name} not skipped"));
        assert!(
            entry["reason"].as_str().unwrap().contains(reason),
            "{name}: {}",
            entry["reason"]
        );
        let line = err
            .lines()
            .find(|l| l.starts_with(&format!("skip {name}: ")))
            .unwrap_or_else(|| panic!("no skip line for {name} in {err}"));
        assert!(line.contains(reason), "{line}");
    }
    assert!(!err.contains("readme.txt") && !stdout(&out).contains("readme.txt"));
}

#[test]
fn human_table_and_summary() {
    let out = loopy(&["scan", messy().to_str().unwrap(), "--no-cache"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    for column in [
        "name", "size", "fps", "duration", "frames", "codec", "seamless", "tags",
    ] {
        assert!(header.contains(column), "{header}");
    }
    assert!(text.contains("e_h265.mkv") && text.contains("160x90") && text.contains("30000/1001"));
    assert!(
        text.contains("6 clips") && text.contains("7 skipped"),
        "{text}"
    );
}

#[test]
fn cache_is_reused_while_files_are_unchanged() {
    let dir = copy_of_messy();
    let root = dir.path().to_str().unwrap();
    assert!(loopy(&["scan", root]).status.success());
    let cache = dir.path().join(".loopy/catalog.json");
    // Mark a cached entry: only a scan that reuses the cache can report the mark.
    let text = std::fs::read_to_string(&cache).unwrap();
    let marked = text.replacen("\"codec\":\"h264\"", "\"codec\":\"cached-mark\"", 1);
    assert_ne!(text, marked);
    std::fs::write(&cache, marked).unwrap();
    let again = json(&loopy(&["scan", root, "--json"]));
    assert_eq!(again["clips"][0]["codec"], "cached-mark");
    // --no-cache probes again.
    let fresh = json(&loopy(&["scan", root, "--json", "--no-cache"]));
    assert_eq!(fresh["clips"][0]["codec"], "h264");
    // A changed file (new mtime) is probed again.
    let clip = dir.path().join("a_h264.mp4");
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    std::fs::File::options()
        .append(true)
        .open(&clip)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let changed = json(&loopy(&["scan", root, "--json"]));
    assert_eq!(changed["clips"][0]["codec"], "h264");
}

#[test]
fn unreadable_file_is_skipped_with_the_reason() {
    let dir = shared_tempdir();
    make_clip(&dir.path().join("good.mp4"), "64x36", "30", "1", H264);
    make_clip(&dir.path().join("locked.mp4"), "64x36", "30", "1", H264);
    std::fs::set_permissions(
        dir.path().join("locked.mp4"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    let out = loopy_unprivileged(&["scan", dir.path().to_str().unwrap(), "--json", "--no-cache"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog = json(&out);
    assert_eq!(catalog["clips"].as_array().unwrap().len(), 1);
    assert!(
        stderr(&out).contains("skip locked.mp4: cannot read: Permission denied"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn read_only_folder_works_without_the_cache_and_says_so_once() {
    let dir = shared_tempdir();
    make_clip(&dir.path().join("idle_1.mp4"), "64x36", "30", "1", H264);
    make_clip(&dir.path().join("idle_2.mp4"), "64x36", "30", "1", H264);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = loopy_unprivileged(&["scan", dir.path().to_str().unwrap()]);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).matches("working without the cache").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("2 clips"));
    assert!(!dir.path().join(".loopy").exists());
}

#[test]
fn empty_folder_and_folder_of_bad_files_fail_with_exit_1() {
    let empty = shared_tempdir();
    let out = loopy(&["scan", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no file matches"), "{}", stderr(&out));

    let bad = shared_tempdir();
    std::fs::write(bad.path().join("x.mp4"), b"").unwrap();
    std::fs::write(bad.path().join("y.mov"), b"text").unwrap();
    let out = loopy(&["scan", bad.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("looked at 2 files, all rejected"), "{err}");
    assert!(
        err.contains("x.mp4: empty file") && err.contains("y.mov: not a video file"),
        "{err}"
    );
}

#[test]
fn patterns_recursion_max_and_manifest() {
    let dir = shared_tempdir();
    make_clip(&dir.path().join("idle_1.MP4"), "64x36", "30", "1", H264);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    make_clip(&dir.path().join("sub/talk_1.mov"), "64x36", "30", "1", H264);
    std::fs::write(
        dir.path().join("loopy.toml"),
        "[clips.\"sub/talk_1.mov\"]\ntags = [\"Talking\", \"calm\"]\nweight = 2.0\nrelevance = 0.5\n",
    )
    .unwrap();
    let root = dir.path().to_str().unwrap();
    let flat = json(&loopy(&["scan", root, "--json"]));
    assert_eq!(
        flat["clips"].as_array().unwrap().len(),
        1,
        "upper-case extension matches; sub-folder not scanned"
    );
    let deep = json(&loopy(&["scan", root, "--json", "--recursive"]));
    let clips = deep["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 2);
    assert_eq!(clips[1]["path"], "sub/talk_1.mov");
    assert_eq!(clips[1]["tags"], serde_json::json!(["talking", "calm"]));
    assert_eq!(clips[1]["weight"], 2.0);
    assert_eq!(clips[0]["tags"], serde_json::json!(["idle"]));
    let only_mov = json(&loopy(&[
        "scan",
        root,
        "--json",
        "--recursive",
        "--pattern",
        "*.mov",
    ]));
    assert_eq!(only_mov["clips"].as_array().unwrap().len(), 1);
    let limited = json(&loopy(&[
        "scan",
        root,
        "--json",
        "--recursive",
        "--max",
        "1",
    ]));
    assert_eq!(limited["clips"].as_array().unwrap().len(), 1);

    std::fs::write(dir.path().join("loopy.toml"), "[clips.x]\nweight = -3\n").unwrap();
    let out = loopy(&["scan", root]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a broken manifest is the user's to fix"
    );
    assert!(stderr(&out).contains("loopy.toml"), "{}", stderr(&out));
}

#[test]
fn not_a_directory_is_a_usage_error() {
    let out = loopy(&["scan", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a directory"));
}

/// The mean luma of each 16×9 sample of a window from `scan --json`.
fn window_levels(window: &serde_json::Value) -> Vec<f64> {
    let hex = window["luma"].as_str().expect("luma");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    bytes
        .chunks(144)
        .map(|s| s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64)
        .collect()
}

#[test]
fn scan_windows_sample_the_right_frames() {
    let tmp = shared_tempdir();
    // Brightness = 16 + 2 × frame number (lossless), so a sample names its frame.
    for (name, rate, frames) in [("ramp30.mp4", "30", "60"), ("ramp60.mp4", "60", "100")] {
        let source =
            format!("color=c=black:s=64x36:r={rate},format=yuv420p,geq=lum='16+2*N':cb=128:cr=128");
        lossless_clip(
            &tmp.path().join(name),
            &source,
            &["-frames:v", frames, "-g", "7"],
        );
    }
    // With --no-windows a scan keeps none (and decodes no more than the first frames
    // and the last GOP).
    let plain = loopy(&[
        "scan",
        tmp.path().to_str().unwrap(),
        "--json",
        "--no-windows",
    ]);
    assert!(plain.status.success(), "{}", stderr(&plain));
    assert!(json(&plain)["clips"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c.get("head_window").is_none() && c.get("tail_window").is_none()));
    // By default they are kept: the clips cached without windows are probed again.
    let out = loopy(&["scan", tmp.path().to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let catalog = json(&out);
    let clip = |name: &str| {
        catalog["clips"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["path"] == name)
            .cloned()
            .unwrap()
    };
    // Samples are grey in full range: video-range luma 16 + 2N reads (2N) × 255/219.
    let level = |frame: u64| 2.0 * frame as f64 * 255.0 / 219.0;
    // 2 s at 30 fps: a quarter of the clip, 15 frames each end, every frame.
    let ramp30 = clip("ramp30.mp4");
    let head = &ramp30["head_window"];
    assert_eq!(
        (head["first"].as_u64(), head["step"].as_u64()),
        (Some(0), Some(1))
    );
    let tail = &ramp30["tail_window"];
    assert_eq!(
        (tail["first"].as_u64(), tail["step"].as_u64()),
        (Some(45), Some(1))
    );
    for (window, first) in [(head, 0), (tail, 45)] {
        let levels = window_levels(window);
        assert_eq!(levels.len(), 15, "{window}");
        for (i, l) in levels.iter().enumerate() {
            assert!(
                (l - level(first + i as u64)).abs() < 1.5,
                "sample {i}: {l} in {levels:?}"
            );
        }
    }
    // 100 frames at 60 fps: 25 frames each end, every second one (30 per second).
    let ramp60 = clip("ramp60.mp4");
    let tail = &ramp60["tail_window"];
    assert_eq!(tail["step"].as_u64(), Some(2));
    let levels = window_levels(tail);
    assert_eq!(levels.len(), 13);
    let first = tail["first"].as_u64().unwrap();
    assert_eq!(first + 12 * 2, 99, "the last sample is the last frame");
    for (i, l) in levels.iter().enumerate() {
        assert!(
            (l - level(first + 2 * i as u64)).abs() < 1.5,
            "sample {i}: {l} in {levels:?}"
        );
    }
    assert_eq!(window_levels(&ramp60["head_window"]).len(), 13);
}
