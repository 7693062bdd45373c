//! Why FFmpeg could not open an MP4/MOV file, when the reason is that the file was
//! cut short: its top-level boxes are walked (size and type only, no parsing), and a
//! box that runs past the end of the file, or a movie without its index (`moov`, which
//! most encoders write last), means a truncated copy rather than a file that is not
//! video at all.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Box types that may open an ISO base media file (QuickTime files may start with
/// any of the others).
const OPENING_BOXES: [&[u8; 4]; 6] = [b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"];

/// Boxes to look at before giving up: real files have a handful at the top level.
const MAX_BOXES: usize = 10_000;

/// `Some(reason)` when the file is an MP4/MOV whose top-level boxes show it was cut
/// short; `None` when it is not such a file or looks whole.
pub fn truncation(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut offset = 0u64;
    let mut saw_moov = false;
    for n in 0..MAX_BOXES {
        if offset >= len {
            break;
        }
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(offset)).ok()?;
        let got = read_up_to(&mut file, &mut header)?;
        if got < 8 {
            return (n > 0).then(|| format!("the file ends inside a box header at byte {offset}"));
        }
        let kind: [u8; 4] = header[4..8].try_into().ok()?;
        if n == 0 && !OPENING_BOXES.contains(&&kind) {
            return None;
        }
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return (n > 0).then(|| format!("no box where one should start (byte {offset})"));
        }
        let size = match u32::from_be_bytes(header[..4].try_into().ok()?) {
            0 => len - offset,
            1 if got >= 16 => u64::from_be_bytes(header[8..16].try_into().ok()?),
            1 => {
                return Some(format!(
                    "the file ends inside a box header at byte {offset}"
                ))
            }
            size => u64::from(size),
        };
        if size < 8 {
            return (n > 0).then(|| format!("a box of impossible size at byte {offset}"));
        }
        saw_moov |= &kind == b"moov";
        let end = offset.saturating_add(size);
        if end > len {
            return Some(format!(
                "the `{}` box needs {end} bytes, the file has {len}{}",
                String::from_utf8_lossy(&kind),
                if saw_moov {
                    ""
                } else {
                    " (and the index, `moov`, is missing)"
                }
            ));
        }
        offset = end;
    }
    (!saw_moov).then(|| "the index (`moov` box) is missing: the file was cut short".to_string())
}

fn read_up_to(file: &mut std::fs::File, buffer: &mut [u8]) -> Option<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]).ok()? {
            0 => break,
            n => filled += n,
        }
    }
    Some(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: usize) -> Vec<u8> {
        let mut b = ((body + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.resize(body + 8, 0);
        b
    }

    #[test]
    fn whole_files_pass_and_cut_ones_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.mp4");
        let whole = [
            boxed(b"ftyp", 16),
            boxed(b"mdat", 1000),
            boxed(b"moov", 200),
        ]
        .concat();
        std::fs::write(&path, &whole).unwrap();
        assert_eq!(truncation(&path), None);
        std::fs::write(&path, &whole[..600]).unwrap();
        let reason = truncation(&path).unwrap();
        assert!(
            reason.contains("`mdat`") && reason.contains("moov"),
            "{reason}"
        );
        std::fs::write(&path, &whole[..24 + 1008]).unwrap();
        assert!(truncation(&path).unwrap().contains("missing"));
        std::fs::write(&path, b"not a video at all, just some text").unwrap();
        assert_eq!(truncation(&path), None);
    }
}
