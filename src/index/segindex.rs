//! The index of one segment, in two forms behind one interface: the
//! active segment's (hash maps in memory, growing with each append,
//! rebuilt from the log at open) and a sealed segment's (compact blobs
//! from sled, fields decoded lazily). The planner asks either for the
//! ordinals matching a predicate and for offset and time columns.
//!
//! This module never reads segment files.

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

use super::postings::{self, IndexedField, Postings, INDEXED};
use crate::format::codec::StoredRecord;
use crate::query::model::{match_one, MatchMode};

/// A predicate as the index sees it: values matched under a mode.
#[derive(Clone, Copy, Debug)]
pub struct Probe<'a> {
    /// Match mode.
    pub mode: MatchMode,
    /// ASCII case-insensitive.
    pub ci: bool,
    /// Values (any may match).
    pub values: &'a [String],
}

impl Probe<'_> {
    fn hits(&self, key: &str) -> bool {
        self.values
            .iter()
            .any(|v| match_one(self.mode, self.ci, key, v))
    }
}

/// The active segment's index.
#[derive(Debug, Default)]
pub struct ActiveIndex {
    /// First id of the segment.
    pub first_id: u64,
    /// Frame offset per ordinal.
    pub offsets: Vec<u32>,
    /// Record time per ordinal.
    pub times: Vec<i64>,
    /// value -> ordinals, one map per indexed field.
    pub maps: [HashMap<Box<str>, Vec<u32>>; 7],
}

fn push(map: &mut HashMap<Box<str>, Vec<u32>>, key: &str, ord: u32) {
    match map.get_mut(key) {
        Some(v) => {
            if v.last() != Some(&ord) {
                v.push(ord);
            }
        }
        None => {
            map.insert(key.into(), vec![ord]);
        }
    }
}

impl ActiveIndex {
    /// An empty index for the segment starting at `first_id`.
    pub fn new(first_id: u64) -> Self {
        ActiveIndex {
            first_id,
            ..Default::default()
        }
    }

    /// Adds the next record.
    pub fn add(&mut self, offset: u32, rec: &StoredRecord<'_>) {
        let ord = self.offsets.len() as u32;
        self.offsets.push(offset);
        self.times.push(rec.time);
        let customer = rec.customer.to_string();
        push(
            &mut self.maps[IndexedField::Customer.slot()],
            &customer,
            ord,
        );
        push(&mut self.maps[IndexedField::Person.slot()], rec.person, ord);
        push(&mut self.maps[IndexedField::Source.slot()], rec.source, ord);
        push(&mut self.maps[IndexedField::Action.slot()], rec.action, ord);
        push(&mut self.maps[IndexedField::Object.slot()], rec.object, ord);
        push(
            &mut self.maps[IndexedField::ObjectId.slot()],
            rec.object_id,
            ord,
        );
        for r in &rec.refs {
            push(&mut self.maps[IndexedField::Refs.slot()], r, ord);
        }
    }

    /// Forgets every record from ordinal `keep` on (a failed append).
    pub fn truncate(&mut self, keep: usize) {
        if keep >= self.offsets.len() {
            return;
        }
        self.offsets.truncate(keep);
        self.times.truncate(keep);
        let keep = keep as u32;
        for m in &mut self.maps {
            m.retain(|_, ords| {
                while ords.last().is_some_and(|&o| o >= keep) {
                    ords.pop();
                }
                !ords.is_empty()
            });
        }
    }

    /// Ordinals of `field` matching `probe`, appended to `out` (unsorted
    /// across values; the caller sorts).
    pub fn collect(&self, field: IndexedField, probe: Probe<'_>, out: &mut Vec<u32>) {
        let map = &self.maps[field.slot()];
        if probe.mode == MatchMode::Exact && !probe.ci {
            for v in probe.values {
                if let Some(o) = map.get(v.as_str()) {
                    out.extend_from_slice(o);
                }
            }
        } else {
            for (k, o) in map {
                if probe.hits(k) {
                    out.extend_from_slice(o);
                }
            }
        }
    }

    /// How many ordinals `collect` would return (an upper bound).
    pub fn estimate(&self, field: IndexedField, probe: Probe<'_>) -> usize {
        let map = &self.maps[field.slot()];
        if probe.mode == MatchMode::Exact && !probe.ci {
            probe
                .values
                .iter()
                .filter_map(|v| map.get(v.as_str()))
                .map(Vec::len)
                .sum()
        } else {
            map.iter()
                .filter(|(k, _)| probe.hits(k))
                .map(|(_, o)| o.len())
                .sum()
        }
    }

    /// Freezes into the encoded blobs stored in sled: offsets, times, then
    /// one postings blob per indexed field.
    pub fn encode(&self) -> Vec<Vec<u8>> {
        let mut out = vec![
            postings::encode_u32s(&self.offsets),
            postings::encode_i64s(&self.times),
        ];
        for m in &self.maps {
            out.push(postings::encode_postings(m));
        }
        out
    }
}

/// A sealed segment's index, loaded from sled. Columns are decoded at
/// load; postings on first use.
pub struct SealedIndex {
    /// First id of the segment.
    pub first_id: u64,
    /// Frame offset per ordinal.
    pub offsets: Vec<u32>,
    /// Record time per ordinal.
    pub times: Vec<i64>,
    fields: [OnceLock<Option<Postings>>; 7],
    /// Loads the raw blob of a field (from sled) on demand.
    loader: Box<dyn Fn(IndexedField) -> Option<Vec<u8>> + Send + Sync>,
}

impl std::fmt::Debug for SealedIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedIndex")
            .field("first_id", &self.first_id)
            .field("records", &self.offsets.len())
            .finish()
    }
}

/// A field's postings could not be read back (the caller rebuilds).
#[derive(Debug)]
pub struct BadBlob(pub IndexedField);

impl SealedIndex {
    /// Builds from decoded columns and a loader for the postings.
    pub fn new(
        first_id: u64,
        offsets: Vec<u32>,
        times: Vec<i64>,
        loader: Box<dyn Fn(IndexedField) -> Option<Vec<u8>> + Send + Sync>,
    ) -> Self {
        SealedIndex {
            first_id,
            offsets,
            times,
            fields: Default::default(),
            loader,
        }
    }

    fn postings(&self, field: IndexedField) -> Result<&Postings, BadBlob> {
        self.fields[field.slot()]
            .get_or_init(|| (self.loader)(field).and_then(|b| Postings::decode(&b)))
            .as_ref()
            .ok_or(BadBlob(field))
    }

    fn matching(&self, p: &Postings, probe: Probe<'_>) -> Vec<usize> {
        match (probe.mode, probe.ci) {
            (MatchMode::Exact, false) => probe.values.iter().filter_map(|v| p.find(v)).collect(),
            (MatchMode::Start, false) => {
                let mut v: Vec<usize> = probe
                    .values
                    .iter()
                    .flat_map(|v| p.prefix_range(v))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            }
            _ => (0..p.len()).filter(|&i| probe.hits(p.key(i))).collect(),
        }
    }

    /// Ordinals of `field` matching `probe`, appended to `out`.
    pub fn collect(
        &self,
        field: IndexedField,
        probe: Probe<'_>,
        out: &mut Vec<u32>,
    ) -> Result<(), BadBlob> {
        let p = self.postings(field)?;
        for i in self.matching(p, probe) {
            p.ords_into(i, out);
        }
        Ok(())
    }

    /// How many ordinals `collect` would return (an upper bound).
    pub fn estimate(&self, field: IndexedField, probe: Probe<'_>) -> Result<usize, BadBlob> {
        let p = self.postings(field)?;
        Ok(self
            .matching(p, probe)
            .into_iter()
            .map(|i| p.count(i))
            .sum())
    }

    /// Approximate memory held.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.len() * 12
            + self
                .fields
                .iter()
                .filter_map(|f| f.get().and_then(Option::as_ref))
                .map(Postings::heap_bytes)
                .sum::<usize>()
    }
}

/// Every indexed field, for iteration.
pub fn indexed_fields() -> [IndexedField; 7] {
    INDEXED
}
