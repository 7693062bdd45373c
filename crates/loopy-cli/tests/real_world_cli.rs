//! Real-world clips and plans: phone video with a display matrix, non-square pixels,
//! clips replaced after planning, AVIs whose index lists a dropped frame, Matroska
//! files cut short, and plan files edited by hand.

mod common;

use common::frames::{decode_errors, raw_yuv420p};
use common::*;
use std::path::Path;
use std::process::Command;

/// The first frame of `path` as yuv420p, upright as players show it.
fn first_frame(path: &Path) -> Vec<u8> {
    raw_yuv420p(path, &["-frames:v", "1"])
}

/// A lossless clip whose luma changes along both axes, so any turn or mirror shows.
fn asymmetric_clip(path: &Path, size: &str, extra: &[&str]) {
    let filter = format!(
        "color=c=black:s={size}:r=30:d=1,format=yuv420p,geq=lum='20+3*X+Y*Y/8':cb=100:cr=150"
    );
    lossless_clip(path, &filter, extra);
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "frames of different sizes");
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn phone_video_is_shown_upright() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    let stored = tmp.path().join("stored.mp4");
    asymmetric_clip(&stored, "64x36", &[]);
    for (name, degrees) in [("phone_90.mp4", "90"), ("phone_270.mp4", "270")] {
        ffmpeg(&[
            "-i",
            stored.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={degrees}"),
            lib.join(name).to_str().unwrap(),
        ]);
    }
    let scan = loopy(&["scan", lib.to_str().unwrap(), "--json"]);
    assert!(scan.status.success(), "{}", stderr(&scan));
    for clip in json(&scan)["clips"].as_array().unwrap() {
        assert_eq!(
            (clip["width"].as_u64(), clip["height"].as_u64()),
            (Some(36), Some(64)),
            "{clip}"
        );
    }
    // The copy path would keep the stored (sideways) picture: it must not be taken.
    for (name, copy) in [("phone_90.mp4", "auto"), ("phone_270.mp4", "never")] {
        let one = tmp.path().join(format!("only-{name}"));
        std::fs::create_dir(&one).unwrap();
        std::fs::copy(lib.join(name), one.join(name)).unwrap();
        let out = tmp.path().join(format!("{name}.mkv"));
        let run = loopy(&[
            "render",
            one.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--count",
            "1",
            "--copy",
            copy,
            "--json",
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        assert_eq!(json(&run)["copied"], false);
        assert_eq!(
            (json(&run)["width"].as_u64(), json(&run)["height"].as_u64()),
            (Some(36), Some(64))
        );
        let wanted = first_frame(&one.join(name));
        let got = first_frame(&out);
        let luma = 36 * 64;
        let diff = mean_abs_diff(&wanted[..luma], &got[..luma]);
        assert!(
            diff < 3.0,
            "{name}: upright picture differs by {diff:.1} levels"
        );
        // And it really is turned: the stored picture read sideways would not match.
        let sideways = first_frame(&stored);
        let transposed: Vec<u8> = (0..64)
            .flat_map(|y| (0..36).map(move |x| (x, y)))
            .map(|(x, y)| sideways[x * 64 + y])
            .collect();
        assert!(mean_abs_diff(&transposed, &got[..luma]) > 10.0);
    }
}

#[test]
fn non_square_pixels_keep_the_displayed_aspect() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    // 480x480 stored, 4:3 pixels: shown as 640x480.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=480x480:r=30:d=0.2",
        "-vf",
        "setsar=4/3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        lib.join("wide_pixels.mp4").to_str().unwrap(),
    ]);
    let scan = loopy(&["scan", lib.to_str().unwrap(), "--json"]);
    assert_eq!(json(&scan)["clips"][0]["sar"], "4/3", "{}", stdout(&scan));
    let out = tmp.path().join("out.mp4");
    let run = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--count",
        "1",
        "--size",
        "1280x720",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let frame = first_frame(&out);
    let row = &frame[360 * 1280..361 * 1280];
    let bright: Vec<usize> = (0..1280).filter(|&x| row[x] > 100).collect();
    let (first, last) = (bright[0], *bright.last().unwrap());
    // 4:3 at 720 rows is 960 wide, centred: columns 160..1120.
    assert!(
        first.abs_diff(160) <= 2 && (last + 1).abs_diff(1120) <= 2,
        "picture spans {first}..{} (a stretched square would span 280..1000)",
        last + 1
    );
}

#[test]
fn a_clip_replaced_after_planning_is_refused() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for name in ["a_one.mp4", "b_two.mp4"] {
        make_clip(&lib.join(name), "64x36", "30", "1", H264);
    }
    let plan = tmp.path().join("plan.json");
    let made = loopy(&[
        "plan",
        lib.to_str().unwrap(),
        "--count",
        "4",
        "--seed",
        "1",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let render = |name: &str| {
        let out = tmp.path().join(name);
        loopy(&[
            "render",
            "--plan",
            plan.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
    };
    // Touched but unchanged: fine.
    let bytes = std::fs::read(lib.join("a_one.mp4")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(lib.join("a_one.mp4"), &bytes).unwrap();
    let touched = render("touched.mp4");
    assert!(touched.status.success(), "{}", stderr(&touched));
    // Same frame count, another rate and size: named, nothing rendered.
    make_clip(&lib.join("a_one.mp4"), "320x240", "25", "1.2", H264);
    let swapped = render("swapped.mp4");
    assert_eq!(swapped.status.code(), Some(1), "{}", stderr(&swapped));
    assert!(
        stderr(&swapped).contains("a_one.mp4"),
        "{}",
        stderr(&swapped)
    );
    assert!(
        stderr(&swapped).contains("changed since planning"),
        "{}",
        stderr(&swapped)
    );
    // Same size, one byte different in the middle: the fingerprint tells.
    let mut edited = bytes.clone();
    let middle = edited.len() / 2;
    edited[middle] ^= 0x55;
    std::fs::write(lib.join("a_one.mp4"), &edited).unwrap();
    let edited_run = render("edited.mp4");
    assert_eq!(edited_run.status.code(), Some(1), "{}", stderr(&edited_run));
    assert!(
        stderr(&edited_run).contains("same size, other content"),
        "{}",
        stderr(&edited_run)
    );
    assert!(!tmp.path().join("edited.mp4").exists());
}

/// A hand-edited plan that records a clip as something it is not is refused by
/// name, before any frame is made (a wrong rate rendered the clip at 3× speed).
#[test]
fn a_hand_edited_plan_is_checked_against_the_files() {
    let tmp = shared_tempdir();
    let plan = tmp.path().join("plan.json");
    let made = loopy(&[
        "plan",
        plan_folder().to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "2",
        "--mode",
        "uniform",
        "-o",
        plan.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let first = original["sequence"][0].as_u64().unwrap() as usize;
    let edits: [(&str, serde_json::Value, &str); 4] = [
        ("fps_rational", "10".into(), "frame rate"),
        ("width", 128.into(), "size"),
        ("codec", "hevc".into(), "codec"),
        ("has_audio", true.into(), "sound"),
    ];
    for (field, value, named) in edits {
        let mut edited = original.clone();
        edited["clips"][first][field] = value;
        let path = tmp.path().join(format!("{field}.json"));
        std::fs::write(&path, edited.to_string()).unwrap();
        let out = tmp.path().join(format!("{field}.mp4"));
        for extra in [&[][..], &["--copy", "never"][..]] {
            let mut args = vec![
                "render",
                "--plan",
                path.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ];
            args.extend_from_slice(extra);
            let run = loopy(&args);
            let text = stderr(&run);
            assert_eq!(run.status.code(), Some(1), "{field} {extra:?}: {text}");
            assert!(
                text.contains(original["clips"][first]["path"].as_str().unwrap())
                    && text.contains(named)
                    && text.contains("hand-edited"),
                "{field}: {text}"
            );
            assert!(!out.exists());
        }
    }
}

#[test]
fn an_avi_listing_a_dropped_frame_is_a_clip() {
    let tmp = shared_tempdir();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=320x180:r=25:d=2",
        "-vf",
        "select='not(eq(n\\,10))'",
        "-fps_mode",
        "passthrough",
        "-c:v",
        "mpeg4",
        tmp.path().join("gap.avi").to_str().unwrap(),
    ]);
    let scan = loopy(&["scan", tmp.path().to_str().unwrap(), "--json"]);
    assert!(scan.status.success(), "{}", stderr(&scan));
    assert_eq!(
        json(&scan)["clips"].as_array().unwrap().len(),
        1,
        "{}",
        stderr(&scan)
    );
    let out = tmp.path().join("out.mp4");
    let run = loopy(&[
        "render",
        tmp.path().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--count",
        "1",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
}

/// Clips whose frames are not evenly spaced (an AVI that skips frames, as Cinepak
/// captures do; a variable-rate Matroska) play at their real timing: each stored
/// frame is held until the next one's time, in `loopy frames` and in a render
/// (full and smart), instead of being played back to back in a fraction of the time.
#[test]
fn clips_with_gaps_in_their_timestamps_keep_their_timing() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    // 15 fps, every 7th frame kept: stored frames 0, 7, …, 42, markers 16 + 4n.
    let pattern = "color=c=black:s=64x36:r=15:d=3,format=yuv420p,geq=lum='if(lt(Y,H/2),80,16+4*N)':cb=128:cr=128,select='not(mod(n\\,7))'";
    for (name, codec) in [
        ("gaps.avi", &["-c:v", "mpeg4", "-q:v", "1"][..]),
        ("gaps.mkv", &["-c:v", "libx264", "-qp", "0"][..]),
    ] {
        let mut args = vec!["-f", "lavfi", "-i", pattern, "-fps_mode", "passthrough"];
        args.extend_from_slice(codec);
        let target = lib.join(name);
        args.push(target.to_str().unwrap());
        ffmpeg(&args);
    }
    let scan = loopy(&["scan", lib.to_str().unwrap(), "--json"]);
    assert!(scan.status.success(), "{}", stderr(&scan));
    for clip in json(&scan)["clips"].as_array().unwrap() {
        assert_eq!(clip["frames"], 43, "{clip}");
        assert_eq!(clip["stored_frames"], 7, "{clip}");
        assert!((clip["duration_s"].as_f64().unwrap() - 43.0 / 15.0).abs() < 1e-9);
    }
    // What each frame at 15 fps shows: the stored frame at or before it.
    let held = |k: u64| (k % 43 / 7 * 7) as i64;
    let markers = |raw: &[u8], frame_len: usize| -> Vec<i64> {
        raw.chunks(frame_len)
            .map(|f| {
                // Mean luma of the bottom half's middle row (grey: R = G = B = Y).
                let row = &f[f.len() * 3 / 4..f.len() * 3 / 4 + 64 * 3];
                let level = row.iter().map(|&b| b as f64).sum::<f64>() / row.len() as f64;
                common::frames::marker_index(16.0 + level * 219.0 / 255.0)
            })
            .collect()
    };
    for name in ["gaps.avi", "gaps.mkv"] {
        let out = loopy(&["frames", lib.join(name).to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let shown = markers(&out.stdout, 64 * 36 * 3);
        let expected: Vec<i64> = (0..43).map(held).collect();
        assert_eq!(shown, expected, "{name}: loopy frames");
    }
    for smart in ["never", "always"] {
        let out = tmp.path().join(format!("out-{smart}.mkv"));
        let run = loopy(&[
            "render",
            lib.to_str().unwrap(),
            "--pattern",
            "*.avi",
            "-o",
            out.to_str().unwrap(),
            "--count",
            "2",
            "--crf",
            "0",
            "--smart",
            smart,
        ]);
        assert!(run.status.success(), "{smart}: {}", stderr(&run));
        let frames = common::frames::read_frames(&out, 64, 36);
        assert_eq!(frames.len(), 86, "{smart}: two plays of 43 frames");
        let shown: Vec<i64> = frames
            .iter()
            .map(|f| common::frames::marker_index(f.bottom_y))
            .collect();
        let expected: Vec<i64> = (0..86).map(held).collect();
        assert_eq!(shown, expected, "{smart}: rendered frames");
    }
}

#[test]
fn matroska_cut_short_is_named() {
    let tmp = shared_tempdir();
    for (name, codec) in [("cut.mkv", "libx264"), ("cut.webm", "libvpx-vp9")] {
        let whole = tmp.path().join(format!("whole-{name}"));
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=160x90:r=30:d=4",
            "-c:v",
            codec,
            "-g",
            "15",
            whole.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&whole).unwrap();
        std::fs::create_dir_all(tmp.path().join("lib")).unwrap();
        std::fs::write(
            tmp.path().join("lib").join(name),
            &bytes[..bytes.len() * 6 / 10],
        )
        .unwrap();
    }
    let scan = loopy(&["scan", tmp.path().join("lib").to_str().unwrap(), "--json"]);
    assert_eq!(
        scan.status.code(),
        Some(1),
        "nothing usable: {}",
        stderr(&scan)
    );
    for name in ["cut.mkv", "cut.webm"] {
        assert!(
            stderr(&scan).contains(&format!("skip {name}: truncated")),
            "{name}: {}",
            stderr(&scan)
        );
    }
}

#[test]
fn hand_edited_plans_are_checked_and_recounted() {
    let tmp = shared_tempdir();
    let plan_path = tmp.path().join("plan.json");
    let made = loopy(&[
        "plan",
        plan_folder().to_str().unwrap(),
        "--count",
        "3",
        "--seed",
        "5",
        "-o",
        plan_path.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    let edit = |name: &str, change: &dyn Fn(&mut serde_json::Value)| {
        let mut plan = original.clone();
        change(&mut plan);
        let path = tmp.path().join(name);
        std::fs::write(&path, serde_json::to_string(&plan).unwrap()).unwrap();
        path
    };
    let run = |plan: &Path, out: &str| {
        let out = tmp.path().join(out);
        let result = loopy(&[
            "render",
            "--plan",
            plan.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--copy",
            "never",
        ]);
        (result, out)
    };
    // The same clip three times at 24 fps: rendered as asked, with true figures.
    let repeats = edit("repeats.json", &|p| {
        p["sequence"] = serde_json::json!([1, 1, 1]);
        p["fps_rational"] = serde_json::json!("24");
    });
    let (result, out) = run(&repeats, "repeats.mp4");
    assert!(result.status.success(), "{}", stderr(&result));
    assert!(
        stderr(&result).contains("same clip as the entry before"),
        "{}",
        stderr(&result)
    );
    let side = sidecar_json(&out);
    let (written, rate) = ffprobe_frames_and_rate(&out);
    assert_eq!(side["stats"]["total_frames"].as_u64(), Some(written));
    assert_eq!(side["fps"].as_f64(), Some(24.0));
    assert_eq!(rate, "24/1");
    // Impossible trims and cross-fades: refused before any work, naming the field.
    for (name, field, value) in [
        ("trim.json", "trim_end_frames", 1000),
        ("fade.json", "crossfade_frames", 100_000),
    ] {
        let bad = edit(name, &|p| p[field] = serde_json::json!(value));
        let (result, out) = run(&bad, &format!("{name}.mp4"));
        assert_eq!(result.status.code(), Some(2), "{name}: {}", stderr(&result));
        assert!(
            stderr(&result).contains(field),
            "{name}: {}",
            stderr(&result)
        );
        assert!(!out.exists());
    }
}

#[test]
fn damage_inside_a_clip_is_found_and_never_rendered_silently() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for name in ["a_clip.mp4", "b_clip.mp4", "c_clip.mp4"] {
        make_clip(
            &lib.join(name),
            "320x180",
            "30",
            "2",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
            ],
        );
    }
    corrupt_middle(&lib.join("b_clip.mp4"), 3000);
    let lib_s = lib.to_str().unwrap();
    // A plain scan cannot see it; --verify decodes every frame and names it.
    let plain = loopy(&["scan", lib_s, "--json", "--no-cache"]);
    assert_eq!(json(&plain)["clips"].as_array().unwrap().len(), 3);
    let verified = loopy(&["scan", lib_s, "--json", "--verify"]);
    assert!(verified.status.success(), "{}", stderr(&verified));
    let skipped = json(&verified)["skipped"].clone();
    assert_eq!(skipped[0]["path"], "b_clip.mp4", "{skipped}");
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("damaged at frame "), "{reason}");
    assert!(
        reason.contains("[h264]"),
        "FFmpeg's message is quoted: {reason}"
    );
    // Remembered while the file is unchanged: a later plain scan skips it too.
    let later = loopy(&["scan", lib_s, "--json"]);
    assert_eq!(json(&later)["skipped"][0]["path"], "b_clip.mp4");

    // A render that meets the damage fails, naming clip, entry and output frame.
    let plan = tmp.path().join("plan.json");
    std::fs::write(
        &plan,
        stdout(&loopy(&[
            "plan",
            lib_s,
            "--count",
            "3",
            "--seed",
            "1",
            "--no-cache",
            "-o",
            "-",
        ])),
    )
    .unwrap();
    let plan_json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let damaged_entry = plan_json["sequence"]
        .as_array()
        .unwrap()
        .iter()
        .position(|c| plan_json["clips"][c.as_u64().unwrap() as usize]["path"] == "b_clip.mp4")
        .expect("seed 1 plans the damaged clip");
    let render = |extra: &[&str], out: &str| {
        let out = tmp.path().join(out);
        let mut args = vec![
            "render",
            "--plan",
            plan.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--copy",
            "never",
        ];
        args.extend_from_slice(extra);
        (loopy(&args), out)
    };
    let (failed, out) = render(&[], "failed.mp4");
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
    let text = stderr(&failed);
    assert!(
        text.contains("b_clip.mp4")
            && text.contains(&format!("entry {damaged_entry}"))
            && text.contains("output frame"),
        "{text}"
    );
    assert!(!out.exists());
    // --verify in the pre-flight catches it before any frame is encoded.
    let (early, _) = render(&["--verify"], "early.mp4");
    assert_eq!(early.status.code(), Some(1));
    assert!(
        stderr(&early).contains("damaged at frame"),
        "{}",
        stderr(&early)
    );
    // --skip-bad: the rest of that entry comes from another clip, recorded.
    let (replaced, out) = render(&["--skip-bad", "--json"], "replaced.mp4");
    assert!(replaced.status.success(), "{}", stderr(&replaced));
    let summary = json(&replaced);
    let substitution = &summary["substitutions"][0];
    assert_eq!(substitution["planned"], "b_clip.mp4");
    assert_eq!(substitution["entry"].as_u64(), Some(damaged_entry as u64));
    assert!(substitution["reason"]
        .as_str()
        .unwrap()
        .contains("source frames"));
    assert_eq!(
        ffprobe_frames_and_rate(&out).0,
        summary["frames"].as_u64().unwrap()
    );
    assert_eq!(decode_errors(&out), "", "the output decodes cleanly");
}

/// Mono 48 kHz samples of `path` from `start` for `length` seconds (ffmpeg CLI).
fn audio_window(path: &Path, start: f64, length: f64) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-ss",
            &format!("{start:.3}"),
            "-t",
            &format!("{length:.3}"),
            "-i",
        ])
        .arg(path)
        .args(["-vn", "-ac", "1", "-ar", "48000", "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// (frequency from zero crossings, RMS level) of a window of samples.
fn tone_of(samples: &[f32]) -> (f64, f64) {
    let crossings = samples
        .windows(2)
        .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
        .count();
    let seconds = samples.len() as f64 / 48_000.0;
    let rms = (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>()
        / samples.len().max(1) as f64)
        .sqrt();
    (crossings as f64 / 2.0 / seconds, rms)
}

/// `--audio clips` with in-points: each entry's sound starts where its picture does.
/// The clips' sound is a chirp (200 Hz + 800 Hz per second), so the pitch heard in an
/// entry tells which moment of its clip plays there.
#[test]
fn clip_sound_follows_the_in_points() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for name in ["a.mp4", "b.mp4", "c.mp4"] {
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x36:r=30:d=2",
            "-f",
            "lavfi",
            "-i",
            "aevalsrc=sin(2*PI*(200*t+400*t*t)):s=48000:d=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            lib.join(name).to_str().unwrap(),
        ]);
    }
    let planned = loopy(&[
        "plan",
        lib.to_str().unwrap(),
        "--count",
        "4",
        "--seed",
        "1",
        "--cut-points",
        "--json",
    ]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    // In-points a quarter second apart, whatever the cut-point search chose.
    let mut plan = json(&planned);
    for (entry, first) in [0u64, 12, 6, 14].into_iter().enumerate() {
        plan["cuts"][entry]["first"] = first.into();
        plan["cuts"][entry]["last"] = 59.into();
    }
    let plan_path = tmp.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let out = tmp.path().join("out.mkv");
    let run = loopy(&[
        "render",
        "--plan",
        plan_path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--audio",
        "clips",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let side = sidecar_json(&out);
    for entry in side["timeline"].as_array().unwrap() {
        let start = entry["start_frame"].as_f64().unwrap() / 30.0;
        let first = entry["cut"]["first"].as_f64().unwrap() / 30.0;
        // 0.1 s heard from 0.4 s into the entry: the clip's moment first + 0.45 s.
        let (frequency, _) = tone_of(&audio_window(&out, start + 0.4, 0.1));
        let expected = 200.0 + 800.0 * (first + 0.45);
        assert!(
            (frequency - expected).abs() < 40.0,
            "entry at {start:.2} s entered at {first:.2} s: heard {frequency:.0} Hz, expected {expected:.0}"
        );
    }
}

#[test]
fn clip_sound_is_kept_on_request_and_its_loss_is_said() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for (name, tone) in [
        ("a_low.mp4", Some(440)),
        ("b_high.mp4", Some(1320)),
        ("c_mute.mp4", None),
    ] {
        let mut args = vec![
            "-f".to_string(),
            "lavfi".into(),
            "-i".into(),
            "testsrc2=s=64x36:r=30:d=1".into(),
        ];
        if let Some(f) = tone {
            args.extend([
                "-f".into(),
                "lavfi".into(),
                "-i".into(),
                format!("sine=f={f}:d=1:sample_rate=48000"),
            ]);
        }
        args.extend(
            [
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
            ]
            .map(String::from),
        );
        if tone.is_some() {
            args.extend(["-c:a", "aac", "-shortest"].map(String::from));
        }
        args.push(lib.join(name).to_str().unwrap().into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        ffmpeg(&refs);
    }
    let lib_s = lib.to_str().unwrap();
    let out = tmp.path().join("out.mp4");
    let run = loopy(&[
        "render",
        lib_s,
        "-o",
        out.to_str().unwrap(),
        "--count",
        "6",
        "--seed",
        "3",
        "--crossfade",
        "6f",
        "--audio",
        "clips",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stderr(&run).contains("not used"), "{}", stderr(&run));
    let side = sidecar_json(&out);
    for entry in side["timeline"].as_array().unwrap() {
        let clip = side["clips"][entry["clip"].as_u64().unwrap() as usize]["path"]
            .as_str()
            .unwrap()
            .to_string();
        let (start, frames) = (
            entry["start_frame"].as_f64().unwrap(),
            entry["frames"].as_f64().unwrap(),
        );
        // The middle of the entry, clear of both cross-fades.
        let samples = audio_window(&out, (start + frames / 2.0) / 30.0 - 0.1, 0.2);
        let (frequency, rms) = tone_of(&samples);
        match clip.as_str() {
            "a_low.mp4" => assert!(
                (frequency - 440.0).abs() < 30.0,
                "{clip}: {frequency:.0} Hz"
            ),
            "b_high.mp4" => assert!(
                (frequency - 1320.0).abs() < 60.0,
                "{clip}: {frequency:.0} Hz"
            ),
            _ => assert!(rms < 0.01, "{clip} has no sound, heard rms {rms:.3}"),
        }
    }
    // Without --audio the clips' sound is dropped, and that is said.
    let silent = loopy(&[
        "render",
        lib_s,
        "-o",
        tmp.path().join("silent.mp4").to_str().unwrap(),
        "--count",
        "2",
    ]);
    assert!(silent.status.success());
    assert!(
        stderr(&silent).contains("have their own sound, which is not used"),
        "{}",
        stderr(&silent)
    );

    // A 5.1 --audio file is mixed down with a word; H.265 in mp4 is tagged hvc1.
    let surround = tmp.path().join("surround.wav");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=f=300:d=1",
        "-af",
        "pan=5.1|c0=c0|c1=c0|c2=c0|c3=c0|c4=c0|c5=c0",
        surround.to_str().unwrap(),
    ]);
    let hevc = tmp.path().join("hevc.mp4");
    let run = loopy(&[
        "render",
        lib_s,
        "-o",
        hevc.to_str().unwrap(),
        "--count",
        "2",
        "--codec",
        "h265",
        "--audio",
        surround.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("6 channels are mixed down to stereo"),
        "{}",
        stderr(&run)
    );
    let tag = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_tag_string",
            "-of",
            "csv=p=0",
        ])
        .arg(&hevc)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&tag.stdout).trim(), "hvc1");

    // Transparency cannot be kept in the output: said, per clip.
    let alpha_lib = tmp.path().join("alpha");
    std::fs::create_dir(&alpha_lib).unwrap();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc2=s=64x36:r=30:d=1,format=yuva444p10le",
        "-c:v",
        "prores_ks",
        "-profile:v",
        "4444",
        "-pix_fmt",
        "yuva444p10le",
        alpha_lib.join("glass.mov").to_str().unwrap(),
    ]);
    let run = loopy(&[
        "render",
        alpha_lib.to_str().unwrap(),
        "-o",
        tmp.path().join("flat.mp4").to_str().unwrap(),
        "--count",
        "1",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("glass.mov: its transparency"),
        "{}",
        stderr(&run)
    );
}
