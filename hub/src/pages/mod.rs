//! Server-rendered HTML pages.
