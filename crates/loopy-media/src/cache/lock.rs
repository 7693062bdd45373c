//! Who is using a profile's pieces: a render, a conform or a stream holds a shared
//! lock on the profile for as long as it reads or writes them; `loopy cache` takes it
//! exclusively (without waiting) before it removes anything, so it never removes a
//! piece from under a process, and says so when the profile is busy. The locks are
//! `flock`s on `.loopy/conformed/<profile>/lock`, released when the file is closed or
//! the process dies (Linux's NFS client maps them to the server's locks).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// The lock file of a profile folder.
pub fn lock_path(profile_dir: &Path) -> PathBuf {
    profile_dir.join("lock")
}

/// A held lock on a profile; released when dropped.
#[derive(Debug)]
pub struct ProfileLock {
    _file: File,
}

fn open(profile_dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(profile_dir)?;
    File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(lock_path(profile_dir))
}

/// Marks the profile as in use (shared: many renders and streams at once). Waits
/// only while `loopy cache` is removing from it.
pub fn share(profile_dir: &Path) -> std::io::Result<ProfileLock> {
    let file = open(profile_dir)?;
    file.lock_shared()?;
    Ok(ProfileLock { _file: file })
}

/// Takes the profile for removal, or `None` when another process uses it.
pub fn take_for_removal(profile_dir: &Path) -> std::io::Result<Option<ProfileLock>> {
    let file = open(profile_dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ProfileLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_in_use_is_not_taken_for_removal() {
        let dir = tempfile::tempdir().unwrap();
        let used = share(dir.path()).unwrap();
        assert!(take_for_removal(dir.path()).unwrap().is_none());
        drop(used);
        let taken = take_for_removal(dir.path()).unwrap();
        assert!(taken.is_some());
    }
}
