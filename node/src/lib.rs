//! # yiqi-node
//!
//! What a regional platform runs: it imports the platform's catalogue, signs every change with the
//! region's key, publishes to the hub and keeps a verified mirror of every other region.
//!
//! ## Layout
//! - [`node`]: [`Node`], the node folder opened (or an in-memory node), with every operation as a
//!   method: [`Node::import`], [`Node::publish`], [`Node::sync`], [`Node::run`],
//!   [`Node::status`], [`Node::show`], [`Node::export`].
//! - [`config`]: the node folder, `config.toml` and the key; [`db`]: the store's key layout.
//! - [`catalog`]: importing into the own catalogue, versions, tombstones, the signed outbox.
//! - [`publish`]: sending the outbox; [`backoff`]: retry timing; [`hub`]: reading from the hub.
//! - [`sync`]: the verified mirror, quarantine and cursor; [`pins`]: key pinning.
//! - [`serve`]: national search, statistics, records and pages from the verified mirror and the
//!   own catalogue ([`Node::serve`], and inside [`Node::run`] with `listen`).
//! - [`status`], [`export`], [`daemon`]: the remaining commands.
//! - [`import`]: reading catalogue files.
//! - [`tools`]: the stand-alone record tools (`keygen`, `sign`, `verify`, `validate`).
//! - [`error`]: failures and their exit statuses.

pub mod backoff;
pub mod catalog;
pub mod config;
pub mod daemon;
pub mod db;
pub mod error;
pub mod export;
pub mod hub;
pub mod import;
pub mod node;
pub mod pins;
pub mod publish;
pub mod serve;
pub mod status;
pub mod sync;
pub mod tools;

#[cfg(test)]
mod testing;

pub use error::NodeError;
pub use node::Node;
