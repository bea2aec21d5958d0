//! The CSV writer: the native and Voximplant layouts over `csv::Writer`.
//!
//! Owns the cell-by-cell encoding of a record (integers through `itoa`,
//! times through [`TimeFormatter`], text cells through the neutralisation
//! rule). It must never allocate per row (every buffer is reused) and never
//! neutralise a numeric or time cell.

use std::io::Write;
use std::path::PathBuf;

use super::timefmt::TimeFormatter;
use super::{io_err, is_formula_like, ExportOptions, Layout, BUFFER_BYTES};
use crate::error::Result;
use crate::query::model::{Field, RecordView};
use crate::record::is_null_json;
use crate::time::Timestamp;

pub(crate) struct CsvOut<W: Write> {
    w: ::csv::Writer<W>,
    layout: Layout,
    neutralize: bool,
    dest: PathBuf,
    /// Reused for neutralised cells and joined `refs`.
    scratch: Vec<u8>,
    /// Reused for neutralised joined `refs`.
    scratch2: Vec<u8>,
    ints: itoa::Buffer,
    times: TimeFormatter,
}

/// Turns a `csv` error into the I/O error underneath it (the writer only
/// fails on I/O; anything else is reported as such).
fn csv_io(e: ::csv::Error) -> std::io::Error {
    match e.into_kind() {
        ::csv::ErrorKind::Io(e) => e,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

/// Writes one text cell, with a leading `'` when it looks like a formula
/// and neutralisation is on.
fn text<W: Write>(
    w: &mut ::csv::Writer<W>,
    scratch: &mut Vec<u8>,
    neutralize: bool,
    cell: &[u8],
) -> ::csv::Result<()> {
    if neutralize && is_formula_like(cell) {
        scratch.clear();
        scratch.push(b'\'');
        scratch.extend_from_slice(cell);
        w.write_field(&scratch[..])
    } else {
        w.write_field(cell)
    }
}

fn json_or<'a>(j: Option<&'a str>, absent: &'a str) -> &'a [u8] {
    j.unwrap_or(absent).as_bytes()
}

fn time_of<R: RecordView + ?Sized>(r: &R) -> ::csv::Result<Timestamp> {
    Timestamp::from_micros(r.time_micros())
        .map_err(|e| ::csv::Error::from(std::io::Error::other(format!("record {}: {e}", r.id()))))
}

impl<W: Write> CsvOut<W> {
    pub(crate) fn new(out: W, opts: &ExportOptions) -> Result<Self> {
        let w = ::csv::WriterBuilder::new()
            .buffer_capacity(BUFFER_BYTES)
            .terminator(::csv::Terminator::CRLF)
            .has_headers(false)
            .from_writer(out);
        let mut me = CsvOut {
            w,
            layout: opts.layout,
            neutralize: opts.neutralize,
            dest: opts.destination.clone(),
            scratch: Vec::with_capacity(256),
            scratch2: Vec::with_capacity(256),
            ints: itoa::Buffer::new(),
            times: TimeFormatter::new(),
        };
        if opts.header {
            me.w.write_record(opts.layout.columns())
                .map_err(|e| io_err("write CSV header to", &me.dest, csv_io(e)))?;
        }
        Ok(me)
    }

    pub(crate) fn write<R: RecordView + ?Sized>(&mut self, r: &R) -> Result<()> {
        let res = match self.layout {
            Layout::Native => self.native(r),
            Layout::Voximplant => self.voximplant(r),
        };
        res.map_err(|e| io_err("write CSV row to", &self.dest, csv_io(e)))
    }

    fn native<R: RecordView + ?Sized>(&mut self, r: &R) -> ::csv::Result<()> {
        let n = self.neutralize;
        let CsvOut {
            w,
            scratch,
            scratch2,
            ints,
            times,
            ..
        } = self;
        w.write_field(ints.format(r.id()))?;
        let mut tb = [0u8; 27];
        w.write_field(times.rfc3339(time_of(r)?, &mut tb))?;
        w.write_field(ints.format(r.customer()))?;
        for f in Field::TEXT {
            text(w, scratch, n, r.text(f).as_bytes())?;
        }
        scratch2.clear();
        for (i, x) in r.refs_iter().enumerate() {
            if i > 0 {
                scratch2.push(b';');
            }
            scratch2.extend_from_slice(x.as_bytes());
        }
        text(w, scratch, n, scratch2)?;
        text(w, scratch, n, json_or(r.args_json(), ""))?;
        text(w, scratch, n, json_or(r.result_json(), ""))?;
        w.write_record(None::<&[u8]>)
    }

    fn voximplant<R: RecordView + ?Sized>(&mut self, r: &R) -> ::csv::Result<()> {
        let n = self.neutralize;
        let CsvOut {
            w,
            scratch,
            ints,
            times,
            ..
        } = self;
        w.write_field(ints.format(r.id()))?;
        w.write_field(ints.format(r.customer()))?;
        text(w, scratch, n, r.text(Field::Person).as_bytes())?;
        let mut tb = [0u8; 19];
        w.write_field(times.sql(time_of(r)?, &mut tb))?;
        text(w, scratch, n, r.text(Field::Source).as_bytes())?;
        text(w, scratch, n, r.text(Field::Action).as_bytes())?;
        // As `GetAuditLog` shows them: JSON `null` counts as absent.
        let args = r.args_json().filter(|t| !is_null_json(t));
        let result = r.result_json().filter(|t| !is_null_json(t));
        text(w, scratch, n, json_or(args, "{}"))?;
        text(w, scratch, n, json_or(result, ""))?;
        w.write_record(None::<&[u8]>)
    }

    pub(crate) fn finish(self) -> Result<W> {
        let dest = self.dest;
        self.w
            .into_inner()
            .map_err(|e| io_err("flush CSV to", &dest, e.into_error()))
    }
}
