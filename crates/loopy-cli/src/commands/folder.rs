//! Scanning a clip folder with progress, skip reports and the "nothing usable" error:
//! shared by every command that starts from a folder.

use crate::args::FolderArgs;
use anyhow::{bail, Context, Result};
use loopy_media::{scan_folder, CacheStatus, ScanOptions, ScanReport};
use std::path::Path;
use std::time::Instant;

/// Scans `dir`, prints one `skip <path>: <reason>` line per rejected file, and fails
/// when no usable clip remains. The cut-point windows are kept unless `--no-windows`:
/// every command asks for them, so that one probe of a clip serves them all.
pub fn scan(dir: &Path, args: &FolderArgs) -> Result<ScanReport> {
    let opts = ScanOptions {
        patterns: args.patterns.clone(),
        recursive: args.recursive,
        max: args.max.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        use_cache: !args.no_cache,
        verify: args.verify,
        windows: !args.no_windows,
    };
    let started = Instant::now();
    let bar = crate::progress::Meter::new(
        if args.verify { "verify" } else { "scan" },
        0,
        if args.verify {
            "{bar:30} verifying {pos}/{len} files, ETA {eta}… {wide_msg}"
        } else {
            "{spinner} scanning {pos}/{len} files… {wide_msg}"
        },
    );
    let report = scan_folder(dir, &opts, &|name: &str, total: usize| {
        bar.set_length(total as u64);
        bar.inc(1);
        bar.set_message(name.to_string());
    })
    .with_context(|| format!("cannot scan {}", dir.display()))?;
    bar.finish();

    if !crate::output::quiet() {
        for skipped in &report.catalog.skipped {
            eprintln!("skip {}: {}", skipped.path, skipped.reason);
        }
    }
    match &report.cache {
        CacheStatus::ReadOnly(reason) => {
            tracing::warn!(
                "{} is not writable ({reason}); working without the cache",
                report.catalog.root
            )
        }
        CacheStatus::Used { reused, probed } => tracing::debug!(
            "cache: {reused} clips reused, {probed} probed in {:.2} s",
            started.elapsed().as_secs_f64()
        ),
        CacheStatus::Disabled => {}
    }
    if report.catalog.clips.is_empty() {
        if report.files_seen == 0 {
            let patterns = if args.patterns.is_empty() {
                loopy_media::scan::DEFAULT_PATTERNS.join(" ")
            } else {
                args.patterns.join(" ")
            };
            bail!(
                "no usable clip in {}: no file matches {patterns}{}",
                dir.display(),
                if args.recursive {
                    ""
                } else {
                    " (add --recursive to look in sub-folders)"
                }
            );
        }
        let reasons: Vec<String> = report
            .catalog
            .skipped
            .iter()
            .map(|s| format!("{}: {}", s.path, s.reason))
            .collect();
        bail!(
            "no usable clip in {}: looked at {} file{}, all rejected:\n  {}",
            dir.display(),
            report.files_seen,
            if report.files_seen == 1 { "" } else { "s" },
            reasons.join("\n  ")
        );
    }
    Ok(report)
}
