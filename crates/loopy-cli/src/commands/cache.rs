//! `loopy cache DIR`: every output profile the library's cache holds, with all its
//! parameters, its size and when it was last used; `--prune`, `--remove ID` and
//! `--max-size SIZE` remove from it (never from a profile another process uses).

use crate::args::CacheArgs;
use crate::exit::usage;
use crate::output::{count, print_json, say};
use anyhow::Result;
use loopy_core::plan::PlanClip;
use loopy_media::cache::usage::{self, ProfileUsage, Removed};
use std::path::Path;

pub fn run(args: &CacheArgs) -> Result<()> {
    let root = std::fs::canonicalize(&args.dir)
        .map_err(|e| usage(format!("{}: {e}", args.dir.display())))?;
    if !root.is_dir() {
        return Err(usage(format!("{}: not a directory", args.dir.display())));
    }
    let max_size = args.max_size.as_deref().map(parse_size).transpose()?;
    let mut removed = Removed::default();
    if let Some(wanted) = &args.remove {
        let id = one_profile(&root, wanted)?;
        let gone = usage::remove_profile(&root, &id);
        if !gone.busy.is_empty() {
            return Err(anyhow::anyhow!(
                "profile {id} is in use by another process (a render, conform or stream); nothing was removed"
            ));
        }
        removed = gone;
    }
    if args.prune {
        let report = super::folder::scan(&args.dir, &args.folder)?;
        let clips: Vec<PlanClip> = report
            .catalog
            .clips
            .iter()
            .map(PlanClip::from_clip)
            .collect();
        removed = merge(removed, usage::prune_all(&root, &clips));
    }
    if let Some(max) = max_size {
        removed = merge(removed, usage::cap(&root, max));
    }
    let acted = args.remove.is_some() || args.prune || max_size.is_some();
    let profiles = usage::profiles(&root);
    if args.json {
        return print_json(&serde_json::json!({
            "profiles": profiles,
            "removed": acted.then_some(&removed),
        }));
    }
    if acted {
        say(
            &format!(
                "removed {} cache entr{}, {:.1} MB{}",
                removed.entries,
                if removed.entries == 1 { "y" } else { "ies" },
                removed.bytes as f64 / 1e6,
                if removed.busy.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; left alone, in use by another process: {}",
                        removed.busy.join(", ")
                    )
                }
            ),
            true,
        )?;
    }
    print_listing(&profiles)
}

fn merge(mut a: Removed, b: Removed) -> Removed {
    a.entries += b.entries;
    a.bytes += b.bytes;
    a.busy.extend(b.busy);
    a.busy.dedup();
    a
}

/// The profile `wanted` names: its id, or the start of exactly one id.
fn one_profile(root: &Path, wanted: &str) -> Result<String> {
    let ids = usage::profile_ids(root);
    let matching: Vec<&String> = ids.iter().filter(|id| id.starts_with(wanted)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(usage(format!(
            "no profile `{wanted}` in the cache of {} (it holds: {})",
            root.display(),
            if ids.is_empty() {
                "nothing".to_string()
            } else {
                ids.join(", ")
            }
        ))),
        many => Err(usage(format!(
            "`{wanted}` names {} profiles ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `2G`, `500M`, `1.5GB`, `64k`, `1000000`: bytes (powers of 1000, as disks count).
fn parse_size(text: &str) -> Result<u64> {
    let bad = || {
        usage(format!(
            "--max-size `{text}`: expected a size like 2G, 500M or 0"
        ))
    };
    let t = text.trim().trim_end_matches(['b', 'B']);
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        Some((i, 't' | 'T')) => (&t[..i], 1e12),
        _ => (t, 1.0),
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(value.is_finite() && value >= 0.0) {
        return Err(bad());
    }
    Ok((value * scale) as u64)
}

/// One line per profile: every parameter, what it holds, its size and last use.
pub fn print_listing(profiles: &[ProfileUsage]) -> Result<()> {
    if profiles.is_empty() {
        return say("the cache holds no conformed clips or transitions", false);
    }
    let total: u64 = profiles.iter().map(|p| p.bytes).sum();
    for p in profiles {
        let parameters = p.profile.as_ref().map_or_else(
            || "unknown profile (no profile.json)".to_string(),
            |f| {
                let quality = match (f.crf, f.bitrate) {
                    (_, Some(bitrate)) => format!("{} kb/s", bitrate / 1000),
                    (Some(crf), None) => format!("crf {crf}"),
                    (None, None) => "default quality".into(),
                };
                let heads = match f.head_keys {
                    0 => String::from(" (whole clips)"),
                    n => format!(", IDR every {n} frames in heads (cut points)"),
                };
                format!(
                    "{} {}x{} {} fps, {} fit, {quality}, preset {}, cross-fade {}f, GOP {}{heads}",
                    loopy_media::render::VideoCodec::parse(&f.codec)
                        .map_or(f.codec.as_str(), |c| c.name()),
                    f.width,
                    f.height,
                    f.fps,
                    serde_json::to_value(f.fit)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    f.preset.as_deref().unwrap_or("default"),
                    f.crossfade,
                    f.gop,
                )
            },
        );
        let last_used = p.last_used.map_or("never used".to_string(), |secs| {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            format!("last used {}", humantime::format_rfc3339_seconds(when))
        });
        say(
            &format!(
                "{}: {parameters}: {}, {}, {:.1} MB, {last_used}{}",
                p.id,
                count(p.clips as u64, "clip"),
                count(p.transitions as u64, "transition"),
                p.bytes as f64 / 1e6,
                if p.in_use { ", in use" } else { "" }
            ),
            false,
        )?;
    }
    say(
        &format!(
            "{} in all, {:.1} MB",
            count(profiles.len() as u64, "profile"),
            total as f64 / 1e6
        ),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(parse_size("2G").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("1.5GB").unwrap(), 1_500_000_000);
        assert_eq!(parse_size("500m").unwrap(), 500_000_000);
        assert_eq!(parse_size("0").unwrap(), 0);
        assert!(parse_size("lots").is_err());
        assert!(parse_size("-1G").is_err());
    }
}
