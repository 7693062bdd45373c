//! Smart render end to end: `loopy conform`, then renders that copy conformed clip
//! bodies and encode only cross-fades, checked with the ffmpeg CLI against full
//! renders of the same plan.

mod common;

use common::frames::decode_errors;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Four 2 s clips of 128x72 at 30 fps, each its own hue.
fn library(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..4 {
        let hue = format!("hue=h={}", i * 90);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=128x72:r=30:d=2",
            "-vf",
            &hue,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            dir.join(format!("c{i}.mp4")).to_str().unwrap(),
        ]);
    }
}

fn render(dir: &Path, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "render",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "20s",
        "--crossfade",
        "6f",
        "--gop",
        "20",
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = loopy(&args);
    assert!(run.status.success(), "{extra:?}: {}", stderr(&run));
    json(&run)
}

/// `loopy conform LIB --crossfade 6f --gop 20 --transitions --json EXTRA`, which must
/// succeed: its JSON report.
fn conform_transitions(lib: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "conform",
        lib.to_str().unwrap(),
        "--crossfade",
        "6f",
        "--gop",
        "20",
        "--transitions",
        "--json",
    ];
    args.extend_from_slice(extra);
    let run = loopy(&args);
    assert!(run.status.success(), "{}", stderr(&run));
    json(&run)
}

/// Average PSNR of `a` against `reference` (ffmpeg's psnr filter).
fn psnr(a: &Path, reference: &Path) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-i"])
        .arg(a)
        .arg("-i")
        .arg(reference)
        .args(["-lavfi", "psnr", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    let line = text
        .lines()
        .rfind(|l| l.contains("PSNR"))
        .expect("psnr line");
    line.split("average:")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("average PSNR")
}

/// Frame indices of the keyframes of a file's video stream.
fn keyframes(path: &Path) -> Vec<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=flags",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .enumerate()
        .filter(|(_, flags)| flags.starts_with('K'))
        .map(|(i, _)| i as u64)
        .collect()
}

/// The SPS and PPS NAL units of a file's H.264 stream, as the ffmpeg CLI extracts them.
fn parameter_sets(path: &Path) -> Vec<Vec<u8>> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-map",
            "0:v:0",
            "-c",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-frames:v",
            "1",
            "-f",
            "h264",
            "-",
        ])
        .output()
        .unwrap();
    let bytes = out.stdout;
    let mut starts = Vec::new();
    for i in 0..bytes.len().saturating_sub(3) {
        if bytes[i..i + 3] == [0, 0, 1] {
            starts.push(i + 3);
        }
    }
    starts
        .iter()
        .enumerate()
        .map(|(n, &s)| {
            let end = starts.get(n + 1).map_or(bytes.len(), |&e| e - 3);
            let mut nal = bytes[s..end].to_vec();
            while nal.last() == Some(&0) {
                nal.pop();
            }
            nal
        })
        .filter(|nal| matches!(nal.first().map(|b| b & 0x1f), Some(7 | 8)))
        .collect()
}

/// Files in `DIR/.loopy/<kind>/<profile>/` whose name passes `keep`, sorted.
fn cache_files(dir: &Path, kind: &str, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir.join(".loopy").join(kind))
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|profile| {
            std::fs::read_dir(profile.path())
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|f| keep(&f.file_name().to_string_lossy()))
        .map(|f| f.path())
        .collect();
    out.sort();
    out
}

/// Finished pieces (conformed clips or transitions).
fn pieces(dir: &Path, kind: &str) -> Vec<PathBuf> {
    cache_files(dir, kind, |name| name.ends_with(".mkv"))
}

/// Pads two MP4 files to the same size with a trailing `free` box (which players
/// skip): two different clips that only their content tells apart.
fn pad_to_one_size(a: &Path, b: &Path) {
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    let target = size(a).max(size(b)) + 8;
    for path in [a, b] {
        let pad = target - size(path);
        let mut free = (pad as u32).to_be_bytes().to_vec();
        free.extend_from_slice(b"free");
        free.resize(pad as usize, 0);
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend_from_slice(&free);
        std::fs::write(path, bytes).unwrap();
    }
    assert_eq!(size(a), size(b));
}

/// Overwrites the middle third of a file with other bytes, keeping its length and
/// putting its modification time back.
fn scribble(path: &Path) {
    let modified = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let third = bytes.len() / 3;
    for (i, b) in bytes[third..2 * third].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(151).wrapping_add(17);
    }
    std::fs::write(path, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

/// Cuts a file to half its length.
fn cut_in_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

/// Pieces being written (temporary files).
fn being_written(dir: &Path, kind: &str) -> usize {
    cache_files(dir, kind, |name| name.ends_with(".tmp")).len()
}

#[test]
fn smart_and_full_renders_of_a_plan_agree() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let conform = loopy(&[
        "conform",
        lib.to_str().unwrap(),
        "--crossfade",
        "6f",
        "--gop",
        "20",
        "--json",
    ]);
    assert!(conform.status.success(), "{}", stderr(&conform));
    assert_eq!(json(&conform)["report"]["conformed"], 4);
    // IDR frames at 0, k, every GOP after k, and len − k, and every 6 frames of the
    // head, where plans enter clips.
    let conformed = pieces(&lib, "conformed");
    assert_eq!(conformed.len(), 4);
    assert_eq!(keyframes(&conformed[0]), [0, 6, 12, 18, 24, 26, 46, 54]);

    let smart = tmp.path().join("smart.mp4");
    let full = tmp.path().join("full.mp4");
    let reference = tmp.path().join("reference.mkv");
    let s = render(&lib, &smart, &["--seed", "3"]);
    let f = render(&lib, &full, &["--seed", "3", "--smart", "never"]);
    render(
        &lib,
        &reference,
        &[
            "--seed",
            "3",
            "--smart",
            "never",
            "--crf",
            "0",
            "--preset",
            "ultrafast",
        ],
    );
    assert_eq!(s["path"], "smart", "{s}");
    assert_eq!(f["path"], "full");
    assert_eq!(s["frames"], f["frames"]);
    assert_eq!(
        ffprobe_frames_and_rate(&smart).0,
        s["frames"].as_u64().unwrap()
    );
    assert_eq!(
        sidecar_json(&smart)["timeline"],
        sidecar_json(&full)["timeline"]
    );
    assert_eq!(decode_errors(&smart), "", "no decode error at any joint");
    let (smart_db, full_db) = (psnr(&smart, &reference), psnr(&full, &reference));
    assert!(
        (smart_db - full_db).abs() <= 1.0,
        "smart {smart_db:.2} dB, full {full_db:.2} dB against the lossless render"
    );
    // The sidecar says how each span was made.
    let spans = sidecar_json(&smart)["spans"].as_array().unwrap().clone();
    assert!(spans.iter().any(|s| s["how"] == "copied"));
    assert!(
        spans.iter().all(|s| s["how"] != "transition_cached"),
        "a cold cache"
    );

    // Every piece carries the same parameter sets as the output: joins need none new.
    let reference_sets = parameter_sets(&smart);
    assert_eq!(reference_sets.len(), 2, "one SPS and one PPS");
    for piece in pieces(&lib, "conformed")
        .iter()
        .chain(&pieces(&lib, "transitions"))
    {
        assert_eq!(parameter_sets(piece), reference_sets, "{}", piece.display());
    }

    // Another seed: pairs met before come from the transition cache.
    let again = tmp.path().join("again.mp4");
    render(&lib, &again, &["--seed", "4"]);
    let hows: BTreeSet<String> = sidecar_json(&again)["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["how"].as_str().unwrap().to_string())
        .collect();
    assert!(hows.contains("transition_cached"), "{hows:?}");
    let same = tmp.path().join("same.mp4");
    render(&lib, &same, &["--seed", "3"]);
    assert!(sidecar_json(&same)["spans"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["how"] != "transition_encoded"));
}

/// `--cut-points` plans on the smart path: clips conformed with IDR frames through
/// their heads, entries entered between two of them start with a re-encoded lead-in,
/// and the result matches a full render of the same plan frame for frame.
#[test]
fn cut_point_plans_render_smart_like_full() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let conform = loopy(&[
        "conform",
        lib.to_str().unwrap(),
        "--crossfade",
        "6f",
        "--gop",
        "20",
        "--cut-points",
    ]);
    assert!(conform.status.success(), "{}", stderr(&conform));
    // IDR frames at 0, k, every 6 frames through the head window (a quarter of these
    // 2 s clips) and a little beyond, every GOP after k, and len − k.
    let conformed = pieces(&lib, "conformed");
    assert_eq!(keyframes(&conformed[0]), [0, 6, 12, 18, 24, 26, 46, 54]);

    let smart = tmp.path().join("smart.mp4");
    let full = tmp.path().join("full.mp4");
    let reference = tmp.path().join("reference.mkv");
    let cut = ["--seed", "3", "--cut-points"];
    let s = render(&lib, &smart, &cut);
    let f = render(&lib, &full, &[&cut[..], &["--smart", "never"]].concat());
    let lossless = ["--smart", "never", "--crf", "0", "--preset", "ultrafast"];
    render(&lib, &reference, &[&cut[..], &lossless].concat());
    assert_eq!(s["path"], "smart", "{s}");
    assert_eq!(s["frames"], f["frames"]);
    let side = sidecar_json(&smart);
    assert_eq!(side["timeline"], sidecar_json(&full)["timeline"]);
    let plan = loopy_core::Plan::from_json(&side.to_string()).expect("a plan");
    assert!(plan.cuts_inside_clips(), "{:?}", plan.cuts);
    assert_eq!(
        ffprobe_frames_and_rate(&smart).0,
        s["frames"].as_u64().unwrap()
    );
    assert_eq!(decode_errors(&smart), "", "no decode error at any joint");
    let (smart_db, full_db) = (psnr(&smart, &reference), psnr(&full, &reference));
    assert!(
        (smart_db - full_db).abs() <= 1.0,
        "smart {smart_db:.2} dB, full {full_db:.2} dB against the lossless render"
    );
    let hows: BTreeSet<String> = side["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["how"].as_str().unwrap().to_string())
        .collect();
    assert!(hows.contains("copied"), "{hows:?}");
    assert!(hows.contains("transition_encoded"), "{hows:?}");
    // Entered inside the head, off its IDR frames: a lead-in of fewer frames than
    // the IDR spacing, then the body copied.
    let leads: Vec<u64> = side["spans"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["lead_in_frames"].as_u64())
        .collect();
    assert!(
        !leads.is_empty() && leads.iter().all(|&n| (1..6).contains(&n)),
        "{leads:?}"
    );
    // The same plan again copies everything from the cache.
    let again = tmp.path().join("again.mp4");
    render(&lib, &again, &cut);
    assert!(
        sidecar_json(&again)["spans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["how"].as_str().unwrap().ends_with("_encoded")
                && s["lead_in_encoded"] != true)
    );
    // Lead-ins and cross-fades between inner frames are the library's: --prune keeps
    // them while their clips are there, and drops a clip's when it goes.
    let prune = |lib: &Path| {
        let run = loopy(&["cache", lib.to_str().unwrap(), "--prune", "--json"]);
        assert!(run.status.success(), "{}", stderr(&run));
        json(&run)["removed"]["entries"].as_u64().unwrap()
    };
    let named = |lib: &Path, part: &str| {
        pieces(lib, "transitions")
            .iter()
            .filter(|p| p.to_string_lossy().contains(part))
            .count()
    };
    assert!(named(&lib, "@") > 0);
    assert_eq!(prune(&lib), 0);
    let gone = plan.clips[plan.sequence[1]].path.clone();
    std::fs::remove_file(lib.join(&gone)).unwrap();
    assert!(prune(&lib) > 1);
    assert_eq!(prune(&lib), 0);
}

#[test]
fn the_path_is_chosen_and_said() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let out = tmp.path().join("short.mp4");
    // 4 s of an 8 s library, not conformed: a full render, with the reason.
    let short = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "4s",
        "--crossfade",
        "6f",
        "--json",
    ]);
    assert!(short.status.success(), "{}", stderr(&short));
    assert_eq!(json(&short)["path"], "full");
    let reason = json(&short)["path_reason"].as_str().unwrap().to_string();
    assert!(
        reason.contains("clips first") && reason.contains("would encode"),
        "{reason}"
    );
    // Longer than the library: conforming pays for itself, so auto conforms.
    let long = tmp.path().join("long.mp4");
    let s = render(&lib, &long, &["--seed", "1", "--audio", "clips"]);
    assert_eq!(s["path"], "smart");
    let audio = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&long)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&audio.stdout).to_string();
    let durations: Vec<f64> = text
        .lines()
        .filter_map(|l| l.split(',').nth(1)?.parse().ok())
        .collect();
    assert_eq!(durations.len(), 2, "{text}");
    assert!((durations[0] - durations[1]).abs() < 0.05, "{text}");
    // Other codecs cannot be joined here: refused with --smart always.
    let webm = tmp.path().join("x.webm");
    let refused = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        webm.to_str().unwrap(),
        "-d",
        "4s",
        "--codec",
        "vp9",
        "--smart",
        "always",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--smart always is impossible"),
        "{}",
        stderr(&refused)
    );
    // And the status says what is there.
    let status = loopy(&["conform", lib.to_str().unwrap(), "--status"]);
    assert!(stdout(&status).contains("4 clips"), "{}", stdout(&status));
}

#[test]
fn conform_transitions_caches_every_pair_so_that_any_seed_encodes_nothing() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let conform = |extra: &[&str]| {
        let report = &conform_transitions(&lib, extra)["transitions"];
        (
            report["encoded"].as_u64().unwrap(),
            report["cached"].as_u64().unwrap(),
        )
    };
    // Whole clips: four clips, twelve ordered pairs' cross-fades, then none left.
    assert_eq!(conform(&["--whole-clips"]), (12, 0));
    assert_eq!(pieces(&lib, "transitions").len(), 12);
    assert_eq!(conform(&["--whole-clips"]), (0, 12));
    // Cut points (the default profile): each pair's cross-fade between its best cut
    // points, and lead-ins where the next clip is entered between IDR frames.
    let (encoded, cached) = conform(&[]);
    assert_eq!(cached, 0);
    assert!(encoded >= 12, "{encoded} pieces");
    assert_eq!(conform(&[]), (0, encoded));
    for (seed, extra) in [("11", None), ("12", None), ("11", Some("--whole-clips"))] {
        let out = tmp
            .path()
            .join(format!("seed{seed}{}.mp4", extra.unwrap_or("")));
        let mut args = vec!["--seed", seed, "--smart", "always"];
        args.extend(extra);
        render(&lib, &out, &args);
        let side = sidecar_json(&out);
        let spans = side["spans"].as_array().unwrap();
        let hows: BTreeSet<&str> = spans.iter().map(|s| s["how"].as_str().unwrap()).collect();
        assert!(hows.contains("transition_cached"), "{hows:?}");
        assert!(!hows.contains("transition_encoded"), "{hows:?}");
        assert!(
            spans.iter().all(|s| s["lead_in_encoded"] != true),
            "{spans:?}"
        );
        if extra.is_none() {
            // The check means something: this plan cuts inside clips, with lead-ins.
            assert!(side["cuts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["first"] != 0));
            assert!(spans.iter().any(|s| s["lead_in_frames"].as_u64() > Some(0)));
        }
        assert_eq!(decode_errors(&out), "");
    }
}

#[test]
fn changed_clips_are_conformed_again_and_stale_ones_pruned() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let args = [
        "conform",
        lib.to_str().unwrap(),
        "--crossfade",
        "6f",
        "--json",
    ];
    assert!(loopy(&args).status.success());
    make_clip(&lib.join("c0.mp4"), "128x72", "30", "3", H264);
    std::fs::remove_file(lib.join("c3.mp4")).unwrap();
    let again = loopy(&args);
    assert!(again.status.success(), "{}", stderr(&again));
    let report = &json(&again)["report"];
    assert_eq!(
        (
            report["conformed"].as_u64(),
            report["reused"].as_u64(),
            report["pruned"].as_u64()
        ),
        (Some(1), Some(2), Some(2))
    );
    assert_eq!(pieces(&lib, "conformed").len(), 3);
}

#[test]
fn an_interrupted_conform_leaves_nothing_a_later_run_would_use() {
    for signal in ["INT", "HUP", "KILL"] {
        interrupted_conform(signal);
    }
}

fn interrupted_conform(signal: &str) {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    // Six different clips (clips with the same content share one piece).
    for i in 0..6 {
        let hue = format!("hue=h={}", i * 60);
        let path = lib.join(format!("k{i}.mp4"));
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=640x360:r=30:d=4",
            "-vf",
            &hue,
        ];
        args.extend_from_slice(H264);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
    }
    let mut child = Command::new(loopy_bin())
        .args(["conform", lib.to_str().unwrap(), "--preset", "medium"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kill it once a piece is being written.
    let writing = || being_written(&lib, "conformed") > 0;
    for _ in 0..400 {
        if writing() || child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let still_running = child.try_wait().unwrap().is_none();
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait_with_output().unwrap().status;
    if signal != "KILL" && still_running {
        let code = if signal == "HUP" { 129 } else { 130 };
        assert_eq!(status.code(), Some(code), "SIG{signal}: a clean stop");
        assert_eq!(
            being_written(&lib, "conformed"),
            0,
            "SIG{signal} removes the pieces being written"
        );
    }
    // Whatever is there under a final name is whole: 120 frames that decode.
    for piece in pieces(&lib, "conformed") {
        assert_eq!(
            ffprobe_frames_and_rate(&piece).0,
            120,
            "{}",
            piece.display()
        );
        assert_eq!(decode_errors(&piece), "");
    }
    let resumed = loopy(&[
        "conform",
        lib.to_str().unwrap(),
        "--preset",
        "medium",
        "--json",
    ]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let report = &json(&resumed)["report"];
    assert_eq!(
        report["conformed"].as_u64().unwrap() + report["reused"].as_u64().unwrap(),
        6
    );
    assert_eq!(pieces(&lib, "conformed").len(), 6);
}

#[test]
fn a_mixed_library_conforms_into_one_profile() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    make_mixed_library(&lib);
    let run = loopy(&[
        "conform",
        lib.to_str().unwrap(),
        "--fps",
        "30",
        "--size",
        "96x54",
        "--crossfade",
        "3f",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let conformed = pieces(&lib, "conformed");
    assert_eq!(conformed.len(), MIXED.len());
    let sets = parameter_sets(&conformed[0]);
    for piece in &conformed {
        assert_eq!(decode_errors(piece), "", "{}", piece.display());
        assert_eq!(parameter_sets(piece), sets, "{}", piece.display());
    }
}

#[test]
fn h265_pieces_join_the_same_way() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let out = tmp.path().join("hevc.mp4");
    let s = render(
        &lib,
        &out,
        &["--seed", "2", "--codec", "h265", "--smart", "always"],
    );
    assert_eq!(s["path"], "smart");
    assert_eq!(
        ffprobe_frames_and_rate(&out).0,
        s["frames"].as_u64().unwrap()
    );
    assert_eq!(decode_errors(&out), "", "no decode error at any joint");
}

#[test]
fn a_damaged_clip_is_named_and_the_others_are_conformed() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    corrupt_middle(&lib.join("c2.mp4"), 2000);
    let run = loopy(&["conform", lib.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", stderr(&run));
    assert!(stderr(&run).contains("c2.mp4"), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("1 of 4 clips could not be conformed"),
        "{}",
        stderr(&run)
    );
    assert_eq!(pieces(&lib, "conformed").len(), 3);
}

#[test]
fn exact_lengths_and_changed_clips_on_the_smart_path() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    // A clip to replace c0 with later, both padded to one size.
    let replacement = tmp.path().join("bars.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "smptebars=s=128x72:r=30:d=2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        replacement.to_str().unwrap(),
    ]);
    pad_to_one_size(&lib.join("c0.mp4"), &replacement);
    // --exact trims the last entry inside a GOP: still copied, to the frame.
    let exact = tmp.path().join("exact.mp4");
    let run = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        exact.to_str().unwrap(),
        "-d",
        "17.3s",
        "--exact",
        "--crossfade",
        "6f",
        "--seed",
        "5",
        "--smart",
        "always",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = json(&run);
    assert_eq!(s["path"], "smart");
    assert_eq!(s["frames"].as_u64(), Some(519));
    assert_eq!(ffprobe_frames_and_rate(&exact).0, 519);
    assert_eq!(decode_errors(&exact), "");
    // A clip replaced after conforming by another of the same size, its modification
    // time put back (`touch -r`), is conformed again: the smart output shows the new
    // picture, as the full render of the same plan does.
    let original = lib.join("c0.mp4");
    let modified = std::fs::metadata(&original).unwrap().modified().unwrap();
    std::fs::copy(&replacement, &original).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&original)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    let (smart, full) = (
        tmp.path().join("new-smart.mp4"),
        tmp.path().join("new-full.mp4"),
    );
    render(&lib, &smart, &["--seed", "5", "--smart", "always"]);
    render(&lib, &full, &["--seed", "5", "--smart", "never"]);
    assert!(
        psnr(&smart, &full) > 30.0,
        "the smart render shows the replaced clip"
    );
}

#[test]
fn a_read_only_library_renders_in_full() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o555)).unwrap();
    let outdir = tmp.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    std::fs::set_permissions(&outdir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = outdir.join("long.mp4");
    // Longer than the library, so auto would conform: it cannot write there.
    let run = loopy_unprivileged(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "12s",
        "--crossfade",
        "6f",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(json(&run)["path"], "full");
    let reason = json(&run)["path_reason"].as_str().unwrap().to_string();
    assert!(reason.contains("cannot write the cache"), "{reason}");
}

#[test]
fn entries_off_the_frame_grid_are_rendered_and_the_rest_copied() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    // 30 frames at 24 fps last 37.5 output frames: every entry after it starts between
    // two output frames (until another one brings the timeline back onto the grid).
    make_clip(&lib.join("odd.mp4"), "128x72", "24", "1.25", H264);
    let smart = tmp.path().join("smart.mp4");
    let full = tmp.path().join("full.mp4");
    let reference = tmp.path().join("reference.mkv");
    let s = render(
        &lib,
        &smart,
        &["--seed", "11", "--fps", "30", "--smart", "always"],
    );
    render(
        &lib,
        &full,
        &["--seed", "11", "--fps", "30", "--smart", "never"],
    );
    render(
        &lib,
        &reference,
        &[
            "--seed",
            "11",
            "--fps",
            "30",
            "--smart",
            "never",
            "--crf",
            "0",
            "--preset",
            "ultrafast",
        ],
    );
    assert_eq!(s["path"], "smart");
    let hows: BTreeSet<String> = sidecar_json(&smart)["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["how"].as_str().unwrap().to_string())
        .collect();
    assert!(
        hows.contains("rendered") && hows.contains("copied"),
        "{hows:?}"
    );
    assert_eq!(
        ffprobe_frames_and_rate(&smart).0,
        s["frames"].as_u64().unwrap()
    );
    assert_eq!(
        sidecar_json(&smart)["timeline"],
        sidecar_json(&full)["timeline"]
    );
    assert_eq!(decode_errors(&smart), "");
    let (smart_db, full_db) = (psnr(&smart, &reference), psnr(&full, &reference));
    assert!(
        (smart_db - full_db).abs() <= 1.0,
        "smart {smart_db:.2} dB, full {full_db:.2} dB"
    );
}

#[test]
fn an_interrupted_smart_render_leaves_no_transition_a_later_run_would_use() {
    for signal in ["INT", "KILL"] {
        let tmp = shared_tempdir();
        let lib = tmp.path().join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        for i in 0..5 {
            make_clip(&lib.join(format!("t{i}.mp4")), "640x360", "30", "1", H264);
        }
        let out = tmp.path().join("out.mp4");
        let args = [
            "render",
            lib.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "60s",
            "--crossfade",
            "10f",
            "--preset",
            "slower",
            "--smart",
            "always",
            "--seed",
            "1",
        ];
        let mut child = Command::new(loopy_bin())
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Stop it while transitions are being written.
        let writing = || being_written(&lib, "transitions") > 0;
        for _ in 0..2000 {
            if writing() || child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        let _ = child.wait_with_output().unwrap();
        assert!(!out.exists(), "SIG{signal}: no output");
        // Every transition under a final name is whole: 10 frames that decode.
        for piece in pieces(&lib, "transitions") {
            assert_eq!(ffprobe_frames_and_rate(&piece).0, 10, "{}", piece.display());
            assert_eq!(decode_errors(&piece), "");
        }
        let again = loopy(&args);
        assert!(
            again.status.success(),
            "SIG{signal}, then again: {}",
            stderr(&again)
        );
        assert_eq!(decode_errors(&out), "");
    }
}

#[test]
fn damaged_cache_entries_are_made_again_and_never_copied() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let first = tmp.path().join("first.mp4");
    let s = render(&lib, &first, &["--seed", "2", "--smart", "always"]);
    assert_eq!(s["path"], "smart");
    // One conformed clip cut short, one cached cross-fade overwritten in place.
    let conformed = pieces(&lib, "conformed");
    let transitions = pieces(&lib, "transitions");
    assert!(!transitions.is_empty());
    cut_in_half(&conformed[0]);
    scribble(&transitions[0]);
    // The same plan again: both are made again, the output is whole and the same.
    let again = tmp.path().join("again.mp4");
    let s = render(&lib, &again, &["--seed", "2", "--smart", "always"]);
    assert_eq!(s["path"], "smart");
    assert_eq!(s["clips_conformed"].as_u64(), Some(1), "{s}");
    assert!(s["spans"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["how"] == "transition_encoded"));
    assert_eq!(
        ffprobe_frames_and_rate(&again).0,
        ffprobe_frames_and_rate(&first).0
    );
    assert_eq!(decode_errors(&again), "");
    assert!(
        psnr(&again, &first) > 40.0,
        "the re-made pieces show the same"
    );
    // `conform --verify` finds damage and repairs it, clips and cross-fades.
    let conform = |extra: &[&str]| conform_transitions(&lib, extra);
    let warm = conform(&[]);
    assert_eq!(warm["report"]["repaired"].as_u64(), Some(0), "{warm}");
    scribble(&pieces(&lib, "conformed")[1]);
    scribble(&pieces(&lib, "transitions")[2]);
    let repaired = conform(&["--verify"]);
    assert_eq!(
        repaired["report"]["repaired"].as_u64(),
        Some(1),
        "{repaired}"
    );
    assert_eq!(
        repaired["transitions"]["repaired"].as_u64(),
        Some(1),
        "{repaired}"
    );
    let clean = conform(&["--verify"]);
    assert_eq!(clean["report"]["repaired"].as_u64(), Some(0));
    assert_eq!(clean["report"]["conformed"].as_u64(), Some(0));
    assert_eq!(clean["transitions"]["encoded"].as_u64(), Some(0));
}

#[test]
fn auto_uses_what_is_conformed_and_says_what_was_copied() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    // Three of the four clips conformed (into the profile a render will use).
    let part = loopy(&[
        "conform",
        lib.to_str().unwrap(),
        "--max",
        "3",
        "--crossfade",
        "6f",
        "--gop",
        "20",
    ]);
    assert!(part.status.success(), "{}", stderr(&part));
    // A render shorter than the library: smart, because little is left to encode.
    let out = tmp.path().join("short.mp4");
    let run = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "6s",
        "--crossfade",
        "6f",
        "--gop",
        "20",
        "--seed",
        "1",
        "--json",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let s = json(&run);
    assert_eq!(s["path"], "smart", "{s}");
    let (frames, copied, encoded) = (
        s["frames"].as_u64().unwrap(),
        s["frames_copied"].as_u64().unwrap(),
        s["frames_encoded"].as_u64().unwrap(),
    );
    assert_eq!(copied + encoded, frames);
    assert!(copied > 0 && encoded > 0, "{s}");
    let reason = s["path_reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{copied} of {frames} frames copied")),
        "{reason}"
    );
    assert_eq!(ffprobe_frames_and_rate(&out).0, frames);
}

#[test]
fn the_cache_is_listed_pruned_capped_and_left_alone_while_in_use() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    library(&lib);
    let cache = |extra: &[&str]| {
        let mut args = vec!["cache", lib.to_str().unwrap()];
        args.extend_from_slice(extra);
        loopy(&args)
    };
    // A render that goes full leaves no profile behind.
    let short = tmp.path().join("short.mp4");
    let full = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        short.to_str().unwrap(),
        "-d",
        "2s",
        "--crossfade",
        "6f",
    ]);
    assert!(full.status.success(), "{}", stderr(&full));
    assert!(stderr(&full).contains("full"), "{}", stderr(&full));
    let listing = json(&cache(&["--json"]));
    assert_eq!(
        listing["profiles"].as_array().unwrap().len(),
        0,
        "{listing}"
    );
    // Two profiles that differ only in CRF: listed apart, with every parameter.
    let mut reported = Vec::new();
    for crf in ["20", "30"] {
        let run = loopy(&[
            "conform",
            lib.to_str().unwrap(),
            "--crossfade",
            "6f",
            "--crf",
            crf,
            "--transitions",
            "--whole-clips",
            "--json",
        ]);
        assert!(run.status.success(), "{}", stderr(&run));
        let report = json(&run);
        reported.push((
            report["profile_id"].as_str().unwrap().to_string(),
            report["bytes"].as_u64().unwrap(),
        ));
    }
    // `conform --status` is the same listing, and agrees with what conform reported.
    let status = loopy(&["conform", lib.to_str().unwrap(), "--status", "--json"]);
    let status = json(&status);
    for (id, bytes) in &reported {
        let listed = status
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id.as_str())
            .unwrap();
        assert_eq!(listed["bytes"].as_u64(), Some(*bytes), "{status}");
    }
    let text = stdout(&cache(&[]));
    assert!(text.contains("crf 20") && text.contains("crf 30"), "{text}");
    assert!(
        text.contains("GOP 60 (whole clips): 4 clips, 12 transitions"),
        "{text}"
    );
    let listing = json(&cache(&["--json"]));
    let profiles = listing["profiles"].as_array().unwrap().clone();
    assert_eq!(profiles.len(), 2);
    for p in &profiles {
        assert!(p["bytes"].as_u64().unwrap() > 0);
        assert!(p["last_used"].as_u64().is_some());
        assert_eq!(p["in_use"], false);
    }
    // A clip goes away: --prune removes its piece and its six cross-fades.
    std::fs::remove_file(lib.join("c3.mp4")).unwrap();
    let pruned = json(&cache(&["--prune", "--json"]));
    assert_eq!(
        pruned["removed"]["entries"].as_u64(),
        Some(2 * 7),
        "{pruned}"
    );
    assert!(stdout(&cache(&[])).contains("3 clips, 6 transitions"));
    // A profile in use (a process holds its lock, as a render or stream does) is
    // not removed.
    let id = profiles[0]["id"].as_str().unwrap().to_string();
    let lock = lib.join(".loopy/conformed").join(&id).join("lock");
    let mut holder = Command::new("flock")
        .args(["--shared", "--no-fork"])
        .arg(&lock)
        .args(["--command", "echo held; exec sleep 600"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "held");
    let refused = cache(&["--remove", &id]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("in use"), "{}", stderr(&refused));
    let listing = json(&cache(&["--json"]));
    assert!(listing["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == id.as_str() && p["in_use"] == true));
    // A size cap removes the least recently used entries of the other profile only.
    let capped = json(&cache(&["--max-size", "0", "--json"]));
    assert_eq!(capped["removed"]["busy"][0], id.as_str(), "{capped}");
    let left = capped["profiles"].as_array().unwrap();
    assert_eq!(left.len(), 1, "{capped}");
    assert_eq!(left[0]["id"], id.as_str());
    holder.kill().unwrap();
    holder.wait().unwrap();
    let gone = cache(&["--remove", &id[..6], "--json"]);
    assert!(gone.status.success(), "{}", stderr(&gone));
    assert_eq!(json(&gone)["profiles"].as_array().unwrap().len(), 0);
}
