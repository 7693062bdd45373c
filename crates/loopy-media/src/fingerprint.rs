//! A cheap content fingerprint of a clip file: its size and three 64 KiB samples
//! (start, middle, end), hashed with 64-bit FNV-1a. Reading 192 KiB tells a clip
//! replaced by another (same name, even the same frame count) from one merely
//! touched, without reading whole files on every render.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

const SAMPLE: u64 = 64 * 1024;

/// A file's modification time in nanoseconds since the Unix epoch (0 when unknown):
/// with its size, what the catalog cache and a plan recognise it by.
pub fn modified_ns(meta: &std::fs::Metadata) -> i128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

/// The fingerprint as 16 hex digits.
pub fn fingerprint(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let mut hash = Fnv1a::new();
    hash.write(&size.to_le_bytes());
    let mut buffer = vec![0u8; SAMPLE as usize];
    for offset in [
        0,
        size.saturating_sub(SAMPLE) / 2,
        size.saturating_sub(SAMPLE),
    ] {
        file.seek(SeekFrom::Start(offset))?;
        let mut filled = 0;
        while filled < buffer.len() {
            let n = file.read(&mut buffer[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        hash.write(&buffer[..filled]);
    }
    Ok(format!("{:016x}", hash.0))
}

/// 16 hex digits of the FNV-1a hash of `bytes`: a stable name for cache entries.
pub fn hash_hex(bytes: &[u8]) -> String {
    let mut hash = Fnv1a::new();
    hash.write(bytes);
    format!("{:016x}", hash.0)
}

/// 64-bit FNV-1a: stable across platforms and Rust versions (unlike std's hasher).
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_same_print_other_bytes_other_print() {
        let dir = std::env::temp_dir().join(format!("loopy-fp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&a, &body).unwrap();
        std::fs::write(&b, &body).unwrap();
        assert_eq!(fingerprint(&a).unwrap(), fingerprint(&b).unwrap());
        let mut changed = body.clone();
        changed[150_000] ^= 1; // in the middle sample
        std::fs::write(&b, &changed).unwrap();
        assert_ne!(fingerprint(&a).unwrap(), fingerprint(&b).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
