//! Runs one async test body under every runtime async-guard supports.
//!
//! Every integration test file does `mod runtimes;` and then
//! `runtimes::all(|| async { ... })`: the body runs, in turn, as a task on
//! smol's global executor, as a task on async-std's, directly under
//! `futures_lite::future::block_on` (no executor, no reactor thread of its
//! own) and as a task on a bare `async_executor::Executor` driven by
//! `block_on`. A test that passes here assumes no particular runtime.
#![allow(dead_code)]

use std::future::Future;

/// The runtimes a body is run under, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    Smol,
    AsyncStd,
    BlockOn,
    Executor,
}

pub const ALL: [Runtime; 4] = [
    Runtime::Smol,
    Runtime::AsyncStd,
    Runtime::BlockOn,
    Runtime::Executor,
];

/// Runs `body()` to completion on `rt`.
pub fn run<Fut>(rt: Runtime, body: Fut) -> Fut::Output
where
    Fut: Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    match rt {
        Runtime::Smol => smol::block_on(smol::spawn(body)),
        Runtime::AsyncStd => async_std::task::block_on(async_std::task::spawn(body)),
        Runtime::BlockOn => futures_lite::future::block_on(body),
        Runtime::Executor => {
            let ex = async_executor::Executor::new();
            futures_lite::future::block_on(ex.run(ex.spawn(body)))
        }
    }
}

/// Runs a fresh `body()` under each runtime in [`ALL`]; a panic names the
/// runtime it happened under.
pub fn all<F, Fut>(body: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for rt in ALL {
        let fut = body();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(rt, fut)));
        if let Err(panic) = outcome {
            eprintln!("test body failed under runtime {rt:?}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Like [`all`], but the body is told which runtime it runs under (to spawn
/// helper tasks on the same one).
pub fn each<F, Fut>(body: F)
where
    F: Fn(Runtime) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for rt in ALL {
        let fut = body(rt);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(rt, fut)));
        if let Err(panic) = outcome {
            eprintln!("test body failed under runtime {rt:?}");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Spawns a detached helper task on `rt`'s executor; under `BlockOn` and
/// `Executor`, on a thread of its own driven by `block_on`.
pub fn spawn<Fut>(rt: Runtime, fut: Fut)
where
    Fut: Future<Output = ()> + Send + 'static,
{
    match rt {
        Runtime::Smol => smol::spawn(fut).detach(),
        Runtime::AsyncStd => {
            async_std::task::spawn(fut);
        }
        Runtime::BlockOn | Runtime::Executor => {
            std::thread::spawn(move || futures_lite::future::block_on(fut));
        }
    }
}

/// Runs `body` under every runtime, each time on a fresh auto-advancing
/// virtual clock (`TestClock`), entered for the body: timing logic is
/// asserted on exact virtual instants, and no real time passes.
pub fn virtual_time<F, Fut>(body: F)
where
    F: Fn(async_guard::time::TestClock) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for rt in ALL {
        let clock = async_guard::time::TestClock::new();
        clock.set_auto_advance(true);
        let fut = clock.enter(body(clock.clone()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(rt, fut)));
        if let Err(panic) = outcome {
            eprintln!("test body failed under runtime {rt:?} (virtual time)");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Like [`virtual_time`], but the body is also told which runtime it runs
/// under, to spawn helper tasks on it (enter them on the same clock:
/// `runtimes::spawn(rt, clock.enter(task))`).
pub fn virtual_each<F, Fut>(body: F)
where
    F: Fn(Runtime, async_guard::time::TestClock) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for rt in ALL {
        let clock = async_guard::time::TestClock::new();
        clock.set_auto_advance(true);
        let fut = clock.enter(body(rt, clock.clone()));
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(rt, fut)));
        if let Err(panic) = outcome {
            eprintln!("test body failed under runtime {rt:?} (virtual time)");
            std::panic::resume_unwind(panic);
        }
    }
}
