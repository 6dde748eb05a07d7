//! # yiqi-tests
//!
//! Harness for the end-to-end suites in `tests/tests/` and the `yiqi-bench` benchmarks: it runs
//! the real `yiqi-hub` and `yiqi-node` binaries as separate processes on loopback ports with
//! temporary folders, and kills them when dropped.
//!
//! ## Layout
//! - [`process`]: locating the built binaries, starting a hub, waiting with deadlines.
//! - [`client`]: a small HTTP client for the hub's API.
//! - [`records`]: signed test records in bulk.

pub mod bench;
pub mod client;
pub mod federation;
pub mod node;
pub mod process;
pub mod records;
