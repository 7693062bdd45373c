//! Everything in Loopy that touches FFmpeg (through the `ffmpeg-next` crate) or the
//! clip folder on disk: probing clips, decoding the frames that become signatures,
//! and scanning a folder into a [`loopy_core::Catalog`] with a per-folder cache.

pub mod cache;
pub mod error;
pub mod ffmpeg_log;
pub mod fingerprint;
mod isobmff;
pub mod job;
pub mod library_sheet;
pub mod live;
pub mod orient;
pub mod output_file;
pub mod probe;
pub mod rawframes;
pub mod render;
pub mod route;
pub mod scan;
mod signature_frame;
pub mod smart;
pub mod verify;

pub use error::{ClipError, RenderError, ScanError};
pub use probe::probe_clip;
pub use scan::{scan_folder, CacheStatus, ScanOptions, ScanReport};

use std::sync::Once;

/// Initialises FFmpeg once per process and routes its log through [`ffmpeg_log`]:
/// silent unless `verbose`, since every problem it would print is reported by Loopy
/// with the file's name.
pub fn init(verbose: bool) {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // Registration cannot fail on FFmpeg ≥ 4; an error here would only repeat later.
        let _ = ffmpeg_next::init();
    });
    ffmpeg_log::install(verbose);
}
