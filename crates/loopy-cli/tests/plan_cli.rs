//! `loopy plan` through the real binary: reproducible output, the plan contract,
//! statistics of an existing plan, and exit code 2 for every user mistake.

mod common;

use common::*;

fn plan_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["plan", plan_folder().to_str().unwrap(), "--no-cache"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn same_seed_same_bytes_other_seed_other_plan() {
    let a = loopy(&plan_args(&["--duration", "1m", "--seed", "7", "--json"]));
    let b = loopy(&plan_args(&["--duration", "1m", "--seed", "7", "--json"]));
    let c = loopy(&plan_args(&["--duration", "1m", "--seed", "8", "--json"]));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(json(&a)["sequence"], json(&c)["sequence"]);
}

#[test]
fn plan_file_follows_the_contract() {
    let dir = shared_tempdir();
    let out_path = dir.path().join("plan.json");
    let out = loopy(&plan_args(&[
        "--duration",
        "20s",
        "--crossfade",
        "6f",
        "--seed",
        "1",
        "--fps",
        "25",
        "--exact",
        "-o",
        out_path.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("wrote"), "{}", stdout(&out));
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["seed"], 1);
    assert_eq!(plan["fps"], 25.0);
    assert_eq!(plan["crossfade_frames"], 6);
    assert!(plan["root"].as_str().unwrap().starts_with('/'));
    assert_eq!(plan["clips"].as_array().unwrap().len(), 4);
    assert_eq!(
        plan["stats"]["total_frames"], 500,
        "20 s at 25 fps, trimmed exactly"
    );
    assert_eq!(plan["stats"]["immediate_repeats"], 0);
    let seq = plan["sequence"].as_array().unwrap();
    assert!(seq.windows(2).all(|w| w[0] != w[1]));
    assert_eq!(
        plan["stats"]["transitions"].as_u64().unwrap(),
        seq.len() as u64 - 1
    );
    assert_eq!(plan["clips"][2]["tags"], serde_json::json!(["talk"]));

    // --stats on the written plan reports the same figures.
    let stats = loopy(&["plan", "--stats", out_path.to_str().unwrap(), "--json"]);
    assert!(stats.status.success(), "{}", stderr(&stats));
    assert_eq!(json(&stats), plan["stats"]);
    let human = loopy(&["plan", "--stats", out_path.to_str().unwrap()]);
    assert!(
        stdout(&human).contains("immediate repeats 0"),
        "{}",
        stdout(&human)
    );

    // An existing output is kept without --force, replaced with it.
    let before = std::fs::read(&out_path).unwrap();
    let again = loopy(&plan_args(&[
        "--duration",
        "5s",
        "--seed",
        "2",
        "-o",
        out_path.to_str().unwrap(),
    ]));
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--force"));
    assert_eq!(std::fs::read(&out_path).unwrap(), before);
    let forced = loopy(&plan_args(&[
        "--duration",
        "5s",
        "--seed",
        "2",
        "-o",
        out_path.to_str().unwrap(),
        "--force",
    ]));
    assert!(forced.status.success());
    assert_ne!(std::fs::read(&out_path).unwrap(), before);
    let leftovers = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "plan.json")
        .count();
    assert_eq!(leftovers, 0, "no temporary file is left beside the output");
}

#[test]
fn random_seed_is_printed_and_recorded() {
    let out = loopy(&plan_args(&["--duration", "10s", "--json"]));
    assert!(out.status.success());
    let seed = json(&out)["seed"].as_u64().unwrap();
    assert!(
        stderr(&out).contains(&format!("--seed {seed}")),
        "{}",
        stderr(&out)
    );
}

#[test]
fn learned_and_custom_modes_read_their_files() {
    let dir = shared_tempdir();
    let example = dir.path().join("example.txt");
    std::fs::write(&example, "idle_a\ntalk_a\nidle_b\nwave_a\nidle_a\ntalk_a\n").unwrap();
    let learned = loopy(&plan_args(&[
        "-d",
        "30s",
        "--mode",
        "learned",
        "--learn",
        example.to_str().unwrap(),
        "--smoothing",
        "0",
        "--history",
        "0",
        "--json",
    ]));
    assert!(learned.status.success(), "{}", stderr(&learned));
    let matrix = dir.path().join("m.csv");
    std::fs::write(&matrix, ",idle_a,idle_b,talk_a,wave_a\nidle_a,0,1,0,0\nidle_b,0,0,1,0\ntalk_a,0,0,0,1\nwave_a,1,0,0,0\n").unwrap();
    let custom = loopy(&plan_args(&[
        "-d",
        "30s",
        "--mode",
        "custom",
        "--matrix",
        matrix.to_str().unwrap(),
        "--history",
        "0",
        "--json",
    ]));
    assert!(custom.status.success(), "{}", stderr(&custom));
    // A cycle matrix allows exactly one successor: idle_a → idle_b → talk_a → wave_a → idle_a.
    let seq: Vec<u64> = json(&custom)["sequence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        seq.windows(2).all(|w| w[1] == [1, 2, 3, 0][w[0] as usize]),
        "{seq:?}"
    );
}

#[test]
fn user_mistakes_exit_2_with_a_clear_message() {
    let dir = shared_tempdir();
    let unknown = dir.path().join("unknown.txt");
    std::fs::write(&unknown, "idle_a\nnobody_here\n").unwrap();
    let bad_matrix = dir.path().join("bad.csv");
    std::fs::write(&bad_matrix, "idle_a,idle_b\n0,1\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-d", "10s", "--mode", "markov"], "unknown mode"),
        (vec!["-d", "0"], "greater than zero"),
        (vec!["-d", "ten"], "invalid duration"),
        (vec!["-d", "10s", "--signal", "talk=2"], "between -1 and 1"),
        (
            vec!["-d", "10s", "--crossfade", "31f"],
            "longer than half the shortest clip",
        ),
        (vec!["-d", "10s", "--fps", "0"], "invalid frame rate"),
        (vec!["-d", "10s", "--mode", "learned"], "needs --learn"),
        (
            vec![
                "-d",
                "10s",
                "--mode",
                "learned",
                "--learn",
                unknown.to_str().unwrap(),
            ],
            "nobody_here",
        ),
        (
            vec![
                "-d",
                "10s",
                "--mode",
                "custom",
                "--matrix",
                bad_matrix.to_str().unwrap(),
            ],
            "square",
        ),
        (vec!["-d", "10s", "--avoid-ngrams", "1"], "--avoid-ngrams"),
        (vec!["-d", "1h30"], "`30` has no unit"),
        (vec!["-d", "1m30s30"], "`30` has no unit"),
        (vec!["-d", "30s1m"], "largest first"),
    ];
    for (extra, message) in cases {
        let out = loopy(&plan_args(&extra));
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(message),
            "{extra:?}: expected `{message}` in {}",
            stderr(&out)
        );
    }
    // Under --json every error is a JSON object on stdout, argument errors included.
    for extra in [vec!["-d", "10s", "--bogus"], vec!["-d", "1h30"]] {
        let mut args = plan_args(&extra);
        args.push("--json");
        let out = loopy(&args);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let answer = json(&out);
        assert_eq!(answer["kind"], "usage", "{answer}");
        assert_eq!(answer["exit_code"], 2, "{answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let missing = loopy(&["plan", "--stats", "/nonexistent/plan.json"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("/nonexistent/plan.json"));
}

#[test]
fn a_crossfade_that_leaves_one_usable_clip_plans_it_and_names_the_rest() {
    // Only wave_a (2 s) holds 0.8 s cross-fades at both ends.
    let out = loopy(&plan_args(&["-d", "30s", "--crossfade", "0.8s", "-o", "-"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let plan = json(&out);
    let clips = plan["clips"].as_array().unwrap();
    for entry in plan["sequence"].as_array().unwrap() {
        let clip = &clips[entry.as_u64().unwrap() as usize];
        assert_eq!(clip["path"], "wave_a.mp4");
    }
    for name in ["idle_a.mp4", "idle_b.mp4", "talk_a.mp4", "only one clip"] {
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));
    }
}

#[test]
fn history_larger_than_the_library_is_relaxed_with_a_warning() {
    let out = loopy(&plan_args(&[
        "-d",
        "30s",
        "--history",
        "10",
        "--seed",
        "3",
        "--json",
    ]));
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("--history 10 is too large"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)["settings"]["history_effective"], 2);
}

#[test]
fn the_default_planner_starves_no_clip_of_a_mixed_library() {
    // Six clips of different sizes, rates and codecs: their seams differ a lot, and
    // sharp similarity weights would leave the worst-matching ones out for good.
    let dir = fixture_dir("plan-mixed", make_mixed_library);
    for seed in ["1", "2", "3"] {
        let out = loopy(&[
            "plan",
            dir.to_str().unwrap(),
            "-d",
            "30m",
            "--seed",
            seed,
            "--json",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let plan = json(&out);
        let stats = &plan["stats"];
        assert_eq!(stats["clips_used"], 6, "seed {seed}: {stats}");
        // Six clips over 2 400 entries repeat some runs whatever the planner does:
        // 11-18 with n-gram avoidance (cut points or whole clips), 42-47 without.
        assert!(
            stats["longest_repeat"].as_u64().unwrap() <= 20,
            "seed {seed}: {stats}"
        );
        let mean = stats["mean_seam_distance"].as_f64().unwrap();
        let shuffle = stats["uniform_mean_seam_distance"].as_f64().unwrap();
        assert!(
            mean < shuffle,
            "seed {seed}: seams {mean} vs a shuffle's {shuffle}"
        );
        assert!(
            stats["worst_seam_distance"].as_f64().unwrap()
                <= stats["uniform_worst_seam_distance"].as_f64().unwrap()
        );
    }
}

/// Cut points (the default): the same seed gives the same bytes, every entry carries
/// its in/out points inside its clip, and a hand-edited plan whose points leave the
/// clip is refused, as are a packet copy of the clips and a live stream.
#[test]
fn cut_point_plans_are_reproducible_and_checked() {
    let args = plan_args(&["-d", "20s", "--seed", "5", "--json"]);
    let (a, b) = (loopy(&args), loopy(&args));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    let text = stdout(&a);
    let plan = loopy_core::Plan::from_json(&text).expect("a usable plan");
    assert!(plan.settings.cut_points);
    assert_eq!(plan.cuts.len(), plan.sequence.len());
    for (cut, &clip) in plan.cuts.iter().zip(&plan.sequence) {
        assert!(
            cut.first <= cut.last && cut.last < plan.clips[clip].frames,
            "{cut:?}"
        );
    }
    assert_eq!(plan.recompute_stats().total_frames, plan.stats.total_frames);

    let dir = shared_tempdir();
    let good = dir.path().join("good.json");
    std::fs::write(&good, &text).unwrap();
    // The statistics say how far inside their clips the entries start and end.
    let inside = plan.cuts.iter().filter(|c| c.first > 0).count();
    let stats = loopy(&["plan", "--stats", good.to_str().unwrap()]);
    assert!(
        stdout(&stats).contains(&format!(
            "cut points: {inside} of {} entries enter after",
            plan.sequence.len()
        )),
        "{}",
        stdout(&stats)
    );
    assert!(inside > 0, "{:?}", plan.cuts);
    let mut value = json(&a);
    let frames = plan.clips[plan.sequence[1]].frames;
    value["cuts"][1]["last"] = frames.into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, value.to_string()).unwrap();
    let out = dir.path().join("out.mp4");
    let run = loopy(&[
        "render",
        "--plan",
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("entry 1"), "{}", stderr(&run));
    assert!(
        stderr(&run).contains(&format!("its {frames} frames")),
        "{}",
        stderr(&run)
    );
    let run = loopy(&[
        "render",
        "--plan",
        good.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--copy",
        "always",
    ]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(
        stderr(&run).contains("cuts inside clips"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
    let run = loopy(&["serve", plan_folder().to_str().unwrap(), "--cut-points"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
    assert!(stderr(&run).contains("whole clips"), "{}", stderr(&run));
}

/// `--whole-clips` and `--no-windows` plan whole clips (the second says why), as does
/// a render that must copy packets; `--copy always` with `--cut-points` is refused.
#[test]
fn whole_clips_when_asked_when_windows_are_missing_and_when_copying() {
    let whole = |plan: &serde_json::Value| {
        plan.get("cuts").is_none() && plan["settings"].get("cut_points").is_none()
    };
    let default = loopy(&plan_args(&["-d", "20s", "--seed", "5", "--json"]));
    assert!(!whole(&json(&default)), "{}", stdout(&default));
    let asked = loopy(&plan_args(&[
        "-d",
        "20s",
        "--seed",
        "5",
        "--json",
        "--whole-clips",
    ]));
    assert!(asked.status.success(), "{}", stderr(&asked));
    assert!(whole(&json(&asked)), "{}", stdout(&asked));
    let windowless = loopy(&plan_args(&[
        "-d",
        "20s",
        "--seed",
        "5",
        "--json",
        "--no-windows",
    ]));
    assert!(windowless.status.success(), "{}", stderr(&windowless));
    assert!(whole(&json(&windowless)), "{}", stdout(&windowless));
    assert!(
        stderr(&windowless).contains("cutting at the clips' ends"),
        "{}",
        stderr(&windowless)
    );
    assert_eq!(json(&windowless)["sequence"], json(&asked)["sequence"]);

    let dir = shared_tempdir();
    let out = dir.path().join("copied.mp4");
    let copy = |extra: &[&str]| {
        let mut args = vec![
            "render",
            plan_folder().to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "5s",
            "--copy",
            "always",
            "--json",
        ];
        args.extend_from_slice(extra);
        loopy(&args)
    };
    let copied = copy(&[]);
    assert!(copied.status.success(), "{}", stderr(&copied));
    assert_eq!(json(&copied)["path"], "copy", "{}", stdout(&copied));
    let sidecar = sidecar_json(&out);
    assert!(whole(&sidecar), "{sidecar}");
    let refused = copy(&["--cut-points", "--force"]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--copy always plays clips whole"),
        "{}",
        stderr(&refused)
    );
}

/// The cut matrix is kept in the folder's cache and planning again reads it (the same
/// plan, byte for byte); a damaged copy is scored again; `--no-cache` keeps none.
#[test]
fn the_cut_matrix_is_kept_with_the_catalog() {
    let tmp = shared_tempdir();
    for name in ["idle_a.mp4", "idle_b.mp4", "talk_a.mp4"] {
        std::fs::copy(plan_folder().join(name), tmp.path().join(name)).unwrap();
    }
    let dir = tmp.path().to_str().unwrap();
    let plan = || {
        let out = loopy(&["plan", dir, "-d", "20s", "--seed", "3", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        out.stdout
    };
    let kept = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(tmp.path().join(".loopy/cuts"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let first = plan();
    let files = kept();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(plan(), first);
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    assert_eq!(plan(), first, "a damaged matrix is scored again, not used");
    assert_ne!(
        std::fs::read(&files[0]).unwrap(),
        bytes,
        "and written again"
    );

    let other = shared_tempdir();
    std::fs::copy(plan_folder().join("idle_a.mp4"), other.path().join("a.mp4")).unwrap();
    std::fs::copy(plan_folder().join("talk_a.mp4"), other.path().join("b.mp4")).unwrap();
    let out = loopy(&[
        "plan",
        other.path().to_str().unwrap(),
        "-d",
        "5s",
        "--no-cache",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!other.path().join(".loopy").exists());
}
