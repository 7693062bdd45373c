//! Progress of long work, for people and for programs.
//!
//! People get an `indicatif` bar on stderr when it is a terminal. Programs that drive
//! the binary (the ComfyUI node pack, scripts) ask for `--progress json` and get one
//! line per update on stderr, `{"progress":{"stage":"render","done":120,"total":1800}}`,
//! at most ten a second per stage plus the last one, so a reader never has to parse
//! a bar drawn for a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressMode {
    /// A bar on stderr when it is a terminal; nothing otherwise
    Auto,
    /// One JSON object per line on stderr
    Json,
    /// Nothing
    None,
}

static MODE: AtomicU8 = AtomicU8::new(0);

pub fn set_mode(mode: ProgressMode) {
    MODE.store(mode as u8, Ordering::Relaxed);
}

fn mode() -> ProgressMode {
    match MODE.load(Ordering::Relaxed) {
        1 => ProgressMode::Json,
        2 => ProgressMode::None,
        _ => ProgressMode::Auto,
    }
}

/// Updates closer together than this are not printed as JSON (the last one always is).
const JSON_INTERVAL: Duration = Duration::from_millis(100);

/// One stage's progress: a bar, JSON lines, or nothing, as the mode says.
pub struct Meter {
    bar: ProgressBar,
    stage: &'static str,
    /// When the last JSON line was printed, and what it said.
    json: Option<Mutex<Option<(Instant, u64, u64)>>>,
}

impl Meter {
    /// A meter for `stage` (`scan`, `verify`, `conform`, `render`) of `total` steps,
    /// drawn with `template` on a terminal.
    pub fn new(stage: &'static str, total: u64, template: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let quiet = crate::output::quiet();
        let json = mode() == ProgressMode::Json && !quiet;
        if mode() == ProgressMode::Auto
            && !quiet
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        Meter {
            bar,
            stage,
            json: json.then(|| Mutex::new(None)),
        }
    }

    pub fn set_length(&self, total: u64) {
        self.bar.set_length(total);
        self.emit(false);
    }

    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
        self.emit(false);
    }

    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
        self.emit(false);
    }

    pub fn set_message(&self, message: String) {
        self.bar.set_message(message);
    }

    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    pub fn length(&self) -> u64 {
        self.bar.length().unwrap_or(0)
    }

    pub fn finish(&self) {
        self.emit(true);
        self.bar.finish_and_clear();
    }

    /// Prints the JSON line when due and news: every [`JSON_INTERVAL`], when the work
    /// is complete, and when `last` (so a reader sees where the stage ended).
    fn emit(&self, last: bool) {
        let Some(previous) = &self.json else { return };
        let Ok(mut previous) = previous.lock() else {
            return;
        };
        let (done, total) = (self.position(), self.length());
        if previous.is_some_and(|(_, d, t)| (d, t) == (done, total)) {
            return;
        }
        let due = previous.is_none_or(|(at, _, _)| at.elapsed() >= JSON_INTERVAL);
        if !(due || last || (total > 0 && done >= total)) {
            return;
        }
        *previous = Some((Instant::now(), done, total));
        let line = serde_json::json!({
            "progress": {"stage": self.stage, "done": done, "total": total}
        });
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{line}");
    }
}

/// Progress of conforming clips (by `conform`, or first thing in a smart render):
/// frames with an ETA, and the rate and the last clip done.
pub struct ConformBar(Meter, Instant);

impl ConformBar {
    pub fn new() -> Self {
        ConformBar(
            Meter::new(
                "conform",
                0,
                "{bar:30} conforming {pos}/{len} frames, ETA {eta}  {wide_msg}",
            ),
            Instant::now(),
        )
    }

    /// The same bar for `conform --transitions` (cross-fade frames).
    pub fn transitions() -> Self {
        ConformBar(
            Meter::new(
                "transitions",
                0,
                "{bar:30} cross-fades and lead-ins {pos}/{len} frames, ETA {eta}  {wide_msg}",
            ),
            Instant::now(),
        )
    }

    pub fn finish(&self) {
        if self.0.length() > 0 {
            self.0.finish();
        }
    }
}

impl loopy_media::smart::ConformProgress for ConformBar {
    fn start(&self, total_frames: u64) {
        self.0.set_length(total_frames);
    }

    fn frame(&self) {
        self.0.inc(1);
    }

    fn clip_done(&self, path: &str) {
        let fps = self.0.position() as f64 / self.1.elapsed().as_secs_f64().max(1e-3);
        self.0.set_message(format!("{fps:.0} fps, {path}"));
        if self.0.position() >= self.0.length() {
            self.0.bar.finish_and_clear();
        }
    }
}
