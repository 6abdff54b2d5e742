//! The deadline in force on this thread while a future is being polled.
//!
//! No executor offers task-local storage that works everywhere, but a poll is
//! synchronous: a parent future can publish its deadline in a thread-local
//! for exactly the duration of its child's `poll` and restore the previous
//! value afterwards. Every nested timeout reads it while it is polled, so the
//! deadline is visible to the code inside and to nobody else, on any executor.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static CURRENT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The effective deadline of the enclosing scopes, if any.
pub(crate) fn current() -> Option<Instant> {
    CURRENT.with(Cell::get)
}

/// The earlier of two optional deadlines (`None` means never).
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// Runs `f` with `deadline` published as the current one, restoring the
/// previous deadline afterwards, even if `f` panics.
pub(crate) fn enter<R>(deadline: Option<Instant>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(deadline)));
    f()
}
