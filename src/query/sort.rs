//! Sorting query results by any sortable field with bounded memory (SPEC
//! section 2: "sorting by a field other than `time` or `id` over a result
//! larger than a memory budget spills to disk").
//!
//! Owns putting a stream of records in [`Sort`] order when no index delivers
//! that order: an in-memory sort while the rows fit the budget; an external
//! merge sort when they do not (sorted runs written to anonymous temporary
//! files, then merged k ways, in several passes when there are more runs than
//! [`SortOptions::merge_width`]); and a bounded top-k heap when the caller
//! needs only the first rows ([`sort_records_limited`]).
//!
//! It must never:
//! - hold more rows in memory than the budget allows (the only excess is one
//!   row that is larger than the budget on its own, the merge's one row per
//!   run, and fixed I/O buffers of [`IO_BUFFER_BYTES`] per open run);
//! - leave files behind: spill files are unlinked at creation
//!   ([`tempfile::tempfile_in`]) and vanish with their handles, also when the
//!   process dies;
//! - panic on, or return rows from, a damaged spill file: that is an
//!   [`Error::SpillCorrupt`] naming the run and the offset;
//! - read input past an input error (the error is returned as is).
//!
//! It does not filter, count or page; it only truncates to the rows a caller
//! asked for. Rows that compare equal under [`Sort::compare`] (possible only
//! with duplicate ids) keep their input order, as with `slice::sort_by`.
//!
//! # Spill run format
//!
//! A run is a sequence of frames, one per record, in sort order:
//!
//! | bytes | content                                          |
//! |-------|--------------------------------------------------|
//! | 4     | payload length `n`, u32 little-endian            |
//! | 4     | CRC-32 (IEEE, `crc32fast`) of the payload, u32 LE |
//! | `n`   | the record, [`codec::encode_into`]               |
//!
//! The writer keeps each run's record count, so a run cut short exactly at a
//! frame boundary is detected as well as one cut inside a frame.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::mem::size_of;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::format::codec;
use crate::query::model::Sort;
use crate::record::{Record, MAX_RECORD_BYTES};

/// The default memory budget for buffered rows: 64 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 64 * 1024 * 1024;

/// The default number of runs merged at once (and so the most spill files
/// open at once): 64.
pub const DEFAULT_MERGE_WIDTH: usize = 64;

/// The buffer size of each spill file's reader and writer: 64 KiB. These
/// buffers are outside the budget.
pub const IO_BUFFER_BYTES: usize = 64 * 1024;

/// Bytes of a frame header: length and CRC.
const FRAME_HEADER_BYTES: u64 = 8;

/// The memory taken by one row's slot in the buffer.
const SLOT_BYTES: usize = size_of::<Record>();

/// The memory taken by one row's slot in the top-k heap.
const RANKED_SLOT_BYTES: usize = size_of::<Ranked>();

/// How a sort may use memory and disk.
///
/// ```
/// use auditlog::query::sort::SortOptions;
/// let opts = SortOptions::new("/var/lib/auditlog/tmp").with_budget(16 << 20);
/// assert_eq!(opts.budget_bytes, 16 << 20);
/// assert_eq!(opts.merge_width, 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SortOptions {
    /// The estimated bytes of rows ([`estimated_size`], plus the buffer's
    /// slots) held in memory before a sorted run is spilled to disk.
    /// Defaults to [`DEFAULT_BUDGET_BYTES`] (64 MiB). A single row larger than
    /// the budget is still accepted (it becomes a run of its own).
    pub budget_bytes: usize,
    /// The directory spill files are created in (as unlinked temporary
    /// files; nothing is left in it). Defaults to [`std::env::temp_dir`]; an
    /// engine should point it at a directory on its own volume. It is only
    /// touched when a sort spills.
    pub spill_dir: PathBuf,
    /// The most runs merged at once, and so the most spill files open at
    /// once; more runs are merged in passes. Defaults to
    /// [`DEFAULT_MERGE_WIDTH`] (64); at least 2.
    pub merge_width: usize,
}

impl Default for SortOptions {
    fn default() -> Self {
        SortOptions {
            budget_bytes: DEFAULT_BUDGET_BYTES,
            spill_dir: std::env::temp_dir(),
            merge_width: DEFAULT_MERGE_WIDTH,
        }
    }
}

impl SortOptions {
    /// The defaults, spilling to `spill_dir`.
    pub fn new(spill_dir: impl Into<PathBuf>) -> Self {
        SortOptions {
            spill_dir: spill_dir.into(),
            ..Self::default()
        }
    }

    /// Sets [`SortOptions::budget_bytes`] (defaults to 64 MiB).
    #[must_use]
    pub fn with_budget(mut self, bytes: usize) -> Self {
        self.budget_bytes = bytes;
        self
    }

    /// Sets [`SortOptions::merge_width`] (defaults to 64; at least 2).
    #[must_use]
    pub fn with_merge_width(mut self, runs: usize) -> Self {
        self.merge_width = runs;
        self
    }

    /// Checks the options: a merge width of at least 2.
    pub fn validate(&self) -> Result<()> {
        if self.merge_width < 2 {
            return Err(Error::invalid(
                "merge_width",
                format!(
                    "{} runs cannot be merged: at least 2 are needed",
                    self.merge_width
                ),
            ));
        }
        Ok(())
    }
}

/// What a sort did, for tests, logs and query plans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SortStats {
    /// Sorted runs spilled from the input buffer (0: sorted in memory).
    pub runs_spilled: u64,
    /// Runs written by intermediate merge passes.
    pub runs_merged: u64,
    /// Intermediate merge passes (0 when the runs fit the final merge).
    pub merge_passes: u32,
    /// The most sources (spill runs plus the in-memory tail) merged at
    /// once; at most [`SortOptions::merge_width`].
    pub widest_merge: usize,
    /// Bytes written to spill files over all passes.
    pub bytes_spilled: u64,
    /// The largest estimated size of the rows held in memory at once,
    /// including their slots; within the budget unless one row exceeds it.
    pub peak_buffered_bytes: usize,
}

/// The estimated memory one record takes while buffered: the struct plus
/// the heap capacity of its strings, `refs` and JSON texts.
pub fn estimated_size(r: &Record) -> usize {
    SLOT_BYTES + heap_size(r)
}

/// The heap part of [`estimated_size`].
fn heap_size(r: &Record) -> usize {
    let strings: usize = [
        &r.person,
        &r.source,
        &r.action,
        &r.object,
        &r.object_id,
        &r.name,
        &r.field,
        &r.old,
        &r.new,
    ]
    .iter()
    .map(|s| s.capacity())
    .sum();
    let refs = r.refs.capacity() * size_of::<String>()
        + r.refs.iter().map(String::capacity).sum::<usize>();
    let json = r.args.as_ref().map_or(0, |j| j.as_str().len())
        + r.result.as_ref().map_or(0, |j| j.as_str().len());
    strings + refs + json
}

/// How many slots to add to a full buffer of `cap` slots so that `used`
/// bytes (which count the current slots) plus the new slots stay within
/// `budget`: the buffer doubles while it can, then takes what still fits;
/// 0 when not one more slot fits.
fn growth(cap: usize, used: usize, budget: usize, slot: usize) -> usize {
    (budget.saturating_sub(used) / slot).min(cap.max(4))
}

/// Sorts `input` by `sort`, spilling sorted runs to disk whenever the
/// buffered rows would exceed `opts.budget_bytes`, and returns the rows in
/// order.
///
/// The input is consumed before this returns; an input error stops it and
/// is returned as is. Errors: an unsortable field or invalid options
/// ([`Error::Invalid`]), spill I/O ([`Error::Io`] naming the spill
/// directory), a damaged spill run ([`Error::SpillCorrupt`], here or from the
/// iterator).
pub fn sort_records<I>(input: I, sort: Sort, opts: &SortOptions) -> Result<SortedIter>
where
    I: IntoIterator<Item = Result<Record>>,
{
    check(sort, opts)?;
    let mut acc = Accumulator::new(sort, opts, None);
    for item in input {
        acc.push(item?)?;
    }
    acc.finish()
}

/// Like [`sort_records`], but yields only the first `keep` rows (a query's
/// limit plus offset).
///
/// While those `keep` rows fit the budget it keeps a bounded heap of them
/// instead of sorting everything; when they do not, it falls back to the
/// spill sort, writing and merging at most `keep` rows per run. With `keep`
/// 0 it yields nothing and reads no input.
pub fn sort_records_limited<I>(
    input: I,
    sort: Sort,
    keep: usize,
    opts: &SortOptions,
) -> Result<SortedIter>
where
    I: IntoIterator<Item = Result<Record>>,
{
    check(sort, opts)?;
    if keep == 0 {
        return Ok(SortedIter::memory(
            Vec::new(),
            usize::MAX,
            SortStats::default(),
        ));
    }
    let budget = opts.budget_bytes;
    let mut input = input.into_iter();
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::new();
    let mut heap_bytes = 0usize;
    let mut peak = 0usize;
    let mut seq = 0u64;
    while let Some(item) = input.next() {
        let rec = item?;
        let cand = Ranked { rec, seq, sort };
        seq += 1;
        let size = heap_size(&cand.rec);
        let cap = heap.capacity();
        if heap.len() < keep {
            let used = heap_bytes + size + cap * RANKED_SLOT_BYTES;
            let fits = if heap.len() < cap {
                used <= budget
            } else {
                let add = growth(cap, used, budget, RANKED_SLOT_BYTES);
                if add > 0 {
                    heap.reserve_exact(add);
                }
                add > 0
            };
            if !fits {
                return fall_back(heap, cand, input, sort, keep, opts, peak);
            }
            heap_bytes += size;
            heap.push(cand);
        } else {
            // Full: the candidate replaces the last kept row if it sorts
            // before it.
            let old = match heap.peek() {
                Some(top) if cand < *top => heap_size(&top.rec),
                _ => continue,
            };
            let bytes = heap_bytes.saturating_sub(old) + size;
            if bytes + cap * RANKED_SLOT_BYTES > budget {
                return fall_back(heap, cand, input, sort, keep, opts, peak);
            }
            if let Some(mut top) = heap.peek_mut() {
                *top = cand;
            }
            heap_bytes = bytes;
        }
        peak = peak.max(heap_bytes + heap.capacity() * RANKED_SLOT_BYTES);
    }
    let rows = heap.into_sorted_vec().into_iter().map(|r| r.rec).collect();
    let stats = SortStats {
        peak_buffered_bytes: peak,
        ..SortStats::default()
    };
    Ok(SortedIter::memory(rows, keep, stats))
}

/// The top-k heap outgrew the budget: sort everything held so far, the
/// candidate and the rest of the input with the spill sort.
fn fall_back<I>(
    heap: BinaryHeap<Ranked>,
    cand: Ranked,
    rest: I,
    sort: Sort,
    keep: usize,
    opts: &SortOptions,
    peak: usize,
) -> Result<SortedIter>
where
    I: Iterator<Item = Result<Record>>,
{
    let mut held = heap.into_vec();
    // Back in input order (popped from the end), so that equal rows stay in
    // input order.
    held.sort_unstable_by_key(|r| std::cmp::Reverse(r.seq));
    let mut acc = Accumulator::new(sort, opts, Some(keep));
    acc.stats.peak_buffered_bytes = peak;
    while let Some(r) = held.pop() {
        acc.push(r.rec)?;
        // Give back the heap's slots as its rows move, so that the two
        // buffers together stay near the budget.
        if held.len() < held.capacity() / 2 {
            held.shrink_to_fit();
        }
    }
    acc.push(cand.rec)?;
    for item in rest {
        acc.push(item?)?;
    }
    acc.finish()
}

fn check(sort: Sort, opts: &SortOptions) -> Result<()> {
    if !sort.field.is_sortable() {
        return Err(Error::invalid(
            "sort",
            format!("cannot sort by {}", sort.field),
        ));
    }
    opts.validate()
}

/// A row in the top-k heap: ordered by the sort, then by input position,
/// so the heap's top is the last row kept.
#[derive(Debug)]
struct Ranked {
    rec: Record,
    seq: u64,
    sort: Sort,
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort
            .compare(&self.rec, &other.rec)
            .then(self.seq.cmp(&other.seq))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

/// The rows of a sort, in order. Yields `Err` at most once (a damaged or
/// unreadable spill run), then ends.
#[derive(Debug)]
pub struct SortedIter {
    source: Source,
    /// Rows still to yield (`usize::MAX`: all).
    left: usize,
    stats: SortStats,
}

#[derive(Debug)]
enum Source {
    Memory(std::vec::IntoIter<Record>),
    Merge(Box<Merger>),
}

impl SortedIter {
    fn memory(rows: Vec<Record>, left: usize, stats: SortStats) -> Self {
        SortedIter {
            source: Source::Memory(rows.into_iter()),
            left,
            stats,
        }
    }

    /// What the sort did: runs spilled, merge passes, bytes written, peak
    /// memory.
    pub fn stats(&self) -> SortStats {
        self.stats
    }
}

impl Iterator for SortedIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.left == 0 {
            return None;
        }
        let item = match &mut self.source {
            Source::Memory(rows) => rows.next().map(Ok),
            Source::Merge(m) => m.next(),
        };
        match &item {
            Some(Ok(_)) => self.left = self.left.saturating_sub(1),
            Some(Err(_)) | None => self.left = 0,
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.left == 0 {
            return (0, Some(0));
        }
        match &self.source {
            Source::Memory(rows) => {
                let n = rows.len().min(self.left);
                (n, Some(n))
            }
            Source::Merge(_) => (0, Some(self.left).filter(|n| *n != usize::MAX)),
        }
    }
}

/// Buffers input rows within the budget and spills sorted runs.
struct Accumulator<'o> {
    sort: Sort,
    opts: &'o SortOptions,
    /// Rows wanted at most (top-k fallback); runs are truncated to it.
    keep: Option<usize>,
    buf: Vec<Record>,
    /// The heap bytes of the rows in `buf` (their slots are counted from
    /// the buffer's capacity).
    buf_heap_bytes: usize,
    runs: Vec<Run>,
    next_run: u64,
    scratch: Vec<u8>,
    stats: SortStats,
}

impl<'o> Accumulator<'o> {
    fn new(sort: Sort, opts: &'o SortOptions, keep: Option<usize>) -> Self {
        Accumulator {
            sort,
            opts,
            keep,
            buf: Vec::new(),
            buf_heap_bytes: 0,
            runs: Vec::new(),
            next_run: 0,
            scratch: Vec::new(),
            stats: SortStats::default(),
        }
    }

    fn push(&mut self, r: Record) -> Result<()> {
        let size = heap_size(&r);
        if !self.buf.is_empty() && !self.fits(size) {
            self.spill_buffer()?;
        }
        let cap = self.buf.capacity();
        if self.buf.len() == cap {
            let used = self.buf_heap_bytes + size + cap * SLOT_BYTES;
            // An empty buffer takes one row even over the budget.
            let add = growth(cap, used, self.opts.budget_bytes, SLOT_BYTES).max(1);
            self.buf.reserve_exact(add);
        }
        self.buf_heap_bytes += size;
        self.buf.push(r);
        let held = self.buf_heap_bytes + self.buf.capacity() * SLOT_BYTES;
        self.stats.peak_buffered_bytes = self.stats.peak_buffered_bytes.max(held);
        Ok(())
    }

    /// Whether a row of `size` heap bytes can join the buffer within budget.
    fn fits(&self, size: usize) -> bool {
        let cap = self.buf.capacity();
        let used = self.buf_heap_bytes + size + cap * SLOT_BYTES;
        if self.buf.len() < cap {
            used <= self.opts.budget_bytes
        } else {
            growth(cap, used, self.opts.budget_bytes, SLOT_BYTES) > 0
        }
    }

    /// Sorts the buffer (stable) and truncates it to `keep`.
    fn sort_buffer(&mut self) {
        let sort = self.sort;
        self.buf.sort_by(|a, b| sort.compare(a, b));
        if let Some(k) = self.keep {
            self.buf.truncate(k);
        }
    }

    fn spill_buffer(&mut self) -> Result<()> {
        self.sort_buffer();
        let mut rows = std::mem::take(&mut self.buf);
        let run = self.write_run(rows.drain(..).map(Ok))?;
        // Keep the allocation: its slots are already within the budget.
        self.buf = rows;
        self.buf_heap_bytes = 0;
        self.runs.push(run);
        self.stats.runs_spilled += 1;
        Ok(())
    }

    /// Writes `rows` (already in order) as a new run.
    fn write_run<R>(&mut self, rows: R) -> Result<Run>
    where
        R: Iterator<Item = Result<Record>>,
    {
        let opts = self.opts;
        let dir = &opts.spill_dir;
        let id = self.next_run;
        self.next_run += 1;
        let write_err = |e: io::Error| Error::io("write a sort spill run in", dir, e);
        let file = tempfile::tempfile_in(dir)
            .map_err(|e| Error::io("create a sort spill file in", dir, e))?;
        let mut out = BufWriter::with_capacity(IO_BUFFER_BYTES, file);
        let (mut count, mut bytes) = (0u64, 0u64);
        for row in rows {
            let row = row?;
            self.scratch.clear();
            codec::encode_into(&row, &mut self.scratch)?;
            let len = u32::try_from(self.scratch.len())
                .map_err(|_| Error::record("record", "encoded size does not fit a spill frame"))?;
            let crc = crc32fast::hash(&self.scratch);
            out.write_all(&len.to_le_bytes()).map_err(write_err)?;
            out.write_all(&crc.to_le_bytes()).map_err(write_err)?;
            out.write_all(&self.scratch).map_err(write_err)?;
            count += 1;
            bytes += FRAME_HEADER_BYTES + u64::from(len);
        }
        let mut file = out.into_inner().map_err(|e| write_err(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(write_err)?;
        #[cfg(test)]
        hook::damage(id, &mut file);
        self.stats.bytes_spilled += bytes;
        Ok(Run { id, file, count })
    }

    /// Merges runs in passes until at most `limit` remain. Runs keep their
    /// input order (a merged group takes the place of its members), so equal
    /// rows stay in input order.
    fn reduce(&mut self, mut runs: Vec<Run>, limit: usize) -> Result<Vec<Run>> {
        let width = self.opts.merge_width;
        while runs.len() > limit {
            let mut excess = runs.len() - limit;
            let mut next = Vec::with_capacity(limit.max(runs.len() / width + 1));
            let mut rest = runs.into_iter();
            while excess > 0 {
                let group: Vec<Run> = rest.by_ref().take((excess + 1).min(width)).collect();
                if group.len() < 2 {
                    next.extend(group);
                    break;
                }
                excess -= group.len() - 1;
                self.stats.widest_merge = self.stats.widest_merge.max(group.len());
                let merger =
                    Merger::new(self.sort, self.opts.spill_dir.clone(), group, Vec::new())?;
                let merged = self.write_run(merger.take(self.keep.unwrap_or(usize::MAX)))?;
                self.stats.runs_merged += 1;
                next.push(merged);
            }
            next.extend(rest);
            runs = next;
            self.stats.merge_passes += 1;
        }
        Ok(runs)
    }

    fn finish(mut self) -> Result<SortedIter> {
        self.sort_buffer();
        let left = self.keep.unwrap_or(usize::MAX);
        if self.runs.is_empty() {
            let rows = std::mem::take(&mut self.buf);
            return Ok(SortedIter::memory(rows, left, self.stats));
        }
        let tail = std::mem::take(&mut self.buf);
        let runs = std::mem::take(&mut self.runs);
        // The in-memory tail takes one of the merge's places.
        let limit = self.opts.merge_width - usize::from(!tail.is_empty());
        let runs = self.reduce(runs, limit)?;
        let sources = runs.len() + usize::from(!tail.is_empty());
        self.stats.widest_merge = self.stats.widest_merge.max(sources);
        let merger = Merger::new(self.sort, self.opts.spill_dir.clone(), runs, tail)?;
        Ok(SortedIter {
            source: Source::Merge(Box::new(merger)),
            left,
            stats: self.stats,
        })
    }
}

/// A finished run: an unlinked file positioned at its start.
#[derive(Debug)]
struct Run {
    id: u64,
    file: File,
    count: u64,
}

/// Reads a run's frames back, checking each.
#[derive(Debug)]
struct RunReader {
    id: u64,
    reader: BufReader<File>,
    /// Offset of the next frame.
    offset: u64,
    /// Records not yet read.
    left: u64,
    count: u64,
}

impl RunReader {
    fn new(run: Run) -> Self {
        RunReader {
            id: run.id,
            reader: BufReader::with_capacity(IO_BUFFER_BYTES, run.file),
            offset: 0,
            left: run.count,
            count: run.count,
        }
    }

    fn next(&mut self, scratch: &mut Vec<u8>, dir: &Path) -> Result<Option<Record>> {
        if self.left == 0 {
            return Ok(None);
        }
        let (run, at, nth, count) = (self.id, self.offset, self.count - self.left, self.count);
        let corrupt = |reason: String| Error::SpillCorrupt {
            dir: dir.to_path_buf(),
            run,
            offset: at,
            reason,
        };
        let read_err = |e: io::Error, what: &str| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                corrupt(format!(
                    "short read: the run ends inside the {what} of record {} of {count}",
                    nth + 1
                ))
            } else {
                Error::io("read a sort spill run in", dir, e)
            }
        };
        let mut header = [0u8; FRAME_HEADER_BYTES as usize];
        self.reader
            .read_exact(&mut header)
            .map_err(|e| read_err(e, "frame header"))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let n = usize::try_from(len).unwrap_or(usize::MAX);
        if n > MAX_RECORD_BYTES {
            return Err(corrupt(format!(
                "frame length {len} is over the record limit of {MAX_RECORD_BYTES} bytes"
            )));
        }
        scratch.clear();
        scratch.resize(n, 0);
        self.reader
            .read_exact(scratch)
            .map_err(|e| read_err(e, "payload"))?;
        let actual = crc32fast::hash(scratch);
        if actual != crc {
            return Err(corrupt(format!(
                "checksum mismatch in a frame of {len} bytes (stored {crc:08x}, computed {actual:08x})"
            )));
        }
        let rec =
            codec::decode(scratch).map_err(|e| corrupt(format!("undecodable record: {e}")))?;
        self.offset += FRAME_HEADER_BYTES + u64::from(len);
        self.left -= 1;
        Ok(Some(rec))
    }
}

/// The next row of one merge source.
#[derive(Debug)]
struct Head {
    rec: Record,
    /// The source: a run's index, or `runs.len()` for the in-memory tail.
    src: usize,
    sort: Sort,
}

impl Ord for Head {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the first row in
    /// sort order; equal rows pop from the earlier source first.
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort
            .compare(&self.rec, &other.rec)
            .then(self.src.cmp(&other.src))
            .reverse()
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

/// A k-way merge of runs and an in-memory tail, holding one row per source.
#[derive(Debug)]
struct Merger {
    sort: Sort,
    dir: PathBuf,
    runs: Vec<RunReader>,
    /// Sorted rows that were never spilled (they come last in input order).
    tail: std::vec::IntoIter<Record>,
    heap: BinaryHeap<Head>,
    scratch: Vec<u8>,
    failed: bool,
}

impl Merger {
    fn new(sort: Sort, dir: PathBuf, runs: Vec<Run>, tail: Vec<Record>) -> Result<Self> {
        let runs: Vec<RunReader> = runs.into_iter().map(RunReader::new).collect();
        let mut m = Merger {
            sort,
            dir,
            heap: BinaryHeap::with_capacity(runs.len() + 1),
            runs,
            tail: tail.into_iter(),
            scratch: Vec::new(),
            failed: false,
        };
        for src in 0..=m.runs.len() {
            m.refill(src)?;
        }
        Ok(m)
    }

    /// Reads the next row of source `src` into the heap.
    fn refill(&mut self, src: usize) -> Result<()> {
        let next = match self.runs.get_mut(src) {
            Some(run) => run.next(&mut self.scratch, &self.dir)?,
            None => self.tail.next(),
        };
        if let Some(rec) = next {
            self.heap.push(Head {
                rec,
                src,
                sort: self.sort,
            });
        }
        Ok(())
    }
}

impl Iterator for Merger {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Result<Record>> {
        if self.failed {
            return None;
        }
        let head = self.heap.pop()?;
        if let Err(e) = self.refill(head.src) {
            self.failed = true;
            self.heap.clear();
            return Some(Err(e));
        }
        Some(Ok(head.rec))
    }
}

/// Test hook: damage the first spill run of a sort on this thread right
/// after it is written.
#[cfg(test)]
mod hook {
    use std::cell::Cell;
    use std::fs::File;
    use std::io::{Read, Seek, SeekFrom, Write};

    #[derive(Clone, Copy, Debug)]
    pub(super) enum Damage {
        /// Invert the byte at this offset.
        Flip(u64),
        /// Cut this many bytes off the end.
        Cut(u64),
        /// Truncate to this many bytes.
        KeepOnly(u64),
    }

    thread_local! {
        static DAMAGE: Cell<Option<Damage>> = const { Cell::new(None) };
    }

    /// Arms the hook for the next run 0 written on this thread.
    pub(super) fn damage_first_run(d: Damage) {
        DAMAGE.with(|c| c.set(Some(d)));
    }

    pub(super) fn damage(run: u64, file: &mut File) {
        if run != 0 {
            return;
        }
        let Some(d) = DAMAGE.with(Cell::take) else {
            return;
        };
        match d {
            Damage::Flip(at) => {
                let mut b = [0u8];
                file.seek(SeekFrom::Start(at)).unwrap();
                file.read_exact(&mut b).unwrap();
                file.seek(SeekFrom::Start(at)).unwrap();
                file.write_all(&[!b[0]]).unwrap();
            }
            Damage::Cut(n) => {
                let len = file.metadata().unwrap().len();
                file.set_len(len - n).unwrap();
            }
            Damage::KeepOnly(n) => file.set_len(n).unwrap(),
        }
        file.seek(SeekFrom::Start(0)).unwrap();
    }
}

#[cfg(test)]
mod tests;
