//! [`yield_now`], [`Budget`] and its [`Tick`] future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Gives the executor a chance to run other tasks, once: asyncio's
/// `await asyncio.sleep(0)`.
///
/// The returned future wakes its own task (`wake_by_ref`) and returns
/// `Pending` exactly once, then completes. Every executor puts a task that
/// woke itself at the back of its run queue, so everything that was ready
/// runs first. Nothing here depends on a particular executor or reactor.
///
/// A yield costs a full trip through the scheduler (far more than the body
/// of a typical hot loop; `BENCHMARKS.md` has the figure), so yielding on
/// *every* iteration of a tight loop can multiply its run time.
/// Prefer a [`Budget`], which yields only every `n` ticks or once a time
/// slice is spent; use `yield_now` where one yield at a known point is what
/// you want (for example between two phases of a long job).
///
/// # Examples
///
/// ```
/// use async_guard::budget::yield_now;
/// # futures_lite::future::block_on(async {
/// for step in 0..3 {
///     // ... one step of work ...
///     # let _ = step;
///     yield_now().await; // let others run
/// }
/// # });
/// ```
pub fn yield_now() -> YieldNow {
    YieldNow { yielded: false }
}

/// The future returned by [`yield_now`]: `Pending` once, then `Ready`.
///
/// # Examples
///
/// ```
/// use std::task::Poll;
/// # futures_lite::future::block_on(async {
/// let mut y = std::pin::pin!(async_guard::budget::yield_now());
/// assert_eq!(futures_lite::future::poll_once(y.as_mut()).await, None); // yielded
/// assert_eq!(futures_lite::future::poll_once(y.as_mut()).await, Some(())); // done
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The most ticks between two clock samples of a time-sliced [`Budget`].
const MAX_STRIDE: u64 = 1 << 16;

/// A cooperative budget for a long loop: `budget.tick().await` is a counter
/// decrement almost every time, and a real yield to the executor only every
/// `n` ticks ([`Budget::new`]) or once a time slice of wall time is spent
/// ([`Budget::time_slice`]), or whichever comes first (both).
///
/// # The clock is sampled, not read on every tick
///
/// A time-sliced budget reads `Instant::now()` only every `k` ticks, with
/// `k` (the *stride*) adapted on the fly: it doubles while two samples are
/// less than 1/16 of the slice apart and shrinks fourfold when they are more
/// than 1/4 apart, between 1 and 65 536 ticks. For a steady loop the clock
/// is read about 8 to 16 times per slice whatever the cost of one iteration
/// (1 ns or 100 µs), so the slice overshoots by at most about a quarter
/// (plus one iteration when a single iteration is longer than that) and the
/// clock costs nothing measurable. The stride starts at 1 and survives
/// yields, so a new budget needs a few dozen samples to settle.
///
/// # Edge cases
///
/// - `Budget::new(0)` behaves as `Budget::new(1)`: every tick yields.
/// - `Budget::time_slice(Duration::ZERO)`: every tick yields.
/// - `Budget::time_slice(Duration::MAX)` and `Budget::new(usize::MAX)`:
///   never yield (on their own); no arithmetic overflows.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use async_guard::budget::Budget;
/// # futures_lite::future::block_on(async {
/// let mut budget = Budget::time_slice(Duration::from_micros(500));
/// let mut sum = 0u64;
/// for i in 0..100_000u64 {
///     sum = sum.wrapping_add(i * i);
///     budget.tick().await; // yields at most every ~500 us of work
/// }
/// # let _ = sum;
/// # });
/// ```
#[derive(Clone)]
pub struct Budget {
    /// Yield after this many ticks (`u64::MAX`: never by count).
    every: u64,
    /// Yield once this much time passed since the slice began (`None`: never by time).
    slice: Option<Duration>,
    /// Ticks left before the slow path runs.
    countdown: u64,
    /// What `countdown` was last set to.
    step: u64,
    /// Ticks since the last yield, as of the last slow path.
    since_yield: u64,
    /// Ticks in total, as of the last slow path.
    ticks: u64,
    yields: u64,
    /// Ticks between clock samples (adaptive, see the type docs).
    stride: u64,
    /// When the current slice began; `None` right after a yield (the next tick starts it).
    slice_start: Option<Instant>,
    last_sample: Option<Instant>,
}

impl Budget {
    /// A budget that yields every `n` ticks (`0` counts as `1`).
    ///
    /// Size `n` to the loop body: each yield costs a trip through the
    /// scheduler, spread over `n` ticks, so a tiny body wants a large `n`
    /// (`BENCHMARKS.md` measures `n = 1024` on a ~10 ns body); for
    /// bodies of unknown or varying cost a [`time_slice`](Budget::time_slice)
    /// is the safer choice (it bounds the time between yields, whatever the
    /// body costs).
    ///
    /// ```
    /// use async_guard::budget::Budget;
    /// # futures_lite::future::block_on(async {
    /// let mut budget = Budget::new(128);
    /// for _ in 0..1_000 {
    ///     budget.tick().await;
    /// }
    /// assert_eq!(budget.yields(), 7); // at ticks 128, 256, ..., 896
    /// # });
    /// ```
    pub fn new(n: usize) -> Self {
        Self::build(u64::try_from(n).unwrap_or(u64::MAX).max(1), None)
    }

    /// A budget that yields once `slice` of wall time has passed since its
    /// last yield (measured from the first tick after it).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use async_guard::budget::Budget;
    /// # futures_lite::future::block_on(async {
    /// let mut budget = Budget::time_slice(Duration::from_millis(1));
    /// let start = Instant::now();
    /// while budget.yields() < 3 {
    ///     budget.tick().await;
    /// }
    /// assert!(start.elapsed() >= Duration::from_millis(3)); // never early
    /// # });
    /// ```
    pub fn time_slice(slice: Duration) -> Self {
        Self::build(u64::MAX, Some(slice))
    }

    /// Adds a time slice to a counting budget: it yields every `n` ticks or
    /// once `slice` is spent, whichever comes first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::budget::Budget;
    /// let budget = Budget::new(1024).with_time_slice(Duration::from_micros(500));
    /// assert_eq!(budget.slice(), Some(Duration::from_micros(500)));
    /// ```
    pub fn with_time_slice(self, slice: Duration) -> Self {
        Self::build(self.every, Some(slice))
    }

    fn build(every: u64, slice: Option<Duration>) -> Self {
        let slice = slice.filter(|d| *d != Duration::MAX);
        let mut budget = Budget {
            every,
            slice,
            countdown: 0,
            step: 0,
            since_yield: 0,
            ticks: 0,
            yields: 0,
            stride: 1,
            slice_start: None,
            last_sample: None,
        };
        budget.step = budget.next_step();
        budget.countdown = budget.step;
        budget
    }

    /// Counts one unit of work; the returned future yields to the executor
    /// once when the budget is spent, and is ready at once otherwise.
    ///
    /// The decision is made when `tick` is called: dropping a yielding
    /// [`Tick`] without awaiting it skips that one yield (the budget has
    /// already started over).
    ///
    /// ```
    /// use async_guard::budget::Budget;
    /// # futures_lite::future::block_on(async {
    /// let mut budget = Budget::new(2);
    /// budget.tick().await; // ready at once
    /// budget.tick().await; // yields once
    /// assert_eq!((budget.ticks(), budget.yields()), (2, 1));
    /// # });
    /// ```
    #[inline]
    pub fn tick(&mut self) -> Tick {
        Tick(YieldNow {
            yielded: !self.spend(),
        })
    }

    /// Counts one unit of work and says whether the caller should yield
    /// now: [`tick`](Budget::tick) for hand-written `poll` functions
    /// (which yield with `cx.waker().wake_by_ref(); return Poll::Pending;`).
    ///
    /// ```
    /// use async_guard::budget::Budget;
    /// let mut budget = Budget::new(3);
    /// let decisions: Vec<bool> = (0..6).map(|_| budget.spend()).collect();
    /// assert_eq!(decisions, [false, false, true, false, false, true]);
    /// ```
    #[inline]
    pub fn spend(&mut self) -> bool {
        self.countdown -= 1;
        if self.countdown > 0 {
            return false;
        }
        self.slow_path()
    }

    /// Starts a fresh budget, as after a yield (without counting one): call
    /// it when the task just waited for something anyway (for example when a
    /// stream returned `Pending`).
    ///
    /// ```
    /// use async_guard::budget::Budget;
    /// let mut budget = Budget::new(2);
    /// assert!(!budget.spend());
    /// budget.reset();
    /// assert!(!budget.spend()); // counting started over
    /// assert!(budget.spend());
    /// ```
    pub fn reset(&mut self) {
        self.sync_counts();
        self.since_yield = 0;
        self.slice_start = None;
        self.step = self.next_step();
        self.countdown = self.step;
    }

    /// Total ticks so far.
    ///
    /// ```
    /// let mut budget = async_guard::budget::Budget::new(10);
    /// budget.spend();
    /// assert_eq!(budget.ticks(), 1);
    /// ```
    pub fn ticks(&self) -> u64 {
        self.ticks + (self.step - self.countdown)
    }

    /// Total yields so far.
    ///
    /// ```
    /// let mut budget = async_guard::budget::Budget::new(1);
    /// budget.spend();
    /// assert_eq!(budget.yields(), 1);
    /// ```
    pub fn yields(&self) -> u64 {
        self.yields
    }

    /// The count limit (`None` when it yields by time only).
    ///
    /// ```
    /// use async_guard::budget::Budget;
    /// assert_eq!(Budget::new(0).limit(), Some(1));
    /// assert_eq!(Budget::time_slice(std::time::Duration::ZERO).limit(), None);
    /// ```
    pub fn limit(&self) -> Option<u64> {
        (self.every != u64::MAX).then_some(self.every)
    }

    /// The time slice (`None` when it yields by count only, or for
    /// `Duration::MAX`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use async_guard::budget::Budget;
    /// assert_eq!(Budget::new(5).slice(), None);
    /// assert_eq!(Budget::time_slice(Duration::MAX).slice(), None);
    /// ```
    pub fn slice(&self) -> Option<Duration> {
        self.slice
    }

    /// Moves the ticks counted down since the last slow path into the totals.
    fn sync_counts(&mut self) {
        let done = self.step - self.countdown;
        self.since_yield += done;
        self.ticks += done;
        self.step = self.countdown;
    }

    #[cold]
    fn slow_path(&mut self) -> bool {
        self.sync_counts();
        let spent = self.since_yield >= self.every
            || self.slice.is_some_and(|slice| self.sample_clock(slice));
        if spent {
            self.yields += 1;
            self.since_yield = 0;
            self.slice_start = None;
        }
        self.step = self.next_step();
        self.countdown = self.step;
        spent
    }

    /// Reads the clock, adapts the stride, and says whether the slice is spent.
    fn sample_clock(&mut self, slice: Duration) -> bool {
        let now = crate::rt::clock::now();
        let start = match (self.slice_start, self.last_sample) {
            (Some(start), Some(last)) => {
                let gap = now.saturating_duration_since(last);
                if gap < slice / 16 {
                    self.stride = (self.stride * 2).min(MAX_STRIDE);
                } else if gap > slice / 4 {
                    self.stride = (self.stride / 4).max(1);
                }
                start
            }
            // The first tick after a yield (or ever) starts the slice.
            _ => {
                self.slice_start = Some(now);
                now
            }
        };
        self.last_sample = Some(now);
        now.saturating_duration_since(start) >= slice
    }

    /// How many ticks until the slow path must run again.
    fn next_step(&self) -> u64 {
        let to_limit = self.every - self.since_yield;
        match (self.slice, self.slice_start) {
            (None, _) => to_limit,
            // Right after a yield: sample at the next tick to start the slice.
            (Some(_), None) => 1,
            (Some(_), Some(_)) => to_limit.min(self.stride),
        }
    }
}

/// A budget of 500 µs time slices: a good default when the cost of one
/// unit of work is unknown or varies.
///
/// ```
/// use std::time::Duration;
/// let budget = async_guard::budget::Budget::default();
/// assert_eq!(budget.slice(), Some(Duration::from_micros(500)));
/// assert_eq!(budget.limit(), None);
/// ```
impl Default for Budget {
    fn default() -> Self {
        Budget::time_slice(Duration::from_micros(500))
    }
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit())
            .field("slice", &self.slice)
            .field("ticks", &self.ticks())
            .field("yields", &self.yields)
            .field("stride", &self.stride)
            .finish_non_exhaustive()
    }
}

/// The future returned by [`Budget::tick`]: ready at once, or (when the
/// budget is spent) `Pending` once and then ready.
///
/// # Examples
///
/// ```
/// # futures_lite::future::block_on(async {
/// let mut budget = async_guard::budget::Budget::new(1);
/// let tick = budget.tick(); // owns nothing: the budget is free again
/// tick.await;
/// # });
/// ```
#[derive(Debug, Clone)]
#[must_use = "a tick does nothing unless you `.await` it"]
pub struct Tick(YieldNow);

impl Tick {
    /// `true` if awaiting this tick yields to the executor.
    ///
    /// ```
    /// let mut budget = async_guard::budget::Budget::new(2);
    /// assert!(!budget.tick().will_yield());
    /// assert!(budget.tick().will_yield());
    /// ```
    pub fn will_yield(&self) -> bool {
        !self.0.yielded
    }
}

impl Future for Tick {
    type Output = ();

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_budget_yields_exactly_every_n() {
        for n in [1usize, 2, 3, 7, 128] {
            let mut b = Budget::new(n);
            let hits: Vec<u64> = (1..=10 * n as u64).filter(|_| b.spend()).collect();
            let expected: Vec<u64> = (1..=10).map(|k| k * n as u64).collect();
            assert_eq!(hits, expected, "n = {n}");
            assert_eq!(b.ticks(), 10 * n as u64);
            assert_eq!(b.yields(), 10);
        }
    }

    #[test]
    fn extremes_do_not_panic() {
        let mut never = Budget::new(usize::MAX);
        assert!((0..10_000).all(|_| !never.spend()));
        let mut never = Budget::time_slice(Duration::MAX);
        assert!((0..10_000).all(|_| !never.spend()));
        let mut always = Budget::time_slice(Duration::ZERO);
        assert!((0..100).all(|_| always.spend()));
        let mut always = Budget::new(0);
        assert!((0..100).all(|_| always.spend()));
        let mut both = Budget::new(usize::MAX).with_time_slice(Duration::from_nanos(1));
        for _ in 0..1000 {
            both.spend();
        }
        assert_eq!(both.ticks(), 1000);
    }

    #[test]
    fn stride_grows_for_cheap_ticks() {
        let mut b = Budget::time_slice(Duration::from_secs(10));
        for _ in 0..1_000_000 {
            b.spend();
        }
        assert!(b.stride >= 1024, "stride {}", b.stride);
        assert_eq!(b.ticks(), 1_000_000);
    }

    #[test]
    fn reset_keeps_totals() {
        let mut b = Budget::new(4);
        b.spend();
        b.spend();
        b.reset();
        assert_eq!(b.ticks(), 2);
        assert!(!b.spend() && !b.spend() && !b.spend());
        assert!(b.spend());
        assert_eq!((b.ticks(), b.yields()), (6, 1));
    }
}
