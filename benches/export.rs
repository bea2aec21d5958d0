//! Full CSV export (native columns, header), our engine vs SQLite, rows/s.
//!
//! Both datasets are built once per process (200,000 records by default;
//! `AUDITLOG_BENCH_RECORDS` changes it). Both write into `io::sink()`
//! through the same csv writer settings (CRLF, 256 KiB buffer); ours with
//! the default export options (formula neutralisation on), through
//! `AuditLog::export` (`ours`: rows written straight from the log) and
//! through the generic `export::export` over `AuditLog::query`
//! (`ours_generic`: one `Record` per row).
//!
//! `cargo bench --bench export`

use std::io;
use std::time::Duration;

use auditlog::bench::harness::Fixture;
use auditlog::export::{export, ExportOptions};
use auditlog::Query;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn records() -> u64 {
    std::env::var("AUDITLOG_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000)
}

fn export_csv(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let n = records();
    eprintln!("building the {n}-record datasets (ours and SQLite) ...");
    let fx = Fixture::build(dir.path(), n, true).expect("build the datasets");
    let db = fx.sqlite.as_ref().expect("SQLite dataset");
    let engine = || {
        fx.log
            .export(
                &Query::new(),
                io::sink(),
                &ExportOptions::csv(),
                &mut |_| {},
            )
            .expect("export")
    };
    let ours = || {
        let rows = fx.log.query(&Query::new()).expect("query");
        export(rows, io::sink(), &ExportOptions::csv(), &mut |_| {}).expect("export")
    };
    let theirs = || db.export_csv(io::sink()).expect("SQLite export");
    assert_eq!(engine(), n);
    assert_eq!(ours(), n);
    assert_eq!(theirs(), n);

    let mut g = c.benchmark_group("export_csv");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.bench_function("ours", |b| b.iter(engine));
    g.bench_function("ours_generic", |b| b.iter(ours));
    g.bench_function("sqlite", |b| b.iter(theirs));
    g.finish();
}

criterion_group!(benches, export_csv);
criterion_main!(benches);
