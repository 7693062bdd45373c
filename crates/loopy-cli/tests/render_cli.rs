//! `loopy render` end to end: real encodes of tiny pattern clips, read back with the
//! ffmpeg CLI and checked frame by frame against the plan the render recorded.

mod common;

use common::frames::{marker_index, pattern_clip, probe, raw_frames, read_frames, FrameStats};
use common::*;
use loopy_core::{Plan, Rational};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Clip colours (Y, U, V): far apart so every frame names its clip.
const COLOURS: [(u8, u8, u8); 3] = [(60, 90, 200), (120, 200, 60), (180, 128, 128)];

/// Three 30 fps pattern clips of 1 s at 64x36, lossless.
fn pattern_folder() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fixture_dir("render-pattern", |dir| {
            for (i, colour) in COLOURS.iter().enumerate() {
                pattern_clip(&dir.join(format!("c{i}.mp4")), "64x36", "30", "1", *colour);
            }
        })
    })
}

fn render(args: &[&str]) -> std::process::Output {
    let mut all = vec!["render"];
    all.extend_from_slice(args);
    loopy(&all)
}

fn sidecar(out: &Path) -> (Plan, Vec<serde_json::Value>) {
    let text = std::fs::read_to_string(format!("{}.plan.json", out.display())).expect("sidecar");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        Plan::from_json(&text).expect("sidecar is a plan"),
        value["timeline"].as_array().unwrap().clone(),
    )
}

fn clip_of(stats: &FrameStats) -> usize {
    let d = |&(y, u, v): &(u8, u8, u8)| {
        (stats.top_y - y as f64).abs()
            + (stats.top_u - u as f64).abs()
            + (stats.top_v - v as f64).abs()
    };
    (0..COLOURS.len())
        .min_by(|&a, &b| d(&COLOURS[a]).total_cmp(&d(&COLOURS[b])))
        .unwrap()
}

/// For each output frame: which clip and which source frame the plan says it shows.
fn expected_sources(plan: &Plan) -> Vec<(usize, u64)> {
    let placements = plan.placements();
    let mut out = Vec::new();
    for (entry, (&clip, (_, retimer))) in plan.sequence.iter().zip(plan.retimers()).enumerate() {
        let p = placements[entry];
        for k in p.start_frame..p.start_frame + p.frames {
            if k as usize >= out.len() {
                out.push((clip, retimer.source_frame(k)));
            }
        }
    }
    out
}

#[test]
fn every_frame_shows_the_planned_clip_and_source_frame() {
    let dir = shared_tempdir();
    let out = dir.path().join("out.mkv");
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "7s",
        "--seed",
        "3",
        "--crf",
        "0",
        "--copy",
        "never",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let (plan, timeline) = sidecar(&out);
    let frames = read_frames(&out, 64, 36);
    assert_eq!(frames.len() as u64, plan.stats.total_frames);
    assert_eq!(timeline.len(), plan.sequence.len());
    for (entry, t) in timeline.iter().enumerate() {
        assert_eq!(t["clip"].as_u64().unwrap() as usize, plan.sequence[entry]);
        let start = t["start_frame"].as_u64().unwrap();
        for k in start..start + t["frames"].as_u64().unwrap() {
            let f = &frames[k as usize];
            assert_eq!(clip_of(f), plan.sequence[entry], "frame {k}");
            // Same rate, no cross-fade: output frame k shows source frame k − start
            // after the entry's in-point.
            let first = t.get("cut").map_or(0, |c| c["first"].as_u64().unwrap());
            assert_eq!(
                marker_index(f.bottom_y),
                (first + k - start) as i64,
                "frame {k}: {f:?}"
            );
        }
    }
}

/// `--cut-points`: entries leave and enter their clips inside the windows, and every
/// output frame shows the source frame the plan's in-point and the re-timing say, for
/// hard cuts and cross-fades alike.
#[test]
fn cut_points_show_the_planned_source_frames() {
    let dir = shared_tempdir();
    for crossfade in ["0", "3f"] {
        let out = dir.path().join(format!("cuts-{crossfade}.mkv"));
        let run = render(&[
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "7s",
            "--seed",
            "3",
            "--crf",
            "0",
            "--cut-points",
            "--crossfade",
            crossfade,
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let (plan, timeline) = sidecar(&out);
        assert!(plan.settings.cut_points);
        assert_eq!(plan.cuts.len(), plan.sequence.len());
        assert!(plan.cuts_inside_clips(), "{:?}", plan.cuts);
        let frames = read_frames(&out, 64, 36);
        assert_eq!(frames.len() as u64, plan.stats.total_frames);
        for (entry, t) in timeline.iter().enumerate() {
            let cut = plan.entry_cut(entry);
            assert_eq!(t["cut"]["first"].as_u64(), Some(cut.first), "{t}");
            assert_eq!(t["cut"]["last"].as_u64(), Some(cut.last), "{t}");
            assert_eq!(t["frames"].as_u64(), Some(cut.frames()), "{t}");
        }
        let fade = if crossfade == "0" { 0 } else { 3 };
        let placements = plan.placements();
        assert_eq!(plan.trim_end_frames, 0);
        for (entry, p) in placements.iter().enumerate() {
            // The frames the entry shows alone (a cross-fade blends two markers).
            let head = if entry > 0 { fade } else { 0 };
            let tail = if entry + 1 < placements.len() {
                fade
            } else {
                0
            };
            // Same rate: the entry's output frame i shows source frame in-point + i,
            // and its last shows the out-point (unless the plan's end trims it).
            for k in p.start_frame + head..p.start_frame + p.frames - tail {
                let f = &frames[k as usize];
                assert_eq!(clip_of(f), plan.sequence[entry], "frame {k}");
                assert_eq!(
                    marker_index(f.bottom_y),
                    (plan.entry_cut(entry).first + k - p.start_frame) as i64,
                    "frame {k} of entry {entry} ({:?}): {f:?}",
                    plan.entry_cut(entry)
                );
            }
        }
    }
}

/// Every codec Loopy encodes shows each planned source frame in order: the frame
/// marker (brightness = frame number) read back by the ffmpeg CLI. Several encoder
/// threads, since a frame-threaded encoder that still reads a frame we overwrite
/// showed ProRes frames out of order.
#[test]
fn every_codec_shows_every_frame_in_order() {
    let dir = shared_tempdir();
    for (name, codec, quality) in [
        ("h264.mp4", "h264", ["--crf", "0"]),
        ("h265.mkv", "h265", ["--crf", "0"]),
        ("vp9.webm", "vp9", ["--crf", "0"]),
        ("av1.mkv", "av1", ["--crf", "1"]),
        ("prores.mov", "prores", ["--preset", "hq"]),
    ] {
        let out = dir.path().join(name);
        let mut args = vec![
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "4s",
            "--seed",
            "3",
            "--codec",
            codec,
            "--threads",
            "4",
            // SVT-AV1 needs at least 64 lines.
            "--size",
            "128x72",
        ];
        args.extend_from_slice(&quality);
        let run = render(&args);
        assert!(run.status.success(), "{codec}: {}", stderr(&run));
        let (plan, _) = sidecar(&out);
        let frames = read_frames(&out, 128, 72);
        assert_eq!(frames.len() as u64, plan.stats.total_frames, "{codec}");
        let shown: Vec<(usize, i64)> = frames
            .iter()
            .map(|f| (clip_of(f), marker_index(f.bottom_y)))
            .collect();
        let expected: Vec<(usize, i64)> = expected_sources(&plan)
            .into_iter()
            .map(|(clip, source)| (clip, source as i64))
            .collect();
        assert_eq!(
            shown, expected,
            "{codec}: (clip, source frame) per output frame"
        );
    }
}

#[test]
fn crossfade_blends_only_the_overlap() {
    let dir = shared_tempdir();
    let out = dir.path().join("fade.mp4");
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "5s",
        "--seed",
        "9",
        "--crossfade",
        "5f",
        "--crf",
        "0",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let (plan, timeline) = sidecar(&out);
    assert_eq!(plan.crossfade_frames, 5);
    let frames = read_frames(&out, 64, 36);
    assert_eq!(frames.len() as u64, plan.stats.total_frames);
    let expected = expected_sources(&plan);
    let mut checked_midpoints = 0;
    for (entry, t) in timeline.iter().enumerate() {
        let start = t["start_frame"].as_u64().unwrap();
        let len = t["frames"].as_u64().unwrap();
        let head = if entry > 0 { 5 } else { 0 };
        let tail = if entry + 1 < timeline.len() { 5 } else { 0 };
        // Outside the overlaps: the clip itself, untouched.
        for k in start + head..start + len - tail {
            let f = &frames[k as usize];
            assert_eq!(clip_of(f), plan.sequence[entry], "frame {k}");
            assert_eq!(
                marker_index(f.bottom_y),
                expected[k as usize].1 as i64,
                "frame {k}"
            );
        }
        if head > 0 {
            // The middle frame of a 5-frame fade is half outgoing, half incoming.
            let k = (start + 2) as usize;
            let (a, b) = (
                COLOURS[plan.sequence[entry - 1]],
                COLOURS[plan.sequence[entry]],
            );
            let mid = |x: u8, y: u8| (x as f64 + y as f64) / 2.0;
            let f = &frames[k];
            assert!(
                (f.top_y - mid(a.0, b.0)).abs() <= 2.0,
                "frame {k}: {f:?} vs {a:?}/{b:?}"
            );
            assert!((f.top_u - mid(a.1, b.1)).abs() <= 2.0, "frame {k}: {f:?}");
            assert!((f.top_v - mid(a.2, b.2)).abs() <= 2.0, "frame {k}: {f:?}");
            checked_midpoints += 1;
        }
    }
    assert!(
        checked_midpoints >= 3,
        "the plan should have several transitions"
    );
}

#[test]
fn mixed_rates_are_retimed_by_timestamp() {
    let dir = fixture_dir("render-rates", |dir| {
        pattern_clip(&dir.join("r24.mp4"), "64x36", "24", "1", COLOURS[0]);
        pattern_clip(&dir.join("r25.mp4"), "64x36", "25", "1", COLOURS[1]);
        pattern_clip(&dir.join("r60.mp4"), "64x36", "60", "0.8", COLOURS[2]);
    });
    let tmp = shared_tempdir();
    for (fps, name) in [("30", "a.mkv"), ("30000/1001", "b.mkv")] {
        let out = tmp.path().join(name);
        let run = render(&[
            dir.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "8s",
            "--seed",
            "5",
            "--fps",
            fps,
            "--crf",
            "0",
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let (plan, _) = sidecar(&out);
        assert_eq!(plan.fps_rational, fps.parse::<Rational>().unwrap());
        let frames = read_frames(&out, 64, 36);
        assert_eq!(frames.len() as u64, plan.stats.total_frames);
        for (k, (clip, source)) in expected_sources(&plan).into_iter().enumerate() {
            assert_eq!(clip_of(&frames[k]), clip, "{fps}: frame {k}");
            assert_eq!(
                marker_index(frames[k].bottom_y),
                source as i64,
                "{fps}: frame {k}"
            );
        }
        let probed = probe(&out);
        assert_eq!(
            probed["streams"][0]["avg_frame_rate"],
            fps.to_string() + if fps.contains('/') { "" } else { "/1" }
        );
    }
}

#[test]
fn letterbox_crop_and_stretch() {
    let tmp = shared_tempdir();
    let mut bars = Vec::new();
    for fit in ["letterbox", "crop", "stretch"] {
        let out = tmp.path().join(format!("{fit}.mkv"));
        let run = render(&[
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "1s",
            "--seed",
            "1",
            "--size",
            "48x48",
            "--fit",
            fit,
            "--crf",
            "0",
        ]);
        assert!(run.status.success(), "{fit}: {}", stderr(&run));
        assert_eq!(probe(&out)["streams"][0]["width"], 48);
        // The top 4 luma rows: video black (16) only when letterboxed (16:9 into a square).
        let raw = common::frames::raw_yuv420p(&out, &["-frames:v", "1"]);
        let top: f64 = raw[..48 * 4].iter().map(|&v| v as f64).sum::<f64>() / (48.0 * 4.0);
        bars.push((fit, top));
    }
    assert!(
        (bars[0].1 - 16.0).abs() < 2.0,
        "letterbox bars are black: {bars:?}"
    );
    assert!(
        bars[1].1 > 40.0 && bars[2].1 > 40.0,
        "crop and stretch fill the frame: {bars:?}"
    );

    let odd = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        tmp.path().join("odd.mp4").to_str().unwrap(),
        "-d",
        "1s",
        "--size",
        "49x48",
    ]);
    assert_eq!(odd.status.code(), Some(2));
    assert!(stderr(&odd).contains("even"), "{}", stderr(&odd));
}

#[test]
fn every_codec_in_its_containers() {
    let tmp = shared_tempdir();
    let cases = [
        ("h264", "mp4", "h264", "yuv420p"),
        ("h265", "mkv", "hevc", "yuv420p"),
        ("vp9", "webm", "vp9", "yuv420p"),
        ("av1", "mkv", "av1", "yuv420p"),
        ("prores", "mov", "prores", "yuv422p10le"),
    ];
    for (codec, ext, name, pix) in cases {
        let out = tmp.path().join(format!("{codec}.{ext}"));
        let mut args = vec![
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "2s",
            "--seed",
            "2",
            "--codec",
            codec,
            "--size",
            "64x64",
        ];
        // ProRes is intra-only: a GOP length does not apply (and is refused).
        if codec != "prores" {
            args.extend(["--gop", "15"]);
        }
        let run = render(&args);
        assert!(run.status.success(), "{codec}: {}", stderr(&run));
        let (plan, _) = sidecar(&out);
        let p = probe(&out);
        let s = &p["streams"][0];
        assert_eq!(s["codec_name"], name, "{codec}");
        assert_eq!(s["pix_fmt"], pix, "{codec}");
        assert_eq!(
            (s["width"].as_u64(), s["height"].as_u64()),
            (Some(64), Some(64)),
            "{codec}"
        );
        assert_eq!(
            s["nb_read_frames"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap(),
            plan.stats.total_frames,
            "{codec}"
        );
        let duration: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(
            (duration - plan.stats.total_duration_s).abs() < 0.05,
            "{codec}: {duration} vs {}",
            plan.stats.total_duration_s
        );
    }
    for (codec, ext) in [("prores", "webm"), ("h264", "webm"), ("prores", "mp4")] {
        let out = tmp.path().join(format!("bad-{codec}.{ext}"));
        let run = render(&[
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "1s",
            "--codec",
            codec,
        ]);
        assert_eq!(run.status.code(), Some(2), "{codec} in {ext}");
        assert!(stderr(&run).contains("cannot go in"), "{}", stderr(&run));
        assert!(!out.exists());
    }
}

/// MD5 of every video packet, in order, with its dts.
fn packets(path: &Path) -> Vec<(String, i64)> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_packets",
            "-show_data_hash",
            "md5",
            "-show_entries",
            "packet=dts,data_hash",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (dts, hash) = l.split_once(',').unwrap();
            (hash.to_string(), dts.parse().unwrap_or(i64::MIN))
        })
        .collect()
}

#[test]
fn copy_path_concatenates_packets_unchanged() {
    let tmp = shared_tempdir();
    let out = tmp.path().join("copy.mp4");
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "6s",
        "--seed",
        "4",
        "--copy",
        "always",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(json(&run)["copied"], true);
    let (plan, _) = sidecar(&out);
    let mut expected = Vec::new();
    for &clip in &plan.sequence {
        expected.extend(
            packets(&pattern_folder().join(&plan.clips[clip].path))
                .into_iter()
                .map(|(h, _)| h),
        );
    }
    let got = packets(&out);
    assert_eq!(
        got.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>(),
        expected,
        "packet checksums"
    );
    assert!(
        got.windows(2).all(|w| w[0].1 < w[1].1),
        "dts strictly increasing"
    );
    let frames = read_frames(&out, 64, 36);
    assert_eq!(
        frames.len() as u64,
        plan.stats.total_frames,
        "decodes to the end"
    );

    let refused = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        tmp.path().join("x.mp4").to_str().unwrap(),
        "-d",
        "3s",
        "--copy",
        "always",
        "--crossfade",
        "3f",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("cross-fades"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn existing_output_needs_force_and_failures_leave_nothing() {
    let tmp = shared_tempdir();
    let out = tmp.path().join("keep.mp4");
    std::fs::write(&out, b"precious").unwrap();
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "1s",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");

    // With --plan, options that would shape a new plan are refused, not ignored.
    let plan_file = tmp.path().join("p.json");
    assert!(loopy(&[
        "plan",
        pattern_folder().to_str().unwrap(),
        "-d",
        "2s",
        "-o",
        plan_file.to_str().unwrap()
    ])
    .status
    .success());
    let run = render(&[
        "--plan",
        plan_file.to_str().unwrap(),
        "-o",
        tmp.path().join("p.mp4").to_str().unwrap(),
        "--crossfade",
        "3f",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(
        stderr(&run).contains("--crossfade shapes a new plan"),
        "{}",
        stderr(&run)
    );

    // A clip deleted after planning: named in the error, nothing written.
    let folder = shared_tempdir();
    // Four clips (c3 is a copy of c0), so a broken one always has a replacement that
    // differs from both of its neighbours.
    for (from, to) in [(0, 0), (1, 1), (2, 2), (0, 3)] {
        std::fs::copy(
            pattern_folder().join(format!("c{from}.mp4")),
            folder.path().join(format!("c{to}.mp4")),
        )
        .unwrap();
    }
    let plan_path = folder.path().join("plan.json");
    assert!(loopy(&[
        "plan",
        folder.path().to_str().unwrap(),
        "-d",
        "6s",
        "--seed",
        "1",
        "-o",
        plan_path.to_str().unwrap()
    ])
    .status
    .success());
    std::fs::remove_file(folder.path().join("c1.mp4")).unwrap();
    let broken_out = tmp.path().join("broken.mp4");
    let run = render(&[
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        broken_out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("c1.mp4") && stderr(&run).contains("missing"),
        "{}",
        stderr(&run)
    );
    assert!(!broken_out.exists());
    // --skip-bad substitutes and records it.
    let run = render(&[
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        broken_out.to_str().unwrap(),
        "--skip-bad",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let summary = json(&run);
    assert!(!summary["substitutions"].as_array().unwrap().is_empty());
    let side: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.plan.json", broken_out.display())).unwrap(),
    )
    .unwrap();
    assert_eq!(side["substitutions"][0]["planned"], "c1.mp4");
    assert!(side["sequence"].as_array().unwrap().iter().all(|c| c != 1));

    // A clip replaced by a shorter one since planning: caught before any frame is encoded.
    std::fs::copy(
        pattern_folder().join("c1.mp4"),
        folder.path().join("c1.mp4"),
    )
    .unwrap();
    pattern_clip(
        &folder.path().join("c2.mp4"),
        "64x36",
        "30",
        "0.5",
        COLOURS[2],
    );
    let run = render(&[
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        tmp.path().join("short.mp4").to_str().unwrap(),
        "--skip-bad",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let substituted: Vec<String> = json(&run)["substitutions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["planned"].as_str().unwrap().to_string() + ": " + s["reason"].as_str().unwrap())
        .collect();
    assert!(
        substituted
            .iter()
            .any(|s| s.starts_with("c2.mp4: changed since planning")),
        "{substituted:?}"
    );
    let copied = render(&[
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        tmp.path().join("short-copy.mp4").to_str().unwrap(),
        "--copy",
        "always",
    ]);
    assert_eq!(copied.status.code(), Some(1), "{}", stderr(&copied));
    assert!(
        stderr(&copied).contains("c2.mp4") && stderr(&copied).contains("changed since planning"),
        "{}",
        stderr(&copied)
    );
    std::fs::copy(
        pattern_folder().join("c2.mp4"),
        folder.path().join("c2.mp4"),
    )
    .unwrap();

    // A corrupted clip (cut short, index lost) is named too.
    std::fs::copy(
        pattern_folder().join("c1.mp4"),
        folder.path().join("c1.mp4"),
    )
    .unwrap();
    let bytes = std::fs::read(folder.path().join("c0.mp4")).unwrap();
    std::fs::write(folder.path().join("c0.mp4"), &bytes[..bytes.len() / 3]).unwrap();
    let run = render(&[
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        tmp.path().join("c.mp4").to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(stderr(&run).contains("c0.mp4"), "{}", stderr(&run));

    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn unwritable_folder_is_reported() {
    let tmp = shared_tempdir();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    // The clips too must be reachable for `nobody`: the build folder may not be.
    let clips = tmp.path().join("clips");
    std::fs::create_dir(&clips).unwrap();
    for i in 0..COLOURS.len() {
        std::fs::copy(
            pattern_folder().join(format!("c{i}.mp4")),
            clips.join(format!("c{i}.mp4")),
        )
        .unwrap();
    }
    let out = locked.join("out.mp4");
    let run = loopy_unprivileged(&[
        "render",
        clips.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "1s",
        "--no-cache",
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("locked") && stderr(&run).contains("Permission denied"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
}

fn wait_for_progress(child: &mut std::process::Child, dir: &Path) {
    // The render has started writing once its temporary file is non-empty.
    for _ in 0..200 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the render finished too early to interrupt"
        );
        let started = std::fs::read_dir(dir).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".tmp")
                && e.metadata().map(|m| m.len() > 0).unwrap_or(false)
        });
        if started {
            return;
        }
    }
    panic!("the render never started writing");
}

#[test]
fn interrupted_renders_leave_the_target_alone() {
    for (signal, earlier) in [
        ("INT", false),
        ("TERM", false),
        ("HUP", false),
        ("KILL", true),
    ] {
        let tmp = shared_tempdir();
        let out = tmp.path().join("long.mp4");
        if earlier {
            std::fs::write(&out, b"earlier render").unwrap();
        }
        let mut child = std::process::Command::new(loopy_bin())
            .args([
                "render",
                pattern_folder().to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "-d",
                "2h",
                "--seed",
                "1",
                "--copy",
                "never",
                "--force",
                "--preset",
                "ultrafast",
            ])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_progress(&mut child, tmp.path());
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let result = child.wait_with_output().unwrap();
        if earlier {
            assert_eq!(
                std::fs::read(&out).unwrap(),
                b"earlier render",
                "SIGKILL: the earlier file is intact"
            );
        } else {
            let stderr = String::from_utf8_lossy(&result.stderr);
            let code = match signal {
                "INT" => 130,
                "HUP" => 129,
                _ => 143,
            };
            assert_eq!(result.status.code(), Some(code), "SIG{signal}: {stderr}");
            assert!(stderr.contains("interrupted"), "{stderr}");
            // Nobody presses Ctrl-C again after a SIGTERM from a service manager.
            assert_eq!(stderr.contains("Ctrl-C"), signal == "INT", "{stderr}");
            assert!(!out.exists(), "SIGINT: no file at the target");
            let left: Vec<_> = std::fs::read_dir(tmp.path())
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            assert!(
                left.is_empty(),
                "SIGINT: the temporary file is removed: {left:?}"
            );
        }
    }
}

/// Decoded audio length in seconds (mono 48 kHz s16 as counted by the ffmpeg CLI).
fn audio_seconds(path: &Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout.len() as f64 / 2.0 / 48_000.0
}

#[test]
fn audio_is_looped_to_the_video_length() {
    let tmp = shared_tempdir();
    let wav = tmp.path().join("tone.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:d=1.5",
        "-ac",
        "2",
        wav.to_str().unwrap(),
    ]);
    for (ext, codec) in [("mp4", "aac"), ("webm", "opus")] {
        let out = tmp.path().join(format!("with-audio.{ext}"));
        let mut args = vec![
            pattern_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "4s",
            "--seed",
            "6",
            "--audio",
            wav.to_str().unwrap(),
        ];
        if ext == "webm" {
            args.extend_from_slice(&["--codec", "vp9"]);
        }
        let run = render(&args);
        assert!(run.status.success(), "{ext}: {}", stderr(&run));
        let (plan, _) = sidecar(&out);
        let probed = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-select_streams",
                "a:0",
                "-show_entries",
                "stream=codec_name",
                "-of",
                "csv=p=0",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probed.stdout).trim(), codec);
        let seconds = audio_seconds(&out);
        assert!(
            (seconds - plan.stats.total_duration_s).abs() < 0.03,
            "{ext}: audio {seconds} s, video {} s",
            plan.stats.total_duration_s
        );
    }
    // Copied video with an encoded audio track.
    let copied = tmp.path().join("copied-with-audio.mp4");
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        copied.to_str().unwrap(),
        "-d",
        "4s",
        "--seed",
        "6",
        "--copy",
        "always",
        "--audio",
        wav.to_str().unwrap(),
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(json(&run)["copied"], true);
    let (plan, _) = sidecar(&copied);
    let seconds = audio_seconds(&copied);
    assert!(
        (seconds - plan.stats.total_duration_s).abs() < 0.03,
        "copy: audio {seconds} s, video {} s",
        plan.stats.total_duration_s
    );
    let missing = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        tmp.path().join("x.mp4").to_str().unwrap(),
        "-d",
        "1s",
        "--audio",
        "/nonexistent.wav",
    ]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn a_mixed_library_renders_in_one_run() {
    let dir = fixture_dir("render-mixed", |dir| {
        make_mixed_library(dir);
    });
    let tmp = shared_tempdir();
    let out = tmp.path().join("mixed.mp4");
    let run = render(&[
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "12s",
        "--seed",
        "8",
        // Every format should be rendered: a shuffle visits them all in 12 s, the
        // default planner prefers the few clips whose seams match.
        "--mode",
        "uniform",
        "--history",
        "2",
        "--size",
        "96x54",
        "--fps",
        "30",
        "--crossfade",
        "3f",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let (plan, _) = sidecar(&out);
    let used: std::collections::BTreeSet<usize> = plan.sequence.iter().copied().collect();
    assert!(
        used.len() >= 5,
        "the plan should visit most of the library: {:?}",
        plan.sequence
    );
    let p = probe(&out);
    let s = &p["streams"][0];
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(96), Some(54))
    );
    assert_eq!(
        s["nb_read_frames"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        plan.stats.total_frames
    );
    assert_eq!(
        json(&run)["frames"].as_u64().unwrap(),
        plan.stats.total_frames
    );
}

#[test]
fn the_contact_sheet_shows_every_sampled_frame_in_its_tile() {
    let tmp = shared_tempdir();
    let out = tmp.path().join("sheet.mp4");
    let run = render(&[
        pattern_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "6s",
        "--exact",
        "--seed",
        "5",
        // Lossless: a tile is compared with the output's own frame, not its encoding.
        "--crf",
        "0",
        "--thumbnails",
        "--thumb-every",
        "0.5s",
        "--smart",
        "never",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    // 180 frames, one every 15: twelve tiles of 192x108, six to a row.
    let (tile_w, tile_h, columns, tiles) = (192usize, 108usize, 6usize, 12usize);
    let sheet = raw_frames(&tmp.path().join("sheet.mp4.thumbs.png"), &[], "rgb24");
    let width = tile_w * columns;
    assert_eq!(sheet.len(), width * 2 * tile_h * 3, "two rows of six tiles");
    // The output's frames 0, 15, 30, … scaled to a tile by the ffmpeg CLI.
    let frames = raw_frames(
        &out,
        &[
            "-vf",
            "select=not(mod(n\\,15)),scale=192:108",
            "-fps_mode",
            "passthrough",
        ],
        "rgb24",
    );
    assert_eq!(frames.len(), tiles * tile_w * tile_h * 3);
    // Mean difference between tile `n` and sampled frame `f`, away from the edges
    // (the two scalers filter edges differently). Within a tile it is under 1 level;
    // one frame off (the bottom half's marker moves 4 luma levels a frame) is about 2.
    let difference = |n: usize, f: usize| {
        let (x0, y0) = ((n % columns) * tile_w, (n / columns) * tile_h);
        let (mut sum, mut count) = (0.0, 0.0);
        for y in 8..tile_h - 8 {
            if (tile_h / 2 - 4..tile_h / 2 + 4).contains(&y) {
                continue; // the pattern's own edge between its halves
            }
            for x in 8..tile_w - 8 {
                for c in 0..3 {
                    let a = sheet[((y0 + y) * width + x0 + x) * 3 + c] as f64;
                    let b = frames[((f * tile_h + y) * tile_w + x) * 3 + c] as f64;
                    sum += (a - b).abs();
                    count += 1.0;
                }
            }
        }
        sum / count
    };
    for n in 0..tiles {
        let own = difference(n, n);
        assert!(
            own < 1.5,
            "tile {n} differs from output frame {} by {own:.1}",
            n * 15
        );
        // Neighbouring samples look different: the check can tell frames apart.
        let other = difference(n, (n + 1) % tiles);
        assert!(
            other > 10.0,
            "tile {n}: frames {} and {} alike",
            n * 15,
            (n + 1) % tiles * 15
        );
    }
}
