//! Ingest: our engine (`Durability::Never`, every index, 10,000-record
//! `append_batch` calls) vs SQLite (WAL, synchronous=NORMAL, six indexes,
//! 10,000-row transactions), records/s.
//!
//! Each iteration loads 100,000 records (`AUDITLOG_BENCH_RECORDS` changes
//! it) into a fresh engine or database. The records are generated once;
//! copying them, opening, closing and deleting are outside the timing.
//!
//! `cargo bench --bench ingest`

use std::time::{Duration, Instant};

use auditlog::bench::harness::{set_tree, BATCH};
use auditlog::bench::SqliteBaseline;
use auditlog::workload::Workload;
use auditlog::{Durability, NewRecord, Options, Record, Timestamp};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn records() -> u64 {
    std::env::var("AUDITLOG_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

fn ingest(c: &mut Criterion) {
    let n = records();
    let w = Workload::default();
    let fresh: Vec<NewRecord> = w.records(n).collect();
    let stored: Vec<Record> = fresh
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, r)| r.into_record(i as u64 + 1, Timestamp::MIN))
        .collect();

    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));

    g.bench_function("ours_never", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temporary directory");
                let log = Options::new(dir.path())
                    .durability(Durability::Never)
                    .open()
                    .expect("open");
                set_tree(&log, &w).expect("customer tree");
                let batches: Vec<Vec<NewRecord>> =
                    fresh.chunks(BATCH).map(<[NewRecord]>::to_vec).collect();
                let t = Instant::now();
                for batch in batches {
                    log.append_batch(batch).expect("append");
                }
                total += t.elapsed();
                assert_eq!(log.last_id(), n);
            }
            total
        })
    });

    g.bench_function("sqlite", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().expect("temporary directory");
                let mut db = SqliteBaseline::create(dir.path().join("b.sqlite")).expect("create");
                db.set_customers(&w.customer_parents()).expect("customers");
                let t = Instant::now();
                for batch in stored.chunks(BATCH) {
                    db.insert_batch(batch).expect("insert");
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
