//! # yiqi-hub
//!
//! The national hub: it accepts signed instrument records from registered regions, verifies and
//! validates each one, keeps every accepted version in an append-only log, and serves the current
//! state, the change feed other regions sync from, national search and inventory statistics.
//!
//! ## Layout
//! - [`server`]: assembling a hub from [`config`] settings; serving and clean shutdown.
//! - [`api`]: `fn app(state) -> Router` and the handlers; [`error`]: `AppError`, the codes.
//! - [`split`]: cutting a batch body into per-record bytes without parsing it whole.
//! - [`ingest`]: parallel checks, then the single writer with group commit.
//! - [`feed`]: the change feed and long-polling; [`harvest`]: the entries OAI-PMH lists read.
//! - [`indexer`]: replaying the log into the search index ([`yiqi_search`]), then following
//!   commits.
//! - [`registry`]: regions and their keys.
//! - [`log`]: the transparency log (log key, start-up check, checkpoint signer, cosignatures);
//!   [`log_api`]: its endpoints.
//! - [`store`]: the domain key layout over `yiqi_store`, the thin key-value layer (sled, memory).

pub mod api;
#[cfg(test)]
mod api_tests;
pub mod config;
pub mod error;
pub mod feed;
pub mod harvest;
pub mod indexer;
pub mod ingest;
pub mod log;
pub mod log_api;
#[cfg(test)]
mod log_api_tests;
pub mod openapi;
pub mod params;
pub mod registry;
#[cfg(test)]
mod search_api_tests;
pub mod server;
pub mod split;
pub mod store;
#[cfg(test)]
mod utilisation_tests;
