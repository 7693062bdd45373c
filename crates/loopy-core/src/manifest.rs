//! The optional `loopy.toml` in a clip folder: per-clip tags, weight and relevance,
//! for users whose file names do not carry tags or who want to steer the planner.
//!
//! ```toml
//! [clips."idle_01.mp4"]
//! tags = ["idle", "calm"]
//! weight = 2.0      # picked about twice as often
//! relevance = 0.5   # outside signals act half as strongly on it
//! ```

use crate::error::PlanError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The file name of the manifest inside a clip folder.
pub const MANIFEST_FILE: &str = "loopy.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(default)]
    pub clips: BTreeMap<String, ClipEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClipEntry {
    pub tags: Option<Vec<String>>,
    pub weight: Option<f64>,
    pub relevance: Option<f64>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Self, PlanError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| PlanError::Manifest(e.to_string()))?;
        for (name, entry) in &manifest.clips {
            if let Some(w) = entry.weight {
                if !(w.is_finite() && w >= 0.0) {
                    return Err(PlanError::Manifest(format!(
                        "{name}: weight must be a number ≥ 0, got {w}"
                    )));
                }
            }
            if let Some(r) = entry.relevance {
                if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
                    return Err(PlanError::Manifest(format!(
                        "{name}: relevance must be in [0, 1], got {r}"
                    )));
                }
            }
        }
        Ok(manifest)
    }

    /// The entry for a clip, matched by relative path, file name or stem.
    pub fn entry_for(&self, path: &str) -> Option<&ClipEntry> {
        let name = path.rsplit('/').next().unwrap_or(path);
        let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
        self.clips
            .get(path)
            .or_else(|| self.clips.get(name))
            .or_else(|| self.clips.get(stem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_entries_by_any_name() {
        let m = Manifest::parse(
            "[clips.\"idle_01.mp4\"]\ntags=[\"calm\"]\nweight=2.0\n[clips.wave]\nrelevance=0.5\n",
        )
        .unwrap();
        assert_eq!(m.entry_for("idle_01.mp4").unwrap().weight, Some(2.0));
        assert_eq!(m.entry_for("sub/wave.mov").unwrap().relevance, Some(0.5));
        assert!(m.entry_for("talk.mp4").is_none());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(Manifest::parse("[clips.a]\nweight=-1\n").is_err());
        assert!(Manifest::parse("[clips.a]\nrelevance=2\n").is_err());
        assert!(Manifest::parse("[clips.a]\ncolour=1\n").is_err());
        assert!(Manifest::parse("not toml at all [").is_err());
    }
}
