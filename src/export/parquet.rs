//! The Parquet writer (feature `parquet`): records as typed Arrow columns,
//! zstd-compressed row groups.
//!
//! Owns the Parquet schema of a record ([`schema`]), the batching of rows
//! into Arrow record batches and of batches into row groups, and the
//! hand-over of finished bytes to the caller's writer. Memory is bounded by
//! one row group in encoding plus one batch being built: rows are added to
//! Arrow builders, turned into a record batch every [`BATCH_ROWS`] rows and
//! handed to the `parquet` crate's `ArrowWriter`, which encodes them into
//! the current row group and closes it every [`ROW_GROUP_ROWS`] rows. The
//! encoded bytes collect in an internal buffer that is drained into the
//! caller's writer after every batch, so the caller's writer needs neither
//! `Send` nor `Seek` (a pipe or a socket works).
//!
//! # Schema
//!
//! | column | Arrow type | nullable |
//! |---|---|---|
//! | `id` | UInt64 | no |
//! | `time` | Timestamp(Microsecond, "UTC") | no |
//! | `customer` | UInt64 | no |
//! | `person`, `source`, `action`, `object`, `object_id`, `name`, `field`, `old`, `new` | Utf8 | no (a missing string is `""`, as in the record) |
//! | `refs` | List(Utf8), items not null | no (an empty list when none) |
//! | `args`, `result` | Utf8 (compact JSON text) | yes (null when absent) |

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{io_err, ExportOptions};
use crate::error::{Error, Result};
use crate::query::model::RecordView;
use crate::query::Field;

/// Rows per Arrow record batch handed to the Parquet encoder (64 Ki).
pub const BATCH_ROWS: usize = 65_536;

/// Rows per Parquet row group (256 Ki, four batches). At about 200 bytes a
/// record that is ~50 MB of record data per row group before encoding: big
/// enough for good compression and cheap column-chunk reads in Spark, Trino
/// or DuckDB (which parallelise by row group), small enough that a writer
/// holds a few tens of MB at most.
pub const ROW_GROUP_ROWS: usize = 262_144;

/// The zstd level of every column chunk (3: zstd's default; a good ratio at
/// several hundred MB/s per core).
pub const ZSTD_LEVEL: i32 = 3;

/// The MIME type of a Parquet file (`application/vnd.apache.parquet`).
pub const CONTENT_TYPE: &str = "application/vnd.apache.parquet";

fn refs_item() -> ArrowField {
    ArrowField::new("item", DataType::Utf8, false)
}

/// The Arrow schema of a record in Parquet output (see the module docs):
/// the native columns of [`NATIVE_COLUMNS`](super::NATIVE_COLUMNS), in
/// that order, typed.
///
/// ```
/// let s = auditlog::export::parquet_schema();
/// assert_eq!(s.fields().len(), 15);
/// assert_eq!(s.field(1).name(), "time");
/// ```
pub fn schema() -> SchemaRef {
    let mut fields = vec![
        ArrowField::new("id", DataType::UInt64, false),
        ArrowField::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        ArrowField::new("customer", DataType::UInt64, false),
    ];
    for f in Field::TEXT {
        fields.push(ArrowField::new(f.name(), DataType::Utf8, false));
    }
    fields.push(ArrowField::new(
        "refs",
        DataType::List(Arc::new(refs_item())),
        false,
    ));
    fields.push(ArrowField::new("args", DataType::Utf8, true));
    fields.push(ArrowField::new("result", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// The writer properties: zstd, [`ROW_GROUP_ROWS`] per row group, a fixed
/// `created_by` so that the same rows always give the same bytes.
fn properties() -> Result<WriterProperties> {
    let level = ZstdLevel::try_new(ZSTD_LEVEL)
        .map_err(|e| Error::invalid("parquet zstd level", e.to_string()))?;
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by(concat!("auditlog ", env!("CARGO_PKG_VERSION")).to_string())
        .build())
}

struct Builders {
    id: UInt64Builder,
    time: TimestampMicrosecondBuilder,
    customer: UInt64Builder,
    text: Vec<StringBuilder>,
    refs: ListBuilder<StringBuilder>,
    args: StringBuilder,
    result: StringBuilder,
    rows: usize,
}

impl Builders {
    fn new() -> Self {
        Builders {
            id: UInt64Builder::with_capacity(BATCH_ROWS),
            time: TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS).with_timezone("UTC"),
            customer: UInt64Builder::with_capacity(BATCH_ROWS),
            text: Field::TEXT.iter().map(|_| StringBuilder::new()).collect(),
            refs: ListBuilder::new(StringBuilder::new()).with_field(Arc::new(refs_item())),
            args: StringBuilder::new(),
            result: StringBuilder::new(),
            rows: 0,
        }
    }

    fn push<R: RecordView + ?Sized>(&mut self, r: &R) {
        self.id.append_value(r.id());
        self.time.append_value(r.time_micros());
        self.customer.append_value(r.customer());
        for (b, f) in self.text.iter_mut().zip(Field::TEXT) {
            b.append_value(r.text(f));
        }
        for x in r.refs_iter() {
            self.refs.values().append_value(x);
        }
        self.refs.append(true);
        self.args.append_option(r.args_json());
        self.result.append_option(r.result_json());
        self.rows += 1;
    }

    /// Takes the rows built so far as a record batch (the builders start
    /// over empty).
    fn take(&mut self, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.time.finish()),
            Arc::new(self.customer.finish()),
        ];
        for b in &mut self.text {
            cols.push(Arc::new(b.finish()));
        }
        cols.push(Arc::new(self.refs.finish()));
        cols.push(Arc::new(self.args.finish()));
        cols.push(Arc::new(self.result.finish()));
        self.rows = 0;
        RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
    }
}

/// Streams records into a Parquet file written to `W`.
pub(crate) struct ParquetOut<W: Write> {
    out: W,
    writer: ArrowWriter<Vec<u8>>,
    b: Builders,
    schema: SchemaRef,
    dest: PathBuf,
}

impl<W: Write> ParquetOut<W> {
    pub(crate) fn new(out: W, opts: &ExportOptions) -> Result<Self> {
        let schema = schema();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties()?))
            .map_err(|e| parquet_err("start Parquet file", &opts.destination, e))?;
        Ok(ParquetOut {
            out,
            writer,
            b: Builders::new(),
            schema,
            dest: opts.destination.clone(),
        })
    }

    pub(crate) fn write<R: RecordView + ?Sized>(&mut self, r: &R) -> Result<()> {
        self.b.push(r);
        if self.b.rows >= BATCH_ROWS {
            self.write_batch()?;
        }
        Ok(())
    }

    fn write_batch(&mut self) -> Result<()> {
        if self.b.rows == 0 {
            return Ok(());
        }
        let batch = self.b.take(&self.schema).map_err(|e| {
            Error::invalid("parquet batch", format!("{}: {e}", self.dest.display()))
        })?;
        self.writer
            .write(&batch)
            .map_err(|e| parquet_err("encode Parquet for", &self.dest, e))?;
        self.drain()
    }

    /// Hands the bytes encoded so far to the caller's writer.
    fn drain(&mut self) -> Result<()> {
        let buf = self.writer.inner_mut();
        if buf.is_empty() {
            return Ok(());
        }
        let res = self.out.write_all(buf);
        buf.clear();
        res.map_err(|e| io_err("write Parquet to", &self.dest, e))
    }

    pub(crate) fn finish(mut self) -> Result<W> {
        self.write_batch()?;
        self.writer
            .finish()
            .map_err(|e| parquet_err("finish Parquet file", &self.dest, e))?;
        self.drain()?;
        self.out
            .flush()
            .map_err(|e| io_err("flush Parquet to", &self.dest, e))?;
        Ok(self.out)
    }
}

fn parquet_err(
    op: &'static str,
    dest: &std::path::Path,
    e: parquet::errors::ParquetError,
) -> Error {
    Error::io(op, dest, std::io::Error::other(e.to_string()))
}
