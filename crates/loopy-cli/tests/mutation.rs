//! Mutation testing: real clips of every supported container and codec, damaged in
//! the ways files really get damaged, then scanned, verified and rendered.
//!
//! For every mutant: no panic, no signal, no hang (a time limit per run), exit code
//! 0, 1 or 2 only; the file is listed or skipped with a reason; `scan --verify` skips
//! it whenever the ffmpeg CLI (an independent oracle) reports a decoding error in a
//! file the plain scan listed. Then the whole mutated library is rendered with
//! `--skip-bad`, and the output must decode without an error.
//!
//! `LOOPY_MUTANTS` (default 200) and `LOOPY_MUTATION_SEED` (default 1) choose how
//! many and which; `bench/mutate` runs thousands and prints the table per kind.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one run on one small file may take before it counts as a hang.
const PER_FILE_LIMIT: Duration = Duration::from_secs(60);

/// SplitMix64: a small, fixed generator, so a seed names the same mutants everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const KINDS: [&str; 6] = [
    "bit flips",
    "flips in the first 4 KB",
    "zeroed run",
    "truncated",
    "spliced halves",
    "duplicated chunk",
];

fn mutate(kind: usize, original: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut bytes = original.to_vec();
    let len = bytes.len();
    match kind {
        0 => {
            for _ in 0..1 + rng.below(16) {
                let at = rng.below(len);
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        1 => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(len.min(4096));
                bytes[at] ^= 1 << rng.below(8);
            }
        }
        2 => {
            let at = rng.below(len);
            let run = (1 + rng.below(4096)).min(len - at);
            bytes[at..at + run].fill(0);
        }
        3 => bytes.truncate(rng.below(len)),
        4 => {
            let mut spliced = original[..rng.below(len)].to_vec();
            spliced.extend_from_slice(&other[rng.below(other.len())..]);
            bytes = spliced;
        }
        _ => {
            let at = rng.below(len);
            let run = (1 + rng.below(8192)).min(len - at);
            let chunk = original[at..at + run].to_vec();
            let to = rng.below(len);
            bytes.splice(to..to, chunk);
        }
    }
    bytes
}

/// Runs a command with a time limit; `None` if it had to be killed.
fn run_limited(command: &mut Command) -> Option<Output> {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout");
    let mut err_pipe = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out_pipe, &mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err_pipe, &mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > PER_FILE_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Some(Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

/// What happened to one mutant.
#[derive(Default, Clone, Copy)]
struct Outcome {
    listed: bool,
    caught_by_verify: bool,
    oracle_error: bool,
}

/// Scans one mutant alone (plain, then with --verify) and checks the rules.
fn examine(path: &Path, problems: &Mutex<Vec<String>>) -> Outcome {
    let folder = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let complain = |what: String| problems.lock().unwrap().push(format!("{name}: {what}"));
    let mut outcome = Outcome::default();
    for verify in [false, true] {
        let mut command = Command::new(loopy_bin());
        command.args([
            "scan",
            folder.to_str().unwrap(),
            "--json",
            "--no-cache",
            "--pattern",
            name,
        ]);
        if verify {
            command.arg("--verify");
        }
        let Some(out) = run_limited(&mut command) else {
            complain(format!(
                "scan (verify: {verify}) did not finish in {PER_FILE_LIMIT:?}"
            ));
            return outcome;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        match out.status.code() {
            Some(0..=2) => {}
            Some(code) => complain(format!("exit code {code}: {err}")),
            None => {
                complain(format!("killed by a signal: {err}"));
                continue;
            }
        }
        if err.contains("panicked") {
            complain(format!("panic: {err}"));
        }
        // Listed on stdout, or skipped with a reason (a JSON error when nothing is usable).
        let listed = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .ok()
            .and_then(|v| v["clips"].as_array().map(|c| !c.is_empty()))
            .unwrap_or(false);
        let skip_line = err
            .lines()
            .find(|l| l.starts_with(&format!("skip {name}: ")))
            .map(|l| l.len() > format!("skip {name}: ").len());
        if !listed && skip_line != Some(true) {
            complain(format!("neither listed nor skipped with a reason: {err}"));
        }
        if verify {
            outcome.caught_by_verify = outcome.listed && !listed;
        } else {
            outcome.listed = listed;
        }
    }
    if outcome.listed {
        let oracle = run_limited(
            Command::new("ffmpeg")
                .args(["-v", "error", "-xerror", "-i"])
                .arg(path)
                .args(["-map", "0:v:0", "-f", "null", "-"]),
        );
        // Decoding errors only: the CLI's own null muxer also complains when a damaged
        // header gives a frame rate the timestamps do not follow, which is not damage
        // a decoder can see.
        outcome.oracle_error = oracle.is_none_or(|o| {
            !o.status.success()
                || String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .any(|l| !l.contains("to muxer") && !l.contains("Last message repeated"))
        });
        if outcome.oracle_error && !outcome.caught_by_verify {
            complain(
                "the ffmpeg CLI reports a decoding error, scan --verify lists the file".into(),
            );
        }
    }
    outcome
}

fn originals(dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    make_mixed_library(dir);
    MIXED.iter().map(|name| dir.join(name)).collect()
}

#[test]
fn damaged_files_never_crash_hang_or_slip_through() {
    let count: usize = std::env::var("LOOPY_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("LOOPY_MUTATION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let tmp = shared_tempdir();
    if std::env::var_os("LOOPY_MUTATION_KEEP").is_some() {
        println!("mutants kept in {}", tmp.path().display());
    }
    let sources = originals(&tmp.path().join("originals"));
    let bodies: Vec<Vec<u8>> = sources.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let lib = tmp.path().join("mutants");
    std::fs::create_dir(&lib).unwrap();
    let mut rng = Rng(seed);
    let mut mutants = Vec::new();
    for i in 0..count {
        let kind = i % KINDS.len();
        let source = rng.below(sources.len());
        let other = rng.below(sources.len());
        let bytes = mutate(kind, &bodies[source], &bodies[other], &mut rng);
        let ext = sources[source].extension().unwrap().to_str().unwrap();
        let path = lib.join(format!("m{i:05}_{kind}.{ext}"));
        std::fs::write(&path, bytes).unwrap();
        mutants.push((kind, path));
    }

    let problems = Mutex::new(Vec::new());
    let outcomes = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((kind, path)) = mutants.get(i) else {
                    break;
                };
                let outcome = examine(path, &problems);
                outcomes.lock().unwrap().push((*kind, outcome));
            });
        }
    });

    // The whole mutated library, with the originals so that something is usable.
    for source in &sources {
        std::fs::copy(
            source,
            lib.join(format!(
                "orig_{}",
                source.file_name().unwrap().to_str().unwrap()
            )),
        )
        .unwrap();
    }
    let out = tmp.path().join("all.mkv");
    let render = run_limited(Command::new(loopy_bin()).args([
        "render",
        lib.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--count",
        "40",
        "--seed",
        "7",
        "--size",
        "64x36",
        "--skip-bad",
        "--preset",
        "ultrafast",
    ]));
    match render {
        None => problems
            .lock()
            .unwrap()
            .push("the library render did not finish".into()),
        Some(o) if !o.status.success() => problems.lock().unwrap().push(format!(
            "the library render failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        )),
        Some(_) => {
            let errors = common::frames::decode_errors(&out);
            if !errors.is_empty() {
                problems.lock().unwrap().push(format!(
                    "the library render does not decode cleanly: {errors}"
                ));
            }
        }
    }

    let mut table: BTreeMap<usize, [usize; 4]> = BTreeMap::new();
    for (kind, o) in outcomes.into_inner().unwrap() {
        let row = table.entry(kind).or_default();
        row[0] += 1;
        row[1] += usize::from(o.listed);
        row[2] += usize::from(!o.listed);
        row[3] += usize::from(o.caught_by_verify);
    }
    println!("mutants (seed {seed}): kind | made | listed by scan | skipped by scan | caught by --verify");
    for (kind, [made, listed, skipped, caught]) in &table {
        println!(
            "{:<24} | {made} | {listed} | {skipped} | {caught}",
            KINDS[*kind]
        );
    }
    let problems = problems.into_inner().unwrap();
    if std::env::var_os("LOOPY_MUTATION_KEEP").is_some() {
        std::mem::forget(tmp);
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// Every cache entry a render or a stream copies from (conformed clips, cached
/// cross-fades) of every profile in `lib`, sorted.
fn cache_pieces(lib: &Path) -> Vec<PathBuf> {
    let mut pieces = Vec::new();
    for kind in ["conformed", "transitions"] {
        for profile in std::fs::read_dir(lib.join(".loopy").join(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
            for file in std::fs::read_dir(profile.path())
                .into_iter()
                .flatten()
                .flatten()
            {
                if file.path().extension().is_some_and(|e| e == "mkv") {
                    pieces.push(file.path());
                }
            }
        }
    }
    pieces.sort();
    pieces
}

/// Cache entries damaged in the same ways as the clips (one at a time, a random
/// kind each): a smart render of the same plan and a stream of the library must make
/// them again and never copy the damage. `LOOPY_CACHE_MUTANTS` (default 12) rounds.
#[test]
fn damaged_cache_entries_are_made_again_by_renders_and_streams() {
    let rounds: usize = std::env::var("LOOPY_CACHE_MUTANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("LOOPY_MUTATION_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let tmp = shared_tempdir();
    let lib = tmp.path().join("lib");
    std::fs::create_dir(&lib).unwrap();
    for (i, colour) in ["red", "lime", "blue", "yellow"].iter().enumerate() {
        solid_clip(&lib.join(format!("c{i}.mp4")), colour, "96x54", "2");
    }
    let render = |out: &Path| {
        let run = run_limited(Command::new(loopy_bin()).args([
            "render",
            lib.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-d",
            "12s",
            "--crossfade",
            "6f",
            "--seed",
            "3",
            "--smart",
            "always",
            "--force",
        ]));
        let run = run.expect("the render did not finish");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    let stream = |dir: &Path| {
        let _ = std::fs::remove_dir_all(dir);
        let run = run_limited(Command::new(loopy_bin()).args([
            "serve",
            lib.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--unpaced",
            "--stop-after",
            "8s",
            "--seed",
            "3",
            "--record",
            dir.to_str().unwrap(),
        ]));
        let run = run.expect("the stream did not finish");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    // Both fill the cache (two profiles); the render's output is the reference.
    let reference = tmp.path().join("reference.mp4");
    render(&reference);
    stream(&tmp.path().join("stream0"));
    let mut rng = Rng(seed);
    let out = tmp.path().join("again.mp4");
    for round in 0..rounds {
        let pieces = cache_pieces(&lib);
        let piece = &pieces[rng.below(pieces.len())];
        let kind = round % KINDS.len();
        let original = std::fs::read(piece).unwrap();
        let damaged = mutate(kind, &original, &original, &mut rng);
        std::fs::write(piece, &damaged).unwrap();
        let what = format!("round {round}: {} in {}", KINDS[kind], piece.display());
        render(&out);
        assert_eq!(common::frames::decode_errors(&out), "", "{what}");
        let frames = |p: &Path| ffprobe_frames_and_rate(p).0;
        assert_eq!(frames(&out), frames(&reference), "{what}");
        let same = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&out)
            .arg("-i")
            .arg(&reference)
            .args(["-lavfi", "psnr=stats_file=-", "-f", "null", "-"])
            .output()
            .unwrap();
        // Every frame at least 40 dB from the reference: no damaged picture copied.
        let stats = String::from_utf8_lossy(&same.stdout).to_string();
        assert_eq!(stats.lines().count() as u64, frames(&out), "{what}");
        for line in stats.lines() {
            let psnr = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("psnr_avg:"))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(f64::INFINITY);
            assert!(psnr > 40.0, "{what}: {line}");
        }
        let recording = tmp.path().join(format!("stream{}", round + 1));
        stream(&recording);
        assert_eq!(
            common::frames::decode_errors(&recording.join("stream.m3u8")),
            "",
            "{what}"
        );
    }
}
