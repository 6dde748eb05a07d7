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
//! - [`catalog`]: importing into the own catalogue, versions, tombstones, the signed outbox;
//!   [`deletion`]: tombstoning single records.
//! - [`publish`]: sending the outbox; [`held`]: versions the hub refused, held and sent again; [`backoff`]: retry timing; [`hub`]: reading from the hub.
//! - [`sync`]: the verified mirror, quarantine and cursor, proven against the hub's log;
//!   [`keys`]: the key book from key records; [`log`]: checkpoints, proofs, witnessing, alarms;
//!   [`audit`]: proving the node's view against the hub's current checkpoint.
//! - [`serve`]: national search, statistics, records and pages from the verified mirror and the
//!   own catalogue ([`Node::serve`], and inside [`Node::run`] with `listen`).
//! - [`status`], [`export`], [`daemon`]: the remaining commands; [`control`]: running commands
//!   for other processes while `run` or `serve` holds the folder.
//! - [`import`]: reading catalogue files; [`row_report`]: how rejected rows are reported.
//! - [`tools`]: the stand-alone record tools (`keygen`, `sign`, `verify`, `validate`).
//! - [`error`]: failures and their exit statuses.

pub mod allocator;
pub mod audit;
pub mod backoff;
pub mod catalog;
pub mod config;
pub mod control;
pub mod daemon;
pub mod db;
pub mod deletion;
pub mod error;
pub mod export;
pub mod harvest;
pub mod held;
pub mod hub;
pub mod import;
pub mod keys;
pub mod log;
pub mod node;
pub mod publish;
pub mod row_report;
pub mod serve;
pub mod status;
pub mod sync;
pub mod tools;

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod testlog;

pub use error::NodeError;
pub use node::Node;
