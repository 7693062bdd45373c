//! Scans a clip folder into a [`Catalog`]: lists the matching files, reuses cached
//! entries, probes the rest in parallel (one file per core), applies the manifest's
//! tags and weights, and collects every rejected file with its reason.

use crate::cache::catalog as cache;
use crate::error::ScanError;
use crate::probe::probe_clip_with;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use loopy_core::catalog::tag_from_name;
use loopy_core::manifest::{Manifest, MANIFEST_FILE};
use loopy_core::{Catalog, ClipInfo, SkippedFile};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// File patterns scanned when the user gives none.
pub const DEFAULT_PATTERNS: [&str; 6] = ["*.mp4", "*.mov", "*.mkv", "*.webm", "*.avi", "*.m4v"];

/// What `loopy scan` lets a user choose.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Glob patterns matched case-insensitively against file names; defaults when empty.
    pub patterns: Vec<String>,
    pub recursive: bool,
    /// Look at no more than this many files (after sorting by path).
    pub max: Option<usize>,
    pub use_cache: bool,
    /// Decode every frame of every clip (not yet verified while unchanged) and skip
    /// the damaged ones.
    pub verify: bool,
    /// Also keep each clip's head and tail windows (cut-point candidates).
    pub windows: bool,
}

/// Whether the cache helped, and if not why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    Used {
        reused: usize,
        probed: usize,
    },
    Disabled,
    /// The folder cannot be written: the scan worked without a cache.
    ReadOnly(String),
}

/// The result of a scan.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub catalog: Catalog,
    /// How many files matched the patterns (usable or not).
    pub files_seen: usize,
    pub cache: CacheStatus,
}

/// Scans `dir`. `on_file` is called once per file as it is finished, from any
/// thread, with the number of files in the scan, so that a caller can show progress.
pub fn scan_folder(
    dir: &Path,
    opts: &ScanOptions,
    on_file: &(dyn Fn(&str, usize) + Sync),
) -> Result<ScanReport, ScanError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScanError::Io { path, source }
    };
    let meta = std::fs::metadata(dir).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ScanError::NoSuchDirectory(dir.to_path_buf()),
        _ => io(dir)(source),
    })?;
    if !meta.is_dir() {
        return Err(ScanError::NotADirectory(dir.to_path_buf()));
    }
    let root = std::fs::canonicalize(dir).map_err(io(dir))?;
    let manifest = read_manifest(&root)?;
    let globs = build_globs(&opts.patterns)?;
    let mut files = Vec::new();
    list_files(&root, &globs, opts.recursive, &mut files).map_err(io(&root))?;
    files.sort();
    if let Some(max) = opts.max {
        files.truncate(max);
    }

    let cached = if opts.use_cache {
        cache::load(&root)
    } else {
        Default::default()
    };
    let outcomes: Vec<(String, Examined)> = files
        .par_iter()
        .map(|rel| {
            let outcome = examine(&root, rel, &cached, opts);
            on_file(rel, files.len());
            (rel.clone(), outcome)
        })
        .collect();

    let mut catalog = Catalog {
        root: root.to_string_lossy().into_owned(),
        ..Catalog::default()
    };
    let (mut reused, mut damaged) = (0, Vec::new());
    let mut stamps = std::collections::HashMap::new();
    let mut restamped = false;
    for (rel, outcome) in outcomes {
        match outcome {
            Ok((mut clip, from_cache, stamp)) => {
                reused += usize::from(from_cache);
                restamped |= cached.stamps.get(&rel) != Some(&stamp);
                stamps.insert(rel.clone(), stamp);
                apply_manifest(&mut clip, &manifest);
                catalog.clips.push(clip);
            }
            Err(skip) => {
                damaged.extend(skip.damage.map(|d| *d));
                catalog.skipped.push(SkippedFile {
                    path: rel,
                    reason: skip.reason,
                })
            }
        }
    }

    let cache_status = if !opts.use_cache {
        CacheStatus::Disabled
    } else {
        let probed = catalog.clips.len() - reused;
        if probed == 0
            && !restamped
            && cached.len() == catalog.clips.len()
            && cached.damaged.len() == damaged.len()
        {
            CacheStatus::Used { reused, probed }
        } else {
            match cache::store(&root, &catalog.clips, &damaged, stamps) {
                Ok(()) => CacheStatus::Used { reused, probed },
                Err(e) => CacheStatus::ReadOnly(e.to_string()),
            }
        }
    };
    Ok(ScanReport {
        catalog,
        files_seen: files.len(),
        cache: cache_status,
    })
}

/// Why a file is skipped, and its damage for the cache when verification found it.
struct Skip {
    reason: String,
    damage: Option<Box<cache::DamagedFile>>,
}

impl From<String> for Skip {
    fn from(reason: String) -> Self {
        Skip {
            reason,
            damage: None,
        }
    }
}

/// A usable clip, whether it came unchanged from the cache and the file's stamp, or
/// why it is skipped.
type Examined = Result<(ClipInfo, bool, cache::FileStamp), Skip>;

/// A clip from the cache when it is unchanged, else probed; with `verify`, decoded
/// to the last frame unless that was done before.
fn examine(root: &Path, rel: &str, cached: &cache::Cached, opts: &ScanOptions) -> Examined {
    let path = root.join(rel);
    let meta = std::fs::metadata(&path).map_err(|e| format!("cannot read: {e}"))?;
    let size = meta.len();
    let mtime_ns = crate::fingerprint::modified_ns(&meta);
    // Size and time say nothing of a file replaced with its modification time put
    // back: a cached verdict also needs the content fingerprint (192 KiB read) to
    // match, read again whenever the file's change time or inode moved.
    let stamp = cache::FileStamp::of(&meta);
    let unmoved = cached.stamps.get(rel) == Some(&stamp);
    let recorded = cache::reusable(cached, rel, size, mtime_ns)
        .map(|c| c.fingerprint.clone())
        .or_else(|| {
            cached
                .damage(rel, size, mtime_ns)
                .map(|d| d.fingerprint.clone())
        })
        .filter(|f| unmoved && !f.is_empty());
    let fingerprint = match recorded {
        Some(fingerprint) => fingerprint,
        None => crate::fingerprint::fingerprint(&path).map_err(|e| format!("cannot read: {e}"))?,
    };
    if let Some(damage) = cached
        .damage(rel, size, mtime_ns)
        .filter(|d| d.fingerprint == fingerprint)
    {
        return Err(Skip {
            reason: damage.reason.clone(),
            damage: Some(Box::new(damage.clone())),
        });
    }
    // A clip cached without windows is probed again when they are wanted.
    let reusable = cache::reusable(cached, rel, size, mtime_ns)
        .filter(|c| c.fingerprint == fingerprint)
        .filter(|c| !opts.windows || c.head_window.is_some());
    let (mut clip, from_cache) = match reusable {
        Some(clip) => (clip.clone(), true),
        None => (
            probe(
                &path,
                rel,
                size,
                mtime_ns,
                fingerprint.clone(),
                opts.windows,
            )?,
            false,
        ),
    };
    if !opts.verify || clip.verified {
        return Ok((clip, from_cache, stamp));
    }
    match crate::verify::verify_clip(&path, &|| {}) {
        Ok(_) => {
            clip.verified = true;
            Ok((clip, false, stamp))
        }
        Err(damage) => {
            let reason = damage.to_string();
            Err(Skip {
                damage: Some(Box::new(cache::DamagedFile {
                    path: rel.to_string(),
                    size,
                    mtime_ns,
                    fingerprint,
                    reason: reason.clone(),
                })),
                reason,
            })
        }
    }
}

/// Probes a file into a catalog entry (tags and weights come later, from the manifest).
fn probe(
    path: &Path,
    rel: &str,
    size: u64,
    mtime_ns: i128,
    fingerprint: String,
    windows: bool,
) -> Result<ClipInfo, String> {
    let probed = probe_clip_with(path, windows).map_err(|e| e.to_string())?;
    let seamless_score = probed.tail.distance(&probed.head);
    Ok(ClipInfo {
        path: rel.to_string(),
        container: probed.container,
        codec: probed.codec,
        width: probed.width,
        height: probed.height,
        orientation: probed.orientation,
        sar: probed.sar,
        fingerprint,
        pix_fmt: probed.pix_fmt,
        fps: probed.fps,
        frames: probed.frames,
        stored_frames: probed.stored_frames,
        duration_s: probed.fps.seconds(probed.frames),
        has_audio: probed.has_audio,
        size,
        mtime_ns,
        tags: Vec::new(),
        weight: 1.0,
        relevance: 1.0,
        head: probed.head,
        tail: probed.tail,
        seamless_score,
        head_window: probed.head_window,
        tail_window: probed.tail_window,
        verified: false,
    })
}

fn read_manifest(root: &Path) -> Result<Manifest, ScanError> {
    let path = root.join(MANIFEST_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Manifest::parse(&text).map_err(|source| ScanError::Manifest { path, source }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(source) => Err(ScanError::Io { path, source }),
    }
}

/// Tags, weight and relevance from the manifest; tags from the file name otherwise.
fn apply_manifest(clip: &mut ClipInfo, manifest: &Manifest) {
    let entry = manifest.entry_for(&clip.path).cloned().unwrap_or_default();
    clip.tags = match entry.tags {
        Some(tags) => tags.into_iter().map(|t| t.to_lowercase()).collect(),
        None => tag_from_name(&clip.path).into_iter().collect(),
    };
    clip.weight = entry.weight.unwrap_or(1.0);
    clip.relevance = entry.relevance.unwrap_or(1.0);
}

fn build_globs(patterns: &[String]) -> Result<GlobSet, ScanError> {
    let mut builder = GlobSetBuilder::new();
    let defaults: Vec<String> = DEFAULT_PATTERNS.iter().map(|p| p.to_string()).collect();
    for pattern in if patterns.is_empty() {
        &defaults
    } else {
        patterns
    } {
        let glob = GlobBuilder::new(pattern)
            .case_insensitive(true)
            .literal_separator(false)
            .build()
            .map_err(|e| ScanError::Pattern {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| ScanError::Pattern {
        pattern: patterns.join(" "),
        reason: e.to_string(),
    })
}

/// Relative paths (with `/`) of matching files, in name order; hidden files and
/// folders are skipped. Symbolic links are followed, but every real folder is visited
/// once (by device and inode), so a link back up the tree (`ln -s . lib/self`) cannot
/// loop, and a file reached through a link is left out when its real file is listed
/// already. Hard links are names of their own, as in any folder listing.
fn list_files(
    root: &Path,
    globs: &GlobSet,
    recursive: bool,
    out: &mut Vec<String>,
) -> std::io::Result<()> {
    let mut visited = std::collections::HashSet::new();
    visited.insert(identity(&std::fs::metadata(root)?));
    let mut found = Vec::new();
    list_folder(
        root,
        root,
        false,
        globs,
        recursive,
        &mut visited,
        &mut found,
    )?;
    let direct: std::collections::HashSet<(u64, u64)> = found
        .iter()
        .filter(|f| !f.via_link)
        .filter_map(|f| f.identity)
        .collect();
    let mut linked = std::collections::HashSet::new();
    for file in found {
        let keep = match (file.via_link, file.identity) {
            (true, Some(id)) => !direct.contains(&id) && linked.insert(id),
            _ => true,
        };
        if keep {
            out.push(file.rel);
        }
    }
    Ok(())
}

/// A matching file: its relative path, its identity when it can be read, and whether
/// the way to it goes through a symbolic link.
struct Found {
    rel: String,
    identity: Option<(u64, u64)>,
    via_link: bool,
}

/// A file's identity on this machine: device and inode.
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

fn list_folder(
    root: &Path,
    dir: &Path,
    via_link: bool,
    globs: &GlobSet,
    recursive: bool,
    visited: &mut std::collections::HashSet<(u64, u64)>,
    out: &mut Vec<Found>,
) -> std::io::Result<()> {
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let path: PathBuf = entry.path();
        let is_link = via_link || entry.file_type().is_ok_and(|t| t.is_symlink());
        // Follows links; a dangling link is listed and later skipped with its reason.
        let meta = std::fs::metadata(&path).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            if recursive && meta.as_ref().is_some_and(|m| visited.insert(identity(m))) {
                list_folder(root, &path, is_link, globs, recursive, visited, out)?;
            }
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_else(|_| name.to_string());
        if globs.is_match(name) || globs.is_match(&rel) {
            out.push(Found {
                rel,
                identity: meta.as_ref().map(identity),
                via_link: is_link,
            });
        }
    }
    Ok(())
}
