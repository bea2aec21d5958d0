//! The NDJSON writer: one native JSON record per line.
//!
//! Owns only the line framing and buffering; the JSON form itself is
//! [`Record`]'s `Serialize` (the same bytes as [`Record::to_json`]). It
//! never neutralises (JSON is not read by spreadsheets) and never writes a
//! header.

use std::io::Write;
use std::path::PathBuf;

use super::{io_err, ExportOptions, BUFFER_BYTES};
use crate::error::{Error, Result};
use crate::record::Record;

pub(crate) struct NdjsonOut<W: Write> {
    w: W,
    buf: Vec<u8>,
    dest: PathBuf,
}

impl<W: Write> NdjsonOut<W> {
    pub(crate) fn new(out: W, opts: &ExportOptions) -> Self {
        NdjsonOut {
            w: out,
            buf: Vec::with_capacity(BUFFER_BYTES + 4096),
            dest: opts.destination.clone(),
        }
    }

    pub(crate) fn write(&mut self, r: &Record) -> Result<()> {
        let start = self.buf.len();
        if let Err(e) = serde_json::to_writer(&mut self.buf, r) {
            self.buf.truncate(start);
            return Err(Error::record(
                "record",
                format!("record {} cannot be written as JSON: {e}", r.id),
            ));
        }
        self.buf.push(b'\n');
        if self.buf.len() >= BUFFER_BYTES {
            self.drain()?;
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<()> {
        let res = self.w.write_all(&self.buf);
        self.buf.clear();
        res.map_err(|e| io_err("write NDJSON to", &self.dest, e))
    }

    pub(crate) fn finish(mut self) -> Result<W> {
        self.drain()?;
        self.w
            .flush()
            .map_err(|e| io_err("flush NDJSON to", &self.dest, e))?;
        Ok(self.w)
    }
}
