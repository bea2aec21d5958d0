//! The measuring side of `auditlog bench` (SPEC section 6), compiled with the
//! `sqlite-bench` feature only.
//!
//! Owns the peers the engine is measured against ([`sqlite::SqliteBaseline`])
//! and the measuring helpers ([`mem`]), and runs the side-by-side
//! measurement itself ([`harness`]). The records and query parameters come
//! from [`crate::workload`]. It must never reach into the engine's storage,
//! indexes or query execution: it measures the engine only through the
//! public API, and a host that links the library without this feature pulls
//! none of it (nor `rusqlite`).

pub mod harness;
pub mod mem;
pub mod sqlite;

pub use harness::{BenchConfig, BenchReport};
pub use sqlite::SqliteBaseline;
