//! [`AuditLog`]: the public handle that ties the log, the indexes, the
//! customer tree and the query engine together. It holds no storage logic
//! of its own; every interface (CLI, HTTP) goes through it.

use std::collections::HashSet;
use std::ops::{Bound, RangeBounds, RangeInclusive};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};

use serde::Serialize;

use crate::config::{Durability, Options};
use crate::customers::{CustomerTree, Customers};
use crate::error::{Error, Result};
use crate::export::{ExportOptions, Format, RecordWriter};
use crate::index::Index;
use crate::log::segment::ReadBuf;
use crate::log::verify::{verify_dir, verify_snapshot_in, VerifyReport};
use crate::log::{Log, LogObserver, Snapshot, Tier};
use crate::query::exec::{self, Ctx};
use crate::query::{Field, Query, QueryIter, Scope};
use crate::record::{Appendable, NewRecord, Record};
use crate::report::{NewReport, ReportSource, Reports, ReportsConfig};
use crate::tamper::{Checkpoint, CheckpointReport, SigningKey, VerifyingKey};
use crate::time::Timestamp;

/// Name of the directory of asynchronous reports.
pub const REPORTS_DIR: &str = "reports";

/// Feeds report workers from the engine without keeping it alive.
struct LogSource(Weak<Inner>);

impl LogSource {
    fn log(&self) -> Result<AuditLog> {
        self.0
            .upgrade()
            .map(|inner| AuditLog { inner })
            .ok_or(Error::Closed)
    }
}

impl ReportSource for LogSource {
    fn rows(&self, q: &Query) -> Result<Box<dyn Iterator<Item = Result<Record>> + Send + '_>> {
        Ok(Box::new(self.log()?.query(q)?))
    }

    fn count(&self, q: &Query) -> Result<u64> {
        self.log()?.count(q)
    }
}

/// Name of the directory for sort spill files.
pub const TMP_DIR: &str = "tmp";

/// An open audit log. Cheap to clone; all clones share one engine. Safe to
/// use from many threads at once.
///
/// ```
/// use auditlog::{AuditLog, NewRecord, Query};
/// let dir = tempfile::tempdir().unwrap();
/// let log = AuditLog::open(dir.path()).unwrap();
/// let id = log.append(NewRecord::new(42).person("admin_7").action("CreateUser")).unwrap();
/// let rows: Vec<_> = log.query(&Query::new()).unwrap().collect::<Result<_, _>>().unwrap();
/// assert_eq!(rows[0].id, id);
/// assert_eq!(rows[0].person, "admin_7");
/// ```
#[derive(Clone)]
pub struct AuditLog {
    inner: Arc<Inner>,
}

struct Inner {
    // Field order is drop order: reports stop first, the log (and its
    // lock) goes last.
    reports: OnceLock<Reports>,
    customers: Customers,
    index: Arc<Index>,
    log: Arc<Log>,
    opts: Options,
    spill_dir: PathBuf,
    /// The log key, once loaded or generated (one generation even when
    /// the first checkpoints race).
    key: std::sync::Mutex<Option<SigningKey>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Before the fields go: the flusher thread holds the log alive.
        self.log.stop_flusher();
    }
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dir", &self.inner.opts.dir)
            .finish_non_exhaustive()
    }
}

/// One segment, as [`AuditLog::segments`] lists it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Id of its first record (its file name).
    pub first_id: u64,
    /// Id of its last visible record (`first_id - 1` when empty).
    pub last_id: u64,
    /// `live` or `archived`.
    pub tier: &'static str,
    /// Whether it is sealed (immutable).
    pub sealed: bool,
    /// Bytes of the file that hold data.
    pub bytes: u64,
    /// The file.
    pub path: PathBuf,
}

/// What [`AuditLog::archive_with`] does besides moving segments to the
/// archive tier. Defaults: no lake.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// Also write the archive tier as a Hive-partitioned Parquet dataset
    /// into this directory (`DIR/date=YYYY-MM-DD/seg-<id>.parquet`; feature
    /// `parquet`). Defaults to none.
    pub lake: Option<PathBuf>,
    /// After writing the lake, remove the archived segments older than the
    /// cutoff from the engine (through retention: the records leave the
    /// engine for good and live on only in the lake). Needs `lake`.
    /// Defaults to false.
    pub lake_only: bool,
}

impl ArchiveOptions {
    /// The defaults: archive only, no lake.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also writes the archive tier into the Parquet lake at `dir`.
    #[must_use]
    pub fn lake(mut self, dir: impl Into<PathBuf>) -> Self {
        self.lake = Some(dir.into());
        self
    }

    /// Removes the segments written to the lake from the engine afterwards.
    #[must_use]
    pub fn lake_only(mut self, yes: bool) -> Self {
        self.lake_only = yes;
        self
    }
}

/// What [`AuditLog::archive_with`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ArchiveReport {
    /// First ids of the segments moved to the archive tier now.
    pub archived: Vec<u64>,
    /// First ids of the segments written to the lake now.
    pub lake_written: Vec<u64>,
    /// First ids of archived segments already complete in the lake.
    pub lake_skipped: Vec<u64>,
    /// The lake files written now.
    pub lake_files: Vec<PathBuf>,
    /// Records written to the lake now.
    pub lake_rows: u64,
    /// First ids of the segments removed from the engine (`lake_only`).
    pub removed: Vec<u64>,
}

/// Facts about an open log.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Stats {
    /// Records kept (both tiers).
    pub records: u64,
    /// First id kept (when any).
    pub first_id: Option<u64>,
    /// Last id (when any).
    pub last_id: Option<u64>,
    /// Segments in the live tier (including the active one).
    pub live_segments: u64,
    /// Segments in the archive tier.
    pub archived_segments: u64,
    /// Records in the archive tier.
    pub archived_records: u64,
    /// Bytes of segment files in the live tier.
    pub live_bytes: u64,
    /// Bytes of segment files in the archive tier.
    pub archived_bytes: u64,
    /// Bytes of the index (sled) on disk.
    pub index_bytes: u64,
    /// Sealed segments indexed in sled.
    pub indexed_segments: u64,
    /// Records in the active segment (indexed in memory).
    pub active_records: u64,
    /// Oldest record time (RFC 3339), when any.
    pub oldest: Option<String>,
    /// Newest record time (RFC 3339), when any.
    pub newest: Option<String>,
    /// The durability mode.
    pub durability: String,
}

impl AuditLog {
    /// Opens (creating if needed) the log in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<AuditLog> {
        Options::new(dir).open()
    }

    pub(crate) fn open_with(opts: Options) -> Result<AuditLog> {
        let lock = crate::log::lock_dir(&opts)?;
        let index = Arc::new(Index::open(&opts.dir)?);
        let log = Log::open(opts.clone(), index.clone() as Arc<dyn LogObserver>, lock)?;
        index.reconcile(&log.snapshot())?;
        let customers = Customers::open(opts.storage.clone(), &opts.dir)?;
        let spill_dir = opts.dir.join(TMP_DIR);
        std::fs::create_dir_all(&spill_dir)
            .map_err(|e| Error::io("create directory", &spill_dir, e))?;
        let inner = Arc::new(Inner {
            reports: OnceLock::new(),
            customers,
            index,
            log,
            opts,
            spill_dir,
            key: std::sync::Mutex::new(None),
        });
        let source: Arc<dyn ReportSource> = Arc::new(LogSource(Arc::downgrade(&inner)));
        let cfg = ReportsConfig::new()
            .workers(inner.opts.report_workers)
            .retention_days(inner.opts.report_retention_days);
        let reports = Reports::open(inner.opts.dir.join(REPORTS_DIR), source, cfg)?;
        let _ = inner.reports.set(reports);
        Ok(AuditLog { inner })
    }

    /// The asynchronous reports of this log (SPEC section 4).
    pub fn reports(&self) -> &Reports {
        match self.inner.reports.get() {
            Some(r) => r,
            // open_with sets it before any handle exists.
            None => unreachable!("reports are opened with the log"),
        }
    }

    /// Creates an asynchronous report of `req` as of the records visible
    /// now; returns its id at once while a worker writes the file.
    pub fn create_report(&self, req: NewReport) -> Result<u64> {
        req.query.validate()?;
        self.reports().create(req, self.last_id())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.opts.dir
    }

    /// Warnings from opening: torn tails truncated, index rebuilt.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = self.inner.log.warnings().to_vec();
        w.extend(self.inner.index.warnings());
        w
    }

    /// Appends one record; returns its id once durable under the mode.
    pub fn append(&self, record: NewRecord) -> Result<u64> {
        Ok(*self.inner.log.append_batch(vec![record])?.start())
    }

    /// Appends records as one unit (all or none); returns their ids.
    ///
    /// Takes [`NewRecord`]s, references to them (`Vec<&NewRecord>`: the
    /// records stay the caller's, e.g. to retry after an error), or
    /// [`crate::record::NewRecordRef`]s parsed from NDJSON without copying
    /// their text (the fast path for bulk ingest).
    pub fn append_batch<R: Appendable>(&self, records: Vec<R>) -> Result<RangeInclusive<u64>> {
        self.inner.log.append_batch(records)
    }

    /// Makes everything appended so far durable, whatever the mode.
    pub fn sync(&self) -> Result<()> {
        self.inner.log.sync()
    }

    /// The last visible record id (0 when the log is empty).
    pub fn last_id(&self) -> u64 {
        self.inner.log.snapshot().visible.last_id
    }

    fn snapshot(&self) -> Snapshot {
        self.inner.log.snapshot()
    }

    fn read_id(&self, snap: &Snapshot, id: u64, scratch: &mut ReadBuf) -> Result<Option<Record>> {
        let Some(seg) = snap.segment_of(id) else {
            return Ok(None);
        };
        let ord = (id - seg.first_id) as usize;
        let off = if seg.footer.is_some() {
            self.inner.index.segment_index(seg)?.offset(ord)
        } else {
            let active = self
                .inner
                .index
                .with_active(|a| (a.first_id == seg.first_id).then(|| a.offsets.get(ord).copied()));
            match active {
                Some(off) => off,
                // Sealed since the snapshot was taken.
                None => self
                    .inner
                    .index
                    .sealed_since(seg)?
                    .and_then(|i| i.offset(ord)),
            }
        };
        let Some(off) = off else {
            return Err(Error::Index {
                path: self.inner.index.dir().to_path_buf(),
                reason: format!("no offset for record {id}; run reindex"),
            });
        };
        let rec = seg.with_record(u64::from(off), snap.limit_of(seg), scratch, |r| {
            r.to_record()
        })??;
        if rec.id != id {
            return Err(crate::log::segment::corrupt(
                &seg.path,
                u64::from(off),
                Some(id),
                format!(
                    "found record {} where {id} was expected; run reindex",
                    rec.id
                ),
            ));
        }
        Ok(Some(rec))
    }

    /// The record with this id, in either tier.
    pub fn get(&self, id: u64) -> Result<Option<Record>> {
        self.read_id(&self.snapshot(), id, &mut ReadBuf::new())
    }

    /// Records by id range, in either direction (double-ended), over both
    /// tiers, as of now.
    pub fn range(&self, ids: impl RangeBounds<u64>) -> RecordRange {
        let snap = self.snapshot();
        let lo = match ids.start_bound() {
            Bound::Included(&a) => a,
            Bound::Excluded(&a) => a.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(snap.horizon);
        let hi = match ids.end_bound() {
            Bound::Included(&b) => b,
            Bound::Excluded(&b) => b.saturating_sub(1),
            Bound::Unbounded => u64::MAX,
        }
        .min(snap.visible.last_id);
        RecordRange {
            log: self.clone(),
            snap,
            front: lo,
            back: hi,
            scratch: ReadBuf::new(),
            done: lo > hi,
        }
    }

    fn ctx(&self, q: &Query) -> Result<Ctx> {
        q.validate()?;
        let tree = self.inner.customers.tree();
        let scope: Option<HashSet<u64>> = tree.resolve(q.scope.unwrap_or(Scope::System));
        let mut scope_keys: Vec<String> = scope.iter().flatten().map(u64::to_string).collect();
        scope_keys.sort_unstable();
        Ok(Ctx {
            snap: self.snapshot(),
            index: self.inner.index.clone(),
            scope,
            scope_keys,
            q: q.clone(),
            spill_dir: self.inner.spill_dir.clone(),
            budget: self.inner.opts.sort_memory_budget,
        })
    }

    /// Runs a query; rows stream in the query's order.
    pub fn query(&self, q: &Query) -> Result<QueryIter> {
        exec::run(self.ctx(q)?)
    }

    /// Writes every row of a query to `out` (CSV, NDJSON or Parquet, as `opts`
    /// says) and returns the number of rows. Rows sorted by time or id are
    /// written straight from the log without copying them; `progress` is
    /// called with the rows written so far every
    /// [`ExportOptions::progress_every`] rows and at the end.
    pub fn export<W: std::io::Write>(
        &self,
        q: &Query,
        out: W,
        opts: &ExportOptions,
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        if opts.format == Format::Ndjson || !matches!(q.sort.field, Field::Time | Field::Id) {
            return crate::export::export(self.query(q)?, out, opts, progress);
        }
        let mut w = RecordWriter::new(out, opts)?;
        let every = opts.progress_every;
        exec::visit(self.ctx(q)?, &mut |sr| {
            w.write_view(sr)?;
            if every != 0 && w.rows() % every == 0 {
                progress(w.rows());
            }
            Ok(())
        })?;
        let n = w.rows();
        w.finish()?;
        if n == 0 || every == 0 || n % every != 0 {
            progress(n);
        }
        Ok(n)
    }

    /// Counts the rows a query matches (ignoring limit, offset and cursor).
    pub fn count(&self, q: &Query) -> Result<u64> {
        exec::count(self.ctx(q)?)
    }

    /// Sets (or clears) a customer's parent, durably.
    pub fn set_parent(&self, customer: u64, parent: Option<u64>) -> Result<()> {
        self.inner.customers.set_many(&[(customer, parent)])
    }

    /// Sets many parents as one durable change.
    pub fn set_parents(&self, changes: &[(u64, Option<u64>)]) -> Result<()> {
        self.inner.customers.set_many(changes)
    }

    /// The current customer tree.
    pub fn customer_tree(&self) -> Arc<CustomerTree> {
        self.inner.customers.tree()
    }

    /// Moves sealed segments whose newest record is older than `cutoff` to
    /// the archive tier. Returns the first ids of the segments moved.
    pub fn archive(&self, cutoff: Timestamp) -> Result<Vec<u64>> {
        self.inner.log.archive(cutoff)
    }

    /// [`AuditLog::archive`], and with [`ArchiveOptions::lake`] also
    /// writes the archive tier into a Hive-partitioned Parquet dataset (see
    /// [`crate::lake`]; needs the `parquet` feature).
    ///
    /// Every sealed segment in the archive tier after the move is written
    /// to the lake unless it is already complete there (reruns are cheap
    /// and idempotent). With [`ArchiveOptions::lake_only`], the archived
    /// segments whose newest record is older than `cutoff` are then removed
    /// from the engine through retention: like [`AuditLog::retain`] it
    /// removes a prefix of the log (oldest first), moves the horizon past
    /// it, and the records are gone from every query, `get` and `verify`
    /// of the engine; the lake holds them from then on. Only segments
    /// written to (or found complete in) the lake are removed.
    ///
    /// ```
    /// use auditlog::{ArchiveOptions, AuditLog, NewRecord, Timestamp};
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = AuditLog::open(dir.path()).unwrap();
    /// log.append(NewRecord::new(42).action("add")).unwrap();
    /// let r = log.archive_with(Timestamp::now(), &ArchiveOptions::new()).unwrap();
    /// assert!(r.archived.is_empty()); // the only segment is still active
    /// ```
    pub fn archive_with(&self, cutoff: Timestamp, opts: &ArchiveOptions) -> Result<ArchiveReport> {
        let mut rep = ArchiveReport::default();
        #[cfg(not(feature = "parquet"))]
        if opts.lake.is_some() {
            return Err(Error::invalid(
                "lake",
                "writing a Parquet lake needs auditlog built with the `parquet` feature",
            ));
        }
        if opts.lake_only && opts.lake.is_none() {
            return Err(Error::invalid(
                "lake_only",
                "removing segments after writing them to the lake needs a lake directory",
            ));
        }
        rep.archived = self.inner.log.archive(cutoff)?;
        #[cfg(feature = "parquet")]
        if let Some(lake) = &opts.lake {
            let snap = self.snapshot();
            let mut in_lake: HashSet<u64> = HashSet::new();
            for s in snap.segments.iter() {
                if s.tier != Tier::Archived || s.footer.is_none() {
                    continue;
                }
                let done = crate::lake::write_segment(lake, s)?;
                if done.skipped {
                    rep.lake_skipped.push(s.first_id);
                } else {
                    rep.lake_written.push(s.first_id);
                    rep.lake_rows += done.rows;
                    rep.lake_files.extend(done.files);
                }
                in_lake.insert(s.first_id);
            }
            if opts.lake_only {
                // The longest prefix of the log that is old enough and
                // whose every segment is empty or safely in the lake.
                let mut through = None;
                for s in snap.segments.iter() {
                    let Some(f) = s.footer else { break };
                    let safe = f.count == 0 || in_lake.contains(&s.first_id);
                    if !safe || f.max_time >= cutoff.as_micros() {
                        break;
                    }
                    through = Some(s.first_id);
                }
                if let Some(through) = through {
                    rep.removed = self.retain_through(cutoff, through)?;
                }
            }
        }
        Ok(rep)
    }

    /// Deletes whole segments (oldest first) whose newest record is older
    /// than `cutoff`. Returns the first ids of the segments deleted.
    ///
    /// Before anything is deleted, a retention horizon signed with the log
    /// key is written to `horizon.json` (first id kept, the chain head
    /// before it, last id removed), so that the rest of the log still
    /// verifies.
    pub fn retain(&self, cutoff: Timestamp) -> Result<Vec<u64>> {
        self.retain_through(cutoff, u64::MAX)
    }

    /// [`AuditLog::retain`], deleting no segment whose first id is above
    /// `through`; the signed horizon is written the same way.
    fn retain_through(&self, cutoff: Timestamp, through: u64) -> Result<Vec<u64>> {
        let key = self.log_key()?;
        let storage = self.inner.opts.storage.clone();
        let dir = self.inner.opts.dir.clone();
        self.inner
            .log
            .retain_through(cutoff, through, &|first, head, last_removed| {
                let h = crate::tamper::Horizon::sign(&key, first, &head, last_removed);
                crate::tamper::write_horizon(&*storage, &dir, &h)
            })
    }

    /// Walks every frame of every segment, recomputing the hash chain;
    /// reports the first damage (see `docs/format.md`, "Verification").
    pub fn verify(&self) -> Result<VerifyReport> {
        let o = &self.inner.opts;
        // A supplied key signed the horizon; the directory holds no
        // public key for it.
        let supplied = o.checkpoint_key.as_ref().map(SigningKey::verifying_key);
        Ok(verify_snapshot_in(
            &self.snapshot(),
            &*o.storage,
            &o.dir,
            supplied.as_ref(),
            None,
        )?
        .0)
    }

    /// The key that signs checkpoints and retention horizons: the one
    /// given in [`Options::checkpoint_key`], else the data directory's
    /// `checkpoint.key` (generated on first use).
    pub fn log_key(&self) -> Result<SigningKey> {
        let o = &self.inner.opts;
        if let Some(k) = &o.checkpoint_key {
            return Ok(k.clone());
        }
        let mut cached = self.inner.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cached.as_ref() {
            return Ok(k.clone());
        }
        let k = crate::tamper::load_or_create_key(&*o.storage, &o.dir)?;
        *cached = Some(k.clone());
        Ok(k)
    }

    /// The public half of [`AuditLog::log_key`].
    pub fn public_key(&self) -> Result<VerifyingKey> {
        Ok(self.log_key()?.verifying_key())
    }

    /// Makes everything appended so far durable and returns a signed
    /// checkpoint of it: the last id, the record count, the bytes of the
    /// log, the chain head after the last id and the time. Store it away
    /// from this machine; [`AuditLog::verify_checkpoint`] later proves the
    /// log still extends it.
    ///
    /// ```
    /// use auditlog::{AuditLog, NewRecord};
    /// let dir = tempfile::tempdir().unwrap();
    /// let log = AuditLog::open(dir.path())?;
    /// log.append(NewRecord::new(1).action("login"))?;
    /// let cp = log.checkpoint()?;
    /// assert_eq!(cp.last_id, 1);
    /// let key = log.public_key()?;
    /// log.append(NewRecord::new(1).action("logout"))?;
    /// assert!(log.verify_checkpoint(&cp, &key)?.is_ok());
    /// # Ok::<(), auditlog::Error>(())
    /// ```
    pub fn checkpoint(&self) -> Result<Checkpoint> {
        let key = self.log_key()?;
        let (last_id, head) = self.inner.log.chain_head();
        self.sync()?;
        let snap = self.snapshot();
        let log_bytes = snap
            .segments
            .iter()
            .map(|s| match s.footer {
                Some(f) => f.body_len + crate::format::layout::FOOTER_LEN as u64,
                None => snap.visible.active_len,
            })
            .sum();
        let records = (last_id + 1).saturating_sub(snap.horizon);
        Ok(Checkpoint::sign(
            &key,
            last_id,
            records,
            log_bytes,
            &head,
            Timestamp::now(),
        ))
    }

    /// Proves that the log extends `cp`: its signature is valid under the
    /// `trusted` public key (which must be kept apart from the data
    /// directory to mean anything), the log still holds `cp.last_id`, and
    /// the chain recomputed up to it equals the signed head. The whole
    /// log is verified on the way; damage anywhere is a problem too.
    pub fn verify_checkpoint(
        &self,
        cp: &Checkpoint,
        trusted: &VerifyingKey,
    ) -> Result<CheckpointReport> {
        let o = &self.inner.opts;
        let snap = self.snapshot();
        let (rep, at) =
            verify_snapshot_in(&snap, &*o.storage, &o.dir, Some(trusted), Some(cp.last_id))?;
        Ok(crate::log::verify::judge_checkpoint(
            &rep,
            at,
            snap.horizon,
            cp,
            trusted,
        ))
    }

    /// [`AuditLog::verify_checkpoint`] on a data directory without
    /// opening it. Returns the verification of the log as well.
    pub fn verify_checkpoint_dir(
        dir: impl AsRef<Path>,
        cp: &Checkpoint,
        trusted: &VerifyingKey,
    ) -> Result<(VerifyReport, CheckpointReport)> {
        crate::log::verify::verify_checkpoint_dir(
            &crate::storage::fs::FsStorage,
            dir.as_ref(),
            cp,
            trusted,
        )
    }

    /// Verifies a data directory without opening it (works on a log that
    /// refuses to open, and on one in use by another process).
    pub fn verify_dir(dir: impl AsRef<Path>) -> Result<VerifyReport> {
        verify_dir(&crate::storage::fs::FsStorage, dir.as_ref())
    }

    /// Throws the index away and rebuilds it from the log.
    pub fn reindex(&self) -> Result<()> {
        self.inner.index.reindex(&self.snapshot())
    }

    /// Facts about the log.
    pub fn stats(&self) -> Result<Stats> {
        let snap = self.snapshot();
        let mut st = Stats {
            records: 0,
            first_id: None,
            last_id: None,
            live_segments: 0,
            archived_segments: 0,
            archived_records: 0,
            live_bytes: 0,
            archived_bytes: 0,
            index_bytes: self.inner.index.disk_bytes(),
            indexed_segments: self.inner.index.cataloged() as u64,
            active_records: 0,
            oldest: None,
            newest: None,
            durability: match self.inner.opts.durability {
                Durability::Always => "always".into(),
                Durability::Never => "never".into(),
                Durability::Interval(d) => format!("interval:{}ms", d.as_millis()),
            },
        };
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for s in snap.segments.iter() {
            let bytes = match s.footer {
                Some(f) => f.body_len + crate::format::layout::FOOTER_LEN as u64,
                None => snap.visible.active_len,
            };
            let records = match s.footer {
                Some(f) => {
                    if f.count > 0 {
                        lo = lo.min(f.min_time);
                        hi = hi.max(f.max_time);
                    }
                    f.count
                }
                None => {
                    let n = snap.last_id_of(s) + 1 - s.first_id;
                    self.inner.index.with_active(|a| {
                        for t in a.times.iter().take(n as usize) {
                            lo = lo.min(*t);
                            hi = hi.max(*t);
                        }
                    });
                    st.active_records = n;
                    n
                }
            };
            st.records += records;
            match s.tier {
                Tier::Live => {
                    st.live_segments += 1;
                    st.live_bytes += bytes;
                }
                Tier::Archived => {
                    st.archived_segments += 1;
                    st.archived_bytes += bytes;
                    st.archived_records += records;
                }
            }
        }
        if st.records > 0 {
            st.first_id = Some(snap.horizon);
            st.last_id = Some(snap.visible.last_id);
            st.oldest = Timestamp::from_micros(lo).ok().map(|t| t.to_rfc3339());
            st.newest = Timestamp::from_micros(hi).ok().map(|t| t.to_rfc3339());
        }
        Ok(st)
    }

    /// Every segment, in id order (both tiers; the last is the active one).
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let snap = self.snapshot();
        snap.segments
            .iter()
            .map(|s| SegmentInfo {
                first_id: s.first_id,
                last_id: snap.last_id_of(s),
                tier: match s.tier {
                    Tier::Live => "live",
                    Tier::Archived => "archived",
                },
                sealed: s.footer.is_some(),
                bytes: s.footer.map_or(snap.visible.active_len, |f| {
                    f.body_len + crate::format::layout::FOOTER_LEN as u64
                }),
                path: s.path.clone(),
            })
            .collect()
    }

    /// Asks sled to write its buffers now (tests copy the index directory).
    #[doc(hidden)]
    pub fn index_flush_for_tests(&self) {
        self.inner.index.flush();
    }

    /// The options the log was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }
}

/// Records by id, in either direction. Yields `Result<Record>`.
pub struct RecordRange {
    log: AuditLog,
    snap: Snapshot,
    front: u64,
    back: u64,
    scratch: ReadBuf,
    done: bool,
}

impl RecordRange {
    fn read(&mut self, id: u64) -> Option<Result<Record>> {
        match self.log.read_id(&self.snap, id, &mut self.scratch) {
            Ok(Some(r)) => Some(Ok(r)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for RecordRange {
    type Item = Result<Record>;
    fn next(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        let id = self.front;
        if id >= self.back {
            self.done = true;
        } else {
            self.front += 1;
        }
        self.read(id)
    }
}

impl DoubleEndedIterator for RecordRange {
    fn next_back(&mut self) -> Option<Result<Record>> {
        if self.done {
            return None;
        }
        let id = self.back;
        if id <= self.front {
            self.done = true;
        } else {
            self.back -= 1;
        }
        self.read(id)
    }
}
