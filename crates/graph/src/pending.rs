//! Spans waiting for the other half of a call: client / producer spans waiting for a server /
//! consumer child, and children waiting for their parent. Entries leave by pairing, by expiry
//! (`now` past their deadline) or by eviction (oldest first, when over the limit).

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use crate::node::NodeType;

/// `[trace id high, trace id low, span id]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpanKey(pub [u64; 3]);

impl Hash for SpanKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for word in self.0 {
            state.write_u64(word);
        }
    }
}

/// Hashes span keys with a seeded folded multiply (as foldhash does): a few nanoseconds
/// instead of SipHash's ~20 on the per-span path. The seed is random per process, so crafted
/// ids cannot aim at collisions without knowing it.
#[derive(Debug, Clone)]
pub(crate) struct KeyHasherBuilder {
    seed: u64,
    multiplier: u64,
}

impl Default for KeyHasherBuilder {
    fn default() -> Self {
        let random = RandomState::new();
        Self {
            seed: random.hash_one(0x6d65_7368_u64),
            multiplier: random.hash_one(0x7363_6f70_u64) | 1,
        }
    }
}

impl BuildHasher for KeyHasherBuilder {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            state: self.seed,
            multiplier: self.multiplier,
        }
    }
}

pub(crate) struct KeyHasher {
    state: u64,
    multiplier: u64,
}

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = u128::from(a) * u128::from(b);
    (full as u64) ^ ((full >> 64) as u64)
}

impl Hasher for KeyHasher {
    #[inline(always)]
    fn write_u64(&mut self, word: u64) {
        self.state = folded_multiply(self.state ^ word, self.multiplier).rotate_left(23);
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline(always)]
    fn finish(&self) -> u64 {
        folded_multiply(self.state, self.multiplier)
    }
}

/// A client or producer span waiting for a server / consumer child.
#[derive(Debug)]
pub(crate) struct Caller {
    pub service: Arc<str>,
    pub minute: i64,
    pub duration_ns: i64,
    pub error: bool,
    /// The virtual node it becomes an edge to when no child answers.
    pub target: Option<(Arc<str>, NodeType)>,
}

/// A span waiting for its parent.
#[derive(Debug, Clone)]
pub(crate) enum Child {
    /// A server or consumer span: the other half of its parent's call.
    Callee { service: Arc<str>, error: bool },
    /// A client / producer span: if its parent is a client span too, the parent is a hop
    /// through a proxy (an app span above its sidecar's) and yields no edge of its own.
    Caller,
}

/// One or more children of one parent span.
#[derive(Debug)]
pub(crate) struct Children {
    pub first: Child,
    pub rest: Vec<Child>,
}

impl Children {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Child> {
        std::iter::once(&self.first).chain(&self.rest)
    }
}

/// What left the store without pairing.
#[derive(Debug)]
pub(crate) enum Unpaired {
    Caller(Caller),
    Children(Children),
}

#[derive(Debug)]
struct Slot<T> {
    seq: u64,
    value: T,
}

#[derive(Debug, Clone, Copy)]
struct Deadline {
    at: i64,
    /// Sequence number shifted left by one; the low bit is 1 for the children map.
    tagged_seq: u64,
    key: SpanKey,
}

/// The waiting spans, with deadlines in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    callers: HashMap<SpanKey, Slot<Caller>, KeyHasherBuilder>,
    children: HashMap<SpanKey, Slot<Children>, KeyHasherBuilder>,
    /// Deadlines in insertion order; entries whose span already left are skipped (and
    /// compacted away when they outnumber the live ones).
    deadlines: VecDeque<Deadline>,
    next_seq: u64,
}

impl Pending {
    /// Waiting entries (callers plus parents with waiting children).
    pub(crate) fn len(&self) -> usize {
        self.callers.len() + self.children.len()
    }

    /// Whether any span waits for its parent.
    pub(crate) fn has_children(&self) -> bool {
        !self.children.is_empty()
    }

    pub(crate) fn take_caller(&mut self, key: &SpanKey) -> Option<Caller> {
        self.callers.remove(key).map(|s| s.value)
    }

    pub(crate) fn take_children(&mut self, key: &SpanKey) -> Option<Children> {
        self.children.remove(key).map(|s| s.value)
    }

    pub(crate) fn insert_caller(&mut self, key: SpanKey, caller: Caller, deadline: i64) {
        let seq = self.seq();
        // A duplicate span id replaces the earlier span (its deadline entry goes stale).
        self.callers.insert(key, Slot { seq, value: caller });
        self.push_deadline(deadline, seq << 1, key);
    }

    pub(crate) fn add_child(&mut self, parent: SpanKey, child: Child, deadline: i64) {
        let seq = self.seq();
        match self.children.entry(parent) {
            Entry::Occupied(mut e) => {
                let slot = e.get_mut();
                slot.value.rest.push(child);
                // The parent waits for the newest child's deadline.
                slot.seq = seq;
            }
            Entry::Vacant(e) => {
                e.insert(Slot {
                    seq,
                    value: Children {
                        first: child,
                        rest: Vec::new(),
                    },
                });
            }
        }
        self.push_deadline(deadline, (seq << 1) | 1, parent);
    }

    /// The next entry whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: i64) -> Option<Unpaired> {
        while let Some(d) = self.deadlines.front().copied() {
            if d.at > now {
                return None;
            }
            self.deadlines.pop_front();
            if let Some(unpaired) = self.take_live(d) {
                return Some(unpaired);
            }
        }
        None
    }

    /// The oldest waiting entry, whatever its deadline.
    pub(crate) fn pop_oldest(&mut self) -> Option<Unpaired> {
        while let Some(d) = self.deadlines.pop_front() {
            if let Some(unpaired) = self.take_live(d) {
                return Some(unpaired);
            }
        }
        None
    }

    fn take_live(&mut self, d: Deadline) -> Option<Unpaired> {
        let seq = d.tagged_seq >> 1;
        if d.tagged_seq & 1 == 0 {
            match self.callers.entry(d.key) {
                Entry::Occupied(e) if e.get().seq == seq => {
                    Some(Unpaired::Caller(e.remove().value))
                }
                _ => None,
            }
        } else {
            match self.children.entry(d.key) {
                Entry::Occupied(e) if e.get().seq == seq => {
                    Some(Unpaired::Children(e.remove().value))
                }
                _ => None,
            }
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn push_deadline(&mut self, at: i64, tagged_seq: u64, key: SpanKey) {
        self.deadlines.push_back(Deadline {
            at,
            tagged_seq,
            key,
        });
        // Keep the deadline queue within twice the live entries (amortized O(1)).
        if self.deadlines.len() > 2 * self.len() + 1024 {
            let (callers, children) = (&self.callers, &self.children);
            self.deadlines.retain(|d| {
                let seq = d.tagged_seq >> 1;
                if d.tagged_seq & 1 == 0 {
                    callers.get(&d.key).is_some_and(|s| s.seq == seq)
                } else {
                    children.get(&d.key).is_some_and(|s| s.seq == seq)
                }
            });
        }
    }

    /// Length of the deadline queue (for tests of its bound).
    #[cfg(test)]
    pub(crate) fn deadlines_len(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(service: &str) -> Caller {
        Caller {
            service: service.into(),
            minute: 0,
            duration_ns: 1,
            error: false,
            target: None,
        }
    }

    #[test]
    fn expires_in_deadline_order_and_skips_paired_entries() {
        let mut p = Pending::default();
        p.insert_caller(SpanKey([1, 1, 1]), caller("a"), 10);
        p.insert_caller(SpanKey([1, 1, 2]), caller("b"), 20);
        p.add_child(SpanKey([1, 1, 3]), Child::Caller, 30);
        assert_eq!(p.len(), 3);
        assert!(p.take_caller(&SpanKey([1, 1, 1])).is_some());
        assert!(p.pop_expired(15).is_none());
        match p.pop_expired(25) {
            Some(Unpaired::Caller(c)) => assert_eq!(&*c.service, "b"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(p.pop_oldest(), Some(Unpaired::Children(_))));
        assert_eq!(p.len(), 0);
        assert!(p.pop_oldest().is_none());
    }

    #[test]
    fn a_later_child_extends_the_parent_deadline() {
        let mut p = Pending::default();
        p.add_child(SpanKey([0, 0, 9]), Child::Caller, 10);
        p.add_child(SpanKey([0, 0, 9]), Child::Caller, 20);
        assert!(p.pop_expired(15).is_none());
        match p.pop_expired(20) {
            Some(Unpaired::Children(c)) => assert_eq!(c.iter().count(), 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_deadline_queue_stays_bounded_when_spans_pair() {
        let mut p = Pending::default();
        for i in 0..100_000u64 {
            p.insert_caller(SpanKey([0, i, i]), caller("a"), i as i64);
            assert!(p.take_caller(&SpanKey([0, i, i])).is_some());
        }
        assert!(p.deadlines_len() <= 1025, "{}", p.deadlines_len());
    }
}
