use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::catalog::{file_path, tmp_path, CATALOG};
use super::*;
use crate::error::Error;
use crate::export::testdata::nasty_records;
use crate::export::{export, ExportOptions};
use crate::query::{Field, MatchMode, Predicate, Scope};

const LONG: Duration = Duration::from_secs(60);

/// A source over a vector: filters with `Query::matches_filters`, scopes
/// `Own`/`System` (no customer tree: `Children`/`Descendants` fail), sorts
/// with `Sort::compare`, applies offset and limit.
struct VecSource {
    records: Vec<Record>,
}

impl VecSource {
    fn matching(&self, q: &Query) -> Result<Vec<Record>> {
        let scope_ok = |r: &Record| match q.scope {
            None | Some(Scope::System) => Ok(true),
            Some(Scope::Own(c)) => Ok(r.customer == c),
            Some(other) => Err(Error::invalid(
                "scope",
                format!("{other:?} needs a customer tree this source does not have"),
            )),
        };
        let mut v = Vec::new();
        for r in &self.records {
            if scope_ok(r)? && q.matches_filters(r) {
                v.push(r.clone());
            }
        }
        v.sort_by(|a, b| q.sort.compare(a, b));
        let skip = usize::try_from(q.offset).unwrap();
        let take = q.limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap());
        Ok(v.into_iter().skip(skip).take(take).collect())
    }
}

impl ReportSource for VecSource {
    fn rows(&self, q: &Query) -> Result<Box<dyn Iterator<Item = Result<Record>> + Send + '_>> {
        Ok(Box::new(self.matching(q)?.into_iter().map(Ok)))
    }
    fn count(&self, q: &Query) -> Result<u64> {
        Ok(self.matching(q)?.len() as u64)
    }
}

/// A [`VecSource`] whose rows stop before row `at` (1-based) until `go`
/// yields or is dropped, after telling `started`.
struct GatedSource {
    inner: VecSource,
    at: usize,
    started: Mutex<Sender<()>>,
    go: Arc<Mutex<Receiver<()>>>,
}

impl ReportSource for GatedSource {
    fn rows(&self, q: &Query) -> Result<Box<dyn Iterator<Item = Result<Record>> + Send + '_>> {
        let rows = self.inner.matching(q)?;
        let started = self.started.lock().unwrap().clone();
        let go = Arc::clone(&self.go);
        let at = self.at;
        Ok(Box::new(rows.into_iter().enumerate().map(move |(i, r)| {
            if i + 1 == at {
                started.send(()).unwrap();
                let _ = go.lock().unwrap().recv();
            }
            Ok(r)
        })))
    }
    fn count(&self, q: &Query) -> Result<u64> {
        self.inner.count(q)
    }
}

fn source(n: u64) -> Arc<VecSource> {
    Arc::new(VecSource {
        records: nasty_records(n, 3, 17),
    })
}

fn open(dir: &Path, src: Arc<dyn ReportSource>, workers: usize) -> Reports {
    Reports::open(dir, src, ReportsConfig::new().workers(workers)).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_flexible(s).unwrap()
}

/// What the report of `r` must contain: a direct export of its query.
fn direct_export(src: &dyn ReportSource, r: &Report) -> Vec<u8> {
    let mut out = Vec::new();
    export(
        src.rows(&r.query).unwrap(),
        &mut out,
        &ExportOptions::csv()
            .layout(r.layout)
            .header(r.header)
            .neutralize(r.neutralize),
        &mut |_| {},
    )
    .unwrap();
    out
}

fn download_all(reports: &Reports, id: u64, who: &Customers, enc: DownloadEncoding) -> Vec<u8> {
    let mut d = reports.download(id, who, enc).unwrap();
    let mut out = Vec::new();
    d.read_to_end(&mut out).unwrap();
    assert_eq!(out.len() as u64, d.len);
    out
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn lifecycle_create_complete_download() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(3000);
    let reports = open(dir.path(), src.clone(), 2);
    let me = Customers::One(2);
    let q = Query::new()
        .with_scope(Scope::Own(2))
        .with_sort(Field::Time, true);
    let filters = serde_json::json!({"from_date": "2026-01-01 00:00:00", "desc_order": "true"});
    // The log's last id is 2500: rows appended after creation are not in it.
    let id = reports
        .create(NewReport::new(2, q).filters(filters.clone()), 2500)
        .unwrap();
    let r = reports.wait(id, &me, LONG).unwrap();
    assert_eq!(r.state, ReportState::Completed, "{r:?}");
    assert_eq!(r.query.until_id, Some(2500));
    assert_eq!(r.filters, filters);
    assert_eq!(r.customer, 2);
    assert_eq!(r.history_type, "audit");
    assert_eq!(r.format, "csv");

    let expect = direct_export(&*src, &r);
    let rows = expect.iter().filter(|b| **b == b'\n').count();
    assert!(rows > 500, "{rows}"); // header + a third of 2500, give or take
    let want_rows = src
        .records
        .iter()
        .filter(|x| x.customer == 2 && x.id <= 2500)
        .count() as u64;
    assert_eq!(r.rows_done, want_rows);
    assert_eq!(r.rows_total, Some(want_rows));
    assert_eq!(r.file_size, Some(expect.len() as u64));

    let plain = download_all(&reports, id, &me, DownloadEncoding::Plain);
    assert_eq!(plain, expect);
    let gz = download_all(&reports, id, &me, DownloadEncoding::Gzip);
    assert_eq!(gz.len() as u64, r.download_size.unwrap());
    assert!(gz.len() < plain.len());
    assert_eq!(gunzip(&gz), expect);

    let after = reports.get(id, &me).unwrap();
    assert_eq!(after.download_count, 2);
    assert!(after.last_downloaded.is_some());

    let h = after.to_history_report();
    assert_eq!(h["history_report_id"], id);
    assert_eq!(h["history_type"], "audit");
    assert_eq!(h["file_size"], expect.len() as u64);
    assert_eq!(h["download_count"], 2);
    assert!(h["completed"].as_str().unwrap().len() == 19);
    assert_eq!(h["store_until"].as_str().unwrap().len(), 10);
    assert_eq!(h["filters"], filters);
    assert!(h.get("customer").is_none() && h.get("query").is_none());

    // The catalogue survives a reopen with the same content.
    drop(reports);
    let reports = open(dir.path(), src.clone(), 0);
    assert_eq!(reports.get(id, &me).unwrap(), after);
    assert_eq!(
        download_all(&reports, id, &me, DownloadEncoding::Plain),
        expect
    );
}

#[test]
fn another_customers_report_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let reports = open(dir.path(), source(100), 1);
    let id = reports
        .create(
            NewReport::new(1, Query::new().with_scope(Scope::Own(1))),
            100,
        )
        .unwrap();
    assert!(reports
        .wait(id, &Customers::One(1), LONG)
        .unwrap()
        .state
        .is_completed());
    let other = Customers::One(2);
    assert!(matches!(
        reports.get(id, &other),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        reports.download(id, &other, DownloadEncoding::Plain),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        reports.wait(id, &other, LONG),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(reports.list(&other, &ReportFilter::new()).total_count, 0);
    // The same answer as for an id that does not exist.
    let missing = reports.get(id + 100, &Customers::All).unwrap_err();
    let foreign = reports.get(id, &other).unwrap_err();
    assert_eq!(
        missing.to_string().replace(&(id + 100).to_string(), "N"),
        foreign.to_string().replace(&id.to_string(), "N")
    );
    // A set covering the owner sees it.
    let set = Customers::Set(BTreeSet::from([1, 3]));
    assert_eq!(reports.get(id, &set).unwrap().history_report_id, id);
    // A foreign download did not count.
    assert_eq!(reports.get(id, &Customers::All).unwrap().download_count, 0);
}

#[test]
fn invalid_queries_are_refused_and_failing_sources_fail_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let reports = open(dir.path(), source(50), 1);
    let bad = Query::new().with_sort(Field::Args, false);
    let e = reports.create(NewReport::new(1, bad), 50).unwrap_err();
    assert!(e.to_string().contains("sort"), "{e}");
    assert_eq!(
        reports
            .list(&Customers::All, &ReportFilter::new())
            .total_count,
        0
    );

    // The source cannot resolve this scope: the report fails with the reason.
    let id = reports
        .create(
            NewReport::new(1, Query::new().with_scope(Scope::Children(1))),
            50,
        )
        .unwrap();
    let r = reports.wait(id, &Customers::All, LONG).unwrap();
    match &r.state {
        ReportState::Failed { reason } => assert!(reason.contains("customer tree"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let e = reports
        .download(id, &Customers::All, DownloadEncoding::Plain)
        .unwrap_err();
    assert!(e.to_string().contains("failed"), "{e}");
    assert!(!file_path(dir.path(), id, Format::Csv).exists());
    assert!(!tmp_path(dir.path(), id, Format::Csv).exists());
    assert!(r.to_history_report().get("completed").is_none());
}

#[test]
fn listing_filters_pages_and_scopes() {
    let dir = tempfile::tempdir().unwrap();
    let reports = open(dir.path(), source(200), 2);
    let day = |d: u32| ts(&format!("2026-03-{d:02} 10:00:00"));
    let mut mine = Vec::new();
    for d in 1..=6 {
        let q = if d == 4 {
            Query::new().with_scope(Scope::Descendants(1)) // fails
        } else {
            Query::new().with_scope(Scope::Own(1))
        };
        mine.push(
            reports
                .create_at(NewReport::new(1, q), 200, day(d))
                .unwrap(),
        );
    }
    let theirs = reports
        .create_at(NewReport::new(2, Query::new()), 200, day(3))
        .unwrap();
    for id in mine.iter().chain([&theirs]) {
        assert!(reports
            .wait(*id, &Customers::All, LONG)
            .unwrap()
            .state
            .is_finished());
    }
    let me = Customers::One(1);
    let ids = |p: ReportPage| -> (Vec<u64>, u64) {
        (
            p.reports.iter().map(|r| r.history_report_id).collect(),
            p.total_count,
        )
    };
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new())),
        (mine.clone(), 6)
    );
    let mut rev = mine.clone();
    rev.reverse();
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().desc_order(true))),
        (rev.clone(), 6)
    );
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().count(2).offset(1))),
        (mine[1..3].to_vec(), 6)
    );
    assert_eq!(
        ids(reports.list(
            &me,
            &ReportFilter::new().desc_order(true).count(2).offset(1)
        )),
        (rev[1..3].to_vec(), 6)
    );
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().offset(10))),
        (vec![], 6)
    );
    // created_from inclusive, created_to exclusive.
    assert_eq!(
        ids(reports.list(
            &me,
            &ReportFilter::new().created(Some(day(2)), Some(day(4)))
        )),
        (mine[1..3].to_vec(), 2)
    );
    let done: Vec<u64> = mine.iter().copied().filter(|id| *id != mine[3]).collect();
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().is_completed(true))),
        (done, 5)
    );
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().is_completed(false))),
        (vec![mine[3]], 1)
    );
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().history_report_id(mine[2]))),
        (vec![mine[2]], 1)
    );
    assert_eq!(
        ids(reports.list(&me, &ReportFilter::new().history_report_id(theirs))),
        (vec![], 0)
    );
    assert_eq!(
        reports
            .list(&Customers::All, &ReportFilter::new())
            .total_count,
        7
    );
    assert_eq!(
        reports
            .list(&Customers::Set(BTreeSet::from([2])), &ReportFilter::new())
            .reports[0]
            .history_report_id,
        theirs
    );
}

#[test]
fn several_reports_at_once_each_equal_a_direct_export() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(4000);
    let reports = Reports::open(dir.path(), src.clone(), ReportsConfig::new().workers(3)).unwrap();
    let queries = [
        NewReport::new(1, Query::new().with_scope(Scope::Own(1))),
        NewReport::new(
            2,
            Query::new()
                .with_scope(Scope::Own(2))
                .with_sort(Field::Name, true),
        )
        .layout(Layout::Native),
        NewReport::new(
            3,
            Query::new()
                .with_scope(Scope::Own(3))
                .with_predicate(Predicate::new(Field::Name, MatchMode::Contains, "comma")),
        )
        .header(false),
        NewReport::new(1, Query::new().with_scope(Scope::Own(1)))
            .neutralize(false)
            .layout(Layout::Native),
        NewReport::new(
            2,
            Query::new().with_scope(Scope::Own(2)).with_range(
                Some(ts("2026-01-02 00:00:00")),
                Some(ts("2026-01-05 00:00:00")),
            ),
        ),
        NewReport::new(3, Query::new().with_scope(Scope::Own(3)).with_limit(10)),
    ];
    let ids: Vec<u64> = queries
        .iter()
        .map(|q| reports.create(q.clone(), 4000).unwrap())
        .collect();
    let mut distinct = BTreeSet::new();
    for (id, q) in ids.iter().zip(&queries) {
        let who = Customers::One(q.customer);
        let r = reports.wait(*id, &who, LONG).unwrap();
        assert_eq!(r.state, ReportState::Completed, "{r:?}");
        let expect = direct_export(&*src, &r);
        assert!(expect.len() > 200, "report {id} is too small to tell");
        assert_eq!(
            download_all(&reports, *id, &who, DownloadEncoding::Plain),
            expect
        );
        distinct.insert(expect);
    }
    assert_eq!(distinct.len(), queries.len());
}

/// Rewrites the stored state of report `id` in the catalogue file.
fn edit_catalog(dir: &Path, id: u64, f: impl Fn(&mut serde_json::Value)) {
    let path = dir.join(CATALOG);
    let mut cat: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let r = cat["reports"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["history_report_id"] == id)
        .unwrap();
    f(r);
    std::fs::write(&path, serde_json::to_vec(&cat).unwrap()).unwrap();
}

#[test]
fn a_crash_while_running_is_resumed_from_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(1000);
    let who = Customers::One(1);
    let id = {
        let reports = open(dir.path(), src.clone(), 0);
        reports
            .create(
                NewReport::new(1, Query::new().with_scope(Scope::Own(1))),
                900,
            )
            .unwrap()
    };
    // As a crash would leave it: running, a partial temporary file, and even
    // a renamed file whose completion never reached the catalogue.
    edit_catalog(dir.path(), id, |r| {
        r["state"] = "running".into();
        r["rows_done"] = 4096.into();
    });
    std::fs::write(tmp_path(dir.path(), id, Format::Csv), b"half a report").unwrap();
    std::fs::write(file_path(dir.path(), id, Format::Csv), b"not the report").unwrap();

    let reports = open(dir.path(), src.clone(), 2);
    let r = reports.wait(id, &who, LONG).unwrap();
    assert_eq!(r.state, ReportState::Completed, "{r:?}");
    assert!(!tmp_path(dir.path(), id, Format::Csv).exists());
    let expect = direct_export(&*src, &r);
    assert_eq!(
        download_all(&reports, id, &who, DownloadEncoding::Plain),
        expect
    );
    assert!(expect.len() > 1000);
}

#[test]
fn a_stored_query_that_no_longer_validates_fails_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let reports = open(dir.path(), source(10), 0);
        reports.create(NewReport::new(1, Query::new()), 10).unwrap()
    };
    edit_catalog(dir.path(), id, |r| {
        r["query"]["sort"]["field"] = "args".into();
    });
    let reports = open(dir.path(), source(10), 1);
    let r = reports.get(id, &Customers::All).unwrap();
    match &r.state {
        ReportState::Failed { reason } => assert!(reason.contains("sort"), "{reason}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_orphan_tmp_file_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(300);
    let who = Customers::One(3);
    let id = {
        let reports = open(dir.path(), src.clone(), 0);
        let id = reports
            .create(
                NewReport::new(3, Query::new().with_scope(Scope::Own(3))),
                300,
            )
            .unwrap();
        std::fs::write(tmp_path(dir.path(), id, Format::Csv), b"garbage").unwrap();
        std::fs::write(file_path(dir.path(), id, Format::Csv), b"garbage").unwrap();
        let e = reports
            .download(id, &who, DownloadEncoding::Gzip)
            .unwrap_err();
        assert!(matches!(e, Error::Invalid { .. }), "{e}");
        assert!(
            e.to_string()
                .contains(&format!("report {id} is not completed yet")),
            "{e}"
        );
        id
    };
    // Reopened (without workers): the stale files are gone, still pending.
    let reports = open(dir.path(), src.clone(), 0);
    assert!(!tmp_path(dir.path(), id, Format::Csv).exists());
    assert!(!file_path(dir.path(), id, Format::Csv).exists());
    assert_eq!(reports.get(id, &who).unwrap().state, ReportState::Pending);
    assert!(reports.download(id, &who, DownloadEncoding::Plain).is_err());
    drop(reports);
    // With workers it is written properly.
    let reports = open(dir.path(), src.clone(), 1);
    let r = reports.wait(id, &who, LONG).unwrap();
    assert!(r.state.is_completed());
    assert_eq!(
        download_all(&reports, id, &who, DownloadEncoding::Plain),
        direct_export(&*src, &r)
    );
}

#[test]
fn closing_mid_report_leaves_it_pending_and_the_next_open_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let plain = source(12_000);
    let (started_tx, started_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let gated = Arc::new(GatedSource {
        inner: VecSource {
            records: plain.records.clone(),
        },
        at: 5000,
        started: Mutex::new(started_tx),
        go: Arc::new(Mutex::new(go_rx)),
    });
    let who = Customers::One(1);
    let reports = open(dir.path(), gated, 1);
    let id = reports
        .create(NewReport::new(1, Query::new()), 12_000)
        .unwrap();
    started_rx.recv_timeout(LONG).unwrap();
    // Blocked before row 5000: progress is visible.
    let r = reports.get(id, &who).unwrap();
    assert_eq!(r.state, ReportState::Running);
    assert_eq!(r.rows_total, Some(12_000));
    assert_eq!(r.rows_done, 4096);
    assert!(tmp_path(dir.path(), id, Format::Csv).exists());
    let e = reports
        .download(id, &who, DownloadEncoding::Plain)
        .unwrap_err();
    assert!(e.to_string().contains("not completed yet"), "{e}");

    reports.request_stop();
    drop(go_tx);
    reports.close();
    let r = reports.get(id, &who).unwrap();
    assert_eq!(r.state, ReportState::Pending);
    assert!(!tmp_path(dir.path(), id, Format::Csv).exists());
    assert!(!file_path(dir.path(), id, Format::Csv).exists());
    assert!(matches!(
        reports.create(NewReport::new(1, Query::new()), 1),
        Err(Error::Closed)
    ));
    drop(reports);

    let reports = open(dir.path(), plain.clone(), 1);
    let r = reports.wait(id, &who, LONG).unwrap();
    assert_eq!(r.state, ReportState::Completed);
    assert_eq!(r.rows_done, 12_000);
    assert_eq!(
        download_all(&reports, id, &who, DownloadEncoding::Plain),
        direct_export(&*plain, &r)
    );
}

#[test]
fn expiry_deletes_the_file_and_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(100);
    let who = Customers::One(1);
    let cfg = ReportsConfig::new().workers(1).retention_days(1);
    let reports = Reports::open(dir.path(), src.clone(), cfg.clone()).unwrap();
    let id = reports
        .create_at(
            NewReport::new(1, Query::new()),
            100,
            ts("2030-01-10 12:00:00"),
        )
        .unwrap();
    let keep = reports
        .create_at(
            NewReport::new(1, Query::new()),
            100,
            ts("2030-01-11 00:00:00"),
        )
        .unwrap();
    let r = reports.wait(id, &who, LONG).unwrap();
    assert!(r.state.is_completed());
    assert!(reports.wait(keep, &who, LONG).unwrap().state.is_completed());
    assert_eq!(r.store_until, "2030-01-11");
    assert!(file_path(dir.path(), id, Format::Csv).exists());

    assert_eq!(reports.purge_expired(ts("2030-01-11 23:59:59")).unwrap(), 0);
    assert!(reports.get(id, &who).is_ok());
    assert_eq!(reports.purge_expired(ts("2030-01-12 00:00:00")).unwrap(), 1);
    assert!(!file_path(dir.path(), id, Format::Csv).exists());
    assert!(matches!(reports.get(id, &who), Err(Error::NotFound { .. })));
    assert!(matches!(
        reports.download(id, &who, DownloadEncoding::Plain),
        Err(Error::NotFound { .. })
    ));
    assert!(file_path(dir.path(), keep, Format::Csv).exists());
    drop(reports);

    // Opening purges by today's date: make the kept report expired long
    // ago, and both it and the purged one are gone after the reopen.
    edit_catalog(dir.path(), keep, |r| r["store_until"] = "2001-01-01".into());
    let reports = Reports::open(dir.path(), src, cfg).unwrap();
    assert_eq!(reports.list(&who, &ReportFilter::new()).total_count, 0);
    assert!(!file_path(dir.path(), keep, Format::Csv).exists());
    // Ids are never reused.
    let next = reports
        .create(NewReport::new(1, Query::new()), 100)
        .unwrap();
    assert!(next > keep);
}

#[test]
fn store_until_adds_the_retention_to_the_creation_day() {
    assert_eq!(store_until(ts("2026-12-31 23:59:59"), 1), "2027-01-01");
    assert_eq!(store_until(ts("2026-02-01 00:00:00"), 30), "2026-03-03");
    assert_eq!(store_until(ts("2026-02-01 00:00:00"), 0), "2026-02-01");
    assert_eq!(store_until(Timestamp::MAX, 30), "9999-12-31");
}
