//! Wire types and rules the hub and the nodes share, beyond the record itself.

pub mod keys;
