//! What a restarted stream needs from the run before it, in
//! `DIR/.loopy/serve/state.json`: where the media sequence and the media clock stood,
//! and how many times the stream has started (each restart is one discontinuity).
//! Since that state belongs to the folder, one stream at a time may run from it
//! (`DIR/.loopy/serve/lock`, held with `flock` for the life of the stream).

use serde::{Deserialize, Serialize};
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resume {
    /// Media sequence number of the next segment.
    pub next_sequence: u64,
    /// Media time where the next segment starts, in seconds.
    pub next_time_s: f64,
    /// Runs before this one.
    pub runs: u64,
}

fn path(root: &Path) -> PathBuf {
    root.join(".loopy").join("serve").join("state.json")
}

/// The state the previous run left, if any (an unreadable file counts as none).
pub fn load(root: &Path) -> Option<Resume> {
    let text = std::fs::read_to_string(path(root)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Saves `state` atomically (a crash leaves the previous state, never half a file).
pub fn save(root: &Path, state: &Resume) -> std::io::Result<()> {
    let target = path(root);
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(state).unwrap_or_default())?;
    std::fs::rename(&tmp, &target)
}

/// The folder's stream lock; released when dropped (or when the process dies).
pub struct StreamLock {
    _held: std::fs::File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `loopy serve` (pid {0}) streams this folder; its restart state in .loopy/serve \
         would be shared: stop it, or serve a copy of the clips"
    )]
    Busy(String),
    #[error("cannot lock {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Takes the folder's stream lock, or says which process holds it.
pub fn lock(root: &Path) -> Result<StreamLock, LockError> {
    let path = root.join(".loopy").join("serve").join("lock");
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    // SAFETY: flock on a file descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(LockError::Busy(if holder.is_empty() {
            "unknown".into()
        } else {
            holder.to_string()
        }));
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    write!(file, "{}", std::process::id()).map_err(io)?;
    Ok(StreamLock { _held: file })
}
