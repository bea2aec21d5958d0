//! auditlog: an embedded, append-only audit-log engine.
#![deny(missing_docs)]
#![warn(clippy::unwrap_used)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod error;
pub mod format;
#[cfg(feature = "cli")]
pub mod password;
pub mod query;
pub mod record;
#[cfg(feature = "server")]
pub mod server;
pub mod time;

pub use error::{Error, Result};
pub use query::{Field, MatchMode, Predicate, Query, Scope};
pub use record::{Json, NewRecord, Record};
pub use time::Timestamp;
