//! Running a spreadsheet library that may panic on a damaged file, so that the operator sees a
//! one-line error instead of panic text and a backtrace.
//!
//! `catch_unwind` stops the unwinding, but the process's panic hook has already printed the
//! message by then. The hook installed here stays silent for panics on a thread that is inside
//! [`quietly`] (it logs them at debug level) and hands every other panic to the previous hook.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static INSTALL: Once = Once::new();

fn install_hook() {
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                tracing::debug!(panic = %info, "spreadsheet reader panicked");
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `read`; a panic inside it becomes `Err(())`, printed nowhere.
pub fn quietly<T>(read: impl FnOnce() -> T) -> Result<T, ()> {
    install_hook();
    let was = QUIET.with(|quiet| quiet.replace(true));
    let result = panic::catch_unwind(AssertUnwindSafe(read));
    QUIET.with(|quiet| quiet.set(was));
    result.map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_inside_is_an_error_and_the_thread_is_loud_again_after() {
        assert_eq!(quietly(|| 7), Ok(7));
        let caught: Result<(), ()> = quietly(|| panic!("index out of bounds"));
        assert_eq!(caught, Err(()));
        assert!(!QUIET.with(Cell::get), "only the guarded call is silenced");
    }
}
