//! Smart render: every clip is encoded once into an output *profile* ("conformed"),
//! then a render copies clip bodies from the conformed clips and encodes only the
//! cross-fades between them (cached too). Pieces encoded apart join by packet copy
//! because they share the profile: the same encoder settings give byte-identical
//! parameter sets (checked), closed GOPs without B-frames, and IDR frames at 0, at the
//! cross-fade length k, every GOP after it and at len − k (see
//! [`crate::render::Keyframes`]).
//!
//! Cache layout, inside the clip folder:
//! ```text
//! .loopy/conformed/<profile-id>/profile.json      the profile, for `conform --status`
//! .loopy/conformed/<profile-id>/extradata.bin     the parameter sets every piece must have
//! .loopy/conformed/<profile-id>/<clip-key>.mkv    one conformed clip
//! .loopy/transitions/<profile-id>/<pair-key>.mkv  one encoded cross-fade, A → B
//! ```
//! A clip key hashes the clip's path, size and modification time, so a changed clip
//! is conformed again and never read stale. Every file is written to a temporary name
//! and renamed when complete: an interrupted run leaves nothing a later one would use.

pub mod blocks;
pub mod conform;
pub mod execute;
pub mod layout;
pub mod pieces;
pub mod profile;
pub mod transition;

pub use conform::{conform_clips, ConformProgress, ConformReport};
pub use profile::Profile;
