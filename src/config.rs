//! Options: how an [`AuditLog`](crate::AuditLog) is opened. Every setting
//! states its default. This module must never touch the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::storage::fs::FsStorage;
use crate::storage::Storage;

/// When an append's bytes are made durable (SPEC section 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// An append returns only after its bytes (and any new file or directory
    /// entry) are fsynced. Concurrent appenders share fsyncs (group commit).
    Always,
    /// Appends return once written to the operating system; a background
    /// thread fsyncs at this interval, so at most that much acknowledged
    /// data can be lost on power loss.
    Interval(Duration),
    /// Appends return once written to the operating system; no fsync except
    /// when a segment is sealed. Survives a process crash, not power loss.
    Never,
}

impl std::str::FromStr for Durability {
    type Err = crate::Error;
    /// Parses `always`, `never`, `interval` (100 ms) or `interval:MS`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s {
            "always" => Ok(Durability::Always),
            "never" => Ok(Durability::Never),
            "interval" => Ok(Durability::Interval(Duration::from_millis(100))),
            _ => {
                let ms = s
                    .strip_prefix("interval:")
                    .or_else(|| s.strip_prefix("interval="))
                    .and_then(|v| v.trim_end_matches("ms").parse::<u64>().ok())
                    .filter(|ms| *ms > 0)
                    .ok_or_else(|| {
                        crate::Error::invalid(
                            "durability",
                            format!("{s:?} (expected always, never, interval or interval:MS)"),
                        )
                    })?;
                Ok(Durability::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

/// Options for opening an audit log. Build with [`Options::new`], adjust
/// with the setters, then call [`Options::open`].
///
/// ```
/// use auditlog::{Options, Durability};
/// let dir = tempfile::tempdir().unwrap();
/// let log = Options::new(dir.path())
///     .durability(Durability::Never)
///     .segment_size(8 << 20)
///     .open()
///     .unwrap();
/// assert_eq!(log.stats().unwrap().records, 0);
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) dir: PathBuf,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) durability: Durability,
    pub(crate) segment_size: u64,
    pub(crate) segment_max_age: Option<Duration>,
    pub(crate) group_commit_wait: Duration,
    pub(crate) create_if_missing: bool,
    pub(crate) verify_sealed_on_open: bool,
    pub(crate) sort_memory_budget: usize,
    pub(crate) report_workers: usize,
    pub(crate) report_retention_days: u32,
    pub(crate) checkpoint_key: Option<crate::tamper::SigningKey>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("dir", &self.dir)
            .field("durability", &self.durability)
            .field("segment_size", &self.segment_size)
            .field("segment_max_age", &self.segment_max_age)
            .field("group_commit_wait", &self.group_commit_wait)
            .field("create_if_missing", &self.create_if_missing)
            .field("verify_sealed_on_open", &self.verify_sealed_on_open)
            .field("sort_memory_budget", &self.sort_memory_budget)
            .finish_non_exhaustive()
    }
}

/// Default segment size bound: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
/// Smallest accepted segment size bound: 4 KiB.
pub const MIN_SEGMENT_SIZE: u64 = 4 << 10;
/// Default longest wait of a group commit for appenders in flight: 1 ms.
pub const DEFAULT_GROUP_COMMIT_WAIT: Duration = Duration::from_millis(1);

impl Options {
    /// Options for the data directory `dir`, with every default.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        Options {
            dir: dir.as_ref().to_path_buf(),
            storage: Arc::new(FsStorage),
            durability: Durability::Always,
            segment_size: DEFAULT_SEGMENT_SIZE,
            segment_max_age: Some(Duration::from_secs(24 * 3600)),
            group_commit_wait: DEFAULT_GROUP_COMMIT_WAIT,
            create_if_missing: true,
            verify_sealed_on_open: true,
            sort_memory_budget: 64 << 20,
            report_workers: 2,
            report_retention_days: 30,
            checkpoint_key: None,
        }
    }

    /// The durability mode. Defaults to [`Durability::Always`].
    #[must_use]
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// The size bound of a segment: an append that would take the active
    /// segment past it seals the segment and goes to a new one (a batch
    /// larger than the bound by itself fills a segment alone). Defaults to
    /// 64 MiB; at least 4 KiB.
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes.max(MIN_SEGMENT_SIZE);
        self
    }

    /// Group commit in [`Durability::Always`] mode: the longest an fsync
    /// waits, before it starts, for appenders that are already inside an
    /// append (writing, or woken by the previous fsync and appending again)
    /// to join it. It never waits when no other append is in progress, so
    /// a lone appender pays nothing. Defaults to 1 ms; zero turns the
    /// waiting off (each fsync then covers whatever was written when it
    /// started).
    #[must_use]
    pub fn group_commit_wait(mut self, wait: Duration) -> Self {
        self.group_commit_wait = wait;
        self
    }

    /// The age at which a non-empty active segment is sealed at the next
    /// append (so that archiving and retention can reach it). Defaults to
    /// 24 hours; `None` disables the age bound.
    #[must_use]
    pub fn segment_max_age(mut self, age: Option<Duration>) -> Self {
        self.segment_max_age = age;
        self
    }

    /// Whether a missing data directory is created. Defaults to true.
    /// Read-only tools set it to false so a typo is an error, not a new log.
    #[must_use]
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// Whether open checks the CRC of every sealed segment's whole body
    /// (a sequential read of the log at about disk speed). Defaults to
    /// true; with false, open checks headers, footers and ids only, and
    /// `verify` is the way to find damage inside sealed segments.
    #[must_use]
    pub fn verify_sealed_on_open(mut self, yes: bool) -> Self {
        self.verify_sealed_on_open = yes;
        self
    }

    /// Memory a sort may use before it spills runs to disk. Defaults to
    /// 64 MiB.
    #[must_use]
    pub fn sort_memory_budget(mut self, bytes: usize) -> Self {
        self.sort_memory_budget = bytes.max(1 << 12);
        self
    }

    /// Number of background threads writing asynchronous reports.
    /// Defaults to 2.
    #[must_use]
    pub fn report_workers(mut self, n: usize) -> Self {
        self.report_workers = n.max(1);
        self
    }

    /// Days a finished report is kept before it expires. Defaults to 30.
    #[must_use]
    pub fn report_retention_days(mut self, days: u32) -> Self {
        self.report_retention_days = days.max(1);
        self
    }

    /// The Ed25519 key that signs checkpoints and retention horizons.
    /// Defaults to the data directory's `checkpoint.key`, generated on
    /// first use (see [`crate::tamper`]). A key supplied here is never
    /// written to the data directory.
    #[must_use]
    pub fn checkpoint_key(mut self, key: crate::tamper::SigningKey) -> Self {
        self.checkpoint_key = Some(key);
        self
    }

    /// The file layer. Defaults to the real file system; tests pass a
    /// [`FaultStorage`](crate::storage::fault::FaultStorage).
    #[must_use]
    pub fn storage(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = storage;
        self
    }

    /// Opens (or creates) the audit log.
    pub fn open(self) -> crate::Result<crate::AuditLog> {
        crate::AuditLog::open_with(self)
    }
}
