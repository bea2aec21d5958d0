//! Group commit in `always` mode outside criterion: THREADS threads each
//! append PER single records (each append waits until its record is
//! durable), and the rate is printed. Run it with 1 thread and with 32 in
//! turn, under `perf stat` to count fdatasyncs and context switches:
//!
//! `cargo run --release --example group_commit -- 32 400`
//! `perf stat -e syscalls:sys_enter_fdatasync,context-switches,task-clock target/release/examples/group_commit 32 400`
//!
//! `AUDITLOG_GROUP_WAIT_US` sets `Options::group_commit_wait` (default
//! 1,000 µs, as the library's default).

use std::error::Error;
use std::time::{Duration, Instant};

use auditlog::workload::Workload;
use auditlog::{Durability, NewRecord, Options};

fn arg(i: usize, default: usize) -> Result<usize, Box<dyn Error>> {
    Ok(match std::env::args().nth(i) {
        Some(s) => s
            .parse()
            .map_err(|e| format!("argument {i} ({s:?}): {e}"))?,
        None => default,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let threads = arg(1, 32)?.max(1);
    let per = arg(2, 400)?.max(1);
    let wait_us = match std::env::var("AUDITLOG_GROUP_WAIT_US") {
        Ok(s) => s
            .parse()
            .map_err(|e| format!("AUDITLOG_GROUP_WAIT_US ({s:?}): {e}"))?,
        Err(_) => 1000,
    };
    let dir = tempfile::tempdir()?;
    let log = Options::new(dir.path())
        .durability(Durability::Always)
        .group_commit_wait(Duration::from_micros(wait_us))
        .open()?;
    let recs: Vec<NewRecord> = Workload::default()
        .records((threads * per) as u64)
        .collect();
    let start = Instant::now();
    std::thread::scope(|s| -> Result<(), Box<dyn Error>> {
        let handles: Vec<_> = recs
            .chunks(per)
            .map(|mine| {
                let log = &log;
                s.spawn(move || {
                    mine.iter()
                        .try_for_each(|r| log.append(r.clone()).map(drop))
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "an appender panicked")??;
        }
        Ok(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{threads} thread(s) x {per} appends: {:.0} records/s",
        (threads * per) as f64 / secs
    );
    Ok(())
}
