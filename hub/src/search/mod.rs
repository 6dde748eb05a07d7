//! The national search index and inventory statistics.
