//! Output helpers: aligned tables, JSON on stdout, durations for people, `-q`, and
//! files written atomically without replacing anything unless asked to.
//!
//! Everything printed to stdout goes through a fallible write, so that a closed pipe
//! (`loopy plan … | head -1`) ends the program quietly instead of panicking.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `-q`: only errors on stderr (no summaries, skip lines or progress bars).
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints `text` on stdout; fails (rather than panics) when stdout is closed.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A summary line for people: stdout or stderr, never with `-q`.
pub fn say(line: &str, on_stderr: bool) -> Result<()> {
    if quiet() {
        return Ok(());
    }
    if on_stderr {
        eprintln!("{line}");
        Ok(())
    } else {
        out(&format!("{line}\n"))
    }
}

/// A plain text table with left-aligned columns.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<const N: usize>(header: [&str; N]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row<const N: usize>(&mut self, cells: [String; N]) {
        self.rows.push(cells.to_vec());
    }

    pub fn print(&self) -> Result<()> {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = std::io::stdout().lock();
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            writeln!(out, "{}", line.join("  ").trim_end())?;
        }
        Ok(())
    }
}

/// `1 clip`, `2 clips`: a count with its noun, in the singular for one.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    match n.into() {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// `75.5` → `1m15.5s`; `3.2` → `3.2s`.
pub fn format_seconds(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.1}s");
    }
    let whole = seconds.floor() as u64;
    let (h, m) = (whole / 3600, whole % 3600 / 60);
    let s = seconds - (h * 3600 + m * 60) as f64;
    if h > 0 {
        format!("{h}h{m:02}m{s:04.1}s")
    } else {
        format!("{m}m{s:04.1}s")
    }
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Refuses to touch an existing `path` unless `force` (a device such as `/dev/null`
/// is written in place): checked before any work starts.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    Ok(loopy_media::output_file::check_new(path, force)?)
}

/// Writes `bytes` to `path` complete or not at all (a device in place); without
/// `force` an existing `path` is never replaced, even one that appeared while we
/// worked.
pub fn write_atomically(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    loopy_media::output_file::write_new(path, bytes, force)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_for_people() {
        assert_eq!(count(1u64, "clip"), "1 clip");
        assert_eq!(count(0u64, "clip"), "0 clips");
        assert_eq!(count(3u64, "frame"), "3 frames");
    }

    #[test]
    fn seconds_for_people() {
        assert_eq!(format_seconds(3.25), "3.2s");
        assert_eq!(format_seconds(75.5), "1m15.5s");
        assert_eq!(format_seconds(3725.0), "1h02m05.0s");
    }
}
