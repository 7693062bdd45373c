//! The commands and options programs use to drive the binary (the ComfyUI node pack):
//! `frames` (raw RGB out), `make-clip` (raw RGB in), `scan --contact-sheet`, and
//! `--progress json`. Checked against the ffmpeg CLI.

mod common;

use common::frames::{decode_errors, pattern_clip};
use common::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Frames `from..from+count` of `path` as packed RGB24, decoded by the ffmpeg CLI
/// (which turns rotated video upright itself).
fn cli_rgb(path: &Path, from: u64, count: u64) -> Vec<u8> {
    let select = format!("select=between(n\\,{from}\\,{})", from + count - 1);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf", &select, "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success(), "{}", stderr(&out));
    out.stdout
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "different amounts of picture");
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.len().max(1) as f64
}

#[test]
fn frames_writes_the_asked_range_upright_as_rgb() {
    let tmp = shared_tempdir();
    // Frame markers in the bottom half: a shifted range would differ by 4+ levels.
    let plain = tmp.path().join("plain.mp4");
    pattern_clip(&plain, "64x48", "30", "1", (120, 90, 160));
    let out = loopy(&[
        "frames",
        plain.to_str().unwrap(),
        "--start",
        "3",
        "--count",
        "4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 4 * 64 * 48 * 3);
    let diff = mean_abs_diff(&out.stdout, &cli_rgb(&plain, 3, 4));
    assert!(diff < 1.5, "mean difference {diff} from the CLI's decode");
    let shifted = mean_abs_diff(&out.stdout, &cli_rgb(&plain, 4, 4));
    assert!(shifted > diff + 1.0, "the range is not where it was asked");

    // A phone clip stored sideways comes out as players show it (48 wide, 64 high).
    let stored = tmp.path().join("stored.mp4");
    let phone = tmp.path().join("phone.mp4");
    let filter =
        "color=c=black:s=64x48:r=30:d=1,format=yuv420p,geq=lum='20+3*X+Y*Y/8':cb=100:cr=150";
    lossless_clip(&stored, filter, &[]);
    // A display matrix is written when the stream is copied, not when it is encoded.
    ffmpeg(&[
        "-i",
        stored.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        phone.to_str().unwrap(),
    ]);
    let info = json(&loopy(&["frames", phone.to_str().unwrap(), "--info"]));
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(48), Some(64))
    );
    assert_eq!(info["frames"].as_u64(), Some(30));
    let out = loopy(&["frames", phone.to_str().unwrap(), "--count", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = mean_abs_diff(&out.stdout, &cli_rgb(&phone, 0, 2));
    assert!(
        diff < 1.5,
        "rotated clip: mean difference {diff} from the CLI's decode"
    );
}

#[test]
fn frames_refuses_more_than_the_cap_and_names_a_broken_file() {
    let tmp = shared_tempdir();
    let clip = tmp.path().join("clip.mp4");
    make_clip(&clip, "64x36", "30", "2", H264);
    let out = loopy(&["frames", clip.to_str().unwrap(), "--max-frames", "10"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("60 frames"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--max-frames 10"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let within = loopy(&[
        "frames",
        clip.to_str().unwrap(),
        "--start",
        "50",
        "--max-frames",
        "10",
    ]);
    assert!(within.status.success(), "{}", stderr(&within));
    assert_eq!(within.stdout.len(), 10 * 64 * 36 * 3);

    // A range past the end is refused; one that runs past it says so.
    let past = loopy(&["frames", clip.to_str().unwrap(), "--start", "60"]);
    assert_eq!(past.status.code(), Some(2), "{}", stderr(&past));
    assert!(stderr(&past).contains("past the end"), "{}", stderr(&past));
    assert!(past.stdout.is_empty());
    let short = loopy(&[
        "frames",
        clip.to_str().unwrap(),
        "--start",
        "59",
        "--count",
        "5",
    ]);
    assert!(short.status.success(), "{}", stderr(&short));
    assert_eq!(short.stdout.len(), 64 * 36 * 3);
    assert!(
        stderr(&short).contains("--count 5") && stderr(&short).contains("only 1 frame"),
        "{}",
        stderr(&short)
    );

    let junk = tmp.path().join("junk.mp4");
    std::fs::write(&junk, b"not a video at all").unwrap();
    let out = loopy(&["frames", junk.to_str().unwrap(), "--info"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("junk.mp4"), "{}", stderr(&out));
}

/// Runs make-clip with `input` on stdin.
fn make_clip_from(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(loopy_bin())
        .arg("make-clip")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run loopy");
    let mut stdin = child.stdin.take().expect("stdin");
    // The binary may refuse before reading everything; that is its answer.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait")
}

/// `frames` solid frames of 32x24 whose colour steps from dark to light.
fn ramp(frames: usize) -> Vec<u8> {
    (0..frames)
        .flat_map(|i| {
            let level = (30 + i * 8) as u8;
            std::iter::repeat_n([level, 255 - level, 128], 32 * 24).flatten()
        })
        .collect()
}

#[test]
fn make_clip_encodes_raw_frames_and_writes_nothing_on_bad_input() {
    let tmp = shared_tempdir();
    let clip = tmp.path().join("gen.mp4");
    let path = clip.to_str().unwrap();
    let input = ramp(20);
    let out = make_clip_from(&[path, "--size", "32x24", "--fps", "24", "--json"], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["frames"].as_u64(), Some(20));
    assert_eq!(ffprobe_frames_and_rate(&clip), (20, "24/1".to_string()));
    assert_eq!(decode_errors(&clip), "");
    // The frames come back as they went in (H.264 at crf 18, so within a few levels).
    let back = cli_rgb(&clip, 0, 20);
    let diff = mean_abs_diff(&back, &input);
    assert!(diff < 4.0, "mean difference {diff} after the round trip");

    // An existing clip is never replaced without --force.
    let before = std::fs::read(&clip).unwrap();
    let out = make_clip_from(&[path, "--size", "32x24", "--fps", "24"], &ramp(3));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&clip).unwrap(), before);

    // Input that ends inside a frame, no input, an odd size: refused, nothing left.
    let short = tmp.path().join("short.mp4");
    let mut cut = ramp(3);
    cut.truncate(cut.len() - 100);
    for (input, size, says) in [
        (cut, "32x24", "ended inside frame 3"),
        (Vec::new(), "32x24", "no frame"),
        (ramp(1), "31x24", "even"),
    ] {
        let out = make_clip_from(
            &[short.to_str().unwrap(), "--size", size, "--fps", "24"],
            &input,
        );
        assert!(!out.status.success());
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(!short.exists());
    }
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn scan_contact_sheet_tiles_every_first_frame_in_order() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    // Catalog order is by name: a (red), b (blue, portrait), c (white, 4:3).
    for (name, colour, size) in [
        ("a_red.mp4", "red", "320x180"),
        ("b_blue.mp4", "blue", "180x320"),
        ("c_white.mp4", "white", "160x120"),
    ] {
        solid_clip(&lib.join(name), colour, size, "1");
    }
    let sheet = tmp.path().join("sheet.png");
    let out = loopy(&[
        "scan",
        lib.to_str().unwrap(),
        "--contact-sheet",
        sheet.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let png = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&sheet)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .expect("ffmpeg");
    let (w, h) = (3 * 192, 108);
    assert_eq!(
        png.stdout.len(),
        w * h * 3,
        "sheet is not three 192x108 tiles"
    );
    let pixel = |x: usize, y: usize| {
        let at = (y * w + x) * 3;
        [png.stdout[at], png.stdout[at + 1], png.stdout[at + 2]]
    };
    let near = |p: [u8; 3], want: [u8; 3]| p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 12);
    assert!(
        near(pixel(96, 54), [255, 0, 0]),
        "tile 1 {:?}",
        pixel(96, 54)
    );
    assert!(
        near(pixel(192 + 96, 54), [0, 0, 255]),
        "tile 2 {:?}",
        pixel(192 + 96, 54)
    );
    // The portrait clip is pillarboxed: black at the tile's side.
    assert!(
        near(pixel(192 + 10, 54), [0, 0, 0]),
        "tile 2 side {:?}",
        pixel(192 + 10, 54)
    );
    assert!(
        near(pixel(384 + 96, 54), [255, 255, 255]),
        "tile 3 {:?}",
        pixel(384 + 96, 54)
    );

    let again = loopy(&[
        "scan",
        lib.to_str().unwrap(),
        "--contact-sheet",
        sheet.to_str().unwrap(),
    ]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing sheet needs --force"
    );
    let forced = loopy(&[
        "scan",
        lib.to_str().unwrap(),
        "--contact-sheet",
        sheet.to_str().unwrap(),
        "--force",
    ]);
    assert!(forced.status.success(), "{}", stderr(&forced));
}

#[test]
fn progress_json_reports_every_stage_to_its_total() {
    let dir = plan_folder();
    let tmp = shared_tempdir();
    let output = tmp.path().join("out.mp4");
    let out = loopy(&[
        "render",
        dir.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "-d",
        "4s",
        "--seed",
        "1",
        "--smart",
        "never",
        "--progress",
        "json",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let total = json(&out)["frames"]
        .as_u64()
        .expect("frames in the summary");
    let updates: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter(|l| l.starts_with("{\"progress\""))
        .map(|l| serde_json::from_str(l).expect("a JSON progress line"))
        .collect();
    let render: Vec<(u64, u64)> = updates
        .iter()
        .map(|u| &u["progress"])
        .filter(|p| p["stage"] == "render")
        .map(|p| (p["done"].as_u64().unwrap(), p["total"].as_u64().unwrap()))
        .collect();
    assert!(!render.is_empty(), "no render progress: {}", stderr(&out));
    assert!(
        render.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back: {render:?}"
    );
    assert_eq!(render.last(), Some(&(total, total)));
    assert!(updates.iter().any(|u| u["progress"]["stage"] == "scan"));

    // Without the option, a pipe gets no progress at all.
    let quiet = loopy(&[
        "render",
        dir.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "-d",
        "4s",
        "--seed",
        "1",
        "--smart",
        "never",
        "--force",
    ]);
    assert!(quiet.status.success(), "{}", stderr(&quiet));
    assert!(!stderr(&quiet).contains("\"progress\""));
}

/// A device node where an output goes stays a device: small outputs (a contact
/// sheet, thumbnails) are written into it, a video is refused; none replaces it.
#[test]
fn outputs_never_replace_a_device_node() {
    use std::os::unix::fs::FileTypeExt;
    if !is_root() {
        eprintln!("SKIPPED: mknod needs root");
        return;
    }
    let tmp = shared_tempdir();
    // A character device like /dev/null (1, 3), under names outputs would take.
    let node = |name: &str| {
        let path = tmp.path().join(name);
        let made = Command::new("mknod")
            .arg(&path)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(made.success());
        path
    };
    let is_device = |path: &std::path::Path| {
        std::fs::metadata(path)
            .map(|m| m.file_type().is_char_device())
            .unwrap_or(false)
    };
    let sheet = node("sheet.png");
    let scan = loopy(&[
        "scan",
        plan_folder().to_str().unwrap(),
        "--contact-sheet",
        sheet.to_str().unwrap(),
        "--force",
    ]);
    assert!(scan.status.success(), "{}", stderr(&scan));
    assert!(is_device(&sheet), "the contact sheet replaced the device");

    let video = node("video.mp4");
    let render = loopy(&[
        "render",
        plan_folder().to_str().unwrap(),
        "-o",
        video.to_str().unwrap(),
        "-d",
        "1s",
        "--force",
    ]);
    assert_eq!(render.status.code(), Some(2), "{}", stderr(&render));
    assert!(stderr(&render).contains("device"), "{}", stderr(&render));
    assert!(is_device(&video));

    let out = tmp.path().join("out.mp4");
    let thumbs = node("out.mp4.thumbs.png");
    let render = loopy(&[
        "render",
        plan_folder().to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "1s",
        "--thumbnails",
        "--force",
    ]);
    assert!(render.status.success(), "{}", stderr(&render));
    assert!(is_device(&thumbs), "the thumbnails replaced the device");
    // An existing thumbnail sheet is someone's file: replaced only with --force.
    let other = tmp.path().join("other.mp4");
    let kept = tmp.path().join("other.mp4.thumbs.png");
    std::fs::write(&kept, b"mine").unwrap();
    let render = loopy(&[
        "render",
        plan_folder().to_str().unwrap(),
        "-o",
        other.to_str().unwrap(),
        "-d",
        "1s",
        "--thumbnails",
    ]);
    assert_eq!(render.status.code(), Some(2), "{}", stderr(&render));
    assert_eq!(std::fs::read(&kept).unwrap(), b"mine");
    assert!(!other.exists());
}
