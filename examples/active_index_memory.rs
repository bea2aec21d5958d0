//! Heap held by the active segment's in-memory index once a full 64 MiB
//! segment of the SPEC section 6 workload is indexed, and the time taken
//! to build it (what open pays for a full active segment).
//!
//! Measured as the growth of the resident set while building it (the
//! encoded frames are made first and kept).
//!
//! `cargo run --release --example active_index_memory`

use std::time::Instant;

use auditlog::format::codec::{self, StoredRecord};
use auditlog::format::layout::{FRAME_HEADER_LEN, HEADER_LEN};
use auditlog::index::ActiveIndex;
use auditlog::workload::Workload;
use auditlog::Timestamp;

/// Resident bytes of this process (Linux).
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    const SEGMENT: usize = 64 << 20;
    let now = Timestamp::now();
    // Encode a segment's worth of records first (not counted).
    let mut frames: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut off = HEADER_LEN;
    for (i, nr) in Workload::default().records(1_000_000).enumerate() {
        let rec = nr.into_record(i as u64 + 1, now);
        let mut b = Vec::new();
        codec::encode_into(&rec, &mut b).expect("encode");
        let len = FRAME_HEADER_LEN + b.len();
        if off + len > SEGMENT {
            break;
        }
        frames.push((off as u32, b));
        off += len;
    }
    let before = rss();
    let t = Instant::now();
    let mut ai = ActiveIndex::new(1);
    for (o, b) in &frames {
        let sr = StoredRecord::decode(b).expect("decode");
        ai.add(*o, &sr);
    }
    let took = t.elapsed();
    let held = rss().saturating_sub(before);
    println!(
        "{} records, {} bytes of frames: active index holds {:.1} MiB ({} bytes/record), built in {:.0} ms",
        frames.len(),
        off,
        held as f64 / (1 << 20) as f64,
        held / frames.len(),
        took.as_secs_f64() * 1e3
    );
    println!(
        "heap_bytes (capacity accounting): {:.1} MiB",
        ai.heap_bytes() as f64 / (1 << 20) as f64
    );
    drop(ai);
}
