//! Streaming export of query results to CSV (RFC 4180), NDJSON and, with
//! the `parquet` feature, Apache Parquet (SPEC
//! section 4).
//!
//! Owns the byte layout of exported rows: the native and Voximplant CSV
//! columns, the formula neutralisation of CSV cells (OWASP CSV injection),
//! the NDJSON form, buffering, progress reporting and the mapping of write
//! failures to [`Error::Io`]. It consumes any iterator of
//! `Result<Record>` and writes to any [`std::io::Write`].
//!
//! It must never hold more than one row in memory (exports stream; Parquet,
//! being columnar, holds one bounded batch and one row group: see
//! `PARQUET_ROW_GROUP_ROWS`), never read storage or plan queries (the
//! caller hands it the rows), and never swallow an error: an error from the
//! row iterator stops the export and is returned, and a failed write names
//! what was being written and where.
//!
//! # Buffering
//!
//! The writers buffer internally and hand the caller's writer large chunks
//! (about [`BUFFER_BYTES`] at a time): CSV through the `csv` crate's own
//! buffer, sized to [`BUFFER_BYTES`]; NDJSON through a reused buffer of the
//! same size. An unbuffered writer such as a [`std::fs::File`] or
//! [`std::io::Stdout`] can therefore be passed as it is; wrapping it in a
//! [`std::io::BufWriter`] costs an extra copy and gains nothing.
//!
//! ```
//! use auditlog::export::{export, ExportOptions, Layout};
//! use auditlog::{NewRecord, Timestamp};
//!
//! let t = Timestamp::parse_rfc3339("2026-11-01T12:00:00Z").unwrap();
//! let rec = NewRecord::new(42).person("=cmd").action("CreateUser").into_record(1, t);
//! let mut out = Vec::new();
//! let rows = export(
//!     vec![Ok(rec)],
//!     &mut out,
//!     &ExportOptions::csv().layout(Layout::Voximplant),
//!     &mut |_| {},
//! )
//! .unwrap();
//! assert_eq!(rows, 1);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     "audit_log_id,account_id,subuser_name,requested,ip,cmd_name,cmd_args,cmd_result\r\n\
//!      1,42,'=cmd,2026-11-01 12:00:00,,CreateUser,{},\r\n"
//! );
//! ```

mod csv;
mod ndjson;
#[cfg(feature = "parquet")]
mod parquet;
pub(crate) mod timefmt;

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::query::model::RecordView;
use crate::record::Record;

#[cfg(feature = "parquet")]
pub use self::parquet::{
    schema as parquet_schema, BATCH_ROWS as PARQUET_BATCH_ROWS,
    CONTENT_TYPE as PARQUET_CONTENT_TYPE, ROW_GROUP_ROWS as PARQUET_ROW_GROUP_ROWS,
    ZSTD_LEVEL as PARQUET_ZSTD_LEVEL,
};

/// How many bytes the writers buffer before handing them to the caller's
/// writer (256 KiB).
pub const BUFFER_BYTES: usize = 256 * 1024;

/// How often, in rows, the progress hook is called by default.
pub const DEFAULT_PROGRESS_EVERY: u64 = 4096;

/// The native CSV columns, in order (SPEC section 4).
pub const NATIVE_COLUMNS: [&str; 15] = [
    "id",
    "time",
    "customer",
    "person",
    "source",
    "action",
    "object",
    "object_id",
    "name",
    "field",
    "old",
    "new",
    "refs",
    "args",
    "result",
];

/// The Voximplant report CSV columns, in order (SPEC section 4).
pub const VOXIMPLANT_COLUMNS: [&str; 8] = [
    "audit_log_id",
    "account_id",
    "subuser_name",
    "requested",
    "ip",
    "cmd_name",
    "cmd_args",
    "cmd_result",
];

/// The output format of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// CSV (RFC 4180: comma separated, `"`-quoted where needed, CRLF line
    /// ends), columns chosen by [`Layout`].
    #[default]
    Csv,
    /// One native JSON record ([`Record::to_json`]) per line, `\n` line ends.
    Ndjson,
    /// Apache Parquet (feature `parquet`): the native columns typed (see
    /// [`parquet_schema`]), zstd-compressed row groups of
    /// [`PARQUET_ROW_GROUP_ROWS`] rows. [`Layout`], the header and
    /// neutralisation do not apply.
    #[cfg(feature = "parquet")]
    Parquet,
}

impl Format {
    /// The format's name as the interfaces spell it (`csv`, `ndjson`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Ndjson => "ndjson",
            #[cfg(feature = "parquet")]
            Format::Parquet => "parquet",
        }
    }

    /// The usual file name extension (`csv`, `ndjson`, `parquet`).
    pub fn extension(self) -> &'static str {
        self.name()
    }

    /// The MIME type of the output (`text/csv`, `application/x-ndjson`,
    /// `application/vnd.apache.parquet`).
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv",
            Format::Ndjson => "application/x-ndjson",
            #[cfg(feature = "parquet")]
            Format::Parquet => PARQUET_CONTENT_TYPE,
        }
    }

    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        self.name() == "parquet"
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(Format::Csv),
            "ndjson" => Ok(Format::Ndjson),
            #[cfg(feature = "parquet")]
            "parquet" => Ok(Format::Parquet),
            #[cfg(not(feature = "parquet"))]
            "parquet" => Err(Error::invalid(
                "format",
                "Parquet output needs auditlog built with the `parquet` feature",
            )),
            _ => Err(Error::invalid(
                "format",
                format!(
                    "unknown export format {s:?} (expected {})",
                    if cfg!(feature = "parquet") {
                        "csv, ndjson or parquet"
                    } else {
                        "csv or ndjson"
                    }
                ),
            )),
        }
    }
}

/// The CSV columns (ignored for NDJSON).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// [`NATIVE_COLUMNS`]: every record field; `time` in RFC 3339 with six
    /// fractional digits, `refs` joined by `;`, `args` and `result` as
    /// compact JSON (an empty cell when absent).
    #[default]
    Native,
    /// [`VOXIMPLANT_COLUMNS`]: `id`, `customer`, `person`, `time` as
    /// `YYYY-MM-DD HH:MM:SS` (UTC), `source`, `action`, `args` as compact
    /// JSON (`{}` when absent) and `result` as compact JSON (an empty cell
    /// when absent).
    Voximplant,
}

impl Layout {
    /// The layout's name (`native`, `voximplant`).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Native => "native",
            Layout::Voximplant => "voximplant",
        }
    }

    /// The header row of this layout.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Layout::Native => &NATIVE_COLUMNS,
            Layout::Voximplant => &VOXIMPLANT_COLUMNS,
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(Layout::Native),
            "voximplant" => Ok(Layout::Voximplant),
            _ => Err(Error::invalid(
                "layout",
                format!("unknown CSV layout {s:?} (expected native or voximplant)"),
            )),
        }
    }
}

/// What an export writes and how. Build it with the setters:
///
/// ```
/// use auditlog::export::{ExportOptions, Format, Layout};
/// let o = ExportOptions::csv().layout(Layout::Voximplant).header(false);
/// assert_eq!(o.format, Format::Csv);
/// assert!(o.neutralize);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// CSV or NDJSON. Defaults to [`Format::Csv`].
    pub format: Format,
    /// The CSV columns. Defaults to [`Layout::Native`].
    pub layout: Layout,
    /// Whether CSV output starts with a header row. Defaults to true.
    pub header: bool,
    /// Whether CSV text cells that a spreadsheet would run as a formula get
    /// a leading `'`. Defaults to true.
    pub neutralize: bool,
    /// Call the progress hook every this many rows (and always once at the
    /// end; 0 means only at the end). Defaults to
    /// [`DEFAULT_PROGRESS_EVERY`] (4096).
    pub progress_every: u64,
    /// What the output is called in error messages (a file path, `stdout`,
    /// a response). Defaults to `output`.
    pub destination: PathBuf,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: Format::Csv,
            layout: Layout::Native,
            header: true,
            neutralize: true,
            progress_every: DEFAULT_PROGRESS_EVERY,
            destination: PathBuf::from("output"),
        }
    }
}

impl ExportOptions {
    /// The defaults: native CSV with a header, formulas neutralised.
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults (native CSV with a header, formulas neutralised).
    pub fn csv() -> Self {
        Self::default()
    }

    /// The defaults with [`Format::Ndjson`].
    pub fn ndjson() -> Self {
        Self::default().format(Format::Ndjson)
    }

    /// Sets the output format. Defaults to [`Format::Csv`].
    #[must_use]
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// Sets the CSV columns. Defaults to [`Layout::Native`].
    #[must_use]
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Whether CSV output starts with a header row. Defaults to true.
    #[must_use]
    pub fn header(mut self, yes: bool) -> Self {
        self.header = yes;
        self
    }

    /// Whether CSV text cells starting with `=`, `+`, `-`, `@`, tab or
    /// carriage return get a leading `'` (OWASP CSV injection). Applies to
    /// text cells only, never to ids, customers or times. Defaults to true.
    ///
    /// The rule is the one spreadsheets expect and is not reversible for a
    /// cell that itself starts with `'` followed by one of those characters;
    /// turn it off for exports read by programs rather than people.
    #[must_use]
    pub fn neutralize(mut self, yes: bool) -> Self {
        self.neutralize = yes;
        self
    }

    /// Calls the progress hook every `rows` rows (and once at the end; 0:
    /// only at the end). Defaults to 4096.
    #[must_use]
    pub fn progress_every(mut self, rows: u64) -> Self {
        self.progress_every = rows;
        self
    }

    /// Names the output in error messages. Defaults to `output`.
    #[must_use]
    pub fn destination(mut self, name: impl Into<PathBuf>) -> Self {
        self.destination = name.into();
        self
    }
}

/// Whether a CSV text cell would be run as a formula by a spreadsheet: its
/// first character is `=`, `+`, `-`, `@`, tab or carriage return.
pub fn is_formula_like(cell: &[u8]) -> bool {
    matches!(
        cell.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')
    )
}

/// A push-style writer of records in one export format.
///
/// [`export`] drives one over an iterator; use it directly when the rows
/// arrive one by one (for example from a callback).
pub struct RecordWriter<W: Write> {
    inner: Inner<W>,
    rows: u64,
}

enum Inner<W: Write> {
    Csv(Box<csv::CsvOut<W>>),
    Ndjson(ndjson::NdjsonOut<W>),
    #[cfg(feature = "parquet")]
    Parquet(Box<parquet::ParquetOut<W>>),
}

impl<W: Write> RecordWriter<W> {
    /// Starts an export to `out`, writing the CSV header row when asked.
    pub fn new(out: W, opts: &ExportOptions) -> Result<Self> {
        let inner = match opts.format {
            Format::Csv => Inner::Csv(Box::new(csv::CsvOut::new(out, opts)?)),
            Format::Ndjson => Inner::Ndjson(ndjson::NdjsonOut::new(out, opts)),
            #[cfg(feature = "parquet")]
            Format::Parquet => Inner::Parquet(Box::new(parquet::ParquetOut::new(out, opts)?)),
        };
        Ok(RecordWriter { inner, rows: 0 })
    }

    /// Writes one record.
    pub fn write(&mut self, r: &Record) -> Result<()> {
        self.write_view(r)
    }

    /// Writes one record given as any [`RecordView`] (the engine passes
    /// records borrowed from the log, so CSV export copies nothing).
    pub fn write_view<R: RecordView + ?Sized>(&mut self, r: &R) -> Result<()> {
        match &mut self.inner {
            Inner::Csv(w) => w.write(r)?,
            Inner::Ndjson(w) => w.write(&r.to_owned_record()?)?,
            #[cfg(feature = "parquet")]
            Inner::Parquet(w) => w.write(r)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// How many records were written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes out everything buffered (for Parquet: the last row group and
    /// the footer), flushes the caller's writer and returns it. A Parquet
    /// export that is dropped without `finish` is not a valid file.
    pub fn finish(self) -> Result<W> {
        match self.inner {
            Inner::Csv(w) => w.finish(),
            Inner::Ndjson(w) => w.finish(),
            #[cfg(feature = "parquet")]
            Inner::Parquet(w) => w.finish(),
        }
    }
}

/// Writes every row of `rows` to `out` in the format `opts` asks for and
/// returns how many rows were written.
///
/// `progress` is called with the number of rows written so far every
/// [`ExportOptions::progress_every`] rows and once at the end. An error
/// from `rows` stops the export: what was written before it is flushed (on
/// a best-effort basis) and the error is returned. A failed write is an
/// [`Error::Io`] naming the format and [`ExportOptions::destination`].
pub fn export<W, I>(
    rows: I,
    out: W,
    opts: &ExportOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<u64>
where
    W: Write,
    I: IntoIterator<Item = Result<Record>>,
{
    let mut w = RecordWriter::new(out, opts)?;
    let every = opts.progress_every;
    for row in rows {
        let r = match row {
            Ok(r) => r,
            Err(e) => {
                // The rows written so far are still worth having (a
                // streamed response, a terminal); the export's error is
                // the iterator's, so a second failure here is secondary.
                if let Err(flush) = w.finish() {
                    log::warn!("after an export error ({e}), flushing also failed: {flush}");
                }
                return Err(e);
            }
        };
        w.write(&r)?;
        if every != 0 && w.rows % every == 0 {
            progress(w.rows);
        }
    }
    let n = w.rows;
    w.finish()?;
    if n == 0 || every == 0 || n % every != 0 {
        // Not reported by the loop yet.
        progress(n);
    }
    Ok(n)
}

/// Maps a write failure to [`Error::Io`] naming what and where.
fn io_err(op: &'static str, dest: &std::path::Path, e: io::Error) -> Error {
    Error::io(op, dest, e)
}

#[cfg(test)]
pub(crate) mod testdata;

#[cfg(test)]
mod tests;
