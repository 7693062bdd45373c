//! One module per subcommand, plus the folder scan they share.

pub mod cache;
pub mod conform;
pub mod folder;
pub mod frames;
pub mod make_clip;
pub mod plan;
pub mod render;
pub mod scan;
pub mod serve;
