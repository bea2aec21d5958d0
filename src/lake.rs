//! The Parquet lake (feature `parquet`): sealed segments written as a
//! Hive-partitioned Parquet dataset that Spark, Trino, DuckDB, Athena or
//! BigQuery can mount as a table.
//!
//! Owns the dataset's layout and the idempotent, crash-safe writing of one
//! segment into it. It never moves or deletes segments (the log's archive
//! and retention do that) and never reads anything but the segment it is
//! given.
//!
//! # Layout
//!
//! ```text
//! DIR/date=2026-11-01/seg-00000000000000000001.parquet
//! DIR/date=2026-11-01/seg-00000000000000262145.parquet
//! DIR/date=2026-11-02/seg-00000000000000262145.parquet
//! ```
//!
//! One directory per UTC date of the records' `time` (the Hive partition
//! column `date`, which is not stored inside the files); in it one file per
//! segment, named by the segment's first id (20 digits, so names sort in id
//! order). A segment whose records span several dates yields one file per
//! date. The files have the schema of
//! [`parquet_schema`](crate::export::parquet_schema).
//!
//! # Idempotence and crashes
//!
//! Each file is written under a hidden temporary name
//! (`.seg-<id>.parquet.tmp`, which Hive-style readers ignore), fsynced and
//! renamed into place, dates in ascending order, so the file of the
//! segment's last date (that of its newest record) appears last. A segment
//! whose last-date file exists is therefore complete and is skipped on a
//! rerun; one cut off by a crash is written again from scratch, each file
//! replaced by identical bytes.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::export::{ExportOptions, Format, RecordWriter};
use crate::log::segment::{corrupt, read_whole, walk};
use crate::log::Segment;
use crate::time::Timestamp;

const DAY_MICROS: i64 = 86_400_000_000;

/// The lake file name of the segment whose first record is `first_id`
/// (`seg-<first_id, 20 digits>.parquet`).
///
/// ```
/// assert_eq!(auditlog::lake::file_name(1), "seg-00000000000000000001.parquet");
/// ```
pub fn file_name(first_id: u64) -> String {
    format!("seg-{first_id:020}.parquet")
}

/// The partition directory name of a UTC date (`date=YYYY-MM-DD`).
pub fn partition_name(date: &str) -> String {
    format!("date={date}")
}

/// What writing one segment into the lake did.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SegmentLake {
    /// The segment's first id.
    pub first_id: u64,
    /// Whether the segment was already complete in the lake (nothing written).
    pub skipped: bool,
    /// The files written, in date order (empty when skipped).
    pub files: Vec<PathBuf>,
    /// The records written (0 when skipped).
    pub rows: u64,
}

fn date_of_day(day: i64, seg: &Segment) -> Result<String> {
    Timestamp::from_micros(day.saturating_mul(DAY_MICROS))
        .map(Timestamp::to_date)
        .map_err(|e| {
            corrupt(
                &seg.path,
                0,
                None,
                format!("record time out of range for the lake: {e}"),
            )
        })
}

struct DateFile {
    tmp: PathBuf,
    dst: PathBuf,
    dir: PathBuf,
    w: RecordWriter<File>,
}

/// Writes the sealed segment `seg` into the lake at `lake` (created if
/// missing), unless it is already complete there. Errors name the segment
/// or the lake file involved; temporary files of a failed write are removed
/// on a best-effort basis (a rerun overwrites them anyway).
pub fn write_segment(lake: &Path, seg: &Segment) -> Result<SegmentLake> {
    let Some(footer) = seg.footer else {
        return Err(Error::invalid(
            "segment",
            format!(
                "{}: only sealed segments are written to the lake",
                seg.path.display()
            ),
        ));
    };
    let mut out = SegmentLake {
        first_id: seg.first_id,
        skipped: false,
        files: Vec::new(),
        rows: 0,
    };
    if footer.count == 0 {
        out.skipped = true;
        return Ok(out);
    }
    let name = file_name(seg.first_id);
    let last_date = date_of_day(footer.max_time.div_euclid(DAY_MICROS), seg)?;
    let last_file = lake.join(partition_name(&last_date)).join(&name);
    if last_file.exists() {
        out.skipped = true;
        return Ok(out);
    }
    fs::create_dir_all(lake).map_err(|e| Error::io("create lake directory", lake, e))?;

    let owned;
    let bytes: &[u8] = match seg.mapped() {
        Some(m) => m,
        None => {
            owned = read_whole(&seg.path, &seg.file)?;
            &owned
        }
    };
    let mut files: BTreeMap<i64, DateFile> = BTreeMap::new();
    let mut failed: Option<Error> = None;
    let mut rows = 0u64;
    let w = walk(bytes, seg.first_id, |_, rec| {
        if failed.is_some() {
            return;
        }
        let day = rec.time.div_euclid(DAY_MICROS);
        let res = (|| -> Result<()> {
            let f = match files.entry(day) {
                std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let dir = lake.join(partition_name(&date_of_day(day, seg)?));
                    fs::create_dir_all(&dir)
                        .map_err(|e| Error::io("create lake partition", &dir, e))?;
                    let tmp = dir.join(format!(".{name}.tmp"));
                    let file =
                        File::create(&tmp).map_err(|e| Error::io("create lake file", &tmp, e))?;
                    let opts = ExportOptions::new()
                        .format(Format::Parquet)
                        .destination(&tmp);
                    let w = RecordWriter::new(file, &opts)?;
                    v.insert(DateFile {
                        dst: dir.join(&name),
                        tmp,
                        dir,
                        w,
                    })
                }
            };
            f.w.write_view(rec)
        })();
        match res {
            Ok(()) => rows += 1,
            Err(e) => failed = Some(e),
        }
    });
    let cleanup = |files: &BTreeMap<i64, PathBuf>| {
        for tmp in files.values() {
            if let Err(e) = fs::remove_file(tmp) {
                log::warn!("removing lake temporary file {}: {e}", tmp.display());
            }
        }
    };
    let tmps: BTreeMap<i64, PathBuf> = files.iter().map(|(d, f)| (*d, f.tmp.clone())).collect();
    if let Some(e) = failed {
        drop(files);
        cleanup(&tmps);
        return Err(e);
    }
    if w.offsets.len() as u64 != footer.count {
        drop(files);
        cleanup(&tmps);
        return Err(corrupt(
            &seg.path,
            w.stop.as_ref().map_or(w.end, |s| s.0) as u64,
            Some(seg.first_id + w.offsets.len() as u64),
            w.stop
                .map(|s| s.1)
                .unwrap_or_else(|| "fewer records than the seal footer counts".into()),
        ));
    }
    // Finish and fsync every file before any is renamed into place.
    let mut done: Vec<(PathBuf, PathBuf, PathBuf)> = Vec::new();
    let mut err = None;
    for (_, f) in files {
        if err.is_some() {
            continue;
        }
        let res = f.w.finish().and_then(|file| {
            file.sync_all()
                .map_err(|e| Error::io("fsync lake file", &f.tmp, e))
        });
        match res {
            Ok(()) => done.push((f.tmp, f.dst, f.dir)),
            Err(e) => err = Some(e),
        }
    }
    if let Some(e) = err {
        cleanup(&tmps);
        return Err(e);
    }
    for (tmp, dst, dir) in &done {
        fs::rename(tmp, dst).map_err(|e| Error::io("rename lake file", tmp, e))?;
        sync_dir(dir)?;
        out.files.push(dst.clone());
    }
    sync_dir(lake)?;
    out.rows = rows;
    Ok(out)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync lake directory", dir, e))
}
