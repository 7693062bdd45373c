//! What a demanding user runs into at the edges: options that would be ignored,
//! encoder values that would fail late, outputs that would destroy an input, closed
//! pipes, `-q`, signals, symlink loops, absurd lengths and clips too short to use.
//! Every case is run through the real binary on clips made by FFmpeg at test time.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

fn dir() -> &'static str {
    plan_folder().to_str().unwrap()
}

/// Runs loopy and asserts a usage error (exit 2) whose message contains `needle`.
fn refused(args: &[&str], needle: &str) {
    let out = loopy(args);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    assert!(
        stderr(&out).contains(needle),
        "{args:?}: expected `{needle}` in: {}",
        stderr(&out)
    );
}

#[test]
fn explicit_encoder_options_mean_an_encode() {
    let tmp = shared_tempdir();
    let render = |name: &str, extra: &[&str]| {
        let out = tmp.path().join(name);
        let mut args = vec![
            "render",
            dir(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "1s",
            "--seed",
            "3",
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = loopy(&args);
        assert!(run.status.success(), "{extra:?}: {}", stderr(&run));
        json(&run)["copied"].as_bool().unwrap()
    };
    assert!(render("plain.mp4", &[]), "the library matches: copied");
    for (i, option) in [
        ["--bitrate", "100k"],
        ["--crf", "51"],
        ["--preset", "veryslow"],
        ["--gop", "10"],
        ["--threads", "1"],
    ]
    .iter()
    .enumerate()
    {
        assert!(
            !render(&format!("o{i}.mp4"), option),
            "{option:?} must be honoured by an encode"
        );
    }
    let out = tmp.path().join("always.mp4");
    refused(
        &[
            "render",
            dir(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "1s",
            "--copy",
            "always",
            "--crf",
            "30",
        ],
        "--crf cannot apply",
    );
}

#[test]
fn options_that_would_be_ignored_are_refused() {
    let tmp = shared_tempdir();
    let example = tmp.path().join("example.txt");
    std::fs::write(&example, "idle_a\ntalk_a\nidle_b\nwave_a\n").unwrap();
    let example = example.to_str().unwrap();
    let plan_file = tmp.path().join("plan.json");
    let made = loopy(&[
        "plan",
        dir(),
        "-d",
        "3s",
        "--seed",
        "1",
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let plan_file = plan_file.to_str().unwrap();
    let out = tmp.path().join("out.mp4");
    let out = out.to_str().unwrap();
    let webm = tmp.path().join("out.webm");
    let mov = tmp.path().join("out.mov");
    let (webm, mov) = (webm.to_str().unwrap(), mov.to_str().unwrap());

    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", dir(), "-d", "5s"];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            plan(&["--mode", "uniform", "--learn", example]),
            "--learn only applies",
        ),
        (
            plan(&["--mode", "uniform", "--sigma", "0.5"]),
            "--sigma only applies",
        ),
        (plan(&["--smoothing", "0.5"]), "--smoothing only applies"),
        (plan(&["--exact", "--count", "3"]), "cannot be used with"),
        (plan(&["--signal-strength", "1"]), "--signal"),
        (plan(&["--crossfade", "0.01s"]), "shorter than one frame"),
        (plan(&["--max", "0"]), "--max"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, needle);
    }
    // --learn alone is used: it implies --mode learned.
    let learned = loopy(&["plan", dir(), "-d", "5s", "--learn", example, "--json"]);
    assert!(learned.status.success(), "{}", stderr(&learned));
    assert_eq!(json(&learned)["settings"]["mode"], "learned");

    let render = |extra: &[&str]| {
        // The container follows the codec: h264 → mp4, vp9 → webm, prores → mov.
        let target = match extra.windows(2).find(|w| w[0] == "--codec").map(|w| w[1]) {
            Some("vp9") => webm,
            Some("prores") => mov,
            _ => out,
        };
        let mut args = vec!["render", dir(), "-o", target, "-d", "1s"];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let from_plan = |extra: &[&str]| {
        let mut args = vec!["render", "--plan", plan_file, "-o", out];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (render(&["--thumb-every", "5s"]), "--thumbnails"),
        (
            render(&["--crf", "20", "--bitrate", "1M"]),
            "cannot be used with",
        ),
        (
            from_plan(&["--history", "3"]),
            "--history shapes a new plan",
        ),
        (from_plan(&["--sigma", "1"]), "--sigma shapes a new plan"),
        (
            from_plan(&["--smoothing", "1"]),
            "--smoothing shapes a new plan",
        ),
        (
            from_plan(&["--pattern", "*.mp4"]),
            "--pattern shapes a new plan",
        ),
        (from_plan(&["--max", "2"]), "--max shapes a new plan"),
        (from_plan(&["--no-cache"]), "--no-cache shapes a new plan"),
        // Values the encoder would reject late, or ignore.
        (render(&["--preset", "bogus"]), "not a h264 preset"),
        (
            render(&["--codec", "vp9", "--preset", "ultrafast"]),
            "not a vp9 preset",
        ),
        (
            render(&["--codec", "vp9", "--crf", "70"]),
            "out of range for vp9",
        ),
        (render(&["--crf", "52"]), "out of range for h264"),
        (
            render(&["--codec", "prores", "--crf", "20"]),
            "--crf does not apply",
        ),
        (
            render(&["--codec", "prores", "--bitrate", "1M"]),
            "--bitrate does not apply",
        ),
        (
            render(&["--codec", "prores", "--gop", "10"]),
            "--gop does not apply",
        ),
        (render(&["--pix-fmt", "rgb48le"]), "cannot encode it"),
        (render(&["--size", "0x0"]), "too small"),
        (render(&["--audio", dir()]), "is a folder"),
    ];
    for (args, needle) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        refused(&args, needle);
    }
}

#[test]
fn an_input_is_never_overwritten() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for name in ["idle_a.mp4", "idle_b.mp4", "talk_a.mp4"] {
        std::fs::copy(plan_folder().join(name), lib.join(name)).unwrap();
    }
    let victim = lib.join("idle_b.mp4");
    let before = std::fs::read(&victim).unwrap();
    refused(
        &[
            "render",
            lib.to_str().unwrap(),
            "-o",
            victim.to_str().unwrap(),
            "--count",
            "6",
            "--seed",
            "1",
            "--force",
        ],
        "is an input of this render",
    );
    assert_eq!(std::fs::read(&victim).unwrap(), before);
    // Nor a clip the plan did not pick, nor a file the scan skipped (damaged footage
    // is still footage), nor anything in the cache.
    let plan_file = tmp.path().join("two.json");
    let planned = loopy(&[
        "plan",
        lib.to_str().unwrap(),
        "--count",
        "2",
        "--seed",
        "1",
        "-o",
        plan_file.to_str().unwrap(),
    ]);
    assert!(planned.status.success(), "{}", stderr(&planned));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    let used: Vec<u64> = plan["sequence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_u64().unwrap())
        .collect();
    let unused = (0..3u64).find(|i| !used.contains(i)).unwrap();
    let unpicked = lib.join(plan["clips"][unused as usize]["path"].as_str().unwrap());
    let broken = lib.join("broken.mp4");
    std::fs::write(&broken, b"half a download").unwrap();
    for (target, needle) in [
        (unpicked, "is an input of this render"),
        (broken.clone(), "is a file of the library"),
        (lib.join(".loopy").join("x.mp4"), "cache"),
    ] {
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let before = std::fs::read(&target).ok();
        refused(
            &[
                "render",
                "--plan",
                plan_file.to_str().unwrap(),
                "-o",
                target.to_str().unwrap(),
                "--force",
            ],
            needle,
        );
        assert_eq!(std::fs::read(&target).ok(), before, "{}", target.display());
    }
    // A folder named like a video: refused before any work, even with --force.
    let folder = tmp.path().join("folder.mp4");
    std::fs::create_dir(&folder).unwrap();
    refused(
        &[
            "render",
            lib.to_str().unwrap(),
            "-o",
            folder.to_str().unwrap(),
            "-d",
            "1s",
            "--force",
        ],
        "is a folder",
    );
}

#[test]
fn quiet_prints_only_errors() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    std::fs::copy(plan_folder().join("idle_a.mp4"), lib.join("idle_a.mp4")).unwrap();
    std::fs::copy(plan_folder().join("talk_a.mp4"), lib.join("talk_a.mp4")).unwrap();
    std::fs::write(lib.join("broken.mp4"), b"not a video").unwrap();
    let lib = lib.to_str().unwrap();
    let scan = loopy(&["-q", "scan", lib]);
    assert!(scan.status.success());
    assert_eq!(stderr(&scan), "", "no skip lines with -q");
    let out = tmp.path().join("out.mp4");
    let render = loopy(&[
        "-q",
        "render",
        lib,
        "-o",
        out.to_str().unwrap(),
        "-d",
        "1s",
        "--seed",
        "1",
    ]);
    assert!(render.status.success(), "{}", stderr(&render));
    assert_eq!(stderr(&render), "", "no summary with -q");
    let plan = loopy(&["-q", "plan", lib, "-d", "2s", "--seed", "1"]);
    assert!(plan.status.success());
    assert_eq!(
        (stdout(&plan), stderr(&plan)),
        (String::new(), String::new())
    );
}

/// Runs `loopy ARGS | head -c 1` in bash; loopy's exit code and stderr.
fn into_closed_pipe(args: &[&str]) -> (i32, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" "$@" | head -c 1 >/dev/null; exit "${PIPESTATUS[0]}""#)
        .arg(loopy_bin())
        .args(args)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), stderr(&out))
}

#[test]
fn a_closed_stdout_ends_quietly() {
    for args in [
        vec!["plan", dir(), "-d", "2h", "--seed", "1", "--json"],
        vec!["plan", dir(), "-d", "2h", "--seed", "1", "-q", "-o", "-"],
        vec!["scan", dir(), "--json"],
        vec!["scan", dir()],
    ] {
        let (code, err) = into_closed_pipe(&args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn plans_go_to_stdout_and_special_files() {
    let to_stdout = loopy(&["plan", dir(), "-d", "3s", "--seed", "4", "-o", "-"]);
    assert!(to_stdout.status.success(), "{}", stderr(&to_stdout));
    assert_eq!(json(&to_stdout)["seed"], 4);
    let to_null = loopy(&["plan", dir(), "-d", "3s", "-o", "/dev/null"]);
    assert!(to_null.status.success(), "{}", stderr(&to_null));
}

#[test]
fn errors_name_the_problem_once_and_speak_json() {
    let missing = loopy(&["scan", "/nonexistent/clips", "--json"]);
    assert_eq!(missing.status.code(), Some(2));
    let err = json(&missing);
    assert_eq!(err["kind"], "usage");
    assert!(err["error"].as_str().unwrap().contains("no such directory"));
    let file_as_dir = loopy(&["scan", plan_folder().join("idle_a.mp4").to_str().unwrap()]);
    assert_eq!(
        file_as_dir.status.code(),
        Some(2),
        "{}",
        stderr(&file_as_dir)
    );
    // An OS error is said once, not twice (a folder nobody may read, as `nobody`).
    let tmp = shared_tempdir();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let denied = loopy_unprivileged(&["scan", locked.to_str().unwrap()]);
    assert_eq!(denied.status.code(), Some(1), "{}", stderr(&denied));
    assert_eq!(
        stderr(&denied).matches("Permission denied").count(),
        1,
        "{}",
        stderr(&denied)
    );
    let out = tmp.path().join("x.mp4");
    let unreadable_plan = loopy(&[
        "render",
        "--plan",
        "/nonexistent/p.json",
        "-o",
        out.to_str().unwrap(),
    ]);
    let text = stderr(&unreadable_plan);
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
    // An empty matrix is blamed, not the manifest.
    let matrix = tmp.path().join("m.json");
    std::fs::write(&matrix, "{}").unwrap();
    refused(
        &[
            "plan",
            dir(),
            "-d",
            "5s",
            "--matrix",
            matrix.to_str().unwrap(),
        ],
        "no weight above zero",
    );
    // The default history window shrinks without a warning nobody asked for.
    let small = loopy(&["plan", dir(), "-d", "5s", "--seed", "1"]);
    assert!(!stderr(&small).contains("--history"), "{}", stderr(&small));
}

#[test]
fn absurd_lengths_are_refused_at_once() {
    refused(&["plan", dir(), "-d", "100000000000h"], "the limit is");
    refused(
        &["plan", dir(), "--count", "18446744073709551615"],
        "the limit is",
    );
}

#[test]
fn symlink_loops_are_visited_once() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir_all(lib.join("sub")).unwrap();
    std::fs::copy(plan_folder().join("idle_a.mp4"), lib.join("idle_a.mp4")).unwrap();
    std::fs::copy(plan_folder().join("talk_a.mp4"), lib.join("sub/talk_a.mp4")).unwrap();
    std::os::unix::fs::symlink(".", lib.join("self")).unwrap();
    std::os::unix::fs::symlink("..", lib.join("sub/up")).unwrap();
    std::os::unix::fs::symlink("idle_a.mp4", lib.join("idle_link.mp4")).unwrap();
    // A hard link is a name of its own, as in any listing.
    std::fs::hard_link(lib.join("idle_a.mp4"), lib.join("twin.mp4")).unwrap();
    let mut child = Command::new(loopy_bin())
        .args([
            "scan",
            lib.to_str().unwrap(),
            "--recursive",
            "--json",
            "--no-cache",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Two cycles once hung the scan: give it a generous, bounded time.
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if child.try_wait().unwrap().is_none() {
        let _ = child.kill();
        panic!("the scan did not finish: a symlink cycle is followed");
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let clips: Vec<String> = json(&out)["clips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(clips, ["idle_a.mp4", "sub/talk_a.mp4", "twin.mp4"]);
}

#[test]
fn clips_too_short_to_take_part_are_left_out() {
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for name in ["idle_a.mp4", "idle_b.mp4", "talk_a.mp4"] {
        std::fs::copy(plan_folder().join(name), lib.join(name)).unwrap();
    }
    make_clip(&lib.join("blink.mp4"), "64x36", "30", "0.0333", H264);
    let out = tmp.path().join("out.mp4");
    let run = loopy(&[
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "-d",
        "4s",
        "--crossfade",
        "3f",
        "--seed",
        "1",
        "--skip-bad",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert_eq!(
        stderr(&run).matches("blink.mp4").count(),
        1,
        "{}",
        stderr(&run)
    );
    // A one-clip library says plainly that it can only repeat.
    let one = tmp.path().join("one");
    std::fs::create_dir(&one).unwrap();
    std::fs::copy(plan_folder().join("idle_a.mp4"), one.join("idle_a.mp4")).unwrap();
    let plan = loopy(&["plan", one.to_str().unwrap(), "-d", "3s"]);
    assert!(plan.status.success(), "{}", stderr(&plan));
    assert!(stderr(&plan).contains("only one clip"), "{}", stderr(&plan));
}

#[test]
fn stale_temporary_files_of_dead_renders_are_cleared() {
    let tmp = shared_tempdir();
    // pid_max is at most 2^22: this process cannot exist.
    let stale = tmp.path().join(".other.mp4.loopy-4194305.tmp");
    std::fs::write(&stale, b"half a video").unwrap();
    let out = tmp.path().join("out.mp4");
    let run = loopy(&["render", dir(), "-o", out.to_str().unwrap(), "-d", "1s"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(!stale.exists(), "a dead render's temporary file is removed");
    assert!(Path::new(&out).exists());
}

#[test]
fn defaults_and_messages_follow_what_the_user_typed() {
    let tmp = shared_tempdir();
    // A .webm output without --codec gets WebM's codec instead of failing on H.264.
    let webm = tmp.path().join("out.webm");
    let run = loopy(&[
        "render",
        dir(),
        "-o",
        webm.to_str().unwrap(),
        "-d",
        "1s",
        "--seed",
        "2",
    ]);
    assert!(run.status.success(), "{}", stderr(&run));
    let probed = common::frames::probe(&webm);
    assert_eq!(probed["streams"][0]["codec_name"], "vp9", "{probed}");
    // Errors name the codec as it was typed.
    let other = tmp.path().join("x.webm");
    refused(
        &[
            "render",
            dir(),
            "-o",
            other.to_str().unwrap(),
            "-d",
            "1s",
            "--codec",
            "h265",
        ],
        "h265 cannot go in a webm file",
    );
    let one = loopy(&["plan", dir(), "--count", "1", "--seed", "3"]);
    assert!(one.status.success(), "{}", stderr(&one));
    let said = format!("{}{}", stdout(&one), stderr(&one));
    assert!(said.contains("planned 1 clip:"), "{said}");
}
