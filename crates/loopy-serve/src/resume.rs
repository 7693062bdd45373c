//! What a restarted stream needs from the run before it, in
//! `DIR/.loopy/serve/state.json`: where the media sequence and the media clock stood,
//! and how many times the stream has started (each restart is one discontinuity).

use serde::{Deserialize, Serialize};
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
