//! The synchronisation primitives of the hand-synchronised parts (the
//! limiter and its gather engine, the reaper, shield's slot and drain, the
//! CPU pool and its job slots, the timer wheel), in one place so that
//! `--cfg async_guard_loom` swaps them for [loom](https://docs.rs/loom)'s
//! model-checked ones (`tests/loom.rs`). A normal build re-exports `std`:
//! nothing changes.
//!
//! `Arc` stays `std`'s everywhere (loom's cannot hold `dyn` values); it only
//! counts references, the protocols under test live in the mutexes and
//! atomics (the models count drops to catch leaks). The process-wide
//! singletons (the timer wheel, the global CPU pool, the default shield set,
//! the reaper and shield background threads) cannot live across loom's
//! executions, so the models never touch them and build their own instances
//! instead: a driverless `Reaper` ticked by hand, `CpuPool::builder`,
//! `ShieldSet::with_spawner`, `wheel::model`.

#[cfg(not(async_guard_loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard, atomic};
#[cfg(not(async_guard_loom))]
pub(crate) use std::thread;

#[cfg(async_guard_loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard, atomic};
#[cfg(async_guard_loom)]
pub(crate) use loom::thread;

/// Where code relies on `SeqCst` loads and stores being one total order (a
/// store then a load of another variable, Dekker style): a `SeqCst` fence
/// under loom, nothing otherwise. Loom models `SeqCst` accesses as only
/// `AcqRel` (see its README, "Unsupported features") and would report
/// impossible executions; the fence restores exactly the store-then-load
/// ordering that `SeqCst` accesses already have in the real build.
#[inline(always)]
pub(crate) fn seqcst_point() {
    #[cfg(async_guard_loom)]
    atomic::fence(atomic::Ordering::SeqCst);
}

/// Locks `m`, ignoring poisoning: the crate never runs user code (nor
/// anything that can panic halfway through an update) while one of its locks
/// is held, so a poisoned lock cannot hold a half-updated state; turning the
/// poison into a second panic would only spread the first one.
#[inline]
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
