//! Whether the in-memory statistics are complete.
//!
//! The search index is persisted, but the statistics ([`crate::stats`], [`crate::utilisation`])
//! live in memory: after a restart the hub rebuilds them by replaying its log in the background
//! while it already serves. Until that replay reaches the log's end as of the start, the figures
//! would be partial, so the statistics routes answer `503 warming_up` (with how far the rebuild
//! is) and the pages say so instead of showing partial tables. Search is not affected.
//!
//! A host that rebuilds its statistics before it serves (a serving node) never starts a warm-up,
//! so its statistics are always ready.

use std::sync::atomic::{AtomicU64, Ordering};

/// What `Retry-After` asks a client to wait while the statistics rebuild, in seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// How far the rebuild of the statistics is: `done` of `total` log entries replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

impl Progress {
    /// The sentence the API and the pages give: what is going on and what to do.
    pub fn message(&self) -> String {
        format!(
            "the statistics are being rebuilt after a restart: {} of {} log entries done; \
             search answers meanwhile. Retry in {RETRY_AFTER_SECS} s",
            self.done, self.total
        )
    }
}

/// The warm-up state: the seq the statistics must reach, 0 when they are complete.
#[derive(Debug, Default)]
pub(crate) struct WarmUp {
    until: AtomicU64,
}

impl WarmUp {
    /// The statistics are incomplete until they reflect the log up to seq `until`.
    pub(crate) fn start(&self, until: u64) {
        self.until.store(until, Ordering::Release);
    }

    /// The statistics are complete.
    pub(crate) fn finish(&self) {
        self.until.store(0, Ordering::Release);
    }

    /// How far the rebuild is when the statistics reflect the log up to `reached`; `None` (and
    /// the warm-up over) once they reach its target.
    pub(crate) fn progress(&self, reached: u64) -> Option<Progress> {
        let until = self.until.load(Ordering::Acquire);
        if until == 0 {
            return None;
        }
        if reached >= until {
            self.finish();
            return None;
        }
        Some(Progress {
            done: reached,
            total: until,
        })
    }

    /// Whether a warm-up runs (cheap: no lock).
    pub(crate) fn running(&self) -> bool {
        self.until.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_ready_unless_a_warm_up_runs() {
        let warm_up = WarmUp::default();
        assert_eq!(warm_up.progress(0), None);
        warm_up.start(10);
        let progress = warm_up.progress(4).unwrap();
        assert_eq!(progress, Progress { done: 4, total: 10 });
        assert!(progress.message().contains("4 of 10 log entries"));
        assert_eq!(warm_up.progress(10), None, "reaching the target ends it");
        assert!(!warm_up.running());
        warm_up.start(10);
        warm_up.finish();
        assert_eq!(warm_up.progress(3), None);
    }
}
