//! The side-by-side benchmark of SPEC section 6: our engine and the SQLite
//! baseline, measured in one run on the same generated records.
//!
//! Owns what `auditlog bench` measures and how: the phases, their order,
//! what is timed and what is not, the correctness cross-checks between the
//! two engines, and the report ([`BenchReport`]: one table, and JSON). It
//! drives the engine only through the public API ([`AuditLog`],
//! [`crate::export::export`]) and SQLite only through [`SqliteBaseline`];
//! the records and query parameters come from [`crate::workload`]. It never
//! deletes a file it did not create: [`run`] refuses a directory that
//! already holds any of the paths it would create.
//!
//! # What is measured (in this order)
//!
//! 1. **Ingest, ours**, `Durability::Never`, batches of [`BATCH`] (10,000)
//!    records through [`AuditLog::append_batch`], with every index. Records
//!    are generated in chunks of [`BenchConfig::chunk`] records *before* the
//!    clock starts for that chunk (generation is never timed); only the
//!    `append_batch` calls are timed. Then the same with
//!    `Durability::Always` into a second directory (one group-committed
//!    fsync per batch), which is deleted afterwards.
//! 2. **Ingest, SQLite**: the same records (same ids) through
//!    [`SqliteBaseline::insert_batch`], 10,000-row transactions, only the
//!    inserts timed.
//! 3. **Disk bytes per record**: ours after a clean close (every file under
//!    the data directory: segments, the sled `index` directory,
//!    `customers.json`, the small state files); SQLite after
//!    `PRAGMA wal_checkpoint(TRUNCATE)` (database + `-wal` + `-shm`).
//! 4. **Reopen after a clean close** (ours), the median of `repeats` opens.
//! 5. **The six queries** of [`QuerySet`]. For each: one untimed warm-up
//!    run of both engines whose rows are compared in full (same count, same
//!    ids in the same order, same contents), then `repeats` timed runs,
//!    alternating ours and SQLite, each collecting every row into a
//!    `Vec<Record>`; the median is reported and every run's row count must
//!    equal the other engine's.
//! 6. **Full CSV export** of every record, native columns with a header,
//!    the default [`ExportOptions`] (formula neutralisation on; the workload
//!    has no cell it would change): ours through [`AuditLog::export`] (the
//!    engine's export, rows written straight from the log) and, as a second
//!    figure, through the generic [`crate::export::export`] over
//!    `AuditLog::query(&Query::new())` (one `Record` per row); SQLite
//!    through [`SqliteBaseline::export_csv`].
//!    Both write into the same kind of sink: by default a writer that only
//!    counts and CRC32s the bytes (so the two outputs are also compared byte
//!    for byte), or with [`BenchConfig::export_to_file`] a 256 KiB
//!    `BufWriter<File>`. Median of `repeats`, alternating.
//! 7. **Peak memory while streaming a full listing**: the peak resident set
//!    (`VmHWM`, reset before each engine's phase with
//!    [`mem::reset_peak`]) while every record is read one at a time (ours:
//!    `AuditLog::query(&Query::new())`; SQLite: [`SqliteBaseline::scan_all`]);
//!    also the peak of the anonymous part (`RssAnon`, sampled every 8,192
//!    rows), which excludes memory-mapped segment pages.
//! 8. **Recovery** (ours), each the median of `repeats` timed
//!    [`Options::open`] calls (the defaults, so sealed segments are
//!    CRC-checked at open):
//!    - *index deleted*: the main data directory with its sled `index`
//!      directory deleted before each open, so every sealed segment is
//!      re-indexed from the log;
//!    - *full active segment replayed*: a separate data directory filled
//!      until its active (unsealed) segment holds at least
//!      [`BenchConfig::segment_size`] bytes, then closed: what a crash
//!      before the seal leaves behind (the active segment's index lives in
//!      memory only, so every open replays it from the log);
//!    - *one full sealed segment unindexed*: the same directory after one
//!      more append sealed that segment, with the sled `index` directory
//!      deleted before each open: what a crash between the seal and the
//!      index write leaves behind (exactly one full segment to index).
//!
//!    SQLite's figure for comparison: a copy of its database and `-wal`
//!    (no `-shm`) taken right after its ingest, before any checkpoint,
//!    opened and read once (`SELECT max(id)`), which replays the WAL.
//!    After each recovery the record count (and, with the index rebuilt,
//!    the 1% time slice) is checked against what was ingested.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::mem;
use super::sqlite::SqliteBaseline;
use crate::config::{Durability, Options, DEFAULT_SEGMENT_SIZE};
use crate::error::{Error, Result};
use crate::export::{export, ExportOptions};
use crate::query::{Field, MatchMode, Predicate, Query, Scope};
use crate::record::{NewRecord, Record};
use crate::time::Timestamp;
use crate::workload::{QuerySet, Workload, DEFAULT_SEED};
use crate::AuditLog;

/// Records per append batch and per SQLite transaction (SPEC 6).
pub const BATCH: usize = 10_000;

/// Sub-directory of [`BenchConfig::dir`] holding our engine's data.
pub const OURS_DIR: &str = "ours";
/// Sub-directory for the `Durability::Always` ingest (deleted after it).
pub const OURS_ALWAYS_DIR: &str = "ours-always";
/// Sub-directory for the full-segment recovery measurements.
pub const RECOVERY_DIR: &str = "recovery";
/// Sub-directory holding the SQLite baseline.
pub const SQLITE_DIR: &str = "sqlite";
/// Sub-directory holding the copy of the SQLite files taken mid-run.
pub const SQLITE_CRASH_DIR: &str = "sqlite-crash";
/// Sub-directory for exported files ([`BenchConfig::export_to_file`]).
pub const EXPORT_DIR: &str = "export";

const SQLITE_FILE: &str = "baseline.sqlite";

/// What [`run`] measures, and where. Build with [`BenchConfig::new`], which
/// states every default.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Records to generate and load into each engine. Default 1,000,000.
    pub records: u64,
    /// Working directory: created if missing; must not already hold any of
    /// the sub-directories [`run`] creates. Everything measured is left in
    /// it (except the `Durability::Always` copy); delete it afterwards.
    pub dir: PathBuf,
    /// Measure SQLite side by side. Default true.
    pub compare_sqlite: bool,
    /// Timed runs per query, export and open; the median is reported.
    /// Default 5.
    pub repeats: usize,
    /// The workload's seed. Default [`DEFAULT_SEED`].
    pub seed: u64,
    /// Segment size bound of our engine, also the size of the segment the
    /// recovery phase leaves unindexed. Default 64 MiB (the engine's).
    pub segment_size: u64,
    /// Records generated ahead of each timed stretch of ingest. Default
    /// 100,000.
    pub chunk: usize,
    /// Also measure ingest with `Durability::Always`. Default true.
    pub ingest_always: bool,
    /// Measure recovery. Default true.
    pub recovery: bool,
    /// Export into files (a 256 KiB `BufWriter<File>` each) rather than
    /// into a counting, checksumming sink. Default false.
    pub export_to_file: bool,
}

impl BenchConfig {
    /// The defaults: 1,000,000 records, SQLite compared, 5 repeats, the
    /// default seed, 64 MiB segments, 100,000-record generation chunks,
    /// `Always` ingest and recovery measured, export into a counting sink.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        BenchConfig {
            records: 1_000_000,
            dir: dir.into(),
            compare_sqlite: true,
            repeats: 5,
            seed: DEFAULT_SEED,
            segment_size: DEFAULT_SEGMENT_SIZE,
            chunk: 100_000,
            ingest_always: true,
            recovery: true,
            export_to_file: false,
        }
    }
}

/// The six queries of SPEC section 6 ([`QuerySet`]), as each engine runs
/// them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryKind {
    /// 1% time slice.
    TimeSlice,
    /// One person (exact) in a 10-day window.
    PersonWindow,
    /// One customer (scope `own`) over the whole range.
    CustomerAll,
    /// `contains` on `name` (case-sensitive) within one day.
    NameContains,
    /// A reseller's subtree within one day: `Scope::Descendants` for us,
    /// an `IN (SELECT id FROM customers WHERE parent = ?)` for SQLite.
    SubtreeDay,
    /// Sort by `name` (ties by id), ascending, of 100,000 rows.
    SortByName,
}

impl QueryKind {
    /// Every query, in the SPEC's order.
    pub const ALL: [QueryKind; 6] = [
        QueryKind::TimeSlice,
        QueryKind::PersonWindow,
        QueryKind::CustomerAll,
        QueryKind::NameContains,
        QueryKind::SubtreeDay,
        QueryKind::SortByName,
    ];

    /// A short machine name (`time_slice`, ...).
    pub fn key(self) -> &'static str {
        match self {
            QueryKind::TimeSlice => "time_slice",
            QueryKind::PersonWindow => "person_window",
            QueryKind::CustomerAll => "customer_all",
            QueryKind::NameContains => "name_contains",
            QueryKind::SubtreeDay => "subtree_day",
            QueryKind::SortByName => "sort_by_name",
        }
    }

    /// A label for tables.
    pub fn label(self) -> &'static str {
        match self {
            QueryKind::TimeSlice => "1% time slice",
            QueryKind::PersonWindow => "one person, 10 days",
            QueryKind::CustomerAll => "one customer, all time",
            QueryKind::NameContains => "name contains, one day",
            QueryKind::SubtreeDay => "customer subtree, one day",
            QueryKind::SortByName => "sort by name, 100k rows",
        }
    }

    /// Our query for these parameters.
    pub fn query(self, qs: &QuerySet) -> Query {
        let range =
            |w: crate::workload::Window| Query::new().with_range(Some(w.start), Some(w.end));
        match self {
            QueryKind::TimeSlice => range(qs.time_slice.window),
            QueryKind::PersonWindow => range(qs.person_window.window).with_predicate(
                Predicate::new(Field::Person, MatchMode::Exact, &qs.person_window.person),
            ),
            QueryKind::CustomerAll => Query::new().with_scope(Scope::Own(qs.customer_all.customer)),
            QueryKind::NameContains => range(qs.name_contains.window).with_predicate(
                Predicate::new(Field::Name, MatchMode::Contains, &qs.name_contains.needle),
            ),
            QueryKind::SubtreeDay => {
                range(qs.subtree_day.window).with_scope(Scope::Descendants(qs.subtree_day.reseller))
            }
            QueryKind::SortByName => range(qs.sort_by_name.window)
                .with_sort(Field::Name, false)
                .with_limit(qs.sort_by_name.limit),
        }
    }

    /// Runs it on our engine, reading every row into a [`Record`].
    pub fn run_ours(self, log: &AuditLog, qs: &QuerySet) -> Result<Vec<Record>> {
        log.query(&self.query(qs))?.collect()
    }

    /// Runs it on SQLite, reading every row into a [`Record`].
    pub fn run_sqlite(self, db: &SqliteBaseline, qs: &QuerySet) -> Result<Vec<Record>> {
        match self {
            QueryKind::TimeSlice => {
                let w = qs.time_slice.window;
                db.time_slice(w.start, w.end)
            }
            QueryKind::PersonWindow => {
                let p = &qs.person_window;
                db.person_window(&p.person, p.window.start, p.window.end)
            }
            QueryKind::CustomerAll => db.customer_all(qs.customer_all.customer),
            QueryKind::NameContains => {
                let n = &qs.name_contains;
                db.name_contains_in(&n.needle, n.window.start, n.window.end)
            }
            QueryKind::SubtreeDay => {
                let s = &qs.subtree_day;
                db.subtree_in(s.reseller, s.window.start, s.window.end)
            }
            QueryKind::SortByName => {
                let s = &qs.sort_by_name;
                db.sort_by_name(s.window.start, s.window.end, s.limit)
            }
        }
    }
}

/// Compares two engines' answers to one query: `None` when they agree row
/// for row (count, ids in order, contents), otherwise what differs.
pub fn compare_rows(what: &str, ours: &[Record], sqlite: &[Record]) -> Option<String> {
    if ours.len() != sqlite.len() {
        let first_diff = ours
            .iter()
            .zip(sqlite)
            .position(|(a, b)| a.id != b.id)
            .map_or(String::new(), |i| {
                format!(
                    "; first difference at row {i}: ours id {}, SQLite id {}",
                    ours[i].id, sqlite[i].id
                )
            });
        return Some(format!(
            "{what}: ours returned {} rows, SQLite {}{first_diff}",
            ours.len(),
            sqlite.len()
        ));
    }
    if let Some(i) = ours.iter().zip(sqlite).position(|(a, b)| a.id != b.id) {
        return Some(format!(
            "{what}: same row count ({}) but row {i} is id {} for ours and id {} for SQLite",
            ours.len(),
            ours[i].id,
            sqlite[i].id
        ));
    }
    if let Some(i) = ours.iter().zip(sqlite).position(|(a, b)| a != b) {
        return Some(format!(
            "{what}: row {i} (id {}) differs in content: ours {:?}, SQLite {:?}",
            ours[i].id, ours[i], sqlite[i]
        ));
    }
    None
}

/// Both engines loaded with the same records, for the criterion benches
/// (and anything else that wants to query them repeatedly).
pub struct Fixture {
    /// Our engine (`Durability::Never`, opened on `dir/ours`).
    pub log: AuditLog,
    /// The SQLite baseline (`dir/sqlite/baseline.sqlite`), when asked for.
    pub sqlite: Option<SqliteBaseline>,
    /// The workload the records came from.
    pub workload: Workload,
    /// The query parameters for this many records.
    pub queries: QuerySet,
    /// Number of records loaded into each.
    pub records: u64,
}

impl Fixture {
    /// Generates `records` records of the default workload and loads them
    /// (with the customer tree) into a new engine under `dir/ours` and,
    /// when `sqlite` is true, into SQLite under `dir/sqlite`. `dir` must not
    /// already hold either.
    pub fn build(dir: &Path, records: u64, sqlite: bool) -> Result<Fixture> {
        let w = Workload::default();
        fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
        let ours_dir = fresh(dir, OURS_DIR)?;
        let log = Options::new(&ours_dir)
            .durability(Durability::Never)
            .open()?;
        set_tree(&log, &w)?;
        ingest_ours(&log, &w, records, 100_000, &mut |_| {})?;
        let db = if sqlite {
            let sdir = fresh(dir, SQLITE_DIR)?;
            fs::create_dir_all(&sdir).map_err(|e| Error::io("create directory", &sdir, e))?;
            let mut db = SqliteBaseline::create(sdir.join(SQLITE_FILE))?;
            db.set_customers(&w.customer_parents())?;
            ingest_sqlite(&mut db, &w, records, 100_000, &mut |_| {})?;
            Some(db)
        } else {
            None
        };
        Ok(Fixture {
            log,
            sqlite: db,
            queries: w.queries(records),
            workload: w,
            records,
        })
    }
}

/// Sets the workload's customer tree on our engine.
pub fn set_tree(log: &AuditLog, w: &Workload) -> Result<()> {
    let pairs: Vec<(u64, Option<u64>)> = w
        .customer_parents()
        .into_iter()
        .map(|(c, p)| (c, Some(p)))
        .collect();
    log.set_parents(&pairs)
}

/// Appends the first `n` records of `w` in batches of [`BATCH`], generated
/// `chunk` records at a time outside the timed stretches. Returns the time
/// spent in `append_batch` only. Checks the engine assigns ids `1..=n`.
pub fn ingest_ours(
    log: &AuditLog,
    w: &Workload,
    n: u64,
    chunk: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<Duration> {
    let chunk = chunk.max(BATCH);
    let mut gen = w.records(n);
    let mut timed = Duration::ZERO;
    let mut done = 0u64;
    let mut next_id = log.last_id() + 1;
    loop {
        let mut batches: Vec<Vec<NewRecord>> = Vec::new();
        let mut left = chunk;
        while left > 0 {
            let b: Vec<NewRecord> = gen.by_ref().take(BATCH.min(left)).collect();
            if b.is_empty() {
                break;
            }
            left -= b.len();
            batches.push(b);
        }
        if batches.is_empty() {
            break;
        }
        let sizes: Vec<u64> = batches.iter().map(|b| b.len() as u64).collect();
        let t = Instant::now();
        let mut got = Vec::with_capacity(batches.len());
        for b in batches {
            got.push(log.append_batch(b)?);
        }
        timed += t.elapsed();
        for (ids, k) in got.into_iter().zip(sizes) {
            if *ids.start() != next_id || *ids.end() != next_id + k - 1 {
                return Err(Error::invalid(
                    "bench",
                    format!(
                        "the engine assigned ids {ids:?} to a batch of {k} where {next_id}..={} were expected",
                        next_id + k - 1
                    ),
                ));
            }
            next_id += k;
            done += k;
        }
        progress(done);
    }
    Ok(timed)
}

/// Inserts the first `n` records of `w` (ids `1..=n`) into SQLite in
/// 10,000-row transactions, generated `chunk` at a time outside the timed
/// stretches. Returns the time spent in `insert_batch` only.
pub fn ingest_sqlite(
    db: &mut SqliteBaseline,
    w: &Workload,
    n: u64,
    chunk: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<Duration> {
    let chunk = chunk.max(BATCH);
    let mut gen = w.records(n).enumerate();
    let mut timed = Duration::ZERO;
    let mut done = 0u64;
    loop {
        let recs: Vec<Record> = gen
            .by_ref()
            .take(chunk)
            .map(|(i, r)| r.into_record(i as u64 + 1, Timestamp::MIN))
            .collect();
        if recs.is_empty() {
            break;
        }
        let t = Instant::now();
        for b in recs.chunks(BATCH) {
            db.insert_batch(b)?;
        }
        timed += t.elapsed();
        done += recs.len() as u64;
        progress(done);
    }
    Ok(timed)
}

/// Which way is better for a measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// A rate: more is better; ratio = ours / SQLite.
    Higher,
    /// A time, a size: less is better; ratio = SQLite / ours.
    Lower,
}

/// The unit of a row's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Records per second.
    RecordsPerSec,
    /// Rows per second.
    RowsPerSec,
    /// Bytes per record.
    BytesPerRecord,
    /// Milliseconds.
    Millis,
    /// Mebibytes.
    MiB,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::RecordsPerSec => "records/s",
            Unit::RowsPerSec => "rows/s",
            Unit::BytesPerRecord => "bytes/record",
            Unit::Millis => "ms",
            Unit::MiB => "MiB",
        }
    }

    fn fmt(self, v: f64) -> String {
        match self {
            Unit::RecordsPerSec | Unit::RowsPerSec => thousands(v.round() as u64),
            Unit::BytesPerRecord => format!("{v:.0}"),
            Unit::Millis if v < 10.0 => format!("{v:.2}"),
            Unit::Millis if v < 100.0 => format!("{v:.1}"),
            Unit::Millis => thousands(v.round() as u64),
            Unit::MiB => format!("{v:.1}"),
        }
    }
}

/// A goal from the project's issues, checked against a row.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The ratio (oriented so that more is better for us) must be at least
    /// this.
    RatioAtLeast(f64),
    /// Our figure must be at most this (in the row's unit).
    OursAtMost(f64),
}

/// One line of the table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Machine name (`ingest_never`, `query_time_slice`, ...).
    pub key: String,
    /// What was measured.
    pub what: String,
    /// The unit of `ours` and `sqlite`.
    pub unit: Unit,
    /// Which way is better.
    pub better: Better,
    /// Our figure (the median when repeated).
    pub ours: Option<f64>,
    /// SQLite's figure.
    pub sqlite: Option<f64>,
    /// `ours / sqlite` for rates, `sqlite / ours` otherwise: above 1 means
    /// we are better. Absent when one side is missing or the two figures
    /// measure different things.
    pub ratio: Option<f64>,
    /// The goal from the issues, if any.
    pub target: Option<Target>,
    /// Whether the goal is met (absent without a goal or a figure).
    pub pass: Option<bool>,
    /// Rows our engine returned (queries, export, listing).
    pub rows: Option<u64>,
    /// Rows SQLite returned (queries, export, listing).
    pub sqlite_rows: Option<u64>,
    /// Every timed sample of ours, in the row's unit.
    pub ours_samples: Vec<f64>,
    /// Every timed sample of SQLite, in the row's unit.
    pub sqlite_samples: Vec<f64>,
}

impl Row {
    fn new(key: &str, what: impl Into<String>, unit: Unit, better: Better) -> Self {
        Row {
            key: key.to_string(),
            what: what.into(),
            unit,
            better,
            ours: None,
            sqlite: None,
            ratio: None,
            target: None,
            pass: None,
            rows: None,
            sqlite_rows: None,
            ours_samples: Vec::new(),
            sqlite_samples: Vec::new(),
        }
    }

    fn ours(mut self, v: f64) -> Self {
        self.ours = Some(v);
        self
    }

    fn sqlite(mut self, v: Option<f64>) -> Self {
        self.sqlite = v;
        self
    }

    fn target(mut self, t: Target) -> Self {
        self.target = Some(t);
        self
    }

    fn rows(mut self, n: u64) -> Self {
        self.rows = Some(n);
        self
    }

    fn sqlite_rows(mut self, n: Option<u64>) -> Self {
        self.sqlite_rows = n;
        self
    }

    fn samples(mut self, ours: Vec<f64>, sqlite: Vec<f64>) -> Self {
        self.ours = (!ours.is_empty()).then(|| median(&ours));
        self.sqlite = (!sqlite.is_empty()).then(|| median(&sqlite));
        self.ours_samples = ours;
        self.sqlite_samples = sqlite;
        self
    }

    /// Fills in the ratio (unless `comparable` is false) and the verdict.
    fn finish(mut self, comparable: bool) -> Self {
        if comparable {
            self.ratio = match (self.ours, self.sqlite, self.better) {
                (Some(o), Some(s), Better::Higher) if s > 0.0 => Some(o / s),
                (Some(o), Some(s), Better::Lower) if o > 0.0 => Some(s / o),
                _ => None,
            };
        }
        self.pass = match &self.target {
            Some(Target::RatioAtLeast(x)) => self.ratio.map(|r| r >= *x),
            Some(Target::OursAtMost(x)) => self.ours.map(|o| o <= *x),
            None => None,
        };
        self
    }

    fn target_label(&self) -> String {
        match (&self.target, self.better) {
            (Some(Target::RatioAtLeast(x)), Better::Higher) => format!(">= {x}x SQLite"),
            (Some(Target::RatioAtLeast(x)), Better::Lower) if *x > 1.0 => {
                format!("<= {:.2}x SQLite", 1.0 / x)
            }
            (Some(Target::RatioAtLeast(_)), Better::Lower) => "faster than SQLite".to_string(),
            (Some(Target::OursAtMost(x)), _) => {
                format!("<= {} {}", self.unit.fmt(*x), self.unit.name())
            }
            (None, _) => String::new(),
        }
    }
}

/// Bytes on disk of our data directory, by part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DiskBreakdown {
    /// Segment files (`segments/` and `archive/`).
    pub segments: u64,
    /// The sled `index` directory.
    pub index: u64,
    /// `customers.json`.
    pub customers: u64,
    /// Everything else (state and lock files, `reports/`, `tmp/`).
    pub other: u64,
}

impl DiskBreakdown {
    /// The total.
    pub fn total(&self) -> u64 {
        self.segments + self.index + self.customers + self.other
    }
}

/// Everything [`run`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Records loaded into each engine.
    pub records: u64,
    /// The workload's seed.
    pub seed: u64,
    /// Timed runs per figure (the median is reported).
    pub repeats: usize,
    /// Whether SQLite was measured.
    pub compared_sqlite: bool,
    /// Our durability mode for the main ingest and everything after it.
    pub durability: String,
    /// Records per append batch / SQLite transaction.
    pub batch: usize,
    /// Our segment size bound, in bytes.
    pub segment_size: u64,
    /// The measurements.
    pub rows: Vec<Row>,
    /// Our bytes on disk, by part.
    pub disk: DiskBreakdown,
    /// SQLite's bytes on disk after a checkpoint.
    pub sqlite_disk: Option<u64>,
    /// Disagreements between the engines (or with the records ingested):
    /// each is a correctness bug. Empty when all is well.
    pub mismatches: Vec<String>,
    /// Remarks on how figures were taken.
    pub notes: Vec<String>,
    /// CPUs available to this process.
    pub cpus: usize,
    /// The 1, 5 and 15-minute load averages when the run started (Linux);
    /// above `cpus`, other work competed for the CPUs and every figure,
    /// both engines', is slower than on an idle machine.
    pub load_before: Option<[f64; 3]>,
    /// The load averages when the run ended.
    pub load_after: Option<[f64; 3]>,
}

impl BenchReport {
    /// The row with this key.
    pub fn row(&self, key: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.key == key)
    }

    /// `Ok` when the engines agreed everywhere; otherwise an error listing
    /// every mismatch.
    pub fn check(&self) -> Result<()> {
        if self.mismatches.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(
                "bench result",
                format!(
                    "{} correctness mismatch(es) between our engine and SQLite: {}",
                    self.mismatches.len(),
                    self.mismatches.join(" | ")
                ),
            ))
        }
    }

    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "auditlog bench: {} records (seed {:#x}), median of {} run(s); ours: durability `{}`, \
             {}-record batches, {} MiB segments{}",
            thousands(self.records),
            self.seed,
            self.repeats,
            self.durability,
            thousands(self.batch as u64),
            self.segment_size >> 20,
            if self.compared_sqlite {
                "; SQLite: WAL, synchronous=NORMAL, six indexes, 10,000-row transactions"
            } else {
                ""
            }
        )?;
        let load = |l: Option<[f64; 3]>| {
            l.map_or("?".to_string(), |l| {
                format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
            })
        };
        writeln!(
            f,
            "machine: {} CPU(s); load average {} at the start, {} at the end",
            self.cpus,
            load(self.load_before),
            load(self.load_after)
        )?;
        let head = vec![
            "what".to_string(),
            "ours".to_string(),
            "SQLite".to_string(),
            "ratio (>1: ours better)".to_string(),
            "target".to_string(),
            "".to_string(),
        ];
        let mut lines = vec![head];
        for r in &self.rows {
            let what = match r.rows {
                Some(n) => format!("{} [{} rows] ({})", r.what, thousands(n), r.unit.name()),
                None => format!("{} ({})", r.what, r.unit.name()),
            };
            let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| r.unit.fmt(v));
            lines.push(vec![
                what,
                cell(r.ours),
                cell(r.sqlite),
                r.ratio.map_or("-".to_string(), |x| format!("{x:.2}x")),
                r.target_label(),
                match r.pass {
                    Some(true) => "ok".to_string(),
                    Some(false) => "MISSED".to_string(),
                    None => String::new(),
                },
            ]);
        }
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (k, l) in lines.iter().enumerate() {
            let mut s = String::new();
            for (i, c) in l.iter().enumerate() {
                let pad = widths[i] - c.chars().count();
                if i == 0 || i >= 4 {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
                s.push_str("  ");
            }
            writeln!(f, "{}", s.trim_end())?;
            if k == 0 {
                writeln!(f, "{}", "-".repeat(widths.iter().sum::<usize>() + 10))?;
            }
        }
        let d = &self.disk;
        writeln!(
            f,
            "ours on disk: {} bytes = segments {} + index {} + customers {} + other {}{}",
            thousands(d.total()),
            thousands(d.segments),
            thousands(d.index),
            thousands(d.customers),
            thousands(d.other),
            self.sqlite_disk.map_or(String::new(), |s| format!(
                "; SQLite: {} bytes",
                thousands(s)
            ))
        )?;
        for n in &self.notes {
            writeln!(f, "note: {n}")?;
        }
        if self.mismatches.is_empty() {
            if self.compared_sqlite {
                writeln!(
                    f,
                    "correctness: both engines returned the same rows for every query and export"
                )?;
            }
        } else {
            for m in &self.mismatches {
                writeln!(f, "MISMATCH: {m}")?;
            }
        }
        Ok(())
    }
}

/// Runs every measurement `cfg` asks for (see the module docs), calling
/// `progress` with a line of text as it goes. Disagreements between the
/// engines do not stop the run: they are collected in
/// [`BenchReport::mismatches`] (and announced through `progress`); call
/// [`BenchReport::check`] to turn them into an error.
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    if cfg.records == 0 {
        return Err(Error::invalid("records", "must be at least 1"));
    }
    if cfg.repeats == 0 {
        return Err(Error::invalid("repeats", "must be at least 1"));
    }
    fs::create_dir_all(&cfg.dir).map_err(|e| Error::io("create directory", &cfg.dir, e))?;
    for sub in [
        OURS_DIR,
        OURS_ALWAYS_DIR,
        RECOVERY_DIR,
        SQLITE_DIR,
        SQLITE_CRASH_DIR,
        EXPORT_DIR,
    ] {
        fresh(&cfg.dir, sub)?;
    }
    let load_before = load_average();
    let mut b = Bench {
        cfg,
        w: Workload::new(cfg.seed),
        rows: Vec::new(),
        mismatches: Vec::new(),
        notes: Vec::new(),
        progress,
    };
    let mut report = b.go()?;
    report.load_before = load_before;
    report.load_after = load_average();
    Ok(report)
}

/// The 1, 5 and 15-minute load averages (`/proc/loadavg`), or `None`.
pub fn load_average() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

struct Bench<'a> {
    cfg: &'a BenchConfig,
    w: Workload,
    rows: Vec<Row>,
    mismatches: Vec<String>,
    notes: Vec<String>,
    progress: &'a mut dyn FnMut(&str),
}

impl Bench<'_> {
    fn say(&mut self, msg: impl AsRef<str>) {
        (self.progress)(msg.as_ref());
    }

    /// Announces a phase, with the process's memory at its start.
    fn phase(&mut self, msg: impl AsRef<str>) {
        let mib = |b: Option<u64>| b.map_or("?".to_string(), |b| format!("{}", b >> 20));
        let line = format!(
            "{} (RSS {} MiB, anon {} MiB)",
            msg.as_ref(),
            mib(mem::current_rss_bytes()),
            mib(mem::anon_rss_bytes())
        );
        (self.progress)(&line);
    }

    fn mismatch(&mut self, m: String) {
        self.say(format!("MISMATCH: {m}"));
        self.mismatches.push(m);
    }

    fn opts(&self, dir: &Path, d: Durability) -> Options {
        Options::new(dir)
            .durability(d)
            .segment_size(self.cfg.segment_size)
    }

    fn go(&mut self) -> Result<BenchReport> {
        let cfg = self.cfg;
        let n = cfg.records;
        let nf = n as f64;
        let ours_dir = cfg.dir.join(OURS_DIR);
        let sqlite_path = cfg.dir.join(SQLITE_DIR).join(SQLITE_FILE);
        let qs = self.w.queries(n);

        // 1. Ingest, ours, never.
        self.phase(format!(
            "ingest: ours, durability never, {} records",
            thousands(n)
        ));
        let log = self.opts(&ours_dir, Durability::Never).open()?;
        set_tree(&log, &self.w)?;
        let t_never = self.ingest_ours(&log, n, "never")?;
        drop(log);
        let disk = disk_breakdown(&ours_dir)?;

        let t_always = if cfg.ingest_always {
            self.phase("ingest: ours, durability always");
            let dir = cfg.dir.join(OURS_ALWAYS_DIR);
            let log = self.opts(&dir, Durability::Always).open()?;
            set_tree(&log, &self.w)?;
            let t = self.ingest_ours(&log, n, "always")?;
            drop(log);
            fs::remove_dir_all(&dir).map_err(|e| Error::io("remove", &dir, e))?;
            Some(t)
        } else {
            None
        };

        // 2. Ingest, SQLite; a crash copy; checkpoint; disk.
        let mut db = None;
        let mut t_sqlite = None;
        let mut sqlite_disk = None;
        if cfg.compare_sqlite {
            self.phase(format!("ingest: SQLite, {} records", thousands(n)));
            let sdir = cfg.dir.join(SQLITE_DIR);
            fs::create_dir_all(&sdir).map_err(|e| Error::io("create directory", &sdir, e))?;
            let mut s = SqliteBaseline::create(&sqlite_path)?;
            s.set_customers(&self.w.customer_parents())?;
            let mut last = 0;
            let say = &mut *self.progress;
            let t = ingest_sqlite(&mut s, &self.w, n, cfg.chunk, &mut |k| {
                if k >= last + n / 10 || k == n {
                    last = k;
                    say(&format!("  SQLite: {} / {}", thousands(k), thousands(n)));
                }
            })?;
            t_sqlite = Some(t);
            if cfg.recovery {
                let cdir = cfg.dir.join(SQLITE_CRASH_DIR);
                fs::create_dir_all(&cdir).map_err(|e| Error::io("create directory", &cdir, e))?;
                for suffix in ["", "-wal"] {
                    let from = with_suffix(&sqlite_path, suffix);
                    let to = with_suffix(&cdir.join(SQLITE_FILE), suffix);
                    if from.exists() {
                        fs::copy(&from, &to).map_err(|e| Error::io("copy", &from, e))?;
                    }
                }
            }
            s.checkpoint()?;
            sqlite_disk = Some(s.disk_bytes()?);
            db = Some(s);
        }

        self.rows.push(
            Row::new(
                "ingest_never",
                "ingest, ours durability never",
                Unit::RecordsPerSec,
                Better::Higher,
            )
            .ours(nf / t_never.as_secs_f64())
            .sqlite(t_sqlite.map(|t| nf / t.as_secs_f64()))
            .target(Target::RatioAtLeast(20.0))
            .finish(true),
        );
        if let Some(t) = t_always {
            self.rows.push(
                Row::new(
                    "ingest_always",
                    "ingest, ours durability always",
                    Unit::RecordsPerSec,
                    Better::Higher,
                )
                .ours(nf / t.as_secs_f64())
                .sqlite(t_sqlite.map(|t| nf / t.as_secs_f64()))
                .finish(true),
            );
        }
        self.rows.push(
            Row::new(
                "disk_bytes_per_record",
                "disk per record (ours: log+index+customers; SQLite: db+wal+shm after checkpoint)",
                Unit::BytesPerRecord,
                Better::Lower,
            )
            .ours(disk.total() as f64 / nf)
            .sqlite(sqlite_disk.map(|b| b as f64 / nf))
            .target(Target::RatioAtLeast(1.0 / 0.75))
            .finish(true),
        );

        // 4. Reopen after a clean close.
        self.phase("reopen after a clean close");
        let mut opens = Vec::new();
        let mut log = None;
        for _ in 0..cfg.repeats {
            drop(log.take());
            let t = Instant::now();
            let l = self.opts(&ours_dir, Durability::Never).open()?;
            opens.push(ms(t.elapsed()));
            log = Some(l);
        }
        let Some(log) = log else {
            return Err(Error::invalid("repeats", "must be at least 1"));
        };
        self.check_count(&log, n, "reopen after a clean close")?;
        self.rows.push(
            Row::new(
                "open_clean",
                "open after a clean close",
                Unit::Millis,
                Better::Lower,
            )
            .samples(opens, Vec::new())
            .finish(false),
        );

        // 5. Queries.
        let mut slice_rows = 0;
        for kind in QueryKind::ALL {
            let rows = self.query(kind, &log, db.as_ref(), &qs)?;
            if kind == QueryKind::TimeSlice {
                slice_rows = rows;
            }
        }

        // 6. Export.
        self.export(&log, db.as_ref())?;

        // 7. Peak memory while streaming a full listing.
        self.listing_memory(&log, db.as_ref())?;

        // 8. Recovery.
        if cfg.recovery {
            drop(log);
            self.recovery(&ours_dir, &qs, slice_rows)?;
            if db.is_some() {
                self.sqlite_recovery()?;
            }
        } else {
            drop(log);
        }

        let mut notes = std::mem::take(&mut self.notes);
        notes.insert(
            0,
            "ingest timings exclude record generation (records are generated in chunks before each timed stretch); \
             ours times only append_batch, SQLite only insert_batch"
                .to_string(),
        );
        notes.insert(
            1,
            "queries: median of timed runs after one untimed warm-up whose rows are compared in full; \
             every row is read into a Record"
                .to_string(),
        );
        Ok(BenchReport {
            records: n,
            seed: cfg.seed,
            repeats: cfg.repeats,
            compared_sqlite: cfg.compare_sqlite,
            durability: "never".into(),
            batch: BATCH,
            segment_size: cfg.segment_size,
            rows: std::mem::take(&mut self.rows),
            disk,
            sqlite_disk,
            mismatches: std::mem::take(&mut self.mismatches),
            notes,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            load_before: None,
            load_after: None,
        })
    }

    fn ingest_ours(&mut self, log: &AuditLog, n: u64, mode: &str) -> Result<Duration> {
        let mut last = 0;
        let say = &mut *self.progress;
        ingest_ours(log, &self.w, n, self.cfg.chunk, &mut |k| {
            if k >= last + n / 10 || k == n {
                last = k;
                say(&format!(
                    "  ours ({mode}): {} / {}",
                    thousands(k),
                    thousands(n)
                ));
            }
        })
    }

    fn check_count(&mut self, log: &AuditLog, n: u64, when: &str) -> Result<()> {
        let st = log.stats()?;
        if st.records != n || log.last_id() != n {
            self.mismatch(format!(
                "{when}: the engine holds {} records (last id {}), {n} were ingested",
                st.records,
                log.last_id()
            ));
        }
        Ok(())
    }

    fn query(
        &mut self,
        kind: QueryKind,
        log: &AuditLog,
        db: Option<&SqliteBaseline>,
        qs: &QuerySet,
    ) -> Result<u64> {
        self.phase(format!("query: {}", kind.label()));
        // Warm-up, and the full comparison.
        let ours = kind.run_ours(log, qs)?;
        let rows = ours.len() as u64;
        let mut sqlite_rows = None;
        if let Some(db) = db {
            let theirs = kind.run_sqlite(db, qs)?;
            sqlite_rows = Some(theirs.len() as u64);
            if let Some(m) = compare_rows(kind.label(), &ours, &theirs) {
                self.mismatch(m);
            }
        }
        drop(ours);
        let (mut o, mut s) = (Vec::new(), Vec::new());
        for _ in 0..self.cfg.repeats {
            let t = Instant::now();
            let got = kind.run_ours(log, qs)?;
            o.push(ms(t.elapsed()));
            let ours_len = got.len();
            drop(got);
            if let Some(db) = db {
                let t = Instant::now();
                let got = kind.run_sqlite(db, qs)?;
                s.push(ms(t.elapsed()));
                if got.len() != ours_len {
                    self.mismatch(format!(
                        "{}: a timed run returned {ours_len} rows for ours and {} for SQLite",
                        kind.label(),
                        got.len()
                    ));
                }
            } else if ours_len as u64 != rows {
                self.mismatch(format!(
                    "{}: ours returned {rows} rows, then {ours_len}",
                    kind.label()
                ));
            }
        }
        self.rows.push(
            Row::new(
                &format!("query_{}", kind.key()),
                format!("query: {}", kind.label()),
                Unit::Millis,
                Better::Lower,
            )
            .samples(o, s)
            .rows(rows)
            .sqlite_rows(sqlite_rows)
            .target(Target::RatioAtLeast(1.0))
            .finish(true),
        );
        Ok(rows)
    }

    fn export(&mut self, log: &AuditLog, db: Option<&SqliteBaseline>) -> Result<()> {
        self.phase("export: full CSV");
        let n = self.cfg.records;
        let edir = self.cfg.dir.join(EXPORT_DIR);
        if self.cfg.export_to_file {
            fs::create_dir_all(&edir).map_err(|e| Error::io("create directory", &edir, e))?;
        }
        // Ours twice: the engine's own export (`AuditLog::export`, which
        // writes rows straight from the log), and the generic
        // `export::export` over the query iterator (one `Record` per row).
        let (mut engine, mut generic, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut engine_sum, mut generic_sum, mut theirs_sum) = (None, None, None);
        let (mut engine_rows, mut generic_rows, mut sqlite_rows) = (0, 0, None);
        for _ in 0..self.cfg.repeats {
            let t = Instant::now();
            let (rows, sum) = self.export_one(&edir.join("ours.csv"), |w| {
                log.export(&Query::new(), w, &ExportOptions::csv(), &mut |_| {})
            })?;
            engine.push(rows as f64 / t.elapsed().as_secs_f64());
            (engine_rows, engine_sum) = (rows, sum);

            let t = Instant::now();
            let (rows, sum) = self.export_one(&edir.join("ours-generic.csv"), |w| {
                export(
                    log.query(&Query::new())?,
                    w,
                    &ExportOptions::csv(),
                    &mut |_| {},
                )
            })?;
            generic.push(rows as f64 / t.elapsed().as_secs_f64());
            (generic_rows, generic_sum) = (rows, sum);

            if let Some(db) = db {
                let t = Instant::now();
                let (rows, sum) =
                    self.export_one(&edir.join("sqlite.csv"), |w| db.export_csv(w))?;
                theirs.push(rows as f64 / t.elapsed().as_secs_f64());
                (sqlite_rows, theirs_sum) = (Some(rows), sum);
            }
        }
        for (who, rows) in [
            ("ours (AuditLog::export)", Some(engine_rows)),
            ("ours (export::export)", Some(generic_rows)),
            ("SQLite", sqlite_rows),
        ] {
            if let Some(rows) = rows.filter(|&r| r != n) {
                self.mismatch(format!("export: {who} wrote {rows} rows of {n}"));
            }
        }
        for (who, sum) in [
            ("ours (export::export)", generic_sum),
            ("SQLite", theirs_sum),
        ] {
            if let (Some(a), Some(b)) = (engine_sum, sum) {
                if a != b {
                    self.mismatch(format!(
                        "export: the CSV bytes differ: ours (AuditLog::export) {} bytes (crc32 {:08x}), {who} {} bytes (crc32 {:08x})",
                        a.0, a.1, b.0, b.1
                    ));
                }
            }
        }
        let sink = if self.cfg.export_to_file {
            "a 256 KiB BufWriter<File> each"
        } else {
            "a sink that counts and CRC32s the bytes (the outputs are compared byte for byte)"
        };
        self.notes.push(format!(
            "export: native CSV with a header of all {} records, default options (formula neutralisation on), into {sink}; \
             `AuditLog::export` is the engine's export (rows written straight from the log), `export::export` the generic writer over `AuditLog::query`",
            thousands(n)
        ));
        self.rows.push(
            Row::new(
                "export_csv",
                "full CSV export (AuditLog::export)",
                Unit::RowsPerSec,
                Better::Higher,
            )
            .samples(engine, theirs.clone())
            .rows(engine_rows)
            .sqlite_rows(sqlite_rows)
            .target(Target::RatioAtLeast(1.5))
            .finish(true),
        );
        self.rows.push(
            Row::new(
                "export_csv_generic",
                "full CSV export (export::export of AuditLog::query)",
                Unit::RowsPerSec,
                Better::Higher,
            )
            .samples(generic, theirs)
            .rows(generic_rows)
            .sqlite_rows(sqlite_rows)
            .finish(true),
        );
        Ok(())
    }

    /// Runs one export into the configured sink; returns the rows and, for
    /// the checksumming sink, (bytes, crc32).
    fn export_one(
        &self,
        path: &Path,
        f: impl FnOnce(&mut dyn Write) -> Result<u64>,
    ) -> Result<(u64, Option<(u64, u32)>)> {
        if self.cfg.export_to_file {
            let file = fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
            let mut w = BufWriter::with_capacity(256 << 10, file);
            let rows = f(&mut w)?;
            w.flush().map_err(|e| Error::io("write", path, e))?;
            Ok((rows, None))
        } else {
            let mut sink = SumSink::default();
            let rows = f(&mut sink)?;
            Ok((rows, Some((sink.bytes, sink.hasher.finalize()))))
        }
    }

    fn listing_memory(&mut self, log: &AuditLog, db: Option<&SqliteBaseline>) -> Result<()> {
        self.phase("peak memory: streaming a full listing");
        let n = self.cfg.records;
        // Ours.
        mem::trim_heap();
        let reset = mem::reset_peak();
        let start_ours = mem::current_rss_bytes().unwrap_or(0);
        let mut anon_ours = mem::anon_rss_bytes().unwrap_or(0);
        let mut rows = 0u64;
        for r in log.query(&Query::new())? {
            std::hint::black_box(r?);
            rows += 1;
            if rows.is_multiple_of(8192) {
                anon_ours = anon_ours.max(mem::anon_rss_bytes().unwrap_or(0));
            }
        }
        let peak_ours = mem::peak_rss_bytes();
        if rows != n {
            self.mismatch(format!("listing: ours streamed {rows} rows of {n}"));
        }
        // SQLite.
        let (mut peak_sqlite, mut anon_sqlite, mut start_sqlite) = (None, 0, 0);
        let mut sqlite_listed = None;
        if let Some(db) = db {
            mem::trim_heap();
            mem::reset_peak();
            start_sqlite = mem::current_rss_bytes().unwrap_or(0);
            anon_sqlite = mem::anon_rss_bytes().unwrap_or(0);
            let mut k = 0u64;
            let rows = db.scan_all(&mut |r| {
                std::hint::black_box(r);
                k += 1;
                if k.is_multiple_of(8192) {
                    anon_sqlite = anon_sqlite.max(mem::anon_rss_bytes().unwrap_or(0));
                }
            })?;
            peak_sqlite = mem::peak_rss_bytes();
            sqlite_listed = Some(rows);
            if rows != n {
                self.mismatch(format!("listing: SQLite streamed {rows} rows of {n}"));
            }
        }
        let mib = |b: u64| b as f64 / f64::from(1u32 << 20);
        if let Some(p) = peak_ours {
            self.rows.push(
                Row::new(
                    "peak_rss_listing",
                    "peak RSS (VmHWM) streaming a full listing",
                    Unit::MiB,
                    Better::Lower,
                )
                .ours(mib(p))
                .sqlite(peak_sqlite.map(mib))
                .rows(rows)
                .sqlite_rows(sqlite_listed)
                .target(Target::OursAtMost(150.0))
                .finish(true),
            );
            self.rows.push(
                Row::new(
                    "rss_growth_listing",
                    "RSS growth over the listing (VmHWM - RSS at start)",
                    Unit::MiB,
                    Better::Lower,
                )
                .ours(mib(p.saturating_sub(start_ours)))
                .sqlite(peak_sqlite.map(|s| mib(s.saturating_sub(start_sqlite))))
                .rows(n)
                .finish(false),
            );
        }
        if anon_ours > 0 {
            self.rows.push(
                Row::new(
                    "peak_anon_listing",
                    "peak anonymous RSS (RssAnon, sampled) streaming a full listing",
                    Unit::MiB,
                    Better::Lower,
                )
                .ours(mib(anon_ours))
                .sqlite(db.map(|_| mib(anon_sqlite)))
                .rows(n)
                .finish(true),
            );
        }
        self.notes.push(format!(
            "peak memory: whole-process figures with both engines open; before each engine's phase freed heap is returned to the OS (malloc_trim) and the peak is {}reset; \
             RSS at the start: ours {:.1} MiB, SQLite {:.1} MiB. VmHWM also counts the pages of memory-mapped segments read (the kernel can drop them); RssAnon does not",
            if reset { "" } else { "NOT (unsupported here) " },
            mib(start_ours),
            mib(start_sqlite),
        ));
        Ok(())
    }

    fn recovery(&mut self, ours_dir: &Path, qs: &QuerySet, slice_rows: u64) -> Result<()> {
        let n = self.cfg.records;
        let repeats = self.cfg.repeats;
        let index_dir = ours_dir.join(crate::index::INDEX_DIR);
        let sealed = {
            let log = self.opts(ours_dir, Durability::Never).open()?;
            let k = log.segments().iter().filter(|s| s.sealed).count();
            drop(log);
            k
        };

        // a) Index deleted.
        self.phase(format!(
            "recovery: open with the index deleted ({sealed} sealed segments to re-index)"
        ));
        let mut samples = Vec::new();
        for i in 0..repeats {
            remove_dir_if_present(&index_dir)?;
            let t = Instant::now();
            let log = self.opts(ours_dir, Durability::Never).open()?;
            samples.push(ms(t.elapsed()));
            if i + 1 == repeats {
                self.check_count(&log, n, "open with the index deleted")?;
                let got = QueryKind::TimeSlice.run_ours(&log, qs)?.len() as u64;
                if got != slice_rows {
                    self.mismatch(format!(
                        "after the index was rebuilt, the 1% time slice returned {got} rows, {slice_rows} before"
                    ));
                }
            }
        }
        self.rows.push(
            Row::new(
                "open_index_deleted",
                format!("open, index deleted ({sealed} sealed segments re-indexed)"),
                Unit::Millis,
                Better::Lower,
            )
            .samples(samples, Vec::new())
            .finish(false),
        );

        // b) A full active segment to replay.
        let rdir = self.cfg.dir.join(RECOVERY_DIR);
        let size = self.cfg.segment_size;
        self.phase(format!(
            "recovery: filling an active segment to {} MiB",
            size >> 20
        ));
        let (count, active_bytes) = {
            // Filled with a bound above the target: a batch that would
            // cross the bound seals the segment instead (reopened below
            // with the real bound, the segment is then over it and the
            // next append seals it, as part c wants).
            let log = self
                .opts(&rdir, Durability::Never)
                .segment_size(size.saturating_mul(2))
                .open()?;
            set_tree(&log, &self.w)?;
            // Enough records whatever their size (frames are > 100 bytes).
            let mut gen = self.w.records(self.cfg.records.max(size / 100 + 1000));
            let mut count = 0u64;
            let mut active = 0u64;
            while active < size {
                let b: Vec<NewRecord> = gen.by_ref().take(1000).collect();
                if b.is_empty() {
                    return Err(Error::invalid(
                        "bench",
                        "ran out of records filling a segment",
                    ));
                }
                count += b.len() as u64;
                log.append_batch(b)?;
                let segs = log.segments();
                if segs.iter().any(|s| s.sealed) {
                    return Err(Error::invalid(
                        "bench",
                        "the active segment was sealed before it was full",
                    ));
                }
                active = segs.last().map_or(0, |s| s.bytes);
            }
            (count, active)
        };
        let mut samples = Vec::new();
        for i in 0..repeats {
            let t = Instant::now();
            let log = self.opts(&rdir, Durability::Never).open()?;
            samples.push(ms(t.elapsed()));
            if i + 1 == repeats {
                self.check_count(&log, count, "open with a full active segment")?;
            }
        }
        self.rows.push(
            Row::new(
                "open_active_replay",
                format!(
                    "open, crash before seal: active segment of {:.1} MiB ({} records) replayed",
                    active_bytes as f64 / f64::from(1u32 << 20),
                    thousands(count)
                ),
                Unit::Millis,
                Better::Lower,
            )
            .samples(samples, Vec::new())
            .target(Target::OursAtMost(2000.0))
            .finish(false),
        );

        // c) One full sealed segment unindexed.
        {
            let log = self.opts(&rdir, Durability::Never).open()?;
            let one: Vec<NewRecord> = self.w.records(1).collect();
            log.append_batch(one)?;
            let sealed = log.segments().iter().filter(|s| s.sealed).count();
            if sealed != 1 {
                return Err(Error::invalid(
                    "bench",
                    format!(
                        "expected one sealed segment in {}, found {sealed}",
                        rdir.display()
                    ),
                ));
            }
        }
        self.phase("recovery: open with one full sealed segment unindexed");
        let rindex = rdir.join(crate::index::INDEX_DIR);
        let mut samples = Vec::new();
        for i in 0..repeats {
            remove_dir_if_present(&rindex)?;
            let t = Instant::now();
            let log = self.opts(&rdir, Durability::Never).open()?;
            samples.push(ms(t.elapsed()));
            if i + 1 == repeats {
                self.check_count(&log, count + 1, "open with a sealed segment unindexed")?;
            }
        }
        self.rows.push(
            Row::new(
                "open_sealed_unindexed",
                format!(
                    "open, crash after seal: one sealed {:.1} MiB segment indexed",
                    active_bytes as f64 / f64::from(1u32 << 20)
                ),
                Unit::Millis,
                Better::Lower,
            )
            .samples(samples, Vec::new())
            .target(Target::OursAtMost(2000.0))
            .finish(false),
        );
        self.notes.push(
            "recovery: each `open` row is the median time of Options::open with the defaults (sealed segments CRC-checked at open), files in the page cache; \
             `crash before seal` = a data directory whose unsealed active segment is full (its index lives in memory only, so open replays it); \
             `crash after seal` = one full sealed segment and its sled index deleted before each open"
                .to_string(),
        );
        Ok(())
    }

    fn sqlite_recovery(&mut self) -> Result<()> {
        let path = self.cfg.dir.join(SQLITE_CRASH_DIR).join(SQLITE_FILE);
        self.phase("recovery: SQLite, open a copy taken before checkpoint");
        let wal = fs::metadata(with_suffix(&path, "-wal")).map_or(0, |m| m.len());
        let t = Instant::now();
        let db = SqliteBaseline::open(&path)?;
        let last = db.last_id()?;
        let took = ms(t.elapsed());
        if last != self.cfg.records {
            self.mismatch(format!(
                "SQLite crash copy: last id {last}, {} were inserted",
                self.cfg.records
            ));
        }
        drop(db);
        self.rows.push(
            Row::new(
                "sqlite_open_after_crash",
                format!(
                    "SQLite open + first read of a crash copy ({:.1} MiB WAL replayed)",
                    wal as f64 / f64::from(1u32 << 20)
                ),
                Unit::Millis,
                Better::Lower,
            )
            .sqlite(Some(took))
            .finish(false),
        );
        Ok(())
    }
}

/// A writer that only counts and checksums what it is given.
#[derive(Default)]
struct SumSink {
    hasher: crc32fast::Hasher,
    bytes: u64,
}

impl Write for SumSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.bytes += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `dir/sub`, which must not exist yet.
fn fresh(dir: &Path, sub: &str) -> Result<PathBuf> {
    let p = dir.join(sub);
    if p.exists() {
        return Err(Error::invalid(
            "dir",
            format!(
                "{} already exists; the benchmark only writes into fresh directories (pick another --dir or remove it)",
                p.display()
            ),
        ));
    }
    Ok(p)
}

fn remove_dir_if_present(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", p, e)),
    }
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Bytes of every file under `dir`, by part of our data directory.
pub fn disk_breakdown(dir: &Path) -> Result<DiskBreakdown> {
    let mut d = DiskBreakdown::default();
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for e in entries {
        let e = e.map_err(|e| Error::io("list directory", dir, e))?;
        let p = e.path();
        let bytes = tree_bytes(&p)?;
        match e.file_name().to_str() {
            Some(crate::log::SEGMENTS_DIR | crate::log::ARCHIVE_DIR) => d.segments += bytes,
            Some(crate::index::INDEX_DIR) => d.index += bytes,
            Some(crate::customers::CUSTOMERS_FILE) => d.customers += bytes,
            _ => d.other += bytes,
        }
    }
    Ok(d)
}

fn tree_bytes(p: &Path) -> Result<u64> {
    let m = fs::symlink_metadata(p).map_err(|e| Error::io("stat", p, e))?;
    if !m.is_dir() {
        return Ok(m.len());
    }
    let mut total = 0;
    for e in fs::read_dir(p).map_err(|e| Error::io("list directory", p, e))? {
        let e = e.map_err(|e| Error::io("list directory", p, e))?;
        total += tree_bytes(&e.path())?;
    }
    Ok(total)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The median (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: u64, name: &str) -> Record {
        NewRecord::new(1).name(name).into_record(id, Timestamp::MIN)
    }

    #[test]
    fn compare_rows_names_the_difference() {
        let a = vec![rec(1, "a"), rec(2, "b")];
        assert_eq!(compare_rows("q", &a, &a.clone()), None);
        let m = compare_rows("q", &a, &a[..1]).unwrap();
        assert!(m.contains("ours returned 2 rows, SQLite 1"), "{m}");
        let m = compare_rows("q", &a, &[rec(1, "a"), rec(3, "b")]).unwrap();
        assert!(
            m.contains("row 1 is id 2 for ours and id 3 for SQLite"),
            "{m}"
        );
        let m = compare_rows("q", &a, &[rec(1, "a"), rec(2, "x")]).unwrap();
        assert!(m.contains("row 1 (id 2) differs in content"), "{m}");
    }

    #[test]
    fn helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let r = Row::new("x", "x", Unit::Millis, Better::Lower)
            .samples(vec![2.0], vec![4.0])
            .target(Target::RatioAtLeast(1.0))
            .finish(true);
        assert_eq!(r.ratio, Some(2.0));
        assert_eq!(r.pass, Some(true));
        let r = Row::new("y", "y", Unit::RecordsPerSec, Better::Higher)
            .ours(10.0)
            .sqlite(Some(1.0))
            .target(Target::RatioAtLeast(20.0))
            .finish(true);
        assert_eq!(r.ratio, Some(10.0));
        assert_eq!(r.pass, Some(false));
        let r = Row::new("z", "z", Unit::BytesPerRecord, Better::Lower)
            .ours(300.0)
            .sqlite(Some(372.0))
            .target(Target::RatioAtLeast(1.0 / 0.75))
            .finish(true);
        assert_eq!(r.pass, Some(false));
        assert_eq!(r.target_label(), "<= 0.75x SQLite");
    }
}
