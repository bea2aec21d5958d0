//! The postings of one indexed field of the active segment, built for
//! cheap appends: each distinct value is interned once (its bytes in one
//! string arena, its slot number in a hash table keyed by the value), and
//! the postings of all values live in one flat vector as linked lists
//! (each entry points back to the previous entry of the same value). Adding
//! a posting allocates nothing beyond the amortised growth of a few vectors.
//!
//! Values are numbered (slots) in order of first appearance; since records
//! are added in ordinal order, so are the entries, which makes forgetting
//! the tail of the segment (a failed append) cheap.

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;
use std::hash::BuildHasher;

/// "No entry" in the linked lists.
const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Record ordinal.
    ord: u32,
    /// The previous entry of the same value, or [`NONE`].
    prev: u32,
}

/// One distinct value: where its bytes are, and its list of entries (kept
/// together so that an append touches one place).
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Start of the value in the arena.
    start: usize,
    /// Length of the value.
    len: u32,
    /// Last entry of the value.
    tail: u32,
    /// Entries of the value.
    count: u32,
}

/// value -> ascending record ordinals, for one field of one segment.
#[derive(Debug)]
pub struct FieldIndex {
    /// Slot numbers, hashed by their value.
    table: HashTable<u32>,
    /// Every value's bytes, in slot order.
    arena: String,
    /// The values, numbered in order of first appearance.
    slots: Vec<Slot>,
    /// All postings, in ordinal order.
    entries: Vec<Entry>,
    /// The ordinal being added, and its first entry (to keep a value
    /// once per ordinal without reading the entries back).
    cur_ord: u32,
    cur_start: u32,
}

impl Default for FieldIndex {
    fn default() -> Self {
        FieldIndex {
            table: HashTable::new(),
            arena: String::new(),
            slots: Vec::new(),
            entries: Vec::new(),
            cur_ord: NONE,
            cur_start: 0,
        }
    }
}

/// The first 8 bytes of `b` as a big-endian number, zero-padded.
fn prefix8(b: &[u8]) -> u64 {
    let mut p = [0u8; 8];
    let k = b.len().min(8);
    p[..k].copy_from_slice(&b[..k]);
    u64::from_be_bytes(p)
}

fn hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

#[inline]
fn key_in<'a>(arena: &'a str, slots: &[Slot], slot: u32) -> &'a str {
    let s = slots[slot as usize];
    arena.get(s.start..s.start + s.len as usize).unwrap_or("")
}

impl FieldIndex {
    /// An empty index with room for as many values, value bytes and
    /// entries as `like` holds (the previous segment's: segments are
    /// similar, so the next one then grows without rehashing).
    pub fn sized_like(like: &FieldIndex) -> Self {
        FieldIndex {
            table: HashTable::with_capacity(like.slots.len()),
            arena: String::with_capacity(like.arena.len()),
            slots: Vec::with_capacity(like.slots.len()),
            entries: Vec::with_capacity(like.entries.len()),
            ..Default::default()
        }
    }

    /// Records that ordinal `ord` holds `key`. Ordinals must come in
    /// non-decreasing order; the same (key, ordinal) twice is kept once.
    #[inline]
    pub fn add(&mut self, key: &str, ord: u32) {
        if ord != self.cur_ord {
            self.cur_ord = ord;
            self.cur_start = self.entries.len() as u32;
        }
        let h = hash(key);
        let (arena, slots) = (&self.arena, &self.slots);
        let slot = match self
            .table
            .find(h, |&s| key_in(arena, slots, s).as_bytes() == key.as_bytes())
        {
            Some(&s) => s,
            None => {
                let s = self.slots.len() as u32;
                self.slots.push(Slot {
                    start: self.arena.len(),
                    len: key.len() as u32,
                    tail: NONE,
                    count: 0,
                });
                self.arena.push_str(key);
                let (arena, slots) = (&self.arena, &self.slots);
                self.table
                    .insert_unique(h, s, |&x| hash(key_in(arena, slots, x)));
                s
            }
        };
        let e = self.entries.len() as u32;
        let sl = &mut self.slots[slot as usize];
        if sl.tail != NONE && sl.tail >= self.cur_start {
            // Already listed for this ordinal.
            return;
        }
        self.entries.push(Entry { ord, prev: sl.tail });
        sl.tail = e;
        sl.count += 1;
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether no value is indexed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The value of slot `slot` (`slot < len()`).
    pub fn key(&self, slot: u32) -> &str {
        key_in(&self.arena, &self.slots, slot)
    }

    /// The slot of an exact value.
    pub fn find(&self, key: &str) -> Option<u32> {
        self.table.find(hash(key), |&s| self.key(s) == key).copied()
    }

    /// Number of ordinals of slot `slot`.
    pub fn count(&self, slot: u32) -> usize {
        self.slots[slot as usize].count as usize
    }

    /// Every (value, slot), in slot order.
    pub fn values(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        (0..self.len() as u32).map(|s| (self.key(s), s))
    }

    /// Appends the ordinals of slot `slot` to `out`, ascending.
    pub fn ords_into(&self, slot: u32, out: &mut Vec<u32>) {
        let start = out.len();
        out.reserve(self.count(slot));
        let mut e = self.slots[slot as usize].tail;
        while e != NONE {
            let entry = self.entries[e as usize];
            out.push(entry.ord);
            e = entry.prev;
        }
        out[start..].reverse();
    }

    /// Every value with its ordinals, values sorted bytewise: calls `f`
    /// once per value with a non-empty list. Reads the entries in order
    /// (no pointer chasing): a value's first entry is the one without a
    /// predecessor, and values were numbered in that order.
    pub fn for_each_sorted(&self, mut f: impl FnMut(&str, &[u32])) {
        let n = self.slots.len();
        // Sorted by each value's first 8 bytes (big-endian, zero-padded)
        // first, which settles most comparisons without reading the arena;
        // equal prefixes fall back to the whole values. Same order as
        // comparing the values bytewise: a shorter value padded with zeros
        // never sorts after a longer one it prefixes.
        let mut keyed: Vec<(u64, u32)> = (0..n as u32)
            .map(|s| (prefix8(self.key(s).as_bytes()), s))
            .collect();
        keyed.sort_unstable_by(|&(pa, a), &(pb, b)| {
            pa.cmp(&pb)
                .then_with(|| self.key(a).as_bytes().cmp(self.key(b).as_bytes()))
        });
        let order: Vec<u32> = keyed.into_iter().map(|(_, s)| s).collect();
        // Where each slot's ordinals go in one flat array, in sorted order.
        let mut at = vec![0usize; n];
        let mut total = 0usize;
        for &s in &order {
            at[s as usize] = total;
            total += self.slots[s as usize].count as usize;
        }
        let mut flat = vec![0u32; total];
        let mut slot_of = Vec::with_capacity(self.entries.len());
        let mut next_slot = 0usize;
        for e in &self.entries {
            let s = if e.prev == NONE {
                next_slot += 1;
                next_slot - 1
            } else {
                slot_of.get(e.prev as usize).copied().unwrap_or(n)
            };
            slot_of.push(s);
            if let Some(p) = at.get_mut(s) {
                if let Some(dst) = flat.get_mut(*p) {
                    *dst = e.ord;
                    *p += 1;
                }
            }
        }
        let mut from = 0usize;
        for &s in &order {
            let c = self.slots[s as usize].count as usize;
            if c > 0 {
                f(self.key(s), &flat[from..from + c]);
            }
            from += c;
        }
    }

    /// Forgets every ordinal from `keep` on, and the values left without one.
    pub fn truncate(&mut self, keep: u32) {
        self.cur_ord = NONE;
        let cut = self.entries.partition_point(|e| e.ord < keep);
        if cut == self.entries.len() {
            return;
        }
        for sl in &mut self.slots {
            while sl.tail != NONE && sl.tail as usize >= cut {
                sl.tail = self.entries[sl.tail as usize].prev;
                sl.count -= 1;
            }
        }
        self.entries.truncate(cut);
        // A value first seen at an ordinal >= keep has no entry left; slots
        // are numbered by first appearance, so these are the last slots.
        while let Some(last) = self.slots.last().copied().filter(|s| s.tail == NONE) {
            let slot = (self.slots.len() - 1) as u32;
            let h = hash(self.key(slot));
            if let Ok(found) = self.table.find_entry(h, |&s| s == slot) {
                found.remove();
            }
            self.slots.pop();
            self.arena.truncate(last.start);
        }
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.arena.capacity()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.entries.capacity() * std::mem::size_of::<Entry>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn model_check(f: &FieldIndex, m: &BTreeMap<String, Vec<u32>>) {
        assert_eq!(f.len(), m.len());
        for (k, want) in m {
            let s = f.find(k).unwrap_or_else(|| panic!("{k} missing"));
            assert_eq!(f.key(s), k);
            assert_eq!(f.count(s), want.len());
            let mut got = vec![7];
            f.ords_into(s, &mut got);
            assert_eq!(&got[1..], &want[..]);
        }
        let mut sorted: Vec<(String, Vec<u32>)> = Vec::new();
        f.for_each_sorted(|k, o| sorted.push((k.to_string(), o.to_vec())));
        let want: Vec<(String, Vec<u32>)> = m.clone().into_iter().collect();
        assert_eq!(sorted, want);
        assert_eq!(f.values().count(), m.len());
    }

    #[test]
    fn agrees_with_a_map_through_adds_and_truncations() {
        let mut f = FieldIndex::default();
        let mut m: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut state = 12345u64;
        let mut rnd = |n: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut ord = 0u32;
        for round in 0..300 {
            for _ in 0..rnd(50) {
                // Sometimes several values per ordinal, sometimes repeats.
                for _ in 0..=rnd(3) {
                    let k = match rnd(6) {
                        0 => String::new(),
                        1 => format!("é{}", rnd(5)),
                        // Equal first 8 bytes, and NULs that the sort's
                        // zero padding must not confuse with an end.
                        2 => format!("prefix__{}", rnd(30)),
                        3 => ["ab", "ab\0", "ab\0\0", "ab\u{1}"][rnd(4) as usize].to_string(),
                        _ => format!("v{}", rnd(200 + round)),
                    };
                    f.add(&k, ord);
                    let v = m.entry(k).or_default();
                    if v.last() != Some(&ord) {
                        v.push(ord);
                    }
                }
                ord += 1;
            }
            if rnd(5) == 0 && ord > 0 {
                let keep = ord - rnd(u64::from(ord).min(80) + 1) as u32;
                f.truncate(keep);
                m.retain(|_, v| {
                    v.retain(|&o| o < keep);
                    !v.is_empty()
                });
                ord = keep;
            }
            model_check(&f, &m);
        }
        assert!(f.find("absent").is_none());
        f.truncate(0);
        assert!(f.is_empty());
        assert_eq!(f.arena.len(), 0);
    }
}
