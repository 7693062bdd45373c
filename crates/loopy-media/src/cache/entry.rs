//! One cache entry: an encoded piece (`NAME.mkv`) and its check file
//! (`NAME.mkv.check`, JSON: length, XXH3 checksum, frame count, source clips).
//!
//! An entry is published by writing the check file, then renaming the finished piece
//! into place; a piece without a check file, or whose length or checksum differs from
//! it, is damaged (cut short, overwritten, half-copied, or from a Loopy that recorded
//! none) and is treated as missing: made again, never copied into an output. The
//! check reads the whole piece once per process (about a millisecond per megabyte);
//! a piece that passed keeps its verdict while its length, modification and change
//! times and inode stay the same. [`check_fully`] also decodes every frame.

use super::catalog::FileStamp;
use crate::error::RenderError;
use crate::render::temp::TempOutput;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// What the check file records about its piece.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryMeta {
    pub bytes: u64,
    /// XXH3-64 of the piece's bytes, 16 hex digits.
    pub xxh3: String,
    /// Video frames (packets) in the piece.
    pub frames: u64,
    /// The clips it was made from (one for a conformed clip, two for a transition).
    pub clips: Vec<String>,
}

/// The verdict on an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Good(EntryMeta),
    Missing,
    /// Present but not to be used; the reason says what is wrong.
    Damaged(String),
}

impl Verdict {
    pub fn is_good(&self) -> bool {
        matches!(self, Verdict::Good(_))
    }
}

/// The check file of a piece.
pub fn check_path(piece: &Path) -> PathBuf {
    let mut name = piece.as_os_str().to_owned();
    name.push(".check");
    PathBuf::from(name)
}

/// What identifies a file's current bytes without reading them. The change time is
/// in it because nobody can set it back (`touch -r` restores only the modification
/// time), and any write moves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    dev: u64,
    /// Change time and inode, as the catalog keeps them for clips.
    file: FileStamp,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            len: meta.len(),
            mtime_ns: crate::fingerprint::modified_ns(meta),
            dev: meta.dev(),
            file: FileStamp::of(meta),
        }
    }
}

/// Pieces that passed their check in this process, with the stamp they had then.
fn passed() -> &'static Mutex<HashMap<PathBuf, (Stamp, EntryMeta)>> {
    static PASSED: OnceLock<Mutex<HashMap<PathBuf, (Stamp, EntryMeta)>>> = OnceLock::new();
    PASSED.get_or_init(Default::default)
}

fn remember(piece: &Path, stamp: Stamp, meta: &EntryMeta) {
    if let Ok(mut passed) = passed().lock() {
        passed.insert(piece.to_path_buf(), (stamp, meta.clone()));
    }
}

fn forget(piece: &Path) {
    if let Ok(mut passed) = passed().lock() {
        passed.remove(piece);
    }
}

/// XXH3-64 of a file's bytes, read in 1 MiB blocks.
pub fn checksum(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buffer)? {
            0 => break,
            n => hasher.update(&buffer[..n]),
        }
    }
    Ok(format!("{:016x}", hasher.digest()))
}

fn read_meta(piece: &Path) -> Result<EntryMeta, String> {
    let text = std::fs::read(check_path(piece)).map_err(|_| {
        "no checksum recorded (written by an older Loopy, or its check file was lost)".to_string()
    })?;
    serde_json::from_slice(&text).map_err(|e| format!("its check file is unreadable ({e})"))
}

/// The cheap check: the piece is there, as long as recorded, with the recorded
/// checksum (read once per process while the file is unchanged).
pub fn check(piece: &Path) -> Verdict {
    let meta = match std::fs::metadata(piece) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Missing,
        Err(e) => return Verdict::Damaged(format!("cannot read it: {e}")),
    };
    let stamp = Stamp::of(&meta);
    if let Some((_, recorded)) = passed()
        .lock()
        .ok()
        .and_then(|p| p.get(piece).cloned())
        .filter(|(seen, _)| *seen == stamp)
    {
        return Verdict::Good(recorded);
    }
    let recorded = match read_meta(piece) {
        Ok(recorded) => recorded,
        Err(reason) => return Verdict::Damaged(reason),
    };
    if recorded.bytes != stamp.len {
        return Verdict::Damaged(format!(
            "{} bytes where {} were written (cut short or overwritten)",
            stamp.len, recorded.bytes
        ));
    }
    match checksum(piece) {
        Ok(sum) if sum == recorded.xxh3 => {
            // First use in this process: say so (the access time), then remember the
            // stamp as it is after that (setting a time moves the change time).
            touch(piece);
            let stamp = std::fs::metadata(piece).map_or(stamp, |m| Stamp::of(&m));
            remember(piece, stamp, &recorded);
            Verdict::Good(recorded)
        }
        Ok(_) => Verdict::Damaged("its bytes differ from those written (checksum)".into()),
        Err(e) => Verdict::Damaged(format!("cannot read it: {e}")),
    }
}

/// The full check (`--verify`): the cheap one, then every frame decoded with FFmpeg's
/// error detection, as many as recorded.
pub fn check_fully(piece: &Path) -> Verdict {
    let recorded = match check(piece) {
        Verdict::Good(recorded) => recorded,
        other => return other,
    };
    match crate::verify::verify_clip(piece, &|| {}) {
        Ok(frames) if frames == recorded.frames => Verdict::Good(recorded),
        Ok(frames) => {
            forget(piece);
            Verdict::Damaged(format!(
                "{frames} frames decode, {} were written",
                recorded.frames
            ))
        }
        Err(damage) => {
            forget(piece);
            Verdict::Damaged(damage.to_string())
        }
    }
}

/// Publishes the finished piece `temp` as the entry at `target`: its check file
/// first, then the piece renamed into place (replacing a damaged one).
pub fn commit(
    temp: TempOutput,
    target: &Path,
    frames: u64,
    clips: &[&str],
) -> Result<(), RenderError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Io { path, source }
    };
    let bytes = std::fs::metadata(temp.path())
        .map_err(io(temp.path()))?
        .len();
    let meta = EntryMeta {
        bytes,
        xxh3: checksum(temp.path()).map_err(io(temp.path()))?,
        frames,
        clips: clips.iter().map(|c| c.to_string()).collect(),
    };
    let json = serde_json::to_vec_pretty(&meta).unwrap_or_default();
    forget(target);
    crate::smart::pieces::write_atomically(&check_path(target), &json)?;
    temp.persist(target, true)?;
    if let Ok(now) = std::fs::metadata(target) {
        remember(target, Stamp::of(&now), &meta);
    }
    Ok(())
}

/// Removes an entry that failed its check (piece and check file), so that it is
/// made again. Errors are ignored: a piece that cannot be removed fails its check
/// again next time.
pub fn discard(piece: &Path) {
    forget(piece);
    let _ = std::fs::remove_file(piece);
    let _ = std::fs::remove_file(check_path(piece));
}

/// Records that the entry was used now (its access time), for `loopy cache`'s
/// oldest-used-first removal. Best effort: a folder shared read-only stays as it is.
pub fn touch(piece: &Path) {
    let now = std::time::SystemTime::now();
    if let Ok(file) = std::fs::File::open(piece) {
        let _ = file.set_times(std::fs::FileTimes::new().set_accessed(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_committed_entry_passes_until_its_bytes_change() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("piece.mkv");
        assert_eq!(check(&target), Verdict::Missing);
        let temp = TempOutput::beside(&target).unwrap();
        std::fs::write(temp.path(), vec![7u8; 100_000]).unwrap();
        commit(temp, &target, 10, &["a.mp4"]).unwrap();
        assert!(check(&target).is_good());
        // Same length, other bytes, mtime put back: the checksum still tells.
        let mtime = std::fs::metadata(&target).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&target).unwrap();
        bytes[50_000] ^= 1;
        std::fs::write(&target, &bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert!(matches!(check(&target), Verdict::Damaged(_)));
        std::fs::write(&target, &bytes[..1000]).unwrap();
        assert!(matches!(check(&target), Verdict::Damaged(r) if r.contains("cut short")));
        discard(&target);
        assert_eq!(check(&target), Verdict::Missing);
        assert!(!check_path(&target).exists());
    }
}
