//! Loopy's pure core: what a clip folder contains ([`catalog`]), how two frames
//! compare ([`signature`]), how a never-repeating sequence is chosen ([`planner`]),
//! how long it lasts to the frame ([`timeline`]) and what it looks like
//! statistically ([`stats`]).
//!
//! Nothing here touches FFmpeg or the file system beyond parsing text handed to it,
//! so every rule that decides *what* gets rendered is testable in milliseconds.

pub mod catalog;
pub mod chain;
pub mod cuts;
pub mod error;
pub mod fit;
pub mod live;
pub mod manifest;
pub mod orientation;
pub mod plan;
pub mod planner;
pub mod rational;
pub mod recency;
pub mod signature;
pub mod spans;
pub mod spec;
pub mod stats;
pub mod timeline;
pub mod weights;
pub mod window;

pub use catalog::{Catalog, ClipInfo, SkippedFile};
pub use error::PlanError;
pub use orientation::Orientation;
pub use plan::Plan;
pub use planner::{plan, PlanOptions};
pub use rational::Rational;
pub use signature::Signature;
