//! `never`-mode appends of 1,000-record batches (by reference, as in
//! `cargo bench --bench append`'s `never_batch1000`), ROUNDS rounds of N
//! records into one growing log, printing each round's rate in thousands
//! of records a second and the overall rate. Shows how the rate moves from
//! round to round on a shared machine, where criterion gives one figure.
//!
//! `cargo run --release --example append_rounds -- 100000 50`

use std::error::Error;
use std::time::Instant;

use auditlog::workload::Workload;
use auditlog::{Durability, NewRecord, Options};

fn arg(i: usize, default: u64) -> Result<u64, Box<dyn Error>> {
    Ok(match std::env::args().nth(i) {
        Some(s) => s
            .parse()
            .map_err(|e| format!("argument {i} ({s:?}): {e}"))?,
        None => default,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let n = arg(1, 100_000)?.max(1);
    let rounds = arg(2, 10)?.max(1);
    let dir = tempfile::tempdir()?;
    let log = Options::new(dir.path())
        .durability(Durability::Never)
        .open()?;
    let recs: Vec<NewRecord> = Workload::default().records(n).collect();
    let start = Instant::now();
    let mut line = String::new();
    for _ in 0..rounds {
        let t = Instant::now();
        for batch in recs.chunks(1000) {
            log.append_batch(batch.iter().collect::<Vec<&NewRecord>>())?;
        }
        let k = n as f64 / t.elapsed().as_secs_f64() / 1000.0;
        line.push_str(&format!("{k:.0} "));
    }
    println!("per round (thousand records/s): {line}");
    println!(
        "{} records: {:.0} records/s",
        n * rounds,
        (n * rounds) as f64 / start.elapsed().as_secs_f64()
    );
    Ok(())
}
