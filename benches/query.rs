//! The six SPEC section 6 queries, our engine and SQLite in the same run.
//!
//! Both datasets are built once per process (200,000 records by default;
//! set `AUDITLOG_BENCH_RECORDS` to change it) and every query's rows are
//! compared between the engines before anything is timed. Each iteration
//! reads every row into a `Record`.
//!
//! `cargo bench --bench query`

use std::time::Duration;

use auditlog::bench::harness::{compare_rows, Fixture, QueryKind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn records() -> u64 {
    std::env::var("AUDITLOG_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(200_000)
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let n = records();
    eprintln!("building the {n}-record datasets (ours and SQLite) ...");
    let fx = Fixture::build(dir.path(), n, true).expect("build the datasets");
    let db = fx.sqlite.as_ref().expect("SQLite dataset");
    for kind in QueryKind::ALL {
        let ours = kind.run_ours(&fx.log, &fx.queries).expect("our query");
        let theirs = kind.run_sqlite(db, &fx.queries).expect("SQLite query");
        if let Some(m) = compare_rows(kind.label(), &ours, &theirs) {
            panic!("the engines disagree: {m}");
        }
        let mut g = c.benchmark_group(format!("query/{}", kind.key()));
        g.throughput(Throughput::Elements(ours.len() as u64));
        g.warm_up_time(Duration::from_secs(1));
        if kind == QueryKind::SortByName {
            g.sample_size(10).measurement_time(Duration::from_secs(8));
        } else {
            g.sample_size(30).measurement_time(Duration::from_secs(4));
        }
        g.bench_function("ours", |b| {
            b.iter(|| kind.run_ours(&fx.log, &fx.queries).expect("our query"))
        });
        g.bench_function("sqlite", |b| {
            b.iter(|| kind.run_sqlite(db, &fx.queries).expect("SQLite query"))
        });
        g.finish();
    }
}

criterion_group!(benches, queries);
criterion_main!(benches);
