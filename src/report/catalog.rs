//! The report catalogue on disk and the names of report files.
//!
//! Owns `catalog.json` (load, atomic save) and the naming and sweeping of
//! `<id>.csv.gz` / `<id>.csv.gz.tmp`. It never decides a report's state
//! (the pool does) and never writes a catalogue in place: every save goes
//! through a temporary file, fsync, rename and a directory fsync.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Report, ReportState};
use crate::error::{Error, Result};
use crate::export::Format;

/// The catalogue file.
pub(crate) const CATALOG: &str = "catalog.json";
/// The catalogue being replaced.
pub(crate) const CATALOG_TMP: &str = "catalog.json.tmp";
/// The catalogue format version this build reads and writes.
pub(crate) const VERSION: u32 = 1;

/// The catalogue in memory.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    /// The id the next report gets (ids are never reused).
    pub(crate) next_id: u64,
    /// Every report, by id.
    pub(crate) reports: BTreeMap<u64, Report>,
}

#[derive(Serialize)]
struct FileOut<'a> {
    version: u32,
    next_id: u64,
    reports: Vec<&'a Report>,
}

#[derive(Deserialize)]
struct FileIn {
    version: u32,
    next_id: u64,
    reports: Vec<Report>,
}

/// The file name suffix of a finished report in `format`.
fn suffix(format: Format) -> &'static str {
    match format {
        Format::Csv | Format::Ndjson => "csv.gz",
        #[cfg(feature = "parquet")]
        Format::Parquet => "parquet",
    }
}

/// Every suffix a finished report file may have (CSV first).
const SUFFIXES: [&str; 2] = ["csv.gz", "parquet"];

/// The finished file of report `id` (`<id>.csv.gz`, or `<id>.parquet` for
/// a Parquet report).
pub(crate) fn file_path(dir: &Path, id: u64, format: Format) -> PathBuf {
    dir.join(format!("{id}.{}", suffix(format)))
}

/// The file of report `id` while it is written.
pub(crate) fn tmp_path(dir: &Path, id: u64, format: Format) -> PathBuf {
    dir.join(format!("{id}.{}.tmp", suffix(format)))
}

/// Every path report `id` may have a file under, finished or not, in any
/// format (for removal when the format is not at hand).
pub(crate) fn all_paths(dir: &Path, id: u64) -> Vec<PathBuf> {
    SUFFIXES
        .iter()
        .flat_map(|s| {
            [
                dir.join(format!("{id}.{s}")),
                dir.join(format!("{id}.{s}.tmp")),
            ]
        })
        .collect()
}

/// Fsyncs a directory so that renames and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Removes a file; a file already gone is fine.
pub(crate) fn remove_quietly(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove report file", path, e)),
    }
}

/// Reads `dir/catalog.json`; a missing file is an empty catalogue.
pub(crate) fn load(dir: &Path) -> Result<Catalog> {
    let path = dir.join(CATALOG);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Catalog {
                next_id: 1,
                reports: BTreeMap::new(),
            })
        }
        Err(e) => return Err(Error::io("read report catalogue", &path, e)),
    };
    let corrupt = |reason: String| Error::Corrupt {
        segment: path.clone(),
        offset: 0,
        id: None,
        reason,
    };
    // Check the version before the shape, so a newer file says so.
    let head: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| corrupt(format!("the report catalogue is not valid JSON: {e}")))?;
    let version = head
        .get("version")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| corrupt("the report catalogue has no version".into()))?;
    if version != u64::from(VERSION) {
        return Err(Error::UnsupportedVersion {
            path: path.clone(),
            found: u32::try_from(version).unwrap_or(u32::MAX),
            supported: VERSION,
        });
    }
    let file: FileIn = serde_json::from_value(head)
        .map_err(|e| corrupt(format!("the report catalogue is malformed: {e}")))?;
    debug_assert_eq!(file.version, VERSION);
    let mut reports = BTreeMap::new();
    let mut max_id = 0;
    for r in file.reports {
        let id = r.history_report_id;
        max_id = max_id.max(id);
        if reports.insert(id, r).is_some() {
            return Err(corrupt(format!("report {id} appears twice")));
        }
    }
    Ok(Catalog {
        next_id: file.next_id.max(max_id + 1).max(1),
        reports,
    })
}

/// Replaces `dir/catalog.json` atomically: write the temporary file, fsync
/// it, rename it over the catalogue, fsync the directory.
pub(crate) fn save(dir: &Path, cat: &Catalog) -> Result<()> {
    let out = FileOut {
        version: VERSION,
        next_id: cat.next_id,
        reports: cat.reports.values().collect(),
    };
    let mut bytes = serde_json::to_vec_pretty(&out)
        .map_err(|e| Error::invalid("report catalogue", format!("cannot encode: {e}")))?;
    bytes.push(b'\n');
    let tmp = dir.join(CATALOG_TMP);
    let mut f = File::create(&tmp).map_err(|e| Error::io("create report catalogue", &tmp, e))?;
    f.write_all(&bytes)
        .map_err(|e| Error::io("write report catalogue", &tmp, e))?;
    f.sync_all()
        .map_err(|e| Error::io("fsync report catalogue", &tmp, e))?;
    drop(f);
    let path = dir.join(CATALOG);
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename report catalogue into", &path, e))?;
    sync_dir(dir)
}

/// What a file in the report directory is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Final(u64),
    Tmp(u64),
    CatalogTmp,
    Other,
}

fn classify(name: &str) -> Kind {
    if name == CATALOG_TMP {
        return Kind::CatalogTmp;
    }
    let id = |stem: &str| {
        (!stem.is_empty() && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse::<u64>().ok())
            .flatten()
    };
    for suffix in SUFFIXES {
        if let Some(stem) = name
            .strip_suffix(".tmp")
            .and_then(|n| n.strip_suffix(suffix))
            .and_then(|n| n.strip_suffix('.'))
        {
            if let Some(id) = id(stem) {
                return Kind::Tmp(id);
            }
        } else if let Some(stem) = name.strip_suffix(suffix).and_then(|n| n.strip_suffix('.')) {
            if let Some(id) = id(stem) {
                return Kind::Final(id);
            }
        }
    }
    Kind::Other
}

/// Removes every file a reader must never see: temporary files, and report
/// files whose report is gone or not completed. Other files are left
/// alone. Returns how many files were removed.
pub(crate) fn sweep(dir: &Path, cat: &Catalog) -> Result<usize> {
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list report directory", dir, e))?;
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list report directory", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = match classify(name) {
            Kind::Tmp(_) | Kind::CatalogTmp => true,
            Kind::Final(id) => !cat
                .reports
                .get(&id)
                .is_some_and(|r| r.state == ReportState::Completed),
            Kind::Other => false,
        };
        if stale {
            let path = entry.path();
            log::info!("removing stale report file {}", path.display());
            remove_quietly(&path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        sync_dir(dir)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_names() {
        assert_eq!(classify("12.csv.gz"), Kind::Final(12));
        assert_eq!(classify("12.csv.gz.tmp"), Kind::Tmp(12));
        assert_eq!(classify("catalog.json.tmp"), Kind::CatalogTmp);
        assert_eq!(classify("catalog.json"), Kind::Other);
        assert_eq!(classify("x.csv.gz"), Kind::Other);
        assert_eq!(classify(".csv.gz"), Kind::Other);
        assert_eq!(classify("+1.csv.gz"), Kind::Other);
        assert_eq!(classify("notes.txt"), Kind::Other);
    }

    #[test]
    fn missing_catalogue_is_empty_and_bad_ones_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(dir.path()).unwrap();
        assert_eq!(c.next_id, 1);
        assert!(c.reports.is_empty());
        save(dir.path(), &c).unwrap();
        assert!(!dir.path().join(CATALOG_TMP).exists());
        assert_eq!(load(dir.path()).unwrap().next_id, 1);

        fs::write(dir.path().join(CATALOG), b"{\"version\":1,").unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("catalog.json"), "{e}");

        fs::write(
            dir.path().join(CATALOG),
            b"{\"version\":9,\"next_id\":1,\"reports\":[]}",
        )
        .unwrap();
        let e = load(dir.path()).unwrap_err();
        assert!(
            matches!(e, Error::UnsupportedVersion { found: 9, .. }),
            "{e}"
        );
    }
}
