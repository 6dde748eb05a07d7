//! # yiqi-node
//!
//! What a regional platform runs: it imports the platform's catalogue, signs every change with the
//! region's key, publishes to the hub and keeps a verified mirror of every other region.
//!
//! ## Layout
//! - [`tools`]: the stand-alone record tools (`keygen`, `sign`, `verify`, `validate`).
//! - [`cli_error`]: command failures and their exit statuses.

pub mod cli_error;
pub mod generate;
pub mod import;
pub mod tools;
