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

/// value -> ascending record ordinals, for one field of one segment.
#[derive(Debug, Default)]
pub struct FieldIndex {
    /// Slot numbers, hashed by their value.
    table: HashTable<u32>,
    /// Every value's bytes, in slot order.
    arena: String,
    /// End of each slot's value in `arena`.
    ends: Vec<usize>,
    /// Last entry of each slot.
    tails: Vec<u32>,
    /// Entries per slot.
    counts: Vec<u32>,
    /// All postings, in ordinal order.
    entries: Vec<Entry>,
}

fn hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

fn key_in<'a>(arena: &'a str, ends: &[usize], slot: u32) -> &'a str {
    let s = slot as usize;
    let start = if s == 0 { 0 } else { ends[s - 1] };
    &arena[start..ends[s]]
}

impl FieldIndex {
    /// Records that ordinal `ord` holds `key`. Ordinals must come in
    /// non-decreasing order; the same (key, ordinal) twice is kept once.
    #[inline]
    pub fn add(&mut self, key: &str, ord: u32) {
        let h = hash(key);
        let (arena, ends) = (&self.arena, &self.ends);
        let slot = match self.table.find(h, |&s| key_in(arena, ends, s) == key) {
            Some(&s) => s,
            None => {
                let s = self.ends.len() as u32;
                self.arena.push_str(key);
                self.ends.push(self.arena.len());
                self.tails.push(NONE);
                self.counts.push(0);
                let (arena, ends) = (&self.arena, &self.ends);
                self.table
                    .insert_unique(h, s, |&x| hash(key_in(arena, ends, x)));
                s
            }
        };
        let s = slot as usize;
        let tail = self.tails[s];
        if tail != NONE && self.entries[tail as usize].ord == ord {
            return;
        }
        self.tails[s] = self.entries.len() as u32;
        self.counts[s] += 1;
        self.entries.push(Entry { ord, prev: tail });
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether no value is indexed.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The value of slot `slot` (`slot < len()`).
    pub fn key(&self, slot: u32) -> &str {
        key_in(&self.arena, &self.ends, slot)
    }

    /// The slot of an exact value.
    pub fn find(&self, key: &str) -> Option<u32> {
        self.table.find(hash(key), |&s| self.key(s) == key).copied()
    }

    /// Number of ordinals of slot `slot`.
    pub fn count(&self, slot: u32) -> usize {
        self.counts[slot as usize] as usize
    }

    /// Every (value, slot), in slot order.
    pub fn values(&self) -> impl Iterator<Item = (&str, u32)> + '_ {
        (0..self.len() as u32).map(|s| (self.key(s), s))
    }

    /// Appends the ordinals of slot `slot` to `out`, ascending.
    pub fn ords_into(&self, slot: u32, out: &mut Vec<u32>) {
        let start = out.len();
        out.reserve(self.count(slot));
        let mut e = self.tails[slot as usize];
        while e != NONE {
            let entry = self.entries[e as usize];
            out.push(entry.ord);
            e = entry.prev;
        }
        out[start..].reverse();
    }

    /// Forgets every ordinal from `keep` on, and the values left without one.
    pub fn truncate(&mut self, keep: u32) {
        let cut = self.entries.partition_point(|e| e.ord < keep);
        if cut == self.entries.len() {
            return;
        }
        for (tail, count) in self.tails.iter_mut().zip(&mut self.counts) {
            while *tail != NONE && *tail as usize >= cut {
                *tail = self.entries[*tail as usize].prev;
                *count -= 1;
            }
        }
        self.entries.truncate(cut);
        // A value first seen at an ordinal >= keep has no entry left; slots
        // are numbered by first appearance, so these are the last slots.
        while self.tails.last() == Some(&NONE) {
            let slot = (self.tails.len() - 1) as u32;
            let h = hash(self.key(slot));
            if let Ok(found) = self.table.find_entry(h, |&s| s == slot) {
                found.remove();
            }
            self.tails.pop();
            self.counts.pop();
            self.ends.pop();
            self.arena.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }

    /// Slots sorted by value (bytewise), skipping values without ordinals.
    pub fn sorted_slots(&self) -> Vec<u32> {
        let mut v: Vec<u32> = (0..self.len() as u32)
            .filter(|&s| self.counts[s as usize] > 0)
            .collect();
        v.sort_unstable_by(|&a, &b| self.key(a).as_bytes().cmp(self.key(b).as_bytes()));
        v
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.table.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.arena.capacity()
            + self.ends.capacity() * std::mem::size_of::<usize>()
            + (self.tails.capacity() + self.counts.capacity()) * 4
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
        let sorted: Vec<&str> = f.sorted_slots().into_iter().map(|s| f.key(s)).collect();
        let want: Vec<&str> = m.keys().map(String::as_str).collect();
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
                    let k = match rnd(4) {
                        0 => String::new(),
                        1 => format!("é{}", rnd(5)),
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
