//! The default home of shielded work: one executor on one background
//! thread, started on first use.

use std::future::Future;
use std::sync::Once;

use async_executor::Executor;

static EXECUTOR: Executor<'static> = Executor::new();
static START: Once = Once::new();

/// Spawns `job` on the background executor and detaches it: the work runs
/// to its end whatever happens to the caller.
pub(crate) fn spawn<F>(job: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    START.call_once(start_thread);
    EXECUTOR.spawn(job).detach();
}

fn start_thread() {
    let started = std::thread::Builder::new()
        .name("async-guard-shield".into())
        .spawn(|| {
            loop {
                // Work never panics into the executor (it is wrapped in
                // `catch_unwind`), but if anything ever does, keep serving.
                let run = std::panic::AssertUnwindSafe(|| {
                    async_io::block_on(EXECUTOR.run(std::future::pending::<()>()))
                });
                let _ = std::panic::catch_unwind(run);
            }
        });
    // The OS refused a thread: fall back to running the executor on
    // `blocking`'s pool, which retries thread creation on demand.
    if started.is_err() {
        blocking::unblock(|| async_io::block_on(EXECUTOR.run(std::future::pending::<()>())))
            .detach();
    }
}
