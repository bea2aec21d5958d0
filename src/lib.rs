//! auditlog: an embedded, append-only audit-log engine.
//!
//! Records ([`NewRecord`] in, [`Record`] out) are appended to segmented,
//! CRC-framed, append-only files (the only source of truth), indexed by
//! time and attribute (a cache in sled, rebuildable from the log), and
//! served by one query model ([`Query`]) to every interface: this crate's
//! API, the `auditlog` CLI and the HTTP server. The on-disk format and the
//! recovery algorithm are in `docs/format.md`.
//!
//! ```
//! use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
//! use auditlog::{Durability, NewRecord, Options};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let log = Options::new(dir.path()).durability(Durability::Always).open()?;
//! log.set_parent(42, Some(1))?;
//! let id = log.append(
//!     NewRecord::new(42).person("admin_7").action("CreateUser").object("user").name("Alice"),
//! )?;
//! let q = Query::new()
//!     .with_scope(Scope::Descendants(1))
//!     .with_predicate(Predicate::new(Field::Person, MatchMode::Start, "ADMIN").ignore_case())
//!     .with_sort(Field::Time, true)
//!     .with_limit(100);
//! let rows: Vec<_> = log.query(&q)?.collect::<Result<_, _>>()?;
//! assert_eq!(rows.len(), 1);
//! assert_eq!(rows[0].id, id);
//! assert_eq!(log.count(&q)?, 1);
//! let mut csv = Vec::new();
//! log.export(&q, &mut csv, &auditlog::export::ExportOptions::csv(), &mut |_| {})?;
//! assert!(String::from_utf8(csv).unwrap().contains("admin_7"));
//! # Ok::<(), auditlog::Error>(())
//! ```
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod config;
pub mod customers;
mod db;
pub mod error;
pub mod export;
pub mod format;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
#[cfg(feature = "parquet")]
pub mod lake;
pub mod log;
#[cfg(feature = "cli")]
pub mod password;
pub mod query;
pub mod record;
pub mod report;
#[cfg(feature = "server")]
pub mod server;
pub mod storage;
pub mod tamper;
pub mod time;
pub mod workload;

#[cfg(feature = "sqlite-bench")]
pub mod bench;

pub use config::{Durability, Options};
pub use customers::CustomerTree;
pub use db::{ArchiveOptions, ArchiveReport, AuditLog, RecordRange, SegmentInfo, Stats};
pub use error::{Error, Result};
pub use log::verify::{Damage, VerifyReport};
pub use query::{Field, MatchMode, Predicate, Query, Scope};
pub use record::{Json, NewRecord, Record};
pub use tamper::{Checkpoint, CheckpointReport};
pub use time::Timestamp;
