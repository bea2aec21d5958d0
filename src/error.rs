//! The one error type of the crate.
//!
//! Every variant says what went wrong and where: a file and offset for
//! damage, a field name for bad input, the operation and path for I/O.
//! This module owns no logic beyond formatting; it must never hide the
//! underlying cause (it is always kept as `source` or in the message).

use std::io;
use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T = (), E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the engine was doing (for example "fsync").
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Damage in the log that recovery must not paper over.
    #[error("corruption in {segment} at offset {offset}{}: {reason}", id_suffix(*.id))]
    Corrupt {
        /// The segment file.
        segment: PathBuf,
        /// Byte offset of the damaged frame (or of the damaged region).
        offset: u64,
        /// The id of the first record that is missing or damaged, when known.
        id: Option<u64>,
        /// What is wrong.
        reason: String,
    },
    /// A file was written by a newer or unknown format version.
    #[error("{path}: format version {found} is not supported (this build reads version {supported}); use a newer auditlog")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another process (lock file {path}/LOCK)")]
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// The data directory does not exist (read-only commands never create it).
    #[error("data directory {path} does not exist")]
    NoDataDir {
        /// The missing directory.
        path: PathBuf,
    },
    /// A record failed validation.
    #[error("invalid record: field `{field}`: {reason}")]
    InvalidRecord {
        /// The offending field (or `record` for the whole record).
        field: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A query, parameter or option failed validation.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid (a parameter, field or option name).
        what: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Something asked for does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A previous fsync or unrecoverable write error stopped the writer;
    /// the engine must be reopened (recovery decides what is durable).
    #[error("the writer stopped after an earlier failure ({reason}); reopen the log to recover")]
    WriterFailed {
        /// The original failure.
        reason: String,
    },
    /// The index (a cache of the log) failed; `reindex` rebuilds it.
    #[error("index error in {path}: {reason}")]
    Index {
        /// The index directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The engine was closed.
    #[error("the audit log is closed")]
    Closed,
    /// A temporary run written by the external sort came back damaged
    /// (a bad checksum, a short read or undecodable bytes). The query fails
    /// rather than return wrong rows; the log itself is not affected.
    #[error("sort spill run {run} (an unlinked temporary file in {dir}) is damaged at offset {offset}: {reason}")]
    SpillCorrupt {
        /// The directory the spill file was created in.
        dir: PathBuf,
        /// The run's number within its sort, in order of creation from 0.
        run: u64,
        /// Byte offset of the damaged frame within the run.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

fn id_suffix(id: Option<u64>) -> String {
    match id {
        Some(id) => format!(" (record id {id})"),
        None => String::new(),
    }
}

impl Error {
    /// Builds an [`Error::Io`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// Builds an [`Error::InvalidRecord`].
    pub fn record(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidRecord {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// True when the error comes from bad input rather than from the engine
    /// or the disk (interfaces answer such errors with a 400-class status).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::InvalidRecord { .. } | Error::Invalid { .. } | Error::NotFound { .. }
        )
    }
}
