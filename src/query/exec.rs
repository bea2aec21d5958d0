//! Query execution: per segment, the planner picks the cheapest source of
//! candidate records (an id set, the most selective index probe, or the
//! time column), filters candidates by time without reading them, then
//! reads and checks each survivor. Results stream in the requested order:
//! by id segment after segment, by time through a lazy merge that opens a
//! segment only when the merge reaches its time range, and by any other
//! field through the spilling sort of [`super::sort`].
//!
//! Memory is bounded by the candidates of the segments open at once (12
//! bytes each), never by the number of rows returned.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

use super::model::{Cursor, Field, MatchMode, Query, RecordView, SortKey};
use crate::error::Result;
use crate::format::codec::{self, StoredRecord};
use crate::index::segindex::BadBlob;
use crate::index::{ActiveIndex, Index, IndexedField, Probe, SealedIndex, SegIndexRef};
use crate::log::segment::ReadBuf;
use crate::log::{Segment, Snapshot, Tier};
use crate::record::Record;

/// Everything a running query needs, shared by its iterators.
pub(crate) struct Ctx {
    pub snap: Snapshot,
    pub index: Arc<Index>,
    /// Customers in scope; `None` means all.
    pub scope: Option<HashSet<u64>>,
    /// The scope as index probe values (decimal strings).
    pub scope_keys: Vec<String>,
    pub q: Query,
    pub spill_dir: PathBuf,
    pub budget: usize,
}

/// One candidate: where its frame is, its time and id.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub off: u32,
    pub time: i64,
    pub id: u64,
}

/// The candidates of one segment, in id order.
pub(crate) struct SegCands {
    pub seg: Arc<Segment>,
    pub limit: u64,
    pub cands: Vec<Cand>,
    /// Candidates satisfy every condition (no record needs reading to count).
    pub exact: bool,
}

trait SegIdx {
    fn offsets(&self) -> &[u32];
    fn times(&self) -> &[i64];
    fn collect(&self, f: IndexedField, p: Probe<'_>, out: &mut Vec<u32>) -> Result<(), BadBlob>;
    fn estimate(&self, f: IndexedField, p: Probe<'_>) -> Result<usize, BadBlob>;
}

impl SegIdx for ActiveIndex {
    fn offsets(&self) -> &[u32] {
        &self.offsets
    }
    fn times(&self) -> &[i64] {
        &self.times
    }
    fn collect(&self, f: IndexedField, p: Probe<'_>, out: &mut Vec<u32>) -> Result<(), BadBlob> {
        ActiveIndex::collect(self, f, p, out);
        Ok(())
    }
    fn estimate(&self, f: IndexedField, p: Probe<'_>) -> Result<usize, BadBlob> {
        Ok(ActiveIndex::estimate(self, f, p))
    }
}

impl SegIdx for SealedIndex {
    fn offsets(&self) -> &[u32] {
        &self.offsets
    }
    fn times(&self) -> &[i64] {
        &self.times
    }
    fn collect(&self, f: IndexedField, p: Probe<'_>, out: &mut Vec<u32>) -> Result<(), BadBlob> {
        SealedIndex::collect(self, f, p, out)
    }
    fn estimate(&self, f: IndexedField, p: Probe<'_>) -> Result<usize, BadBlob> {
        SealedIndex::estimate(self, f, p)
    }
}

impl SegIdx for SegIndexRef {
    fn offsets(&self) -> &[u32] {
        match self {
            SegIndexRef::Sealed(s) => &s.offsets,
            SegIndexRef::Frozen(f) => &f.offsets,
        }
    }
    fn times(&self) -> &[i64] {
        match self {
            SegIndexRef::Sealed(s) => &s.times,
            SegIndexRef::Frozen(f) => &f.times,
        }
    }
    fn collect(&self, f: IndexedField, p: Probe<'_>, out: &mut Vec<u32>) -> Result<(), BadBlob> {
        match self {
            SegIndexRef::Sealed(s) => SealedIndex::collect(s, f, p, out),
            SegIndexRef::Frozen(a) => {
                ActiveIndex::collect(a, f, p, out);
                Ok(())
            }
        }
    }
    fn estimate(&self, f: IndexedField, p: Probe<'_>) -> Result<usize, BadBlob> {
        match self {
            SegIndexRef::Sealed(s) => SealedIndex::estimate(s, f, p),
            SegIndexRef::Frozen(a) => Ok(ActiveIndex::estimate(a, f, p)),
        }
    }
}

/// The index fields a query field is served by.
fn index_fields(f: Field) -> &'static [IndexedField] {
    match f {
        Field::Customer => &[IndexedField::Customer],
        Field::Person => &[IndexedField::Person],
        Field::Source => &[IndexedField::Source],
        Field::Action => &[IndexedField::Action],
        Field::Object => &[IndexedField::Object],
        Field::ObjectId => &[IndexedField::ObjectId],
        Field::Refs => &[IndexedField::Refs],
        Field::Relation => &[IndexedField::ObjectId, IndexedField::Refs],
        _ => &[],
    }
}

/// Which source produced a segment's candidates.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Ids,
    Scope,
    Pred(usize),
    Time,
}

impl Ctx {
    /// Whether a record read from the log passes every condition.
    /// A cheap first test on the undecoded record: false only when it
    /// certainly fails (time, id bound, id set, scope, or a predicate on a
    /// single-valued string field).
    fn may_pass(&self, p: &codec::Peek<'_>) -> bool {
        let q = &self.q;
        if q.start.is_some_and(|s| p.time < s.as_micros())
            || q.end.is_some_and(|e| p.time >= e.as_micros())
            || q.until_id.is_some_and(|u| p.id > u)
            || self
                .scope
                .as_ref()
                .is_some_and(|s| !s.contains(&p.customer))
        {
            return false;
        }
        q.predicates.iter().all(|pr| {
            let slot = match pr.field {
                Field::Person => 0,
                Field::Source => 1,
                Field::Action => 2,
                Field::Object => 3,
                Field::ObjectId => 4,
                Field::Name => 5,
                Field::Field => 6,
                Field::Old => 7,
                Field::New => 8,
                _ => return true,
            };
            match std::str::from_utf8(p.strings[slot]) {
                Ok(v) => pr.matches_str(v),
                // Let the full decode report it.
                Err(_) => true,
            }
        })
    }

    pub fn passes<R: RecordView + ?Sized>(&self, r: &R) -> bool {
        self.q.matches_filters(r)
            && self
                .scope
                .as_ref()
                .is_none_or(|s| s.contains(&r.customer()))
            && self.q.predicates.iter().all(|p| p.matches(r))
    }

    fn probes(&self) -> Vec<(Source, &'static [IndexedField], Probe<'_>)> {
        let mut v = Vec::new();
        if self.scope.is_some() {
            v.push((
                Source::Scope,
                &[IndexedField::Customer][..],
                Probe {
                    mode: MatchMode::Exact,
                    ci: false,
                    values: &self.scope_keys,
                },
            ));
        }
        for (i, p) in self.q.predicates.iter().enumerate() {
            let f = index_fields(p.field);
            if !f.is_empty() {
                v.push((
                    Source::Pred(i),
                    f,
                    Probe {
                        mode: p.mode,
                        ci: p.case_insensitive,
                        values: &p.values,
                    },
                ));
            }
        }
        v
    }

    fn plan<I: SegIdx + ?Sized>(
        &self,
        seg: &Segment,
        idx: &I,
        n: usize,
        lo_ord: usize,
        frac: f64,
    ) -> Result<(Vec<u32>, Source), BadBlob> {
        if let Some(ids) = &self.q.ids {
            let mut ords: Vec<u32> = ids
                .iter()
                .filter(|&&id| id >= seg.first_id + lo_ord as u64 && id < seg.first_id + n as u64)
                .map(|&id| (id - seg.first_id) as u32)
                .collect();
            ords.sort_unstable();
            ords.dedup();
            return Ok((ords, Source::Ids));
        }
        let time_est = ((n - lo_ord) as f64 * frac) as usize;
        let mut best: Option<(usize, Source, &'static [IndexedField], Probe<'_>)> = None;
        for (src, fields, probe) in self.probes() {
            let mut est = 0;
            for f in fields {
                est += idx.estimate(*f, probe)?;
            }
            if best.as_ref().is_none_or(|b| est < b.0) {
                best = Some((est, src, fields, probe));
            }
        }
        // Reading a candidate costs more than testing a time, so the index
        // wins unless the time window is far narrower.
        if let Some((est, src, fields, probe)) = best {
            if est <= time_est.saturating_mul(4) {
                let mut ords = Vec::with_capacity(est);
                for f in fields {
                    idx.collect(*f, probe, &mut ords)?;
                }
                ords.sort_unstable();
                ords.dedup();
                let lo = ords.partition_point(|&o| (o as usize) < lo_ord);
                let hi = ords.partition_point(|&o| (o as usize) < n);
                return Ok((ords[lo..hi].to_vec(), src));
            }
        }
        Ok(((lo_ord as u32..n as u32).collect(), Source::Time))
    }

    fn finish<I: SegIdx + ?Sized>(
        &self,
        seg: &Segment,
        idx: &I,
        ords: Vec<u32>,
        src: Source,
    ) -> (Vec<Cand>, bool) {
        let (s, e) = (
            self.q.start.map_or(i64::MIN, |t| t.as_micros()),
            self.q.end.map_or(i64::MAX, |t| t.as_micros()),
        );
        let (offs, times) = (idx.offsets(), idx.times());
        let cursor = self
            .q
            .cursor
            .as_ref()
            .filter(|c| c.sort.field == Field::Time);
        let mut out = Vec::with_capacity(ords.len());
        for o in ords {
            let (Some(&off), Some(&t)) = (offs.get(o as usize), times.get(o as usize)) else {
                continue;
            };
            if t < s || t >= e {
                continue;
            }
            let id = seg.first_id + u64::from(o);
            if let Some(c) = cursor {
                let ord = i128::from(t).cmp(&key_int(&c.key)).then(id.cmp(&c.id));
                if (c.sort.descending && ord != Ordering::Less)
                    || (!c.sort.descending && ord != Ordering::Greater)
                {
                    continue;
                }
            }
            out.push(Cand { off, time: t, id });
        }
        let conditions = self.q.predicates.len()
            + usize::from(self.scope.is_some())
            + usize::from(self.q.ids.is_some());
        let exact = match src {
            Source::Time => conditions == 0,
            _ => conditions == 1,
        };
        (out, exact)
    }

    /// The candidates of one segment (empty when it cannot contribute).
    pub fn candidates(&self, seg: &Arc<Segment>) -> Result<SegCands> {
        let empty = |exact| SegCands {
            seg: seg.clone(),
            limit: 0,
            cands: Vec::new(),
            exact,
        };
        if seg.tier == Tier::Archived && !self.q.include_archived {
            return Ok(empty(true));
        }
        let mut hi_id = self.snap.last_id_of(seg);
        if let Some(u) = self.q.until_id {
            hi_id = hi_id.min(u);
        }
        let mut lo_id = seg.first_id;
        if let Some(c) = self.q.cursor.as_ref().filter(|c| c.sort.field == Field::Id) {
            if c.sort.descending {
                hi_id = hi_id.min(c.id.saturating_sub(1));
            } else {
                lo_id = lo_id.max(c.id.saturating_add(1));
            }
        }
        if hi_id < lo_id || hi_id < seg.first_id {
            return Ok(empty(true));
        }
        let (s, e) = (
            self.q.start.map_or(i64::MIN, |t| t.as_micros()),
            self.q.end.map_or(i64::MAX, |t| t.as_micros()),
        );
        let mut frac = 1.0;
        if let Some(f) = seg.footer {
            if f.count == 0 || f.max_time < s || f.min_time >= e {
                return Ok(empty(true));
            }
            let span = (f.max_time - f.min_time).max(1) as f64;
            let overlap = (f.max_time.min(e.saturating_sub(1)) - f.min_time.max(s)).max(0) as f64;
            frac = (overlap / span).clamp(0.0, 1.0).max(1.0 / span.max(1.0));
        }
        let n = (hi_id - seg.first_id + 1) as usize;
        let lo_ord = (lo_id - seg.first_id) as usize;
        let limit = self.snap.limit_of(seg);
        let mut idx = if seg.footer.is_none() {
            let active = self.index.with_active(|a| {
                if a.first_id != seg.first_id {
                    return None;
                }
                let n = n.min(a.offsets.len());
                Some(match self.plan(seg, a, n, lo_ord.min(n), frac) {
                    Ok((ords, src)) => self.finish(seg, a, ords, src),
                    Err(_) => (Vec::new(), true),
                })
            });
            if let Some((cands, exact)) = active {
                return Ok(SegCands {
                    seg: seg.clone(),
                    limit,
                    cands,
                    exact,
                });
            }
            // Sealed since the snapshot was taken: its index moved on too.
            self.index
                .sealed_since(seg)?
                .ok_or_else(|| crate::Error::Index {
                    path: self.index.dir().to_path_buf(),
                    reason: format!(
                        "segment {} left the active index but has no seal",
                        seg.path.display()
                    ),
                })?
        } else {
            self.index.segment_index(seg)?
        };
        let (ords, src) = match self.plan(seg, &idx, n.min(idx.len()), lo_ord, frac) {
            Ok(r) => r,
            Err(_) => {
                idx = self.index.rebuild_segment(seg)?;
                let n = n.min(idx.len());
                self.plan(seg, &idx, n, lo_ord.min(n), frac)
                    .map_err(|b| crate::Error::Index {
                        path: self.index.dir().to_path_buf(),
                        reason: format!("postings of {:?} unreadable even after a rebuild", b.0),
                    })?
            }
        };
        let (cands, exact) = self.finish(seg, &idx, ords, src);
        Ok(SegCands {
            seg: seg.clone(),
            limit,
            cands,
            exact,
        })
    }

    /// Reads the record at a candidate and returns it if it passes.
    pub fn fetch(
        &self,
        seg: &Segment,
        limit: u64,
        c: Cand,
        scratch: &mut ReadBuf,
    ) -> Result<Option<Record>> {
        self.fetch_with(seg, limit, c, scratch, &mut |sr| sr.to_record())
    }

    /// Reads the record at a candidate and, if it passes, hands it
    /// (borrowed from the log) to `f`.
    pub fn fetch_with<T>(
        &self,
        seg: &Segment,
        limit: u64,
        c: Cand,
        scratch: &mut ReadBuf,
        f: &mut dyn FnMut(&StoredRecord<'_>) -> Result<T>,
    ) -> Result<Option<T>> {
        seg.with_payload(u64::from(c.off), limit, scratch, |payload: &[u8]| {
            // Most rejections need no full decode.
            if let Some(p) = codec::peek(payload) {
                if p.id == c.id && !self.may_pass(&p) {
                    return Ok(None);
                }
            }
            let sr = StoredRecord::decode(payload).map_err(|e| {
                crate::log::segment::corrupt(&seg.path, u64::from(c.off), Some(c.id), e.to_string())
            })?;
            let sr = &sr;
            if sr.id != c.id {
                return Err(crate::log::segment::corrupt(
                    &seg.path,
                    u64::from(c.off),
                    Some(c.id),
                    format!(
                        "index points at record {} where {} was expected; run reindex",
                        sr.id, c.id
                    ),
                ));
            }
            if self.passes(sr) {
                f(sr).map(Some)
            } else {
                Ok(None)
            }
        })?
    }

    /// Segments a query may read, in id order.
    fn segments(&self) -> Vec<Arc<Segment>> {
        self.snap.segments.iter().cloned().collect()
    }
}

fn key_int(k: &SortKey) -> i128 {
    match k {
        SortKey::Int(v) => *v,
        SortKey::Str(_) => 0,
    }
}

/// Counts matching rows (ignores sort, limit, offset and cursor).
pub(crate) fn count(mut ctx: Ctx) -> Result<u64> {
    ctx.q.cursor = None;
    let mut total = 0u64;
    let mut scratch = ReadBuf::new();
    for seg in ctx.segments() {
        let sc = ctx.candidates(&seg)?;
        if sc.exact {
            total += sc.cands.len() as u64;
        } else {
            for c in &sc.cands {
                if ctx.fetch(&sc.seg, sc.limit, *c, &mut scratch)?.is_some() {
                    total += 1;
                }
            }
        }
    }
    Ok(total)
}

/// Rows in id order (ascending or descending), segment by segment.
struct ById {
    ctx: Arc<Ctx>,
    pending: VecDeque<Arc<Segment>>,
    cur: Option<(SegCands, usize)>,
    desc: bool,
    scratch: ReadBuf,
    done: bool,
}

impl Iterator for ById {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        self.next_with(&mut |sr| sr.to_record())
    }
}

impl ById {
    fn next_with<T>(
        &mut self,
        f: &mut dyn FnMut(&StoredRecord<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        loop {
            if let Some((sc, pos)) = &mut self.cur {
                if *pos < sc.cands.len() {
                    let i = if self.desc {
                        sc.cands.len() - 1 - *pos
                    } else {
                        *pos
                    };
                    *pos += 1;
                    let c = sc.cands[i];
                    match self
                        .ctx
                        .fetch_with(&sc.seg, sc.limit, c, &mut self.scratch, f)
                    {
                        Ok(Some(r)) => return Some(Ok(r)),
                        Ok(None) => continue,
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
                self.cur = None;
            }
            let seg = if self.desc {
                self.pending.pop_back()
            } else {
                self.pending.pop_front()
            }?;
            match self.ctx.candidates(&seg) {
                Ok(sc) => self.cur = Some((sc, 0)),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[derive(PartialEq, Eq)]
struct HeapItem {
    time: i64,
    id: u64,
    slot: usize,
    pos: usize,
    desc: bool,
}

impl Ord for HeapItem {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: invert so the next row in order is on top.
        let ord = (self.time, self.id).cmp(&(o.time, o.id));
        if self.desc {
            ord
        } else {
            ord.reverse()
        }
    }
}

impl PartialOrd for HeapItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// Rows in time order through a lazy k-way merge of segments.
struct ByTime {
    ctx: Arc<Ctx>,
    /// Segments not opened yet, with the time at which they may start
    /// contributing (min time ascending, or max time descending).
    pending: VecDeque<(i64, Arc<Segment>)>,
    open: Vec<Option<SegCands>>,
    heap: BinaryHeap<HeapItem>,
    desc: bool,
    scratch: ReadBuf,
    done: bool,
}

impl ByTime {
    fn new(ctx: Arc<Ctx>, desc: bool) -> Self {
        let mut pending: Vec<(i64, Arc<Segment>)> = Vec::new();
        for seg in ctx.segments() {
            let (lo, hi) = match seg.footer {
                Some(f) => (f.min_time, f.max_time),
                None => {
                    let span = |times: &[i64]| {
                        (
                            times.iter().copied().min().unwrap_or(i64::MAX),
                            times.iter().copied().max().unwrap_or(i64::MIN),
                        )
                    };
                    let active = ctx
                        .index
                        .with_active(|a| (a.first_id == seg.first_id).then(|| span(&a.times)));
                    // Sealed since the snapshot: its sealed index has the
                    // times; failing that, open it first (always safe).
                    active.unwrap_or_else(|| match ctx.index.sealed_since(&seg) {
                        Ok(Some(i)) => span(i.times()),
                        _ => (i64::MIN, i64::MAX),
                    })
                }
            };
            pending.push((if desc { hi } else { lo }, seg));
        }
        if desc {
            pending.sort_by_key(|p| std::cmp::Reverse(p.0));
        } else {
            pending.sort_by_key(|p| p.0);
        }
        ByTime {
            ctx,
            pending: pending.into(),
            open: Vec::new(),
            heap: BinaryHeap::new(),
            desc,
            scratch: ReadBuf::new(),
            done: false,
        }
    }

    fn push_next(&mut self, slot: usize, pos: usize) {
        if let Some(Some(sc)) = self.open.get(slot) {
            if let Some(c) = sc.cands.get(pos) {
                self.heap.push(HeapItem {
                    time: c.time,
                    id: c.id,
                    slot,
                    pos,
                    desc: self.desc,
                });
                return;
            }
        }
        if let Some(s) = self.open.get_mut(slot) {
            *s = None;
        }
    }

    fn open_due(&mut self) -> Result<()> {
        while let Some((t, _)) = self.pending.front() {
            let due = match self.heap.peek() {
                None => true,
                Some(top) => (!self.desc && *t <= top.time) || (self.desc && *t >= top.time),
            };
            if !due {
                break;
            }
            let Some((_, seg)) = self.pending.pop_front() else {
                break;
            };
            let mut sc = self.ctx.candidates(&seg)?;
            // (time, id) pairs are unique, so an unstable sort gives the same
            // order without a stable sort's scratch copy of the candidates.
            if self.desc {
                sc.cands
                    .sort_unstable_by_key(|c| std::cmp::Reverse((c.time, c.id)));
            } else {
                sc.cands.sort_unstable_by_key(|c| (c.time, c.id));
            }
            if sc.cands.is_empty() {
                continue;
            }
            self.open.push(Some(sc));
            let slot = self.open.len() - 1;
            self.push_next(slot, 0);
        }
        Ok(())
    }
}

impl Iterator for ByTime {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        self.next_with(&mut |sr| sr.to_record())
    }
}

impl ByTime {
    fn next_with<T>(
        &mut self,
        f: &mut dyn FnMut(&StoredRecord<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        loop {
            if let Err(e) = self.open_due() {
                self.done = true;
                return Some(Err(e));
            }
            let top = self.heap.pop()?;
            let (seg, limit, c) = match self.open.get(top.slot) {
                Some(Some(sc)) => (sc.seg.clone(), sc.limit, sc.cands[top.pos]),
                _ => continue,
            };
            self.push_next(top.slot, top.pos + 1);
            match self.ctx.fetch_with(&seg, limit, c, &mut self.scratch, f) {
                Ok(Some(r)) => return Some(Ok(r)),
                Ok(None) => continue,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A running query: an iterator of `Result<Record>` in the query's order,
/// after cursor, offset and limit. [`QueryIter::cursor`] gives the
/// position after the last row returned, for the next page.
pub struct QueryIter {
    inner: Box<dyn Iterator<Item = Result<Record>> + Send>,
    sort: super::model::Sort,
    last: Option<Cursor>,
    skip: u64,
    left: Option<u64>,
}

impl std::fmt::Debug for QueryIter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryIter")
            .field("sort", &self.sort)
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}

impl QueryIter {
    /// The keyset position after the last row returned so far (`None`
    /// before the first row). Pass it to [`Query::with_cursor`] to
    /// continue after it.
    pub fn cursor(&self) -> Option<Cursor> {
        self.last.clone()
    }
}

impl Iterator for QueryIter {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if self.left == Some(0) {
                return None;
            }
            let r = match self.inner.next()? {
                Ok(r) => r,
                Err(e) => {
                    self.left = Some(0);
                    return Some(Err(e));
                }
            };
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            if let Some(l) = &mut self.left {
                *l -= 1;
            }
            self.last = Some(Cursor::after(self.sort, &r));
            return Some(Ok(r));
        }
    }
}

/// Streams the rows of a query sorted by time or id to `f`, borrowed from
/// the log (no copy per row), after cursor, offset and limit. Returns
/// `None` (and calls nothing) for other sorts: the caller uses [`run`].
pub(crate) fn visit(
    ctx: Ctx,
    f: &mut dyn FnMut(&StoredRecord<'_>) -> Result<()>,
) -> Result<Option<u64>> {
    let sort = ctx.q.sort;
    let (mut skip, limit) = (ctx.q.offset, ctx.q.limit);
    let ctx = Arc::new(ctx);
    let mut rows = 0u64;
    let mut each = |sr: &StoredRecord<'_>| -> Result<bool> {
        if skip > 0 {
            skip -= 1;
            return Ok(true);
        }
        if limit.is_some_and(|l| rows >= l) {
            return Ok(false);
        }
        f(sr)?;
        rows += 1;
        Ok(true)
    };
    macro_rules! drive {
        ($it:expr) => {{
            let mut it = $it;
            while let Some(r) = it.next_with(&mut each) {
                if !r? {
                    break;
                }
            }
        }};
    }
    match sort.field {
        Field::Id => drive!(ById {
            pending: ctx.segments().into(),
            ctx: ctx.clone(),
            cur: None,
            desc: sort.descending,
            scratch: ReadBuf::new(),
            done: false,
        }),
        Field::Time => drive!(ByTime::new(ctx.clone(), sort.descending)),
        _ => return Ok(None),
    }
    Ok(Some(rows))
}

/// Starts a query.
pub(crate) fn run(ctx: Ctx) -> Result<QueryIter> {
    let sort = ctx.q.sort;
    let (skip, limit) = (ctx.q.offset, ctx.q.limit);
    let ctx = Arc::new(ctx);
    let inner: Box<dyn Iterator<Item = Result<Record>> + Send> = match sort.field {
        Field::Id => Box::new(ById {
            pending: ctx.segments().into(),
            ctx: ctx.clone(),
            cur: None,
            desc: sort.descending,
            scratch: ReadBuf::new(),
            done: false,
        }),
        Field::Time => Box::new(ByTime::new(ctx.clone(), sort.descending)),
        _ => {
            let rows = ById {
                pending: ctx.segments().into(),
                ctx: ctx.clone(),
                cur: None,
                desc: false,
                scratch: ReadBuf::new(),
                done: false,
            };
            let cursor = ctx.q.cursor.clone();
            let rows = rows.filter(move |r| match (r, &cursor) {
                (Ok(r), Some(c)) => c.is_before(r),
                _ => true,
            });
            let opts = super::sort::SortOptions::new(ctx.spill_dir.clone()).with_budget(ctx.budget);
            match limit {
                Some(l) => Box::new(super::sort::sort_records_limited(
                    rows,
                    sort,
                    usize::try_from(l.saturating_add(skip)).unwrap_or(usize::MAX),
                    &opts,
                )?),
                None => Box::new(super::sort::sort_records(rows, sort, &opts)?),
            }
        }
    };
    Ok(QueryIter {
        inner,
        sort,
        last: None,
        skip,
        left: limit,
    })
}
