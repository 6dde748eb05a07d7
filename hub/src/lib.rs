//! # yiqi-hub
//!
//! The national hub.
pub mod pages;
pub mod search;
