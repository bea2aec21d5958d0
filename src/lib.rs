//! auditlog: an embedded, append-only audit-log engine.
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
pub mod log;
#[cfg(feature = "cli")]
pub mod password;
pub mod query;
pub mod record;
pub mod report;
#[cfg(feature = "server")]
pub mod server;
pub mod storage;
pub mod time;
pub mod workload;

#[cfg(feature = "sqlite-bench")]
pub mod bench;

pub use config::{Durability, Options};
pub use customers::CustomerTree;
pub use db::{AuditLog, RecordRange, SegmentInfo, Stats};
pub use error::{Error, Result};
pub use log::verify::{Damage, VerifyReport};
pub use query::{Field, MatchMode, Predicate, Query, Scope};
pub use record::{Json, NewRecord, Record};
pub use time::Timestamp;
