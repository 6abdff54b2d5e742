//! [`gather`] and [`try_gather`]: `asyncio.gather` behind a semaphore, in
//! one call, inside the calling task.

use std::fmt;
use std::future::Future;
use std::iter::Fuse;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::running::{Progress, Running};

/// Runs the futures with at most `limit` in flight at once and returns
/// their outputs **in input order**, as futures-util's
/// `stream::iter(futs).buffered(limit).collect()` does (asyncio's
/// `Semaphore(3)` around `asyncio.gather`, in one call).
///
/// The futures run concurrently inside the task that awaits the `Gather`
/// (nothing is spawned, so they need not be `Send` or `'static`, and it
/// works on any executor). They are taken from the iterator lazily: the
/// next one is created only when a slot is free, so
/// `gather(64, (0..1_000_000).map(job))` never holds more than 64 jobs.
/// `limit == 0` is treated as 1. Dropping the `Gather` drops every running
/// future. Only the futures that were woken are polled again (each slot has
/// its own waker); `benches/limit.rs` compares it with spawning a task per
/// future behind a semaphore (figures: `BENCHMARKS.md`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::limit::gather;
/// # futures_lite::future::block_on(async {
/// let jobs = (0..10).map(|i| async move {
///     async_io::Timer::after(Duration::from_millis(10 - i)).await;
///     i * 10
/// });
/// let out = gather(3, jobs).await;
/// assert_eq!(out, [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]);
/// # });
/// ```
pub fn gather<I>(limit: usize, futures: I) -> Gather<I::IntoIter>
where
    I: IntoIterator,
    I::Item: Future,
{
    Gather {
        core: Core::new(limit, futures.into_iter()),
        results: Vec::new(),
    }
}

/// Like [`gather`] for fallible futures: the first `Err` drops every
/// future still running, takes no more from the iterator, and is returned.
///
/// # Examples
///
/// ```
/// use async_guard::limit::try_gather;
/// # futures_lite::future::block_on(async {
/// let ok = try_gather(2, (1..=3).map(|i| async move { Ok::<_, String>(i) })).await;
/// assert_eq!(ok, Ok(vec![1, 2, 3]));
///
/// let jobs = (1..=100).map(|i| async move {
///     if i == 3 { Err(format!("job {i} failed")) } else { Ok(i) }
/// });
/// assert_eq!(try_gather(2, jobs).await, Err("job 3 failed".to_string()));
/// # });
/// ```
pub fn try_gather<I, T, E>(limit: usize, futures: I) -> TryGather<I::IntoIter, T>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryGather {
        core: Core::new(limit, futures.into_iter()),
        results: Vec::new(),
    }
}

/// What both gathers share: the iterator and the running set.
struct Core<I: Iterator> {
    limit: usize,
    futures: Fuse<I>,
    running: Running<I::Item>,
    next_seq: usize,
    /// Set once the gather resolved: later polls stay pending (no panic,
    /// and a stopped `try_gather` never resumes taking futures).
    finished: bool,
}

impl<I> Core<I>
where
    I: Iterator,
    I::Item: Future,
{
    fn new(limit: usize, futures: I) -> Self {
        Core {
            limit: limit.max(1),
            futures: futures.fuse(),
            running: Running::new(),
            next_seq: 0,
            finished: false,
        }
    }

    /// Drives the futures; `done(seq, out)` gets each output and returns
    /// `false` to stop. `Ready(())` once everything finished (or stopped).
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        mut done: impl FnMut(usize, <I::Item as Future>::Output) -> bool,
    ) -> Poll<()> {
        if self.finished {
            return Poll::Pending;
        }
        self.running.begin();
        let mut stop = false;
        loop {
            while self.running.len() < self.limit {
                let Some(future) = self.futures.next() else {
                    break;
                };
                self.running.push(self.next_seq, future);
                self.next_seq += 1;
            }
            if self.running.len() == 0 {
                self.finished = true;
                return Poll::Ready(());
            }
            let progress = self.running.poll_woken(cx, |seq, out| {
                stop = !done(seq, out);
                !stop
            });
            if stop {
                self.running.clear();
                self.finished = true;
                return Poll::Ready(());
            }
            match progress {
                Progress::Polled => continue,
                Progress::Idle => return Poll::Pending,
                Progress::Exhausted => {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`gather`]: resolves to every output, in input order.
    ///
    /// Polled again after it returned, it stays pending (no panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_guard::limit::{gather, Gather};
    /// # futures_lite::future::block_on(async {
    /// let all: Gather<_> = gather(2, (1..=4).map(|i| async move { i * i }));
    /// assert_eq!(all.await, [1, 4, 9, 16]);
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Gather<I: Iterator> where I::Item: Future {
        core: Core<I>,
        results: Vec<Option<<I::Item as Future>::Output>>,
    }
}

impl<I> Future for Gather<I>
where
    I: Iterator,
    I::Item: Future,
{
    type Output = Vec<<I::Item as Future>::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let results = this.results;
        let ready = this.core.poll(cx, |seq, out| {
            if results.len() <= seq {
                results.resize_with(seq + 1, || None);
            }
            results[seq] = Some(out);
            true
        });
        ready.map(|()| std::mem::take(results).into_iter().flatten().collect())
    }
}

pin_project_lite::pin_project! {
    /// The future of [`try_gather`]: resolves to every output in input
    /// order, or to the first error (dropping the futures still running).
    ///
    /// Polled again after it returned, it stays pending (no panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use async_guard::limit::{try_gather, TryGather};
    /// # futures_lite::future::block_on(async {
    /// let parse: TryGather<_, u8> = try_gather(2, ["1", "2", "x"].map(|s| async move { s.parse::<u8>() }));
    /// assert!(parse.await.is_err());
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct TryGather<I: Iterator, T> where I::Item: Future {
        core: Core<I>,
        results: Vec<Option<T>>,
    }
}

impl<I, T, E> Future for TryGather<I, T>
where
    I: Iterator,
    I::Item: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let results = this.results;
        let mut failed = None;
        let ready = this.core.poll(cx, |seq, out| match out {
            Ok(value) => {
                if results.len() <= seq {
                    results.resize_with(seq + 1, || None);
                }
                results[seq] = Some(value);
                true
            }
            Err(e) => {
                failed = Some(e);
                false
            }
        });
        if let Some(e) = failed {
            results.clear();
            return Poll::Ready(Err(e));
        }
        ready.map(|()| Ok(std::mem::take(results).into_iter().flatten().collect()))
    }
}

impl<I: Iterator> fmt::Debug for Gather<I>
where
    I::Item: Future,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("limit", &self.core.limit)
            .field("running", &self.core.running.len())
            .finish()
    }
}

impl<I: Iterator, T> fmt::Debug for TryGather<I, T>
where
    I::Item: Future,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("limit", &self.core.limit)
            .field("running", &self.core.running.len())
            .finish()
    }
}
