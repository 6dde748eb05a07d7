//! One setting of the allocator: freed memory is kept for reuse.
//!
//! A node catching up allocates and frees pages of thousands of records several times a second.
//! By default mimalloc hands freed memory back to the operating system after a delay (its
//! "purge"), and taking it back costs page faults and zeroed pages: about 7% of a catch-up's
//! throughput on the benchmark machine (docs/performance.md, round 12). Kept, the memory is
//! reused at once; the price is that the node's resident size stays at its peak rather than
//! shrinking after a catch-up.

/// mimalloc's `mi_option_purge_delay` in the v3 library that `libmimalloc-sys` builds (the
/// crate names only some options); a test checks it by its default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// No purge: freed memory stays with the process.
const NEVER: std::ffi::c_long = -1;

/// Keeps freed memory for reuse from now on (see the module documentation).
pub fn keep_freed_memory() {
    // SAFETY: setting an option is a plain store mimalloc reads on its next purge decision.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, NEVER) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option is the purge delay: mimalloc v3 defaults it to 1,000 ms, which no option
    /// next to it does. (Unless the environment sets it, as `MIMALLOC_PURGE_DELAY` would.)
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reading an option.
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 1000);
        }
        keep_freed_memory();
        // SAFETY: reading an option.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) },
            NEVER
        );
    }
}
