//! The reaper's expiry queue: a ring of buckets, one per clock period, each
//! an intrusive doubly linked list over a slab.
//!
//! Why this shape: with a single time-to-live, an entry last touched in
//! period `L` can first expire in period `L + ttl_periods + 1`, so the driver
//! only ever needs "the entries that may expire in *this* period". A ring of
//! `ttl_periods + 2` buckets (rounded up to a power of two) holds every due
//! period that can be pending at once, each bucket holds only entries of one
//! due period, and processing a period is popping one bucket. Linking through
//! slab indices gives O(1) insert, O(1) removal of any entry (a task that
//! finishes leaves at once) and no allocation per operation once warm.

const NIL: u32 = u32::MAX;

#[derive(Debug)]
struct Node<T> {
    item: Option<T>,
    bucket: u32,
    prev: u32,
    next: u32,
}

/// Items keyed by the period they are due in; see the module docs.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    heads: Vec<u32>,
    len: usize,
}

impl<T> Queue<T> {
    /// A queue whose pending due periods always span fewer than `buckets`
    /// periods (rounded up to a power of two).
    pub(crate) fn new(buckets: usize) -> Self {
        Queue {
            nodes: Vec::new(),
            free: Vec::new(),
            heads: vec![NIL; buckets.max(1).next_power_of_two()],
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn bucket_of(&self, due: u64) -> u32 {
        (due & (self.heads.len() as u64 - 1)) as u32
    }

    /// The slot the next [`insert`](Self::insert) will use.
    pub(crate) fn next_slot(&self) -> u32 {
        match self.free.last() {
            Some(&slot) => slot,
            None => self.nodes.len() as u32,
        }
    }

    /// Stores `item` due in period `due`; returns its slot (== `next_slot()`).
    pub(crate) fn insert(&mut self, due: u64, item: T) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.nodes[slot as usize].item = Some(item);
                slot
            }
            None => {
                self.nodes.push(Node {
                    item: Some(item),
                    bucket: NIL,
                    prev: NIL,
                    next: NIL,
                });
                (self.nodes.len() - 1) as u32
            }
        };
        self.len += 1;
        self.link(slot, due);
        slot
    }

    /// The item in a live slot.
    pub(crate) fn get(&self, slot: u32) -> Option<&T> {
        self.nodes.get(slot as usize)?.item.as_ref()
    }

    /// Detaches one item due in period `due` and returns its slot; the item
    /// stays stored until [`relink`](Self::relink) or [`remove`](Self::remove).
    pub(crate) fn pop(&mut self, due: u64) -> Option<u32> {
        let slot = self.heads[self.bucket_of(due) as usize];
        if slot == NIL {
            return None;
        }
        self.unlink(slot);
        Some(slot)
    }

    /// Puts a detached (or linked) slot into the bucket of period `due`.
    pub(crate) fn relink(&mut self, slot: u32, due: u64) {
        self.unlink(slot);
        self.link(slot, due);
    }

    /// Removes a live slot and returns its item (`None` if already free).
    pub(crate) fn remove(&mut self, slot: u32) -> Option<T> {
        let item = self.nodes.get_mut(slot as usize)?.item.take()?;
        self.unlink(slot);
        self.free.push(slot);
        self.len -= 1;
        if self.len == 0 {
            // A burst of entries must not pin its memory for ever.
            self.nodes.clear();
            self.free.clear();
            if self.nodes.capacity() > 1024 {
                self.nodes.shrink_to_fit();
                self.free.shrink_to_fit();
            }
        }
        Some(item)
    }

    /// Every stored item, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.nodes.iter().filter_map(|n| n.item.as_ref())
    }

    /// Removes and returns every item.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        let items = self.nodes.drain(..).filter_map(|n| n.item).collect();
        self.free.clear();
        self.heads.fill(NIL);
        self.len = 0;
        items
    }

    fn link(&mut self, slot: u32, due: u64) {
        let bucket = self.bucket_of(due);
        let head = self.heads[bucket as usize];
        if head != NIL {
            self.nodes[head as usize].prev = slot;
        }
        let node = &mut self.nodes[slot as usize];
        node.bucket = bucket;
        node.prev = NIL;
        node.next = head;
        self.heads[bucket as usize] = slot;
    }

    fn unlink(&mut self, slot: u32) {
        let Node {
            bucket, prev, next, ..
        } = self.nodes[slot as usize];
        if bucket == NIL {
            return;
        }
        if prev == NIL {
            self.heads[bucket as usize] = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        let node = &mut self.nodes[slot as usize];
        node.bucket = NIL;
        node.prev = NIL;
        node.next = NIL;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain_due(q: &mut Queue<u32>, due: u64) -> Vec<u32> {
        let mut out = Vec::new();
        while let Some(slot) = q.pop(due) {
            out.push(q.remove(slot).unwrap());
        }
        out.sort();
        out
    }

    #[test]
    fn buckets_hold_their_period_only() {
        let mut q = Queue::new(4);
        for i in 0..12u32 {
            q.insert(u64::from(i % 3), i);
        }
        assert_eq!(drain_due(&mut q, 1), vec![1, 4, 7, 10]);
        assert_eq!(q.len(), 8);
        assert_eq!(drain_due(&mut q, 1), Vec::<u32>::new());
    }

    #[test]
    fn remove_from_the_middle_and_reuse_slots() {
        let mut q = Queue::new(2);
        let slots: Vec<u32> = (0..5).map(|i| q.insert(0, i)).collect();
        assert_eq!(q.remove(slots[2]), Some(2));
        assert_eq!(q.remove(slots[2]), None);
        let next = q.next_slot();
        assert_eq!(q.insert(1, 9), next);
        assert_eq!(drain_due(&mut q, 0), vec![0, 1, 3, 4]);
        assert_eq!(drain_due(&mut q, 1), vec![9]);
        assert_eq!(q.len(), 0);
        assert_eq!(q.iter().count(), 0);
    }

    #[test]
    fn relink_moves_between_buckets() {
        let mut q = Queue::new(8);
        let a = q.insert(3, 'a');
        q.insert(3, 'b');
        let slot = q.pop(3).unwrap();
        q.relink(slot, 5);
        assert_eq!(q.pop(5), Some(slot));
        q.relink(a, 6);
        assert_eq!(q.pop(6), Some(a));
        assert_eq!(q.len(), 2);
        assert_eq!(q.drain().len(), 2);
        assert_eq!(q.pop(3), None);
    }
}
