//! The index of one segment, in two forms behind one interface: the
//! active segment's (interned values and flat postings in memory, growing with each append,
//! rebuilt from the log at open) and a sealed segment's (compact blobs
//! from sled, fields decoded lazily). The planner asks either for the
//! ordinals matching a predicate and for offset and time columns.
//!
//! This module never reads segment files.

use std::sync::OnceLock;

use super::field::FieldIndex;

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
    /// value -> ordinals, one per indexed field.
    pub fields: [FieldIndex; 7],
}

impl ActiveIndex {
    /// An empty index for the segment starting at `first_id`.
    pub fn new(first_id: u64) -> Self {
        ActiveIndex {
            first_id,
            ..Default::default()
        }
    }

    /// An empty index for the segment starting at `first_id`, with room
    /// for what `like` (the previous segment's) holds.
    pub fn sized_like(first_id: u64, like: &ActiveIndex) -> Self {
        ActiveIndex {
            first_id,
            offsets: Vec::with_capacity(like.offsets.len()),
            times: Vec::with_capacity(like.times.len()),
            fields: std::array::from_fn(|i| FieldIndex::sized_like(&like.fields[i])),
        }
    }

    /// Adds the next record.
    pub fn add(&mut self, offset: u32, rec: &StoredRecord<'_>) {
        let ord = self.offsets.len() as u32;
        self.offsets.push(offset);
        self.times.push(rec.time);
        let mut customer = itoa::Buffer::new();
        let [c, p, s, a, o, oid, refs] = &mut self.fields;
        c.add(customer.format(rec.customer), ord);
        p.add(rec.person, ord);
        s.add(rec.source, ord);
        a.add(rec.action, ord);
        o.add(rec.object, ord);
        oid.add(rec.object_id, ord);
        for r in &rec.refs {
            refs.add(r, ord);
        }
    }

    /// Adds the records of one append (each at its offset, in id order),
    /// field by field: each field's hash table then stays in cache for
    /// the whole batch. Against adding them record by record, this made
    /// `never`-mode appends of 1,000-record batches about 20% faster
    /// (`cargo bench --bench append`).
    pub fn add_batch(&mut self, recs: &[(u32, StoredRecord<'_>)]) {
        let base = self.offsets.len() as u32;
        self.offsets.extend(recs.iter().map(|(o, _)| *o));
        self.times.extend(recs.iter().map(|(_, r)| r.time));
        let ords = (base..).zip(recs.iter().map(|(_, r)| r));
        let mut customer = itoa::Buffer::new();
        let [c, p, s, a, o, oid, refs] = &mut self.fields;
        for (ord, r) in ords.clone() {
            c.add(customer.format(r.customer), ord);
        }
        type Get = for<'r, 's> fn(&'r StoredRecord<'s>) -> &'s str;
        let text: [(&mut FieldIndex, Get); 5] = [
            (p, |r| r.person),
            (s, |r| r.source),
            (a, |r| r.action),
            (o, |r| r.object),
            (oid, |r| r.object_id),
        ];
        for (f, get) in text {
            for (ord, r) in ords.clone() {
                f.add(get(r), ord);
            }
        }
        for (ord, r) in ords {
            for x in &r.refs {
                refs.add(x, ord);
            }
        }
    }

    /// Forgets every record from ordinal `keep` on (a failed append).
    pub fn truncate(&mut self, keep: usize) {
        if keep >= self.offsets.len() {
            return;
        }
        self.offsets.truncate(keep);
        self.times.truncate(keep);
        for f in &mut self.fields {
            f.truncate(keep as u32);
        }
    }

    /// Ordinals of `field` matching `probe`, appended to `out` (unsorted
    /// across values; the caller sorts).
    pub fn collect(&self, field: IndexedField, probe: Probe<'_>, out: &mut Vec<u32>) {
        let f = &self.fields[field.slot()];
        if probe.mode == MatchMode::Exact && !probe.ci {
            for v in probe.values {
                if let Some(s) = f.find(v) {
                    f.ords_into(s, out);
                }
            }
        } else {
            for (k, s) in f.values() {
                if probe.hits(k) {
                    f.ords_into(s, out);
                }
            }
        }
    }

    /// How many ordinals `collect` would return (an upper bound).
    pub fn estimate(&self, field: IndexedField, probe: Probe<'_>) -> usize {
        let f = &self.fields[field.slot()];
        if probe.mode == MatchMode::Exact && !probe.ci {
            probe
                .values
                .iter()
                .filter_map(|v| f.find(v))
                .map(|s| f.count(s))
                .sum()
        } else {
            f.values()
                .filter(|(k, _)| probe.hits(k))
                .map(|(_, s)| f.count(s))
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
        for f in &self.fields {
            out.push(postings::encode_field(f));
        }
        out
    }

    /// Approximate heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.offsets.capacity() * 4
            + self.times.capacity() * 8
            + self
                .fields
                .iter()
                .map(FieldIndex::heap_bytes)
                .sum::<usize>()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Appendable, NewRecord};
    use crate::time::Timestamp;
    use crate::workload::Workload;

    /// Workload records, plus records whose refs repeat a value within
    /// the record and values shared with their neighbours (a value listed
    /// once per ordinal, lists that cross batch boundaries).
    fn records(seed: u64) -> Vec<NewRecord> {
        let mut recs: Vec<NewRecord> = Workload::new(seed).records(700).collect();
        for (i, r) in recs.iter_mut().enumerate().filter(|(i, _)| i % 7 == 3) {
            r.refs = vec!["dup".into(), format!("r{}", i % 5), "dup".into()];
            r.person = format!("p{}", i % 3);
            r.object_id = String::new();
        }
        recs
    }

    /// The whole index as comparable values: offsets, times and each
    /// field's encoded postings.
    fn image(ix: &ActiveIndex) -> (Vec<u32>, Vec<i64>, Vec<Vec<u8>>) {
        (ix.offsets.clone(), ix.times.clone(), ix.encode())
    }

    #[test]
    fn add_batch_builds_the_index_that_adding_one_by_one_builds() {
        let now = Timestamp::from_micros(1_700_000_000_000_000).expect("a time in range");
        let dup_value = ["dup".to_string()];
        for (seed, chunk) in [(1, 1), (2, 7), (3, 1000), (4, 64), (5, 333)] {
            let recs = records(seed);
            let rows: Vec<(u32, _)> = recs
                .iter()
                .enumerate()
                .map(|(i, r)| (i as u32 * 100, r.stored(i as u64 + 1, now, Vec::new())))
                .collect();
            let mut one = ActiveIndex::new(1);
            for (off, r) in &rows {
                one.add(*off, r);
            }
            let mut batched = ActiveIndex::new(1);
            for part in rows.chunks(chunk) {
                batched.add_batch(part);
            }
            assert_eq!(
                image(&batched),
                image(&one),
                "seed {seed}, batches of {chunk}"
            );
            // A value repeated within one record is listed once.
            let mut dup = Vec::new();
            let probe = Probe {
                mode: MatchMode::Exact,
                ci: false,
                values: &dup_value,
            };
            batched.collect(IndexedField::Refs, probe, &mut dup);
            let want: Vec<u32> = (0..recs.len() as u32).filter(|i| i % 7 == 3).collect();
            assert_eq!(dup, want, "seed {seed}, batches of {chunk}");
        }
    }
}
