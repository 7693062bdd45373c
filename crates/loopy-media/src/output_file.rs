//! The rules every file Loopy writes for a user follows (videos, sidecar plans,
//! contact sheets, thumbnails): an existing file is replaced only with `force`, a
//! folder or a socket never; a file appears complete or not at all (written under a
//! temporary name beside it, then renamed, without replacing a file that appeared
//! meanwhile unless `force`). A device or FIFO (`/dev/null`, a pipe) is written to in
//! place where the file is small, since renaming over it would destroy the node.

use crate::error::RenderError;
use std::io::Write;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

/// What is at a target path now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existing {
    Nothing,
    File,
    Folder,
    /// A character or block device, or a FIFO: written in place.
    Device,
    /// Anything else (a socket): never written.
    Other,
}

impl Existing {
    pub fn at(path: &Path) -> Existing {
        let Ok(meta) = std::fs::metadata(path) else {
            return Existing::Nothing;
        };
        let kind = meta.file_type();
        if kind.is_file() {
            Existing::File
        } else if kind.is_dir() {
            Existing::Folder
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            Existing::Device
        } else {
            Existing::Other
        }
    }
}

fn usage(message: String) -> Result<(), RenderError> {
    Err(RenderError::Usage(message))
}

/// Checks, before any work, that a small output (a plan, a picture) may be written
/// to `path`: not a folder or a socket, and not an existing file unless `force`.
pub fn check_new(path: &Path, force: bool) -> Result<(), RenderError> {
    match Existing::at(path) {
        Existing::Folder => usage(format!("{} is a folder; give a file name", path.display())),
        Existing::Other => usage(format!(
            "{} is not a file (a socket?); give a file name",
            path.display()
        )),
        Existing::File if !force => usage(format!(
            "{} already exists; pass --force to replace it",
            path.display()
        )),
        _ => Ok(()),
    }
}

/// Checks, before any work, that a video may be written to `path`: as
/// [`check_new`], and a regular file only (muxers seek back to finish a file, and a
/// device must never be replaced by the finished video).
pub fn check_video(path: &Path, force: bool) -> Result<(), RenderError> {
    match Existing::at(path) {
        Existing::Device => usage(format!(
            "{} is a device or pipe; videos are written to regular files",
            path.display()
        )),
        _ => check_new(path, force),
    }
}

/// Writes `bytes` to `path` by the rules above: in place for a device or FIFO, else
/// complete or not at all; without `force` an existing file is never replaced, even
/// one that appeared while the work went on.
pub fn write_new(path: &Path, bytes: &[u8], force: bool) -> Result<(), RenderError> {
    let io = |source: std::io::Error| RenderError::Io {
        path: path.to_path_buf(),
        source,
    };
    check_new(path, force)?;
    if Existing::at(path) == Existing::Device {
        return std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(io);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".loopy-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|source| RenderError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    // Temporary files are private (0600); the result should read like any other file.
    tmp.write_all(bytes)
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io)?;
    let persisted = if force {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => usage(format!(
            "{} appeared while Loopy worked; pass --force to replace it",
            path.display()
        )),
        Err(e) => Err(io(e.error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_need_force_devices_are_written_in_place_folders_never() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.png");
        write_new(&file, b"one", false).unwrap();
        assert!(matches!(
            write_new(&file, b"two", false),
            Err(RenderError::Usage(_))
        ));
        write_new(&file, b"two", true).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        assert!(write_new(dir.path(), b"x", true).is_err());
        let null = Path::new("/dev/null");
        write_new(null, b"into the void", false).unwrap();
        assert_eq!(Existing::at(null), Existing::Device);
        assert!(check_video(null, true).is_err());
    }
}
