//! The FIFO queue of waiters: a doubly linked list threaded through a `Vec`
//! of slots (a tiny slab), so that pushing at the back, popping at the front
//! *and* unlinking a waiter from the middle (it was dropped) are all O(1),
//! without `unsafe` and without a reallocation per waiter once warm.
//!
//! Only waiting nodes live here. A node leaves the queue when it is granted,
//! closed or dropped; the outcome is published
//! in the waiter's own [`Outcome`] cell, which the waiting future reads
//! without taking the limiter's lock.

use std::sync::Arc;
use std::task::Waker;

use crate::sync::atomic::{AtomicU8, Ordering, fence};

/// How a wait ended, shared between the queue and the waiting future.
/// Written only under the limiter's lock; read with or without it.
#[derive(Debug, Default)]
pub(super) struct Outcome(AtomicU8);

impl Outcome {
    pub(super) const WAITING: u8 = 0;
    /// Its permits were handed over; `in_use` already counts them.
    pub(super) const GRANTED: u8 = 1;
    /// The limiter was closed while it waited (also the mark of a waiter
    /// that left the queue because it was dropped).
    pub(super) const CLOSED: u8 = 2;

    pub(super) fn get(&self) -> u8 {
        self.0.load(Ordering::Acquire)
    }

    fn set(&self, outcome: u8) {
        self.0.store(outcome, Ordering::Release);
    }
}

#[derive(Debug)]
pub(super) struct Node {
    pub(super) weight: usize,
    pub(super) waker: Waker,
    outcome: Arc<Outcome>,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug)]
enum Slot {
    Used(Node),
    /// A free slot keeps the outcome cell of its last waiter, to be reused
    /// (no allocation per wait) once that waiter let go of it.
    Free {
        next_free: Option<usize>,
        cell: Option<Arc<Outcome>>,
    },
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    slots: Vec<Slot>,
    free: Option<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    len: usize,
}

impl Queue {
    /// Number of waiters in the queue.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn front(&self) -> Option<usize> {
        self.head
    }

    #[cfg(test)]
    pub(super) fn next_of(&self, key: usize) -> Option<usize> {
        self.node(key).and_then(|n| n.next)
    }

    pub(super) fn node(&self, key: usize) -> Option<&Node> {
        match self.slots.get(key) {
            Some(Slot::Used(node)) => Some(node),
            _ => None,
        }
    }

    pub(super) fn node_mut(&mut self, key: usize) -> Option<&mut Node> {
        match self.slots.get_mut(key) {
            Some(Slot::Used(node)) => Some(node),
            _ => None,
        }
    }

    /// Appends a waiter and returns its key and its outcome cell (a fresh
    /// one, or a recycled one that nobody else holds any more).
    pub(super) fn push_back(&mut self, weight: usize, waker: Waker) -> (usize, Arc<Outcome>) {
        let mut recycled = None;
        let key = match self.free {
            Some(key) => {
                if let Some(Slot::Free { next_free, cell }) = self.slots.get_mut(key) {
                    self.free = *next_free;
                    recycled = cell.take();
                }
                key
            }
            None => {
                self.slots.push(Slot::Free {
                    next_free: None,
                    cell: None,
                });
                self.slots.len() - 1
            }
        };
        // Only clones made under the limiter's lock exist, so a count of
        // one cannot grow behind our back: the previous waiter is gone.
        let outcome = match recycled {
            Some(cell) if Arc::strong_count(&cell) == 1 => {
                // Pairs with the old waiter's release of its reference: its
                // last read of the cell happens before our reset.
                fence(Ordering::Acquire);
                cell.set(Outcome::WAITING);
                cell
            }
            _ => Arc::default(),
        };
        self.slots[key] = Slot::Used(Node {
            weight,
            waker,
            outcome: outcome.clone(),
            prev: self.tail,
            next: None,
        });
        match self.tail.and_then(|t| self.node_mut(t)) {
            Some(tail) => tail.next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.len += 1;
        (key, outcome)
    }

    /// Takes a waiter out of the queue, publishing `outcome` to it, and
    /// returns its waker. `None` if the key holds no waiter.
    pub(super) fn remove(&mut self, key: usize, outcome: u8) -> Option<Waker> {
        let Some(Slot::Used(_)) = self.slots.get(key) else {
            return None;
        };
        let slot = std::mem::replace(
            &mut self.slots[key],
            Slot::Free {
                next_free: self.free,
                cell: None,
            },
        );
        let Slot::Used(node) = slot else { return None };
        node.outcome.set(outcome);
        let Node {
            waker,
            outcome: cell,
            prev,
            next,
            ..
        } = node;
        if let Slot::Free { cell: kept, .. } = &mut self.slots[key] {
            *kept = Some(cell);
        }
        self.free = Some(key);
        match prev.and_then(|p| self.node_mut(p)) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match next.and_then(|n| self.node_mut(n)) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.len -= 1;
        if self.len == 0 && self.slots.len() > 1024 {
            // A burst of waiters is over: give the memory back.
            self.slots = Vec::new();
            self.free = None;
            self.head = None;
            self.tail = None;
        }
        Some(waker)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waker() -> Waker {
        Waker::noop().clone()
    }

    fn order(q: &Queue) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = q.front();
        while let Some(k) = at {
            out.push(q.node(k).unwrap().weight);
            at = q.next_of(k);
        }
        out
    }

    #[test]
    fn push_remove_keep_order_and_publish_outcomes() {
        let mut q = Queue::default();
        let (keys, cells): (Vec<usize>, Vec<Arc<Outcome>>) =
            (0..5).map(|i| q.push_back(i + 1, waker())).unzip();
        assert_eq!(order(&q), [1, 2, 3, 4, 5]);
        assert!(q.remove(keys[2], Outcome::GRANTED).is_some());
        assert_eq!(cells[2].get(), Outcome::GRANTED);
        assert_eq!(order(&q), [1, 2, 4, 5]);
        q.remove(keys[0], Outcome::CLOSED);
        q.remove(keys[4], Outcome::CLOSED);
        assert_eq!(order(&q), [2, 4]);
        assert_eq!(q.len(), 2);
        assert_eq!(cells[1].get(), Outcome::WAITING);
        q.remove(keys[1], Outcome::CLOSED);
        q.remove(keys[3], Outcome::CLOSED);
        assert_eq!(q.len(), 0);
        assert_eq!(q.front(), None);
        // Slots are reused; a cell still held by its old waiter is not.
        let (k, cell) = q.push_back(9, waker());
        assert!(k < 5);
        assert!(!cells.iter().any(|c| Arc::ptr_eq(c, &cell)));
        assert_eq!(cell.get(), Outcome::WAITING);
        assert!(q.remove(k, Outcome::GRANTED).is_some());
        drop(cell); // the waiter let go: the next waiter in this slot reuses it
        let (k2, again) = q.push_back(8, waker());
        assert_eq!(k2, k);
        assert_eq!(again.get(), Outcome::WAITING);
        assert_eq!(Arc::strong_count(&again), 2);
        // Removing twice is harmless.
        drop(again);
        let k = k2;
        assert_eq!(order(&q), [8]);
        assert!(q.remove(k, Outcome::CLOSED).is_some());
        assert!(q.remove(k, Outcome::CLOSED).is_none());
    }

    #[test]
    fn memory_is_returned_after_a_burst() {
        let mut q = Queue::default();
        let keys: Vec<usize> = (0..2000).map(|w| q.push_back(w, waker()).0).collect();
        for k in keys {
            q.remove(k, Outcome::CLOSED);
        }
        assert_eq!(q.slots.capacity(), 0);
    }
}
