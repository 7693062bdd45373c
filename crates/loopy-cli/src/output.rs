//! Output helpers: aligned tables, JSON on stdout, durations for people, and files
//! written atomically without replacing anything unless asked to.

use anyhow::{Context, Result};
use std::io::Write;
use std::path::Path;

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

    pub fn print(&self) {
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
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
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
    serde_json::to_writer_pretty(&mut out, value).context("cannot write JSON to stdout")?;
    writeln!(out)?;
    Ok(())
}

/// Refuses to touch an existing `path` unless `force`: checked before any work starts.
pub fn check_overwrite(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        return Err(crate::exit::usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it into place, so
/// that `path` is either untouched or complete. Without `force` an existing `path`
/// is never replaced, even one that appeared while we worked.
pub fn write_atomically(path: &Path, bytes: &[u8], force: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".loopy-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    // Temporary files are private (0600); the result should read like any other file.
    tmp.write_all(bytes)
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    persisted.map_err(|e| {
        anyhow::anyhow!(
            "cannot move the finished file to {}: {}",
            path.display(),
            e.error
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_for_people() {
        assert_eq!(format_seconds(3.25), "3.2s");
        assert_eq!(format_seconds(75.5), "1m15.5s");
        assert_eq!(format_seconds(3725.0), "1h02m05.0s");
    }
}
