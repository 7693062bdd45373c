//! What the cache of a clip folder holds, and removing from it (`loopy cache`,
//! `loopy conform`): profiles with every parameter, their size and last use; stale
//! entries (of clips that changed or went away, left by an older Loopy, or
//! half-written by a process that died); whole profiles; everything above a size cap,
//! least recently used first. Nothing is removed from a profile another process is
//! using ([`super::lock`]).

use super::entry::check_path;
use super::lock::take_for_removal;
use crate::render::temp::{writer_is_dead, writer_pid};
use crate::smart::pieces::clip_key;
use crate::smart::Profile;
use loopy_core::plan::PlanClip;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// One profile folder, as `loopy cache` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileUsage {
    pub id: String,
    /// Every parameter of the profile (`None` when its `profile.json` is missing).
    pub profile: Option<Profile>,
    /// Conformed clips and transitions held.
    pub clips: usize,
    pub transitions: usize,
    /// Bytes of everything in the profile's folders.
    pub bytes: u64,
    /// When a piece of it was last used (Unix seconds), if ever.
    pub last_used: Option<u64>,
    /// Another process (a render, a conform, a stream) is using it now.
    pub in_use: bool,
}

/// What a removal did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub entries: usize,
    pub bytes: u64,
    /// Profiles left alone because another process uses them.
    pub busy: Vec<String>,
}

impl Removed {
    fn add(&mut self, other: Removed) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.busy.extend(other.busy);
    }
}

fn base(root: &Path) -> PathBuf {
    root.join(super::CACHE_DIR)
}

fn conformed_dir(root: &Path, id: &str) -> PathBuf {
    base(root).join("conformed").join(id)
}

fn transitions_dir(root: &Path, id: &str) -> PathBuf {
    base(root).join("transitions").join(id)
}

/// The profile ids with a folder in the cache, sorted.
pub fn profile_ids(root: &Path) -> Vec<String> {
    let mut ids: HashSet<String> = HashSet::new();
    for kind in ["conformed", "transitions"] {
        for entry in std::fs::read_dir(base(root).join(kind))
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                ids.insert(entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    let mut ids: Vec<String> = ids.into_iter().collect();
    ids.sort();
    ids
}

/// A file in a profile folder: a piece (with its check file), or something else.
struct Piece {
    path: PathBuf,
    /// Bytes of the piece and its check file.
    bytes: u64,
    /// Last use: access time, or modification time when later.
    used: SystemTime,
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The pieces (`*.mkv`) of a folder.
fn pieces(dir: &Path) -> Vec<Piece> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "mkv") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let check_bytes = std::fs::metadata(check_path(&path)).map_or(0, |m| m.len());
        let modified = meta.modified().unwrap_or(UNIX_EPOCH);
        let used = meta.accessed().unwrap_or(UNIX_EPOCH).max(modified);
        out.push(Piece {
            path,
            bytes: meta.len() + check_bytes,
            used,
        });
    }
    out
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Bytes a profile takes (conformed clips, transitions, their check files).
pub fn profile_bytes(root: &Path, id: &str) -> u64 {
    folder_bytes(&conformed_dir(root, id)) + folder_bytes(&transitions_dir(root, id))
}

/// Every profile in the folder's cache, with what it holds.
pub fn profiles(root: &Path) -> Vec<ProfileUsage> {
    profile_ids(root)
        .into_iter()
        .map(|id| {
            let conformed = pieces(&conformed_dir(root, &id));
            let transitions = pieces(&transitions_dir(root, &id));
            let profile = std::fs::read(conformed_dir(root, &id).join("profile.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            let last_used = conformed
                .iter()
                .chain(&transitions)
                .map(|p| p.used)
                .max()
                .map(unix_seconds);
            let in_use = conformed_dir(root, &id).join("lock").exists()
                && matches!(take_for_removal(&conformed_dir(root, &id)), Ok(None));
            ProfileUsage {
                bytes: profile_bytes(root, &id),
                id,
                profile,
                clips: conformed.len(),
                transitions: transitions.len(),
                last_used,
                in_use,
            }
        })
        .collect()
}

/// Removes a piece and its check file; returns the bytes freed.
fn remove_piece(path: &Path) -> u64 {
    let mut freed = 0;
    for file in [path.to_path_buf(), check_path(path)] {
        let len = std::fs::metadata(&file).map_or(0, |m| m.len());
        if std::fs::remove_file(&file).is_ok() {
            freed += len;
        }
    }
    freed
}

/// Whether a file name is a temporary file of a process that no longer runs
/// (`.NAME.loopy-PID-N.tmp`, `NAME.tmpPID-N`).
fn dead_temporary(name: &str) -> bool {
    let pid = writer_pid(name).or_else(|| {
        name.rsplit_once(".tmp")
            .and_then(|(_, tail)| tail.split_once('-'))
            .and_then(|(pid, _)| pid.parse().ok())
    });
    pid.is_some_and(writer_is_dead)
}

/// Whether a piece named `stem` belongs to the library `clips` as it is now: a
/// conformed clip of one of them, a transition between two of them (`A-B`, or
/// `A-B@frames` between frames inside them), or a lead-in of one (`A@frame`).
fn belongs_to(clips: &[PlanClip]) -> impl Fn(&str, bool) -> bool {
    let keys: HashSet<String> = clips.iter().map(clip_key).collect();
    move |stem: &str, conformed: bool| {
        if conformed {
            return keys.contains(stem);
        }
        let (names, frames) = stem.split_once('@').unwrap_or((stem, ""));
        match names.split_once('-') {
            Some((a, b)) => keys.contains(a) && keys.contains(b),
            None => !frames.is_empty() && keys.contains(names),
        }
    }
}

/// Removes, from one profile, the entries of clips that are not in `clips` as they
/// are now (changed or gone), pieces without a check file (an older Loopy's),
/// check files without a piece, and temporary files of dead processes. Returns how
/// many entries went; 0 when another process uses the profile.
pub fn prune_profile(root: &Path, id: &str, clips: &[PlanClip]) -> usize {
    let removed = prune_with(root, id, &belongs_to(clips));
    if !removed.busy.is_empty() {
        tracing::info!(
            "profile {id} is in use by another process: its stale cache entries are kept for now"
        );
    }
    removed.entries
}

/// Prunes every profile of the folder against `clips` (the library as it is now),
/// and removes profile folders left without a piece.
pub fn prune_all(root: &Path, clips: &[PlanClip]) -> Removed {
    let current = belongs_to(clips);
    let mut removed = Removed::default();
    for id in profile_ids(root) {
        removed.add(prune_with(root, &id, &current));
        remove_if_empty(root, &id);
    }
    removed
}

/// `current(stem, conformed)`: whether a piece named `stem` still belongs.
fn prune_with(root: &Path, id: &str, current: &dyn Fn(&str, bool) -> bool) -> Removed {
    let mut removed = Removed::default();
    let Ok(Some(_exclusive)) = take_for_removal(&conformed_dir(root, id)) else {
        removed.busy.push(id.to_string());
        return removed;
    };
    for (dir, conformed) in [
        (conformed_dir(root, id), true),
        (transitions_dir(root, id), false),
    ] {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale = if let Some(stem) = name.strip_suffix(".mkv") {
                !current(stem, conformed) || !check_path(&path).exists()
            } else if let Some(piece) = name.strip_suffix(".check") {
                // A check file whose piece is gone (or the parameter sets' own).
                piece != "extradata.bin" && !dir.join(piece).exists()
            } else {
                dead_temporary(&name)
            };
            if stale {
                removed.bytes += remove_piece(&path);
                removed.entries += usize::from(name.ends_with(".mkv"));
            }
        }
    }
    removed
}

/// Removes a profile folder left with no piece (a render that did not go smart, a
/// profile whose entries were all removed).
fn remove_if_empty(root: &Path, id: &str) {
    let empty = pieces(&conformed_dir(root, id)).is_empty()
        && pieces(&transitions_dir(root, id)).is_empty();
    if !empty {
        return;
    }
    if let Ok(Some(_exclusive)) = take_for_removal(&conformed_dir(root, id)) {
        let _ = std::fs::remove_dir_all(transitions_dir(root, id));
        let _ = std::fs::remove_dir_all(conformed_dir(root, id));
    }
}

/// Removes one profile entirely; refused (`busy`) while another process uses it.
pub fn remove_profile(root: &Path, id: &str) -> Removed {
    let mut removed = Removed::default();
    let Ok(Some(_exclusive)) = take_for_removal(&conformed_dir(root, id)) else {
        removed.busy.push(id.to_string());
        return removed;
    };
    removed.bytes = profile_bytes(root, id);
    removed.entries =
        pieces(&conformed_dir(root, id)).len() + pieces(&transitions_dir(root, id)).len();
    let _ = std::fs::remove_dir_all(transitions_dir(root, id));
    let _ = std::fs::remove_dir_all(conformed_dir(root, id));
    removed
}

/// Removes entries, least recently used first, until the cache takes at most
/// `max_bytes`; profiles in use by another process are left alone.
pub fn cap(root: &Path, max_bytes: u64) -> Removed {
    let mut removed = Removed::default();
    let mut total: u64 = profile_ids(root)
        .iter()
        .map(|id| profile_bytes(root, id))
        .sum();
    if total <= max_bytes {
        return removed;
    }
    let mut held = Vec::new();
    let mut candidates = Vec::new();
    for id in profile_ids(root) {
        match take_for_removal(&conformed_dir(root, &id)) {
            Ok(Some(lock)) => {
                held.push(lock);
                for dir in [conformed_dir(root, &id), transitions_dir(root, &id)] {
                    candidates.extend(pieces(&dir).into_iter().map(|p| (id.clone(), p)));
                }
            }
            _ => removed.busy.push(id),
        }
    }
    candidates.sort_by_key(|(_, p)| p.used);
    let mut touched = HashSet::new();
    for (id, piece) in candidates {
        if total <= max_bytes {
            break;
        }
        let freed = remove_piece(&piece.path);
        total = total.saturating_sub(freed.max(piece.bytes));
        removed.bytes += freed;
        removed.entries += 1;
        touched.insert(id);
    }
    drop(held);
    for id in touched {
        remove_if_empty(root, &id);
    }
    removed
}
