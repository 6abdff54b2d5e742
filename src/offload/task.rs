//! One offloaded job: the work, its one-shot result slot, and the
//! [`Offload`] future that waits for it.
//!
//! The job and the future share one `Arc<Task>`. A small mutex guards the
//! job's stage; whoever moves it out of `Queued` (a worker starting it, or
//! the caller dropping its future) owns the next step, so a job is either run
//! or skipped, never both.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use async_lock::SemaphoreGuardArc;
use async_lock::futures::AcquireArc;

use super::pool::{CpuPool, Shared};
use crate::sync::{Mutex, MutexGuard};

/// The payload of a panic inside the work, carried to the caller.
type Panic = Box<dyn Any + Send + 'static>;

enum Stage<F, T> {
    /// Waiting for a worker; holds the work.
    Queued(F),
    /// A worker is running the work.
    Running,
    /// Finished; the result waits for the caller.
    Done(Result<T, Panic>),
    /// The caller took the result, or dropped its future.
    Gone,
}

struct Slot<F, T> {
    stage: Stage<F, T>,
    waker: Option<Waker>,
    /// The admission permit of a pool with `max_waiting`, until a worker
    /// takes it along (and releases it when the job ends) or the job is
    /// skipped: so permits count running + waiting jobs.
    permit: Option<SemaphoreGuardArc>,
}

pub(crate) struct Task<F, T> {
    slot: Mutex<Slot<F, T>>,
    shared: Arc<Shared>,
}

/// What a worker thread sees of a job: run it (or skip it if cancelled).
pub(crate) trait Runnable: Send + Sync {
    fn run(&self);
}

/// What the [`Offload`] future sees of its job.
trait Outcome<T>: Send + Sync {
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, Panic>>;
    fn attach(&self, permit: SemaphoreGuardArc);
    fn cancel(&self);
}

impl<F, T> Task<F, T> {
    fn lock(&self) -> MutexGuard<'_, Slot<F, T>> {
        crate::sync::lock(&self.slot)
    }
}

impl<F, T> Runnable for Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn run(&self) {
        let (work, permit) = {
            let mut slot = self.lock();
            match std::mem::replace(&mut slot.stage, Stage::Running) {
                Stage::Queued(work) => (work, slot.permit.take()),
                other => {
                    // Cancelled before it started: skip it.
                    slot.stage = other;
                    return;
                }
            }
        };
        let stats = &self.shared.stats;
        stats.started();
        let start = Instant::now();
        let result = panic::catch_unwind(AssertUnwindSafe(work));
        // Order matters: free the admission slot, then count the job, then
        // publish the result, so a caller that sees its result also sees the
        // stats and a free slot.
        drop(permit);
        stats.finished(start.elapsed(), result.is_err());
        let (waker, orphan) = {
            let mut slot = self.lock();
            if matches!(slot.stage, Stage::Running) {
                slot.stage = Stage::Done(result);
                (slot.waker.take(), None)
            } else {
                (None, Some(result))
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        // The caller left while the job ran: its result (or panic payload)
        // is dropped here, and a panicking `Drop` must not kill the worker.
        if let Some(orphan) = orphan {
            let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(orphan)));
        }
    }
}

impl<F, T> Outcome<T> for Task<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<Result<T, Panic>> {
        let mut slot = self.lock();
        match std::mem::replace(&mut slot.stage, Stage::Gone) {
            Stage::Done(result) => Poll::Ready(result),
            other => {
                slot.stage = other;
                let replaced = match &mut slot.waker {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    w => w.replace(cx.waker().clone()),
                };
                // The old waker is dropped after the lock: its drop may
                // re-enter the crate.
                drop(slot);
                drop(replaced);
                Poll::Pending
            }
        }
    }

    fn attach(&self, permit: SemaphoreGuardArc) {
        self.lock().permit = Some(permit);
    }

    fn cancel(&self) {
        // Take everything out under the lock, drop it (user code) outside.
        let (stage, permit, waker) = {
            let mut slot = self.lock();
            let stage = std::mem::replace(&mut slot.stage, Stage::Gone);
            // Only a queued job still has its permit here; a running one's
            // is held by its worker until the job ends (it occupies a thread).
            let permit = slot.permit.take();
            (stage, permit, slot.waker.take())
        };
        if let Stage::Queued(_) = stage {
            self.shared.stats.skipped();
        }
        drop((stage, permit, waker));
    }
}

enum State {
    /// Not yet in the queue: waiting for a permit of a pool with
    /// `max_waiting` that was full. Holds the pool open.
    Admit {
        pool: CpuPool,
        job: Arc<dyn Runnable>,
        acquire: Pin<Box<AcquireArc>>,
    },
    /// In the queue or running; the result comes through the slot.
    Queued,
    /// The result was returned.
    Finished,
}

/// The future of an offloaded job; created by [`offload`](super::offload),
/// [`CpuPool::run`] and [`CpuPool::try_run`]. Resolves to the work's result.
///
/// Like `run_in_executor` and `blocking::unblock`, the job is submitted
/// when it is created, not when first polled: several `Offload`s created
/// before awaiting the first run in parallel. (Only when a pool with
/// [`max_waiting`](super::CpuPoolBuilder::max_waiting) is full does `run` wait, while
/// polled, for room.)
///
/// - A panic inside the work resumes in the task that awaits this future
///   (like `std::thread::scope`); the pool thread survives.
/// - Dropped before the job started: the work never runs (it is dropped on
///   the dropping thread and its queue entry is skipped).
/// - Dropped while the job runs: it finishes on its pool thread, and the
///   result is dropped there.
///
/// # Examples
///
/// ```
/// use async_guard::offload::offload;
/// # futures_lite::future::block_on(async {
/// let sum = offload(|| (1..=100u32).sum::<u32>()).await;
/// assert_eq!(sum, 5050);
/// # });
/// ```
#[must_use = "dropping an `Offload` cancels its job unless it already started"]
pub struct Offload<T> {
    task: Arc<dyn Outcome<T>>,
    state: State,
}

impl<T: Send + 'static> Offload<T> {
    /// A job queued now if the pool admits it now, else waiting for room
    /// (a permit of a pool with `max_waiting`) while it is polled.
    pub(crate) fn new<F>(pool: &CpuPool, work: F) -> Self
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let Some(admission) = pool.shared().admission() else {
            return Self::queued_now(pool, work, None);
        };
        if let Some(permit) = admission.try_acquire_arc() {
            return Self::queued_now(pool, work, Some(permit));
        }
        let acquire = Box::pin(admission.acquire_arc());
        let task = Self::task(pool, work);
        Offload {
            task: task.clone(),
            state: State::Admit {
                pool: pool.clone(),
                job: task,
                acquire,
            },
        }
    }

    /// A job admitted with `permit` (or without admission control) and
    /// queued right now.
    pub(crate) fn queued_now<F>(pool: &CpuPool, work: F, permit: Option<SemaphoreGuardArc>) -> Self
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let task = Self::task(pool, work);
        if let Some(permit) = permit {
            task.attach(permit);
        }
        pool.shared().push(task.clone());
        Offload {
            task,
            state: State::Queued,
        }
    }

    fn task<F>(pool: &CpuPool, work: F) -> Arc<Task<F, T>>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        Arc::new(Task {
            slot: Mutex::new(Slot {
                stage: Stage::Queued(work),
                waker: None,
                permit: None,
            }),
            shared: pool.shared().clone(),
        })
    }
}

impl<T> Future for Offload<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        if let State::Admit { acquire, .. } = &mut this.state {
            let permit = std::task::ready!(acquire.as_mut().poll(cx));
            this.task.attach(permit);
            if let State::Admit { pool, job, .. } =
                std::mem::replace(&mut this.state, State::Queued)
            {
                pool.shared().push(job);
            }
        }
        match this.state {
            State::Queued => match this.task.poll_outcome(cx) {
                Poll::Ready(result) => {
                    this.state = State::Finished;
                    match result {
                        Ok(value) => Poll::Ready(value),
                        Err(payload) => panic::resume_unwind(payload),
                    }
                }
                Poll::Pending => Poll::Pending,
            },
            State::Finished => panic!("`Offload` polled after it completed"),
            State::Admit { .. } => unreachable!("admitted above"),
        }
    }
}

impl<T> Drop for Offload<T> {
    fn drop(&mut self) {
        match &self.state {
            State::Queued => self.task.cancel(),
            // Never admitted, so never queued: the work is dropped with
            // `task`, unrun; it still counts as cancelled.
            State::Admit { pool, .. } => pool.shared().stats.skipped_before_admission(),
            State::Finished => {}
        }
    }
}

impl<T> fmt::Debug for Offload<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Admit { .. } => "admitting",
            State::Queued => "queued or running",
            State::Finished => "finished",
        };
        f.debug_struct("Offload").field("state", &state).finish()
    }
}
