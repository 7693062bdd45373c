//! Conforming a clip again while the stream goes on: when a clip's piece turns out
//! damaged (or gone) as it is about to play, the stream moves on to another clip and
//! the piece is re-made on a thread of its own, one at a time per clip; the chain
//! plays the clip again once its piece passes its check.

use loopy_core::plan::PlanClip;
use loopy_media::smart::conform::{conform_clip, Quiet};
use loopy_media::smart::Profile;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// The clips being conformed again.
#[derive(Default)]
pub struct Repairs {
    underway: Arc<Mutex<HashSet<usize>>>,
}

impl Repairs {
    pub fn underway(&self, clip: usize) -> bool {
        self.underway
            .lock()
            .is_ok_and(|underway| underway.contains(&clip))
    }

    /// Conforms `clip` again in the background, unless that is under way already.
    pub fn start(&self, clip: usize, source: &PlanClip, profile: &Profile, root: &Path) {
        let Ok(mut set) = self.underway.lock() else {
            return;
        };
        if !set.insert(clip) {
            return;
        }
        let (source, profile, root) = (source.clone(), profile.clone(), root.to_path_buf());
        let underway = Arc::clone(&self.underway);
        let spawned = std::thread::Builder::new()
            .name("loopy-repair".into())
            .spawn(move || {
                let never = AtomicBool::new(false);
                match conform_clip(&root, &source, &profile, &never, &Quiet) {
                    Ok(()) => tracing::info!("{}: conformed again", source.path),
                    Err(e) => tracing::error!("{}: cannot be conformed again: {e}", source.path),
                }
                if let Ok(mut underway) = underway.lock() {
                    underway.remove(&clip);
                }
            });
        if spawned.is_err() {
            set.remove(&clip);
        }
    }
}
