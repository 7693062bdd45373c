//! Loopy's cache inside a clip folder, `DIR/.loopy/`: the catalog of probed clips
//! ([`catalog`]), the library's cut matrix ([`cuts`]), and the encoded pieces smart render and `loopy serve` copy from
//! (conformed clips and transitions, see [`crate::smart`]). Every piece is an
//! [`entry`]: written whole or not at all, with a checksum checked before it is used,
//! so a damaged one is made again instead of copied into an output. A process using
//! a profile's pieces holds its [`lock`], so that `loopy cache` ([`usage`]) never
//! removes what is in use.

pub mod catalog;
pub mod cuts;
pub mod entry;
pub mod lock;
pub mod usage;

/// Folder inside the clip folder that holds Loopy's cache.
pub const CACHE_DIR: &str = ".loopy";
