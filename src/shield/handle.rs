//! The [`Shielded`] handle and the work it drives.
//!
//! The handle owns the work (boxed once, when the handle is created, so
//! that its type is erased and it never has to move again). While the handle
//! is polled it polls the work itself, in the caller's task. If the handle
//! is dropped first, its `Drop` hands the box over to the set's executor,
//! which polls it from then on. The two never overlap: the executor only
//! gets the box after the last poll by the handle has returned (a `Drop`
//! cannot run during a poll of the same value), and the handle no longer
//! has it. No lock, no atomic: the ownership of the box is the hand-over.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::PoisonError;
use std::task::{Context, Poll};

use super::set::{End, Ticket};

/// What a panic carries (`std::panic::catch_unwind`'s error).
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// What the handle sees of its work: the future's type erased.
pub(crate) trait Job<T>: Send {
    /// Polls the work for its caller. On its end the outcome is recorded in
    /// the ticket (applied to the set when the box is dropped).
    fn poll_job(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Payload>>;
    /// Moves the unfinished work to its set's executor.
    fn detach(self: Pin<Box<Self>>);
}

pin_project_lite::pin_project! {
    /// One piece of shielded work: the user's future and its place in the
    /// set. As a `Future<Output = ()>` it is the detached form, run by an
    /// executor after the handle is gone.
    pub(crate) struct Work<F: Future> {
        // Declared before `ticket`: the future (and whatever its state
        // holds) is dropped before the work counts as ended, so a drain
        // that returns knows the work's values are gone too.
        #[pin]
        future: F,
        ticket: Ticket,
        is_expired: fn(&F::Output) -> bool,
    }
}

impl<F: Future> Work<F> {
    pub(crate) fn new(future: F, ticket: Ticket, is_expired: fn(&F::Output) -> bool) -> Self {
        Work {
            future,
            ticket,
            is_expired,
        }
    }
}

/// Polls `future` outside the caller's deadline scopes (shielded work does
/// not inherit them), catching a panic.
fn poll_shielded<F: Future>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
) -> Result<Poll<F::Output>, Payload> {
    crate::time::outside_scopes(|| catch_unwind(AssertUnwindSafe(|| future.poll(cx))))
}

impl<F> Job<F::Output> for Work<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn poll_job(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<F::Output, Payload>> {
        let this = self.project();
        match poll_shielded(this.future, cx) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                this.ticket.record(if (this.is_expired)(&v) {
                    End::Expired
                } else {
                    End::Completed
                });
                Poll::Ready(Ok(v))
            }
            Err(panic) => {
                this.ticket.record(End::Panicked);
                Poll::Ready(Err(panic))
            }
        }
    }

    fn detach(self: Pin<Box<Self>>) {
        let set = self.ticket.set().clone();
        set.spawn(self);
    }
}

impl<F> Future for Work<F>
where
    F: Future,
{
    type Output = ();

    /// The detached form: nobody awaits the outcome. The output is dropped
    /// here (a panicking `Drop` of it is contained), a panic goes to the
    /// set's hook; both before the work counts as ended.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.ticket.is_recorded() {
            // Ended already (a second poll by an odd executor).
            return Poll::Ready(());
        }
        match poll_shielded(this.future, cx) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => {
                let end = if (this.is_expired)(&v) {
                    End::Expired
                } else {
                    End::Completed
                };
                let _ = catch_unwind(AssertUnwindSafe(move || drop(v)));
                this.ticket.record(end);
                Poll::Ready(())
            }
            Err(panic) => {
                this.ticket.set().unobserved_panic(panic);
                this.ticket.record(End::Panicked);
                Poll::Ready(())
            }
        }
    }
}

/// A handle to shielded work; created by [`shield`](super::shield),
/// [`shield_within`](super::shield_within) and [`ShieldSet`](super::ShieldSet).
///
/// Awaiting it runs the work right there, in the awaiting task, and gives
/// its output. Dropping it before the work ended does **not** cancel the
/// work: what remains of it moves to the set's executor and runs to its end
/// there; its output is then dropped (a panic is counted as unobserved and
/// passed to the panic hook, see
/// [`ShieldSet::on_panic`](super::ShieldSet::on_panic)). See the
/// [module docs](super#where-the-work-runs).
///
/// # Panics
///
/// Awaiting the handle re-raises a panic of the work (with the original
/// payload), like joining a thread would, and so does polling it again
/// after it returned its output.
///
/// # Examples
///
/// ```
/// use async_guard::shield::shield;
/// # futures_lite::future::block_on(async {
/// let handle = shield(async { 6 * 7 });
/// assert_eq!(handle.await, 42);
/// # });
/// ```
#[must_use = "the work runs anyway (on the background executor); drop the handle explicitly if you do not need its output"]
pub struct Shielded<T> {
    /// The work, until it ended under this handle or moved away at drop.
    /// Only ever reached through `&mut self` (`get_mut`, never locked): the
    /// mutex is there so that the handle is `Sync` without asking the work
    /// to be.
    job: std::sync::Mutex<Option<Pin<Box<dyn Job<T>>>>>,
    /// The work ended while this handle drove it.
    finished: bool,
}

impl<T> Shielded<T> {
    pub(crate) fn new<F>(work: Work<F>) -> Self
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        Shielded {
            job: std::sync::Mutex::new(Some(Box::pin(work))),
            finished: false,
        }
    }

    /// `true` once the work has ended while this handle drove it (the poll
    /// that saw the end returned its output or re-raised its panic).
    ///
    /// The work only advances while the handle is polled (or after the
    /// handle is dropped, on the set's executor), so a handle that is not
    /// being awaited does not finish by itself.
    ///
    /// ```
    /// use std::pin::pin;
    /// use async_guard::shield::shield;
    /// # futures_lite::future::block_on(async {
    /// let mut handle = pin!(shield(async { 1 }));
    /// assert!(!handle.is_finished()); // not polled yet: nothing ran
    /// assert_eq!(handle.as_mut().await, 1);
    /// assert!(handle.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

impl<T> Future for Shielded<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let slot = this.job.get_mut().unwrap_or_else(PoisonError::into_inner);
        let Some(job) = slot else {
            panic!("`Shielded` polled after it returned its output")
        };
        let outcome = std::task::ready!(job.as_mut().poll_job(cx));
        this.finished = true;
        // Drops the future, then the ticket: the work counts as ended before
        // the caller sees its output.
        *slot = None;
        match outcome {
            Ok(v) => Poll::Ready(v),
            Err(panic) => resume_unwind(panic),
        }
    }
}

impl<T> Drop for Shielded<T> {
    fn drop(&mut self) {
        let slot = self.job.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(job) = slot.take() {
            // Not ended: the rest of the work moves to the set's executor.
            job.detach();
        }
    }
}

impl<T> fmt::Debug for Shielded<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shielded")
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
