//! The FIFO queue of waiters: a doubly linked list threaded through a `Vec`
//! of slots (a tiny slab), so that pushing at the back, popping at the front
//! *and* unlinking a waiter from the middle (it was dropped) are all O(1),
//! without `unsafe` and without an allocation per waiter once warm.
//!
//! A slot stays allocated after its waiter left the list (granted, closed,
//! rejected) until the waiting future collects the outcome: only the future
//! that owns a key ever frees it, so keys are never reused behind its back.

use std::task::Waker;

/// Where a waiter stands. Only `Waiting` nodes are linked in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Waiting,
    /// Its permits were handed over; `in_use` already counts them.
    Granted,
    /// The limiter was closed while it waited.
    Closed,
    /// The limit shrank below its weight while it waited.
    TooMany,
}

#[derive(Debug)]
pub(super) struct Node {
    pub(super) weight: usize,
    pub(super) outcome: Outcome,
    pub(super) waker: Option<Waker>,
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug)]
enum Slot {
    Used(Node),
    Free { next_free: Option<usize> },
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    slots: Vec<Slot>,
    free: Option<usize>,
    head: Option<usize>,
    tail: Option<usize>,
    /// Nodes linked in the list (state `Waiting`).
    linked: usize,
    /// Slots in use (linked or waiting to be collected).
    used: usize,
}

impl Queue {
    /// Number of waiters in the list.
    pub(super) fn len(&self) -> usize {
        self.linked
    }

    pub(super) fn front(&self) -> Option<usize> {
        self.head
    }

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

    /// Appends a waiter and returns its key.
    pub(super) fn push_back(&mut self, weight: usize, waker: Waker) -> usize {
        let node = Node {
            weight,
            outcome: Outcome::Waiting,
            waker: Some(waker),
            prev: self.tail,
            next: None,
        };
        let key = match self.free {
            Some(key) => {
                if let Some(Slot::Free { next_free }) = self.slots.get(key) {
                    self.free = *next_free;
                }
                self.slots[key] = Slot::Used(node);
                key
            }
            None => {
                self.slots.push(Slot::Used(node));
                self.slots.len() - 1
            }
        };
        match self.tail.and_then(|t| self.node_mut(t)) {
            Some(tail) => tail.next = Some(key),
            None => self.head = Some(key),
        }
        self.tail = Some(key);
        self.linked += 1;
        self.used += 1;
        key
    }

    /// Takes a waiting node out of the list, giving it `outcome`; returns
    /// its waker. Does nothing for a node that is not linked.
    pub(super) fn unlink(&mut self, key: usize, outcome: Outcome) -> Option<Waker> {
        let node = self.node_mut(key)?;
        if node.outcome != Outcome::Waiting {
            return None;
        }
        node.outcome = outcome;
        let (prev, next) = (node.prev.take(), node.next.take());
        let waker = node.waker.take();
        match prev.and_then(|p| self.node_mut(p)) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match next.and_then(|n| self.node_mut(n)) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
        self.linked -= 1;
        waker
    }

    /// Frees the slot of a node that is no longer linked (its owner
    /// collected the outcome or was dropped) and returns the node.
    pub(super) fn remove(&mut self, key: usize) -> Option<Node> {
        if self.node(key)?.outcome == Outcome::Waiting {
            self.unlink(key, Outcome::Closed);
        }
        let slot = std::mem::replace(
            self.slots.get_mut(key)?,
            Slot::Free {
                next_free: self.free,
            },
        );
        self.free = Some(key);
        self.used -= 1;
        if self.used == 0 && self.slots.len() > 1024 {
            // A burst of waiters is over: give the memory back.
            self.slots = Vec::new();
            self.free = None;
        }
        match slot {
            Slot::Used(node) => Some(node),
            Slot::Free { .. } => None,
        }
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
    fn push_unlink_remove_keep_order() {
        let mut q = Queue::default();
        let keys: Vec<usize> = (1..=5).map(|w| q.push_back(w, waker())).collect();
        assert_eq!(order(&q), [1, 2, 3, 4, 5]);
        q.unlink(keys[2], Outcome::Granted);
        assert_eq!(order(&q), [1, 2, 4, 5]);
        q.unlink(keys[0], Outcome::Granted);
        q.unlink(keys[4], Outcome::Granted);
        assert_eq!(order(&q), [2, 4]);
        assert_eq!(q.len(), 2);
        // Removing a linked node unlinks it first.
        q.remove(keys[1]);
        assert_eq!(order(&q), [4]);
        for k in [keys[0], keys[2], keys[3], keys[4]] {
            q.remove(k);
        }
        assert_eq!(q.len(), 0);
        assert_eq!(q.front(), None);
        // Slots are reused.
        let k = q.push_back(9, waker());
        assert!(k < 5);
        assert_eq!(order(&q), [9]);
        assert!(q.remove(k).is_some());
        assert!(q.remove(k).is_none(), "double remove is harmless");
    }

    #[test]
    fn memory_is_returned_after_a_burst() {
        let mut q = Queue::default();
        let keys: Vec<usize> = (0..2000).map(|w| q.push_back(w, waker())).collect();
        for k in keys {
            q.remove(k);
        }
        assert_eq!(q.slots.capacity(), 0);
    }
}
