//! `loopy scan DIR`: what is in a clip folder and what is wrong with it.

use crate::args::ScanArgs;
use crate::output::{format_seconds, Table};
use anyhow::{Context, Result};
use loopy_core::signature::SEAMLESS_THRESHOLD;

pub fn run(args: &ScanArgs) -> Result<()> {
    if let Some(sheet) = &args.contact_sheet {
        crate::output::check_overwrite(sheet, args.force)?;
    }
    let report = super::folder::scan(&args.dir, &args.folder)?;
    let catalog = &report.catalog;
    if let Some(sheet) = &args.contact_sheet {
        let png = loopy_media::library_sheet::library_sheet_png(&args.dir, &catalog.clips)
            .with_context(|| format!("cannot make the contact sheet {}", sheet.display()))?;
        crate::output::write_atomically(sheet, &png, args.force)?;
    }
    if args.json {
        crate::output::print_json(catalog)?;
        return Ok(());
    }
    let mut table = Table::new([
        "name", "size", "fps", "duration", "frames", "codec", "seamless", "tags",
    ]);
    for clip in &catalog.clips {
        table.row([
            clip.path.clone(),
            describe_size(clip),
            clip.fps.to_string(),
            format_seconds(clip.duration_s),
            clip.frames.to_string(),
            clip.codec.clone(),
            format!(
                "{:.3}{}",
                clip.seamless_score,
                if clip.is_seamless() { "" } else { " !" }
            ),
            clip.tags.join(","),
        ]);
    }
    table.print()?;
    let not_seamless = catalog.clips.iter().filter(|c| !c.is_seamless()).count();
    let total: f64 = catalog.clips.iter().map(|c| c.duration_s).sum();
    crate::output::say(
        &format!(
            "{}, {} of video, {} skipped; {} not seamless (score > {SEAMLESS_THRESHOLD}, marked !)",
            crate::output::count(catalog.clips.len() as u64, "clip"),
            format_seconds(total),
            catalog.skipped.len(),
            not_seamless
        ),
        false,
    )
}

/// `360x640`, with how the picture is turned and the pixel shape when they matter.
fn describe_size(clip: &loopy_core::ClipInfo) -> String {
    let mut text = format!("{}x{}", clip.width, clip.height);
    if !clip.orientation.is_identity() {
        text.push_str(&format!(" ({})", clip.orientation.describe()));
    }
    if !clip.sar.is_one() {
        text.push_str(&format!(" SAR {}", clip.sar));
    }
    text
}
