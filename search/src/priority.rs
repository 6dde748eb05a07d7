//! Background work yields the CPU to ingest.
//!
//! Indexing costs more CPU per record than verifying it. Under a burst of publishing, the hub
//! should acknowledge records first and index them a moment later, not slow both down: the
//! search index (tantivy's worker threads included, which inherit the priority of the thread
//! that creates the index writer) runs at a lower scheduling priority. At ordinary rates the
//! cores are idle enough that nothing waits.

/// The nice value background threads run at (0 is normal, 19 the lowest).
const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority (Linux; elsewhere a no-op).
pub fn lower_current_thread() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid has no preconditions; setpriority on our own thread id only changes
        // this thread's nice value, and a failure (e.g. a restricted container) is harmless.
        let result = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, BACKGROUND_NICE)
        };
        if result != 0 {
            tracing::debug!(
                "could not lower the indexer's priority; indexing runs at normal priority"
            );
        }
    }
}

/// Runs `work` on a fresh thread with lowered priority and returns its result; threads it
/// spawns inherit the priority.
pub fn run_lowered<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        lower_current_thread();
        work()
    })
    .join()
    .expect("the background set-up thread does not panic")
}
