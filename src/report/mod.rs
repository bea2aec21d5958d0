//! Asynchronous reports (SPEC section 4; Voximplant `GetAuditLogAsync`,
//! `GetHistoryReports`, `DownloadHistoryReport`), library side.
//!
//! Owns the report catalogue (one JSON file in the report directory,
//! rewritten atomically on every state change), the report files
//! (gzip-compressed CSV, written under a temporary name, fsynced, renamed,
//! and only then marked completed), the worker pool that writes them, their
//! listing, download, expiry and recovery after a crash.
//!
//! It must never serve a file that is not completed (a half-written or
//! orphaned file is an error, then deleted on the next open), never show
//! one customer another customer's report (an id outside the caller's
//! customers is [`Error::NotFound`](crate::Error::NotFound)), never read
//! the log itself (the rows come from a [`ReportSource`] the engine
//! implements) and never speak HTTP.
//!
//! # Files
//!
//! In the directory given to [`Reports::open`] (the engine passes
//! `<data>/reports`):
//!
//! - `catalog.json`: every report with its query, state and counters
//!   (written as `catalog.json.tmp`, fsynced, renamed, directory fsynced);
//! - `<id>.csv.gz`: the finished CSV report of id `<id>`;
//! - `<id>.parquet`: the finished Parquet report of id `<id>` (feature
//!   `parquet`; stored as it is, Parquet being compressed already);
//! - `<id>.csv.gz.tmp`, `<id>.parquet.tmp`: a report being written (never
//!   served; removed when the pool opens).
//!
//! # Recovery
//!
//! Reports left pending or running by a crash or a shutdown are written
//! again from scratch when the pool opens; their query carries the id of
//! the last record at creation (`until_id`), so the rewrite holds exactly
//! the rows the first attempt would have. A report whose stored query no
//! longer validates, or whose source now fails, is marked failed with the
//! reason.

mod catalog;
mod pool;

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, Read};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::export::{Format, Layout};
use crate::query::Query;
use crate::record::Record;
use crate::time::Timestamp;

pub use pool::Reports;

/// The `history_type` of every report this module writes.
pub const HISTORY_TYPE: &str = "audit";
/// The `format` of a CSV report (the default; Parquet reports say
/// `parquet`).
pub const REPORT_FORMAT: &str = "csv";

/// Where report rows come from; the engine implements it over the log.
///
/// Both methods must honour every part of the query the engine supports
/// (range, scope, predicates, ids, `until_id`, archive flag, sort, limit,
/// offset, cursor). A report calls [`ReportSource::count`] once for its
/// progress estimate, then [`ReportSource::rows`] once.
pub trait ReportSource: Send + Sync + 'static {
    /// The rows of `q`, streamed in the query's order.
    fn rows(&self, q: &Query) -> Result<Box<dyn Iterator<Item = Result<Record>> + Send + '_>>;

    /// How many rows `q` matches (an estimate is fine: it only feeds the
    /// progress shown while a report runs).
    fn count(&self, q: &Query) -> Result<u64>;
}

/// Where a report is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Stored, waiting for a worker.
    Pending,
    /// A worker is writing the file.
    Running,
    /// The file is complete and can be downloaded.
    Completed,
    /// Writing failed; the report has no file.
    Failed {
        /// What went wrong.
        reason: String,
    },
}

impl ReportState {
    /// Whether the report is completed (its file can be downloaded).
    pub fn is_completed(&self) -> bool {
        matches!(self, ReportState::Completed)
    }

    /// Whether the report will not change state any more (completed or
    /// failed).
    pub fn is_finished(&self) -> bool {
        matches!(self, ReportState::Completed | ReportState::Failed { .. })
    }
}

/// One report: the Voximplant `HistoryReportType` fields plus what the
/// engine needs to write it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The report id (never reused).
    pub history_report_id: u64,
    /// Always [`HISTORY_TYPE`] (`audit`).
    pub history_type: String,
    /// When the report was created.
    pub created: Timestamp,
    /// The file format: [`REPORT_FORMAT`] (`csv`, the default) or
    /// `parquet`.
    pub format: String,
    /// When the file was completed (only when done).
    #[serde(default)]
    pub completed: Option<Timestamp>,
    /// The name a client should save the file under (`audit_<id>.csv`,
    /// `audit_<id>.parquet`).
    pub file_name: String,
    /// The size of the CSV, uncompressed, in bytes (only when done; for
    /// Parquet the size of the file).
    #[serde(default)]
    pub file_size: Option<u64>,
    /// The size of the stored gzip file, in bytes (only when done; for
    /// Parquet the size of the file).
    #[serde(default)]
    pub download_size: Option<u64>,
    /// How many downloads were started.
    #[serde(default)]
    pub download_count: u64,
    /// When the last download was started.
    #[serde(default)]
    pub last_downloaded: Option<Timestamp>,
    /// The last day the report is kept (`YYYY-MM-DD`, UTC); it is deleted
    /// after that day.
    pub store_until: String,
    /// The request parameters as the caller gave them (for display).
    pub filters: serde_json::Value,
    /// The customer that owns the report.
    pub customer: u64,
    /// The query the report runs, with `until_id` fixed at creation.
    pub query: Query,
    /// The CSV columns.
    pub layout: Layout,
    /// Whether the CSV starts with a header row.
    pub header: bool,
    /// Whether formula-like CSV cells are neutralised.
    #[serde(default = "yes")]
    pub neutralize: bool,
    /// Where the report is in its life.
    pub state: ReportState,
    /// Rows written so far (while running; all rows when completed).
    #[serde(default)]
    pub rows_done: u64,
    /// Rows expected, from [`ReportSource::count`] (once known).
    #[serde(default)]
    pub rows_total: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Report {
    /// The report's file format, from [`Report::format`]. An error when
    /// this build cannot write or serve it (a `parquet` report read by a
    /// build without the `parquet` feature).
    pub fn file_format(&self) -> Result<Format> {
        self.format.parse()
    }

    /// The report as a Voximplant `HistoryReportType` object: `completed`,
    /// `file_size` and `download_size` only when completed,
    /// `last_downloaded` only after a download; times as
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    pub fn to_history_report(&self) -> serde_json::Value {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        m.insert("history_report_id".into(), self.history_report_id.into());
        m.insert("history_type".into(), self.history_type.clone().into());
        m.insert("created".into(), self.created.to_sql().into());
        m.insert("format".into(), self.format.clone().into());
        if let (ReportState::Completed, Some(done)) = (&self.state, self.completed) {
            m.insert("completed".into(), done.to_sql().into());
            if let Some(n) = self.file_size {
                m.insert("file_size".into(), n.into());
            }
            if let Some(n) = self.download_size {
                m.insert("download_size".into(), n.into());
            }
        }
        m.insert("file_name".into(), self.file_name.clone().into());
        m.insert("download_count".into(), self.download_count.into());
        if let Some(t) = self.last_downloaded {
            m.insert("last_downloaded".into(), t.to_sql().into());
        }
        m.insert("store_until".into(), self.store_until.clone().into());
        m.insert("filters".into(), self.filters.clone());
        Value::Object(m)
    }
}

/// A report to create: who owns it, what it holds and how it is laid out.
///
/// ```
/// use auditlog::report::NewReport;
/// use auditlog::export::Layout;
/// use auditlog::Query;
/// let r = NewReport::new(42, Query::new()).header(false);
/// assert_eq!(r.layout, Layout::Voximplant);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct NewReport {
    /// The owning customer (only callers covering it see the report).
    pub customer: u64,
    /// The rows the report holds (validated at creation; its `until_id` is
    /// capped at the log's last id).
    pub query: Query,
    /// The request parameters as given, kept for display. Defaults to `{}`.
    pub filters: serde_json::Value,
    /// The CSV columns. Defaults to [`Layout::Voximplant`].
    pub layout: Layout,
    /// Whether the CSV starts with a header row. Defaults to true.
    pub header: bool,
    /// Whether formula-like cells are neutralised. Defaults to true.
    pub neutralize: bool,
    /// The file format: [`Format::Csv`] (gzip-stored CSV) or, with the
    /// `parquet` feature, `Format::Parquet` (the native columns typed;
    /// layout, header and neutralisation do not apply). NDJSON is not a
    /// report format. Defaults to CSV.
    pub format: Format,
}

impl NewReport {
    /// A report of `query` for `customer` with the defaults.
    pub fn new(customer: u64, query: Query) -> Self {
        NewReport {
            customer,
            query,
            filters: serde_json::Value::Object(serde_json::Map::new()),
            layout: Layout::Voximplant,
            header: true,
            neutralize: true,
            format: Format::Csv,
        }
    }

    /// Sets the file format. Defaults to [`Format::Csv`].
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the stored request parameters. Defaults to `{}`.
    #[must_use]
    pub fn filters(mut self, filters: serde_json::Value) -> Self {
        self.filters = filters;
        self
    }

    /// Sets the CSV columns. Defaults to [`Layout::Voximplant`].
    #[must_use]
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Whether the CSV starts with a header row. Defaults to true.
    #[must_use]
    pub fn header(mut self, yes: bool) -> Self {
        self.header = yes;
        self
    }

    /// Whether formula-like cells are neutralised. Defaults to true.
    #[must_use]
    pub fn neutralize(mut self, yes: bool) -> Self {
        self.neutralize = yes;
        self
    }
}

/// The customers a caller may see reports of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Customers {
    /// Every customer (operators, the CLI).
    All,
    /// One customer (a Voximplant account).
    One(u64),
    /// A set of customers (for example a reseller's subtree).
    Set(BTreeSet<u64>),
}

impl Customers {
    /// Whether `customer` is covered.
    pub fn contains(&self, customer: u64) -> bool {
        match self {
            Customers::All => true,
            Customers::One(c) => *c == customer,
            Customers::Set(s) => s.contains(&customer),
        }
    }
}

/// The `GetHistoryReports` filters. Every field defaults to "no filter";
/// the order is by id (creation order), ascending unless `desc_order`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReportFilter {
    /// Only this report. Defaults to any.
    pub history_report_id: Option<u64>,
    /// Only reports created at or after this instant. Defaults to none.
    pub created_from: Option<Timestamp>,
    /// Only reports created before this instant (exclusive, like every end
    /// bound in the engine). Defaults to none.
    pub created_to: Option<Timestamp>,
    /// Only completed (`true`) or only not completed (`false`: pending,
    /// running or failed) reports. Defaults to both.
    pub is_completed: Option<bool>,
    /// Newest first. Defaults to false.
    pub desc_order: bool,
    /// At most this many reports in the page. Defaults to all (interfaces
    /// apply their own default).
    pub count: Option<u64>,
    /// Skip this many matching reports first. Defaults to 0.
    pub offset: u64,
}

impl ReportFilter {
    /// No filter: every report of the caller's customers, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only this report. Defaults to any.
    #[must_use]
    pub fn history_report_id(mut self, id: u64) -> Self {
        self.history_report_id = Some(id);
        self
    }

    /// Only reports created in `[from, to)`. Defaults to no bound.
    #[must_use]
    pub fn created(mut self, from: Option<Timestamp>, to: Option<Timestamp>) -> Self {
        self.created_from = from;
        self.created_to = to;
        self
    }

    /// Only completed or only not completed reports. Defaults to both.
    #[must_use]
    pub fn is_completed(mut self, yes: bool) -> Self {
        self.is_completed = Some(yes);
        self
    }

    /// Newest first. Defaults to false.
    #[must_use]
    pub fn desc_order(mut self, yes: bool) -> Self {
        self.desc_order = yes;
        self
    }

    /// At most `count` reports. Defaults to all.
    #[must_use]
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Skips `offset` matching reports. Defaults to 0.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Whether `r` passes the filters (the customer check is separate).
    pub fn matches(&self, r: &Report) -> bool {
        self.history_report_id
            .is_none_or(|id| r.history_report_id == id)
            && self.created_from.is_none_or(|t| r.created >= t)
            && self.created_to.is_none_or(|t| r.created < t)
            && self
                .is_completed
                .is_none_or(|c| r.state.is_completed() == c)
    }
}

/// One page of a report listing.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportPage {
    /// The reports of the page, in the requested order.
    pub reports: Vec<Report>,
    /// How many reports matched in all (before `count` and `offset`).
    pub total_count: u64,
}

/// What a download yields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownloadEncoding {
    /// The gzip bytes as stored (for clients that accept gzip).
    Gzip,
    /// The CSV, decompressed while it is read.
    Plain,
}

/// An open download: the report as it was when the download started and a
/// reader of its bytes.
pub struct Download {
    /// The report (its `download_count` already counts this download).
    pub report: Report,
    /// What the reader yields.
    pub encoding: DownloadEncoding,
    /// How many bytes the reader yields (`download_size` for gzip,
    /// `file_size` for plain).
    pub len: u64,
    reader: Box<dyn Read + Send>,
    path: PathBuf,
}

impl fmt::Debug for Download {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Download")
            .field("report", &self.report.history_report_id)
            .field("encoding", &self.encoding)
            .field("len", &self.len)
            .field("path", &self.path)
            .finish()
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("reading report file {}: {e}", self.path.display()),
            )
        })
    }
}

/// How the pool runs. Build it with the setters.
///
/// ```
/// use auditlog::report::ReportsConfig;
/// let c = ReportsConfig::new().workers(4).retention_days(7);
/// assert_eq!(c.workers, 4);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportsConfig {
    /// Worker threads writing reports. Defaults to 2. Zero is allowed:
    /// reports are then stored and never written (until a pool with
    /// workers opens the directory).
    pub workers: usize,
    /// Days a report is kept after the day it was created. Defaults to 30.
    pub retention_days: u32,
    /// How often expired reports are deleted while the pool runs (they are
    /// also deleted when it opens). Defaults to one hour.
    pub purge_interval: Duration,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            workers: 2,
            retention_days: 30,
            purge_interval: Duration::from_secs(3600),
        }
    }
}

impl ReportsConfig {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the number of worker threads. Defaults to 2.
    #[must_use]
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Sets the retention in days. Defaults to 30.
    #[must_use]
    pub fn retention_days(mut self, days: u32) -> Self {
        self.retention_days = days;
        self
    }

    /// Sets how often expired reports are purged. Defaults to one hour.
    #[must_use]
    pub fn purge_interval(mut self, every: Duration) -> Self {
        self.purge_interval = every;
        self
    }
}

/// `store_until` for a report created at `created` and kept `days` days.
fn store_until(created: Timestamp, days: u32) -> String {
    const DAY: i64 = 86_400_000_000;
    let micros = created
        .as_micros()
        .saturating_add(i64::from(days).saturating_mul(DAY))
        .min(crate::time::MAX_MICROS);
    Timestamp::from_micros(micros)
        .unwrap_or(Timestamp::MAX)
        .to_date()
}

#[cfg(test)]
mod tests;
