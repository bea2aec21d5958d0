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
//! With the `parquet` feature (on by default) the same run also measures
//! Parquet export (`export_parquet/ours`, into `io::sink()`) and prints the
//! sizes of the whole dataset as CSV, as Parquet and as segment files.
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

    #[cfg(feature = "parquet")]
    export_parquet(c, &fx, n);
}

/// Counts the bytes written through it.
#[cfg(feature = "parquet")]
struct Counter(u64);

#[cfg(feature = "parquet")]
impl io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "parquet")]
fn export_parquet(c: &mut Criterion, fx: &auditlog::bench::harness::Fixture, n: u64) {
    use auditlog::export::Format;
    let size = |opts: &ExportOptions| {
        let mut w = Counter(0);
        let rows = fx
            .log
            .export(&Query::new(), &mut w, opts, &mut |_| {})
            .expect("export");
        assert_eq!(rows, n);
        w.0
    };
    let csv = size(&ExportOptions::csv());
    let parquet = size(&ExportOptions::new().format(Format::Parquet));
    let st = fx.log.stats().expect("stats");
    let segments = st.live_bytes + st.archived_bytes;
    let per = |b: u64| b as f64 / n as f64;
    eprintln!(
        "sizes for {n} records: CSV {csv} B ({:.1} B/record), Parquet {parquet} B ({:.1} B/record), segment files {segments} B ({:.1} B/record)",
        per(csv),
        per(parquet),
        per(segments)
    );

    let engine = || {
        fx.log
            .export(
                &Query::new(),
                io::sink(),
                &ExportOptions::new().format(Format::Parquet),
                &mut |_| {},
            )
            .expect("export")
    };
    let mut g = c.benchmark_group("export_parquet");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15));
    g.bench_function("ours", |b| b.iter(engine));
    g.finish();
}

criterion_group!(benches, export_csv);
criterion_main!(benches);
