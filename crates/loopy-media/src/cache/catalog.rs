//! The per-folder catalog cache, `DIR/.loopy/catalog.json`: probing is the slow part
//! of a scan, so a clip whose relative path, size, mtime and content fingerprint are
//! unchanged is reused. The fingerprint is read again only when the file's change
//! time or inode moved since it was last read ([`FileStamp`]): a file replaced with
//! its modification time put back always moves them, and a warm scan reads nothing.

use loopy_core::ClipInfo;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::CACHE_DIR;
const CACHE_FILE: &str = "catalog.json";
/// Bumped whenever probing or signatures change meaning, which invalidates old caches.
const CACHE_VERSION: u32 = 4;

#[derive(Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    clips: Vec<ClipInfo>,
    /// Files `scan --verify` found damaged, so later scans skip them without
    /// decoding them again while they are unchanged.
    #[serde(default)]
    damaged: Vec<DamagedFile>,
    /// What the files looked like when their fingerprints were read, by relative path.
    #[serde(default)]
    stamps: HashMap<String, FileStamp>,
}

/// What tells, without reading a file, that its bytes may have changed although its
/// size and modification time did not: its change time (which nobody can set back;
/// any write or replacement moves it) and its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStamp {
    pub ctime_ns: i128,
    pub ino: u64,
}

impl FileStamp {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        FileStamp {
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
            ino: meta.ino(),
        }
    }
}

/// A file that failed verification, with the identity it had then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DamagedFile {
    pub path: String,
    pub size: u64,
    pub mtime_ns: i128,
    #[serde(default)]
    pub fingerprint: String,
    pub reason: String,
}

/// What the cache holds, by relative path.
#[derive(Debug, Default)]
pub struct Cached {
    pub clips: HashMap<String, ClipInfo>,
    pub damaged: HashMap<String, DamagedFile>,
    pub stamps: HashMap<String, FileStamp>,
}

impl Cached {
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// The recorded damage of a file, if its size and time are unchanged since it was
    /// verified (the caller also compares the fingerprint).
    pub fn damage(&self, rel: &str, size: u64, mtime_ns: i128) -> Option<&DamagedFile> {
        self.damaged
            .get(rel)
            .filter(|d| d.size == size && d.mtime_ns == mtime_ns)
    }
}

pub fn cache_path(root: &Path) -> PathBuf {
    root.join(CACHE_DIR).join(CACHE_FILE)
}

/// Cached clips keyed by relative path. A missing, unreadable or outdated cache is
/// simply empty: the cache is an optimisation, never a source of errors.
pub fn load(root: &Path) -> Cached {
    let Ok(text) = std::fs::read_to_string(cache_path(root)) else {
        return Cached::default();
    };
    match serde_json::from_str::<CacheFile>(&text) {
        Ok(file) if file.version == CACHE_VERSION => Cached {
            clips: file
                .clips
                .into_iter()
                .map(|c| (c.path.clone(), c))
                .collect(),
            damaged: file
                .damaged
                .into_iter()
                .map(|d| (d.path.clone(), d))
                .collect(),
            stamps: file.stamps,
        },
        _ => Cached::default(),
    }
}

/// The cached entry for a file, if its size and mtime still match.
pub fn reusable<'c>(
    cache: &'c Cached,
    rel: &str,
    size: u64,
    mtime_ns: i128,
) -> Option<&'c ClipInfo> {
    cache
        .clips
        .get(rel)
        .filter(|c| c.size == size && c.mtime_ns == mtime_ns)
}

/// Writes the cache atomically (temporary file, then rename).
pub fn store(
    root: &Path,
    clips: &[ClipInfo],
    damaged: &[DamagedFile],
    stamps: HashMap<String, FileStamp>,
) -> std::io::Result<()> {
    let dir = root.join(CACHE_DIR);
    std::fs::create_dir_all(&dir)?;
    let body = serde_json::to_vec(&CacheFile {
        version: CACHE_VERSION,
        clips: clips.to_vec(),
        damaged: damaged.to_vec(),
        stamps,
    })
    .map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{CACHE_FILE}.{}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(&body))
        .and_then(|()| std::fs::rename(&tmp, cache_path(root)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
