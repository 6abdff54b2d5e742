//! A small set of futures polled concurrently inside one task, each with a
//! waker of its own so that only the futures that were woken are polled
//! again (what `FuturesUnordered` does, without `unsafe`). The engine of
//! [`gather`](super::gather) and [`map_limited`](crate::StreamExt::map_limited).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::sync::{Mutex, MutexGuard};

/// How many child polls one poll of the parent may spend before it yields
/// back to the executor (so children that keep waking themselves cannot
/// monopolise the thread).
pub(super) const POLL_BUDGET: usize = 256;

/// The slots woken since the parent last looked, and the parent's waker.
#[derive(Default)]
struct Ready {
    woken: Vec<usize>,
    flagged: Vec<bool>,
    parent: Option<Waker>,
}

#[derive(Default)]
struct Shared(Mutex<Ready>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ready> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self, index: usize) -> Option<Waker> {
        let mut ready = self.lock();
        if let Some(flag) = ready.flagged.get_mut(index) {
            if !*flag {
                *flag = true;
                ready.woken.push(index);
            }
        }
        // Taken: the parent re-registers when it returns `Pending`, and
        // while it polls the children it holds no waker, so their wake-ups
        // during that poll do not schedule it needlessly.
        ready.parent.take()
    }
}

struct SlotWaker {
    shared: Arc<Shared>,
    index: usize,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(parent) = self.shared.mark(self.index) {
            parent.wake();
        }
    }
}

/// What one call of [`Running::poll_woken`] achieved.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Progress {
    /// Some children were polled; call again (after refilling).
    Polled,
    /// Nothing was woken: the parent's waker is registered.
    Idle,
    /// The poll budget is spent: the parent must yield.
    Exhausted,
}

pub(super) struct Running<F> {
    /// `(sequence number, future)` per slot.
    slots: Vec<Option<(usize, Pin<Box<F>>)>>,
    wakers: Vec<Waker>,
    vacant: Vec<usize>,
    len: usize,
    shared: Arc<Shared>,
    /// Reused buffer for the woken slots being polled.
    batch: Vec<usize>,
    budget: usize,
}

impl<F: Future> Running<F> {
    pub(super) fn new() -> Self {
        Running {
            slots: Vec::new(),
            wakers: Vec::new(),
            vacant: Vec::new(),
            len: 0,
            shared: Arc::default(),
            batch: Vec::new(),
            budget: POLL_BUDGET,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Adds a future; it is polled on the next [`poll_woken`](Self::poll_woken).
    pub(super) fn push(&mut self, seq: usize, future: F) {
        let index = match self.vacant.pop() {
            Some(index) => index,
            None => {
                let index = self.slots.len();
                self.slots.push(None);
                self.shared.lock().flagged.push(false);
                self.wakers.push(Waker::from(Arc::new(SlotWaker {
                    shared: self.shared.clone(),
                    index,
                })));
                index
            }
        };
        self.slots[index] = Some((seq, Box::pin(future)));
        self.len += 1;
        self.shared.mark(index);
    }

    /// Drops every running future.
    pub(super) fn clear(&mut self) {
        self.slots.clear();
        self.wakers.clear();
        self.vacant.clear();
        self.len = 0;
        self.shared = Arc::default();
    }

    /// Starts a new parent poll: a fresh budget.
    pub(super) fn begin(&mut self) {
        self.budget = POLL_BUDGET;
    }

    /// Polls the children woken since last time; `done(seq, output)` gets
    /// each finished one and returns `false` to stop at once.
    pub(super) fn poll_woken(
        &mut self,
        cx: &mut Context<'_>,
        mut done: impl FnMut(usize, F::Output) -> bool,
    ) -> Progress {
        if self.budget == 0 {
            return Progress::Exhausted;
        }
        {
            let mut ready = self.shared.lock();
            if ready.woken.is_empty() {
                let old = match &ready.parent {
                    Some(w) if w.will_wake(cx.waker()) => None,
                    _ => ready.parent.replace(cx.waker().clone()),
                };
                // The replaced waker is dropped after the lock is released:
                // its drop may run user code that wakes a child (and so
                // takes this lock).
                drop(ready);
                drop(old);
                return Progress::Idle;
            }
            std::mem::swap(&mut self.batch, &mut ready.woken);
            for &index in &self.batch {
                ready.flagged[index] = false;
            }
        }
        let mut batch = std::mem::take(&mut self.batch);
        for &index in &batch {
            let Some((seq, future)) = &mut self.slots[index] else {
                continue; // a stale wake-up for a finished future
            };
            self.budget = self.budget.saturating_sub(1);
            let mut child_cx = Context::from_waker(&self.wakers[index]);
            if let Poll::Ready(out) = future.as_mut().poll(&mut child_cx) {
                let seq = *seq;
                self.slots[index] = None;
                self.vacant.push(index);
                self.len -= 1;
                if !done(seq, out) {
                    break;
                }
            }
        }
        batch.clear();
        self.batch = batch;
        Progress::Polled
    }
}
