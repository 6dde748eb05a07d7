//! Wire types of the HTTP protocol that both the hub (which serves them) and the nodes (which
//! read them) use, so the two sides cannot drift apart. docs/protocol.md is the reference.

pub mod log;
