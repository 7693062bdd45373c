//! The output is written to a hidden temporary file beside the target and renamed
//! into place only when complete; on any failure (or a dropped render) it is removed.
//! Paths of live temporary files are registered so that an abort can remove them.

use crate::error::RenderError;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

static ACTIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes every temporary output still being written: for a second Ctrl-C, which
/// exits at once without unwinding.
pub fn remove_active_temp_files() {
    if let Ok(paths) = ACTIVE.lock() {
        for path in paths.iter() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The process that wrote a temporary output named `.NAME.loopy-PID-N.tmp` (or
/// `.NAME.loopy-PID.tmp`, as earlier versions named them).
pub fn writer_pid(file_name: &str) -> Option<u32> {
    let (_, tail) = file_name
        .strip_prefix('.')?
        .strip_suffix(".tmp")?
        .rsplit_once(".loopy-")?;
    tail.split('-').next()?.parse().ok()
}

/// Whether a temporary file was left by a process that no longer runs.
pub fn writer_is_dead(pid: u32) -> bool {
    pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes temporary files that killed renders (SIGKILL, power loss) left in `dir`,
/// whatever their target: `.NAME.loopy-PID-N.tmp` whose process no longer runs.
fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let dead = entry
            .file_name()
            .to_str()
            .and_then(writer_pid)
            .is_some_and(writer_is_dead);
        if dead {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

pub struct TempOutput {
    path: PathBuf,
    done: bool,
}

impl TempOutput {
    /// `.NAME.loopy-PID-N.tmp` beside `target`, keeping the extension out of the way
    /// of players and file managers; `N` counts within the process, so that threads
    /// making the same entry at once (two clips with the same content) never share one.
    pub fn beside(target: &Path) -> Result<Self, RenderError> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("output");
        remove_stale(&dir);
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".{name}.loopy-{}-{n}.tmp", std::process::id()));
        // Fail early, with the folder's name, if it cannot be written.
        std::fs::File::create(&path).map_err(|source| RenderError::Io {
            path: dir.clone(),
            source,
        })?;
        if let Ok(mut active) = ACTIVE.lock() {
            active.push(path.clone());
        }
        Ok(TempOutput { path, done: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file to `target`; without `force` an existing file there
    /// (even one that appeared during the render) is never replaced.
    pub fn persist(mut self, target: &Path, force: bool) -> Result<(), RenderError> {
        if !force && target.exists() {
            return Err(RenderError::Usage(format!(
                "{} appeared during the render; pass --force to replace it",
                target.display()
            )));
        }
        std::fs::rename(&self.path, target).map_err(|source| RenderError::Io {
            path: target.to_path_buf(),
            source,
        })?;
        self.done = true;
        self.unregister();
        Ok(())
    }

    fn unregister(&self) {
        if let Ok(mut active) = ACTIVE.lock() {
            active.retain(|p| p != &self.path);
        }
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
            self.unregister();
        }
    }
}
