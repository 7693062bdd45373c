//! The library's cut matrix ([`loopy_core::cuts::CutMatrix`]) kept in
//! `DIR/.loopy/cuts/<key>.bin`, so that planning a large library again does not score
//! its pairs again (1 000 clips: seconds of scoring, milliseconds of reading).
//!
//! The key hashes everything the scoring reads: each clip's frame count, whether its
//! frames leave gaps, and its head and tail windows. A library that changes gets a new
//! key; the file of the old one is removed when the new one is written. The file is
//! written whole or not at all, with a checksum, and read back only when the checksum,
//! its size and every choice fit the clips: a damaged or foreign file is scored again,
//! never used.

use super::CACHE_DIR;
use loopy_core::catalog::ClipInfo;
use loopy_core::cuts::{CutChoice, CutMatrix};
use loopy_core::window::FrameWindow;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// Format tag at the head of the file; bump it when the scoring changes.
const MAGIC: &[u8; 8] = b"LOOPYCT1";
/// Bytes per pair: out-point and in-point (u32 each) and cost (f32), little-endian.
const PAIR_BYTES: usize = 12;
/// The file ends with the XXH3-64 of everything before it, little-endian.
const CHECK_BYTES: usize = 8;

/// The cut matrix of `clips`: read from `root`'s cache when it holds this library's,
/// else scored and, when `keep`, written there. `None` when a clip has no windows.
pub fn cut_matrix(root: &Path, clips: &[ClipInfo], keep: bool) -> Option<CutMatrix> {
    let key = key(clips)?;
    let path = folder(root).join(format!("{key}.bin"));
    let frames: Vec<u64> = clips.iter().map(|c| c.frames).collect();
    if keep {
        if let Some(kept) = read(&path, &frames) {
            return Some(kept);
        }
    }
    let scored = CutMatrix::from_clips(clips)?;
    if keep {
        if let Err(e) = write(&path, &scored) {
            tracing::debug!("cut matrix not kept in {}: {e}", path.display());
        }
    }
    Some(scored)
}

fn folder(root: &Path) -> PathBuf {
    root.join(CACHE_DIR).join("cuts")
}

/// 16 hex digits over what the scoring reads; `None` when a clip has no windows.
fn key(clips: &[ClipInfo]) -> Option<String> {
    let mut hash = Xxh3::new();
    hash.update(MAGIC);
    hash.update(&(clips.len() as u64).to_le_bytes());
    let window = |hash: &mut Xxh3, w: &FrameWindow| {
        hash.update(&w.first.to_le_bytes());
        hash.update(&w.step.to_le_bytes());
        hash.update(&(w.luma.len() as u64).to_le_bytes());
        hash.update(&w.luma);
    };
    for clip in clips {
        hash.update(&clip.frames.to_le_bytes());
        hash.update(&[u8::from(clip.stored_frames.is_some())]);
        window(&mut hash, clip.head_window.as_ref()?);
        window(&mut hash, clip.tail_window.as_ref()?);
    }
    Some(format!("{:016x}", hash.digest()))
}

fn read(path: &Path, frames: &[u64]) -> Option<CutMatrix> {
    let bytes = std::fs::read(path).ok()?;
    let (content, check) = bytes.split_at_checked(bytes.len().checked_sub(CHECK_BYTES)?)?;
    if xxhash_rust::xxh3::xxh3_64(content).to_le_bytes() != check {
        return None;
    }
    let body = content.strip_prefix(MAGIC.as_slice())?;
    if body.len() != frames.len() * frames.len() * PAIR_BYTES {
        return None;
    }
    let word = |b: &[u8]| -> [u8; 4] { [b[0], b[1], b[2], b[3]] };
    let choices = body
        .chunks_exact(PAIR_BYTES)
        .map(|pair| CutChoice {
            out_frame: u64::from(u32::from_le_bytes(word(&pair[0..4]))),
            in_frame: u64::from(u32::from_le_bytes(word(&pair[4..8]))),
            cost: f32::from_le_bytes(word(&pair[8..12])),
        })
        .collect();
    CutMatrix::from_choices(frames, choices)
}

fn write(path: &Path, matrix: &CutMatrix) -> std::io::Result<()> {
    let mut bytes =
        Vec::with_capacity(MAGIC.len() + matrix.choices().len() * PAIR_BYTES + CHECK_BYTES);
    bytes.extend_from_slice(MAGIC);
    for choice in matrix.choices() {
        // Windows lie within a clip's first and last seconds: frame numbers of clips
        // past 2³² frames (years at any rate) are not kept.
        let frame = |f: u64| u32::try_from(f).map_err(std::io::Error::other);
        bytes.extend_from_slice(&frame(choice.out_frame)?.to_le_bytes());
        bytes.extend_from_slice(&frame(choice.in_frame)?.to_le_bytes());
        bytes.extend_from_slice(&choice.cost.to_le_bytes());
    }
    let check = xxhash_rust::xxh3::xxh3_64(&bytes);
    bytes.extend_from_slice(&check.to_le_bytes());
    let dir = path.parent().unwrap_or(path);
    std::fs::create_dir_all(dir)?;
    crate::smart::pieces::write_atomically(path, &bytes).map_err(std::io::Error::other)?;
    // One library, one matrix: the files of its earlier states go.
    for old in std::fs::read_dir(dir)?.flatten() {
        let old = old.path();
        if old != path && old.extension().is_some_and(|e| e == "bin") {
            let _ = std::fs::remove_file(old);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopy_core::window::SAMPLE_BYTES;

    fn clip(frames: u64, level: u8) -> ClipInfo {
        let window = |first: u64| FrameWindow {
            first,
            step: 1,
            luma: (0..4u8)
                .flat_map(|i| std::iter::repeat_n(level.wrapping_add(i * 9), SAMPLE_BYTES))
                .collect(),
        };
        let fps = loopy_core::Rational::new(30, 1).unwrap_or_else(|| panic!("rate"));
        let mut info = ClipInfo::synthetic(&format!("c{level}.mp4"), frames, fps, level, level);
        info.head_window = Some(window(0));
        info.tail_window = Some(window(frames - 4));
        info
    }

    #[test]
    fn kept_matrices_come_back_and_damaged_ones_are_scored_again() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let clips = vec![clip(40, 10), clip(50, 60), clip(30, 200)];
        let scored = cut_matrix(dir.path(), &clips, true).unwrap_or_else(|| panic!("scored"));
        let files: Vec<PathBuf> = std::fs::read_dir(folder(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1);
        let kept = read(&files[0], &[40, 50, 30]).unwrap_or_else(|| panic!("kept"));
        assert_eq!(kept.choices(), scored.choices());
        // A damaged file is not used: it is scored again and written whole. A cost
        // changed in place still reads as a plausible matrix: the checksum tells.
        let good = std::fs::read(&files[0]).unwrap_or_else(|e| panic!("{e}"));
        let mut flipped = good.clone();
        flipped[MAGIC.len() + 8] ^= 1;
        let mut short = good.clone();
        short.truncate(good.len() - 1);
        for damaged in [flipped, short] {
            std::fs::write(&files[0], &damaged).unwrap_or_else(|e| panic!("{e}"));
            assert!(read(&files[0], &[40, 50, 30]).is_none());
        }
        let again = cut_matrix(dir.path(), &clips, true).unwrap_or_else(|| panic!("again"));
        assert_eq!(again.choices(), scored.choices());
        assert!(read(&files[0], &[40, 50, 30]).is_some());
        // Another library state: a new key, and the old file goes.
        let changed = vec![clip(40, 10), clip(50, 60), clip(30, 201)];
        cut_matrix(dir.path(), &changed, true);
        let now: Vec<PathBuf> = std::fs::read_dir(folder(dir.path()))
            .unwrap_or_else(|e| panic!("{e}"))
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(now.len(), 1);
        assert_ne!(now[0], files[0]);
        // Not kept when asked not to.
        let other = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(cut_matrix(other.path(), &clips, false).is_some());
        assert!(!folder(other.path()).exists());
    }
}
