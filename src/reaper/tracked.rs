//! The futures a reaper hands out: [`Tracked`] (a task it may cancel) and
//! [`Idle`] (a signal for things that are not one future).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::activity::{Activity, CLOSED, Entry, REAPED};
use crate::{Closed, Reaped};

/// Owns a tracked entry: dropping it takes the entry out of the reaper.
struct Registration {
    entry: Arc<Entry>,
    /// Whether dropping it counts as finishing (a watch) or as a drop.
    drop_is_finish: bool,
    /// The waker last handed to the entry, to skip re-registering it.
    waker: Option<Waker>,
}

impl Registration {
    fn new(entry: Arc<Entry>, drop_is_finish: bool) -> Self {
        Registration {
            entry,
            drop_is_finish,
            waker: None,
        }
    }

    /// Registers the task's waker (unless already registered) so that the
    /// driver wakes it when it reaps the entry.
    fn register(&mut self, waker: &Waker) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.entry.register(waker);
            self.waker = Some(waker.clone());
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.entry.leave(self.drop_is_finish);
    }
}

pin_project_lite::pin_project! {
    /// A future watched by a [`Reaper`](super::Reaper): it resolves to the
    /// task's output, or to `Err(Reaped)` once the task went longer than the
    /// time-to-live without touching its [`Activity`](super::Activity).
    ///
    /// Created by [`Reaper::track`](super::Reaper::track). When the task is
    /// reaped, the reaper wakes it at once; the inner future is dropped in
    /// that very poll, before `Err(Reaped)` is returned. Dropping a `Tracked`
    /// drops the task and takes it out of the reaper.
    ///
    /// If the task completes in the same instant the reaper decides to reap
    /// it, the completed output wins (`Ok`), though the reap was counted.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::reaper::Reaper;
    /// # futures_lite::future::block_on(async {
    /// let reaper = Reaper::new(Duration::from_millis(30));
    /// let stuck = reaper.track("stuck", |_activity| std::future::pending::<()>());
    /// let err = stuck.await.unwrap_err(); // never touched: reaped
    /// assert_eq!(err.name(), "stuck");
    /// assert!(err.idle_for() >= Duration::from_millis(30));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Tracked<F> {
        #[pin]
        future: Option<F>,
        reg: Registration,
    }
}

impl<F> Tracked<F> {
    /// Makes the task; if `task` panics, the entry still leaves the reaper.
    pub(crate) fn new(entry: Arc<Entry>, task: impl FnOnce(Activity) -> F) -> Self {
        let reg = Registration::new(entry.clone(), false);
        Tracked {
            future: Some(task(Activity { entry })),
            reg,
        }
    }

    /// The id the reaper gave the task.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let reaper = async_guard::reaper::Reaper::new(Duration::from_secs(1));
    /// let t = reaper.track("t", |_| async {});
    /// assert_eq!(reaper.snapshot()[0].id, t.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.reg.entry.id
    }
}

impl<F: Future> Future for Tracked<F> {
    type Output = Result<F::Output, Reaped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(reaped) = this.reg.entry.verdict() {
            this.future.set(None); // cancel the task now
            return Poll::Ready(Err(reaped));
        }
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("`Tracked` polled after it completed");
        };
        if let Poll::Ready(out) = future.poll(cx) {
            this.future.set(None);
            this.reg.entry.leave(true);
            return Poll::Ready(Ok(out));
        }
        // Register, then look again: a reap before registering is seen by
        // the second look, a reap after it wakes the task. (A task ready on
        // its first poll never registers at all.)
        this.reg.register(cx.waker());
        if let Some(reaped) = this.reg.entry.verdict() {
            this.future.set(None);
            return Poll::Ready(Err(reaped));
        }
        Poll::Pending
    }
}

impl<F> fmt::Debug for Tracked<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracked")
            .field("id", &self.reg.entry.id)
            .field("name", &self.reg.entry.name)
            .field("running", &self.future.is_some())
            .finish()
    }
}

/// Resolves once the watched thing went longer than the time-to-live
/// without a touch: `Ok(idle_for)`; or `Err(Closed)` if the reaper closed
/// first. Created by [`Reaper::watch`](super::Reaper::watch).
///
/// Dropping it stops the watch (the entry leaves the reaper). After it
/// resolved, it stays resolved: polling again gives the same answer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::reaper::Reaper;
/// # futures_lite::future::block_on(async {
/// let reaper = Reaper::new(Duration::from_millis(20));
/// let (_activity, idle) = reaper.watch("session-1");
/// let idle_for = idle.await.unwrap(); // nobody touched it
/// assert!(idle_for >= Duration::from_millis(20));
/// # });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Idle {
    reg: Registration,
}

impl Idle {
    pub(crate) fn new(entry: Arc<Entry>) -> Self {
        Idle {
            reg: Registration::new(entry, true),
        }
    }

    fn outcome(&self) -> Option<Result<Duration, Closed>> {
        match self.reg.entry.state() {
            REAPED => Some(Ok(self.reg.entry.idle_at_end())),
            CLOSED => Some(Err(Closed::new())),
            _ => None,
        }
    }
}

impl Future for Idle {
    type Output = Result<Duration, Closed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(out) = self.outcome() {
            return Poll::Ready(out);
        }
        self.reg.register(cx.waker());
        match self.outcome() {
            Some(out) => Poll::Ready(out),
            None => Poll::Pending,
        }
    }
}

impl fmt::Debug for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Idle")
            .field("id", &self.reg.entry.id)
            .field("name", &self.reg.entry.name)
            .finish()
    }
}
