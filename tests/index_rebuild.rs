//! Guards against an index (a cache of the log, kept in sled) that
//! disagrees with the log after a crash or damage: queries must return
//! exactly what a full scan of the log returns when sled is deleted,
//! replaced by an older copy, corrupted, or when the process dies between
//! sealing a segment and writing its index.

mod common;

use std::path::Path;
use std::process::Command;

use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::{AuditLog, Durability, NewRecord, Options, Record, Timestamp};
use common::*;

const BASE: i64 = 1_767_225_600_000_000;

fn open(dir: &Path) -> AuditLog {
    Options::new(dir)
        .durability(Durability::Never)
        .segment_size(32 << 10)
        .open()
        .unwrap()
}

fn fill(log: &AuditLog, seed: u64, n: u64) {
    let mut rng = Rng(seed);
    let start = log.last_id();
    let recs: Vec<NewRecord> = (0..n)
        .map(|i| gen_record(&mut rng, start + i, BASE))
        .collect();
    for c in recs.chunks(64) {
        log.append_batch(c.to_vec()).unwrap();
    }
}

fn queries() -> Vec<Query> {
    let t = |s: i64| Some(Timestamp::from_micros(BASE + s * 1_000_000).unwrap());
    vec![
        Query::new(),
        Query::new().with_sort(Field::Id, true),
        Query::new().with_predicate(Predicate::new(Field::Person, MatchMode::Exact, "alice")),
        Query::new()
            .with_scope(Scope::Own(3))
            .with_range(t(100), t(2000)),
        Query::new().with_predicate(Predicate::new(Field::Relation, MatchMode::Exact, "74951")),
        Query::new().with_predicate(
            Predicate::new(Field::Action, MatchMode::Start, "Create").ignore_case(),
        ),
        Query::new()
            .with_range(t(500), t(900))
            .with_sort(Field::Name, false),
    ]
}

/// Every query equals the naive filter over a full scan of the log.
fn check_against_scan(log: &AuditLog) {
    let all: Vec<(Record, bool)> = log.range(..).map(|r| (r.unwrap(), false)).collect();
    assert!(
        all.windows(2).all(|w| w[1].0.id == w[0].0.id + 1),
        "range scan is not gap-free"
    );
    assert_eq!(all.last().map(|r| r.0.id), Some(log.last_id()));
    let tree = log.customer_tree();
    for q in queries() {
        let want = reference(&all, &tree, &q);
        let got: Vec<Record> = log.query(&q).unwrap().collect::<Result<_, _>>().unwrap();
        assert_eq!(got, want, "{q:?}");
        assert_eq!(log.count(&q).unwrap(), want.len() as u64);
    }
}

/// Copies a directory the open log may be writing in: a file that goes
/// between the listing and the copy (a temporary file renamed by the
/// background sealer) is not part of the copy.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            match std::fs::copy(&p, to.join(e.file_name())) {
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => panic!("copy {}: {err}", p.display()),
            }
        }
    }
}

#[test]
fn deleted_index_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        fill(&log, 1, 3000);
        assert!(log.segments().len() > 5);
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let log = open(dir.path());
    check_against_scan(&log);
    assert_eq!(
        log.stats().unwrap().indexed_segments as usize,
        log.segments().len() - 1
    );
}

#[test]
fn older_copy_of_the_index_is_caught_up() {
    let dir = tempfile::tempdir().unwrap();
    let old = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        fill(&log, 2, 1500);
        log.index_flush_for_tests();
        copy_dir(&dir.path().join("index"), old.path());
        fill(&log, 3, 2500);
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    copy_dir(old.path(), &dir.path().join("index"));
    let log = open(dir.path());
    check_against_scan(&log);
    // And after retention the stale catalogue entries are gone too.
    let cut = Timestamp::from_micros(BASE + 1200 * 1_000_000).unwrap();
    let gone = log.retain(cut).unwrap();
    assert!(!gone.is_empty());
    check_against_scan(&log);
}

#[test]
fn corrupted_index_files_are_moved_aside_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        fill(&log, 4, 3000);
    }
    // Scribble over every file sled has.
    let idx = dir.path().join("index");
    for e in std::fs::read_dir(&idx).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            let len = std::fs::metadata(&p).unwrap().len() as usize;
            let junk: Vec<u8> = (0..len.max(64)).map(|i| (i * 131 % 251) as u8).collect();
            std::fs::write(&p, junk).unwrap();
        }
    }
    let log = open(dir.path());
    check_against_scan(&log);
    let moved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("index.broken-")
        })
        .count();
    let warned = log.warnings().iter().any(|w| w.contains("rebuild"));
    assert!(
        moved == 1 || warned,
        "neither moved aside nor rebuilt: {:?}",
        log.warnings()
    );
}

/// The per-segment blob files beside sled (`index/segments/*.idx`):
/// flipped bytes, truncated or deleted files are noticed (CRCs, the
/// table's bounds) and the segments re-indexed from the log.
#[test]
fn damaged_blob_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        fill(&log, 6, 3000);
    }
    let blobs = dir.path().join("index").join("segments");
    let mut files: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "{} blob files", files.len());
    for (i, p) in files.iter().enumerate() {
        let mut b = std::fs::read(p).unwrap();
        match i % 3 {
            // A flipped byte in the last blob (a postings CRC catches it).
            0 => {
                let at = b.len() - 10;
                b[at] ^= 0x5a;
                std::fs::write(p, b).unwrap();
            }
            // Cut inside the blobs (the table points past the end).
            1 => std::fs::write(p, &b[..b.len() / 2]).unwrap(),
            _ => std::fs::remove_file(p).unwrap(),
        }
    }
    let log = open(dir.path());
    check_against_scan(&log);
    assert!(
        log.warnings().iter().any(|w| w.contains("rebuild")),
        "{:?}",
        log.warnings()
    );
}

#[test]
fn reindex_on_demand_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    fill(&log, 5, 2000);
    check_against_scan(&log);
    log.reindex().unwrap();
    check_against_scan(&log);
}

const CHILD_ENV: &str = "AUDITLOG_TEST_INDEX_CHILD";

/// In the child: append until the failpoint after the first seal aborts us.
#[test]
fn child_writer_for_crash_test() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = open(Path::new(&dir));
    fill(&log, 6, 100_000);
    unreachable!("the failpoint should have aborted the process");
}

#[test]
fn crash_between_seal_and_index_write_is_repaired() {
    let dir = tempfile::tempdir().unwrap();
    {
        // Some indexed history first.
        let log = open(dir.path());
        fill(&log, 7, 1000);
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_writer_for_crash_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .env("AUDITLOG_FAILPOINT", "after-seal-before-index")
        .status()
        .unwrap();
    assert!(
        !status.success(),
        "the child should have died at the failpoint"
    );
    let log = open(dir.path());
    assert!(log.last_id() > 1000, "the child appended nothing");
    check_against_scan(&log);
}
