//! [`DetectStalls`]: times every poll of a future and reports the long ones.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pin_project_lite::pin_project! {
    /// A future whose polls are timed: created by
    /// [`FutureExt::detect_stalls`](crate::FutureExt::detect_stalls).
    ///
    /// Each poll of the inner future is timed with two `Instant::now()`
    /// calls; a poll that takes `threshold` or longer calls
    /// `hook(name, duration)` right after it returns. A long poll is
    /// exactly what blocks an executor thread (a hot loop that never
    /// awaits, blocking I/O, a lock held across heavy work), so the hook
    /// names the culprit.
    ///
    /// The name defaults to the inner future's type name (for an `async fn`
    /// that includes its path, e.g. `my_app::decode::{{closure}}`); set a
    /// readable one with [`named`](DetectStalls::named). To watch a whole
    /// task, wrap the future you spawn.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let hog = async {
    ///     std::thread::sleep(Duration::from_millis(20)); // blocks the thread: a stall
    ///     async_io::Timer::after(Duration::from_millis(1)).await; // a fine await
    /// };
    /// let mut stalls = Vec::new();
    /// hog.detect_stalls(Duration::from_millis(10), |name, took| stalls.push((name.to_owned(), took)))
    ///     .named("hog")
    ///     .await;
    /// assert_eq!(stalls.len(), 1);
    /// assert_eq!(stalls[0].0, "hog");
    /// assert!(stalls[0].1 >= Duration::from_millis(20));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct DetectStalls<F, H> {
        #[pin]
        future: F,
        hook: H,
        name: Cow<'static, str>,
        threshold: Duration,
        polls: u64,
        stalls: u64,
        longest: Duration,
    }
}

impl<F, H> DetectStalls<F, H>
where
    F: Future,
    H: FnMut(&str, Duration),
{
    pub(crate) fn new(future: F, threshold: Duration, hook: H) -> Self {
        DetectStalls {
            future,
            hook,
            name: Cow::Borrowed(std::any::type_name::<F>()),
            threshold,
            polls: 0,
            stalls: 0,
            longest: Duration::ZERO,
        }
    }
}

impl<F, H> DetectStalls<F, H> {
    /// Names the future in reports (instead of its type name).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// let f = async {}.detect_stalls(Duration::from_millis(5), |_, _| {}).named(format!("session-{}", 7));
    /// assert_eq!(f.name(), "session-7");
    /// ```
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// The name used in reports.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// let f = std::future::ready(1).detect_stalls(Duration::ZERO, |_, _| {});
    /// assert!(f.name().contains("Ready"));
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many times the inner future was polled.
    ///
    /// ```
    /// use std::{pin::pin, time::Duration};
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let mut f = pin!(async_guard::budget::yield_now().detect_stalls(Duration::MAX, |_, _| {}));
    /// f.as_mut().await;
    /// assert_eq!(f.polls(), 2);
    /// # });
    /// ```
    pub fn polls(&self) -> u64 {
        self.polls
    }

    /// How many polls took `threshold` or longer (each one was reported).
    ///
    /// ```
    /// use std::{pin::pin, time::Duration};
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let mut f = pin!(async {}.detect_stalls(Duration::MAX, |_, _| {}));
    /// f.as_mut().await;
    /// assert_eq!(f.stalls(), 0);
    /// # });
    /// ```
    pub fn stalls(&self) -> u64 {
        self.stalls
    }

    /// The longest single poll so far.
    ///
    /// ```
    /// use std::{pin::pin, time::Duration};
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let mut f = pin!(async { std::thread::sleep(Duration::from_millis(2)) }.detect_stalls(Duration::MAX, |_, _| {}));
    /// f.as_mut().await;
    /// assert!(f.longest_poll() >= Duration::from_millis(2));
    /// # });
    /// ```
    pub fn longest_poll(&self) -> Duration {
        self.longest
    }

    /// Gives the inner future back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::FutureExt as _;
    /// # futures_lite::future::block_on(async {
    /// let f = std::future::ready(3).detect_stalls(Duration::ZERO, |_, _| {});
    /// assert_eq!(f.into_inner().await, 3);
    /// # });
    /// ```
    pub fn into_inner(self) -> F {
        self.future
    }
}

impl<F, H> Future for DetectStalls<F, H>
where
    F: Future,
    H: FnMut(&str, Duration),
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let start = crate::rt::clock::now();
        let out = this.future.poll(cx);
        let took = crate::rt::clock::now().saturating_duration_since(start);
        *this.polls += 1;
        *this.longest = (*this.longest).max(took);
        if took >= *this.threshold {
            *this.stalls += 1;
            crate::trace::event!("async_guard::budget", WARN, "stall detected";
                future = %this.name, poll_ms = took.as_secs_f64() * 1e3);
            (this.hook)(this.name, took);
        }
        out
    }
}

impl<F, H> fmt::Debug for DetectStalls<F, H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DetectStalls")
            .field("name", &self.name)
            .field("threshold", &self.threshold)
            .field("polls", &self.polls)
            .field("stalls", &self.stalls)
            .field("longest", &self.longest)
            .finish_non_exhaustive()
    }
}
