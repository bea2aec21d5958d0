//! Append throughput (SPEC 6), side by side with its baseline, in
//! records per second on the SPEC 6 workload (about 200 bytes a record):
//!
//! - `baseline_bufwriter`: the same frames (`encode_frame` over
//!   `codec::encode_into`) through a plain 256 KiB `BufWriter` to a file,
//!   one fsync at the end: what the disk and the encoding cost, nothing
//!   else;
//! - `never_batch1000`: `append_batch` in `Durability::Never`, batches of
//!   1,000 records appended by reference (they stay the caller's, as the
//!   baseline's do);
//! - `never_batch1000_owned`: the same, the records handed over (the
//!   append also frees them);
//! - `always_1_thread`: `append` of one record at a time in
//!   `Durability::Always` (one fsync per record);
//! - `always_32_threads`: the same from 32 threads (group commit);
//! - `always_1_thread_1ms_flush`, `always_32_threads_1ms_flush`: the same
//!   two on the in-memory fault layer with a simulated 1 ms device flush.
//!
//! Run: `cargo bench --bench append`.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use auditlog::format::{codec, layout};
use auditlog::storage::fault::FaultStorage;
use auditlog::workload::Workload;
use auditlog::{AuditLog, Durability, NewRecord, Options, Record, Timestamp};
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use std::sync::Arc;

/// Records per iteration of the bulk benchmarks.
const BULK: u64 = 100_000;
/// Records per iteration in `always` mode, single appender.
const ALWAYS_ONE: u64 = 200;
/// Appender threads, and records each appends per iteration.
const THREADS: u64 = 32;
const PER_THREAD: u64 = 50;

fn workload(n: u64) -> Vec<NewRecord> {
    Workload::default().records(n).collect()
}

fn open(dir: &Path, d: Durability) -> AuditLog {
    Options::new(dir).durability(d).open().unwrap()
}

fn bench_append(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let recs = workload(BULK);
    let now = Timestamp::now();
    let stored: Vec<Record> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| r.clone().into_record(i as u64 + 1, now))
        .collect();
    let mut payload = Vec::new();
    let mut bytes = 0usize;
    for r in &stored {
        payload.clear();
        codec::encode_into(r, &mut payload).unwrap();
        bytes += payload.len();
    }
    eprintln!(
        "append: {} bytes per record encoded on average",
        bytes / stored.len()
    );

    let mut g = c.benchmark_group("append");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1));

    g.throughput(Throughput::Elements(BULK))
        .measurement_time(Duration::from_secs(4));
    let path = tmp.path().join("baseline.seg");
    g.bench_function("baseline_bufwriter", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let file = std::fs::File::create(&path).unwrap();
                let start = Instant::now();
                let mut w = BufWriter::with_capacity(256 << 10, file);
                let (mut payload, mut frame) = (Vec::new(), Vec::new());
                let mut head = auditlog::format::chain::GENESIS;
                for r in &stored {
                    payload.clear();
                    codec::encode_into(r, &mut payload).unwrap();
                    frame.clear();
                    // The same chain link the writer computes per record.
                    head = auditlog::format::chain::link(&head, &payload);
                    let tag = auditlog::format::chain::tag_of(&head);
                    layout::encode_frame(&payload, &tag, &mut frame);
                    w.write_all(&frame).unwrap();
                }
                let file = w.into_inner().unwrap();
                file.sync_data().unwrap();
                total += start.elapsed();
                drop(file);
                std::fs::remove_file(&path).unwrap();
            }
            total
        })
    });

    // Like the baseline, which writes records it keeps, the batches are
    // appended by reference: the records stay the caller's.
    let log = open(&tmp.path().join("never"), Durability::Never);
    g.bench_function("never_batch1000", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let start = Instant::now();
                for batch in recs.chunks(1000) {
                    log.append_batch(batch.iter().collect::<Vec<&NewRecord>>())
                        .unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    drop(log);

    // The same records handed over (`Vec<NewRecord>`): the append also
    // frees them.
    let log = open(&tmp.path().join("never_owned"), Durability::Never);
    g.bench_function("never_batch1000_owned", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let batches: Vec<Vec<NewRecord>> = recs.chunks(1000).map(<[_]>::to_vec).collect();
                let start = Instant::now();
                for batch in batches {
                    log.append_batch(batch).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    drop(log);

    bench_always(&mut g, &recs, "", &|name| {
        open(&tmp.path().join(name), Durability::Always)
    });
    // The same on a simulated device whose flush takes 1 ms (the fault
    // layer, in memory): what group commit gives where an fsync costs more
    // than waking the appenders, as on disks without a write cache.
    bench_always(&mut g, &recs, "_1ms_flush", &|name| {
        let storage = FaultStorage::new();
        storage.set_sync_latency(Duration::from_millis(1));
        Options::new(Path::new("/bench").join(name))
            .storage(Arc::new(storage))
            .durability(Durability::Always)
            // Bounds the in-memory file the fault layer copies per fsync.
            .segment_size(1 << 20)
            .open()
            .unwrap()
    });
    g.finish();
}

/// `always` mode with 1 and with 32 appenders, on the logs `open_log`
/// opens (by name).
fn bench_always(
    g: &mut BenchmarkGroup<'_, WallTime>,
    recs: &[NewRecord],
    suffix: &str,
    open_log: &dyn Fn(&str) -> AuditLog,
) {
    let log = open_log("always1");
    g.throughput(Throughput::Elements(ALWAYS_ONE))
        .measurement_time(Duration::from_secs(5));
    g.bench_function(format!("always_1_thread{suffix}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let one: Vec<NewRecord> = recs[..ALWAYS_ONE as usize].to_vec();
                let start = Instant::now();
                for r in one {
                    log.append(r).unwrap();
                }
                total += start.elapsed();
            }
            total
        })
    });
    drop(log);

    let log = open_log("always32");
    g.throughput(Throughput::Elements(THREADS * PER_THREAD));
    g.bench_function(format!("always_32_threads{suffix}"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let per: Vec<Vec<NewRecord>> = (0..THREADS as usize)
                    .map(|t| {
                        let at = t * PER_THREAD as usize;
                        recs[at..at + PER_THREAD as usize].to_vec()
                    })
                    .collect();
                let start = Instant::now();
                std::thread::scope(|s| {
                    for mine in per {
                        let log = &log;
                        s.spawn(move || {
                            for r in mine {
                                log.append(r).unwrap();
                            }
                        });
                    }
                });
                total += start.elapsed();
            }
            total
        })
    });
    drop(log);
}

criterion_group!(benches, bench_append);
criterion_main!(benches);
