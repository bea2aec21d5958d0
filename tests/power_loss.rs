//! What each durability mode promises, shown with the file layer's
//! power-loss twin over thousands of randomised runs per mode (the table in
//! the README's "Durability modes" section comes from this test's summary
//! lines: `cargo test --test power_loss -- --nocapture`).
//!
//! Each run appends random batches (segments roll every few appends) and
//! takes an image of the storage at a random file operation: a power-loss
//! image (only fsynced bytes and directory entries survive) or a
//! process-crash image (every byte written to the OS survives). The image
//! is reopened and must be a gap-free prefix of what was appended, each
//! record intact, that verifies clean and takes appends again. Then, per
//! mode:
//!
//! - `always`: a power loss loses nothing that was acknowledged.
//! - `interval`: a power loss loses nothing that a completed `sync` (or the
//!   interval flusher) made durable; here the flusher waits an hour, so
//!   exactly what `sync` covered is promised.
//! - `never`: a process crash loses nothing acknowledged. A power loss
//!   may lose acknowledged records (the test counts how often it did), but
//!   never what a completed `sync` covered when the log opens. It may also
//!   leave a log that refuses to open: a seal is made durable in the
//!   background, and a power loss before it leaves a sealed segment
//!   without its tail before newer segment files, which recovery cannot
//!   tell from damage; it refuses, naming the segment (counted too).

mod common;
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auditlog::storage::fault::FaultStorage;
use auditlog::storage::Storage;
use auditlog::{Durability, NewRecord, Options};
use common::{gen_record, Rng};
use support::{Hooked, Op};

const SEGMENT: u64 = 4 << 10;
const RUNS: u64 = 1000;

/// How a run ended.
#[derive(Default)]
struct Tally {
    runs: u64,
    acked: u64,
    /// Acknowledged records missing after reopening.
    lost_acked: u64,
    /// Runs that lost at least one acknowledged record.
    runs_losing: u64,
    /// Records covered by a completed `sync` missing after reopening.
    lost_synced: u64,
    /// Runs whose log refused to open (only `never` after a power loss).
    refused: u64,
}

/// The image taken mid-run, with what was acknowledged and synced by then.
struct Cut {
    image: Option<FaultStorage>,
    acked: u64,
    synced: u64,
}

/// One run: appends with `durability`, cuts at a random operation with a
/// power-loss (or, with `crash`, a process-crash) image, reopens, checks
/// the prefix and returns (acknowledged, synced, recovered) record counts.
fn run(durability: Durability, crash: bool, rng: &mut Rng, what: &str) -> Option<(u64, u64, u64)> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let st = FaultStorage::new();
    let cut = Arc::new(Mutex::new(Cut {
        image: None,
        acked: 0,
        synced: 0,
    }));
    let ops = Arc::new(AtomicU64::new(0));
    let at = 1 + rng.below(120);
    let hook = {
        let (cut, ops, st) = (cut.clone(), ops.clone(), st.clone());
        Arc::new(move |_: Op, _: &Path, _: &[u8]| {
            if ops.fetch_add(1, Ordering::SeqCst) + 1 == at {
                let mut c = cut.lock().unwrap();
                c.image = Some(if crash {
                    st.crash_image()
                } else {
                    st.power_loss_image()
                });
            }
        })
    };
    let opts = |s: Arc<dyn Storage>| {
        Options::new(&dir)
            .durability(durability)
            .segment_size(SEGMENT)
            .segment_max_age(None)
            .storage(s)
    };
    let log = opts(Arc::new(Hooked::new(Arc::new(st.clone()), hook)))
        .open()
        .unwrap();
    ops.store(0, Ordering::SeqCst);
    let mut by_id = std::collections::BTreeMap::new();
    for i in 0..40u64 {
        let k = 1 + rng.below(4);
        let batch: Vec<NewRecord> = (0..k)
            .map(|j| gen_record(rng, i * 4 + j, 1_700_000_000_000_000))
            .collect();
        let ids = log.append_batch(batch.clone()).unwrap();
        let last = *ids.end();
        for (id, r) in ids.zip(batch) {
            by_id.insert(id, r);
        }
        {
            let mut c = cut.lock().unwrap();
            if c.image.is_none() {
                c.acked = last;
            }
        }
        if rng.chance(15) {
            log.sync().unwrap();
            let mut c = cut.lock().unwrap();
            if c.image.is_none() {
                c.synced = last;
            }
        }
    }
    let (img, acked, synced) = {
        let mut c = cut.lock().unwrap();
        let img = c.image.take();
        match img {
            Some(i) => (i, c.acked, c.synced),
            // The cut fell after the last operation: cut now.
            None => {
                let last = log.last_id();
                let i = if crash {
                    st.crash_image()
                } else {
                    st.power_loss_image()
                };
                (i, last, c.synced)
            }
        }
    };
    drop(log);
    let what = format!("{what}: cut at op {at}, acknowledged {acked}, synced {synced}");
    let shared = img.clone();
    let log = match opts(Arc::new(img)).open() {
        Ok(log) => log,
        // Only a power loss in `never` mode may leave a log that refuses
        // to open, and only naming a sealed segment missing its tail.
        Err(e) if durability == Durability::Never && !crash => {
            let msg = e.to_string();
            assert!(
                msg.contains("seal footer missing") || msg.contains("sealed segment"),
                "{what}: unexpected refusal: {msg}"
            );
            return None;
        }
        Err(e) => panic!("{what}: the log does not open: {e}"),
    };
    let got: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.id, i as u64 + 1, "{what}: not a gap-free prefix");
        assert_eq!(
            Some(&r.to_new()),
            by_id.get(&r.id),
            "{what}: record {} differs",
            r.id
        );
    }
    let rep = log.verify().unwrap();
    assert!(rep.is_ok(), "{what}: {rep:?}");
    let n = got.len() as u64;
    assert_eq!(log.append(NewRecord::new(1)).unwrap(), n + 1, "{what}");
    // And what recovery left behind opens again as it is.
    drop(log);
    let again = opts(Arc::new(shared)).open();
    let again = again.unwrap_or_else(|e| panic!("{what}: the recovered log does not reopen: {e}"));
    assert_eq!(again.last_id(), n + 1, "{what}: after reopening twice");
    Some((acked, synced, n))
}

fn sweep(name: &str, durability: Durability, crash: bool, seed: u64) -> Tally {
    let mut rng = Rng(seed);
    let mut t = Tally::default();
    for i in 0..RUNS {
        t.runs += 1;
        let Some((acked, synced, got)) =
            run(durability, crash, &mut rng, &format!("{name} run {i}"))
        else {
            t.refused += 1;
            continue;
        };
        t.acked += acked;
        t.lost_acked += acked.saturating_sub(got);
        t.runs_losing += u64::from(got < acked);
        t.lost_synced += synced.saturating_sub(got);
    }
    eprintln!(
        "power_loss summary | {name} | {} runs | {} records acknowledged before the cut | {} acknowledged lost in {} runs | {} synced lost | {} refused to open",
        t.runs, t.acked, t.lost_acked, t.runs_losing, t.lost_synced, t.refused
    );
    t
}

#[test]
fn always_loses_nothing_acknowledged_on_power_loss() {
    let t = sweep("always, power loss", Durability::Always, false, 11);
    assert_eq!((t.lost_acked, t.refused), (0, 0));
    assert!(t.acked > RUNS, "the cuts fell too early to show anything");
}

#[test]
fn interval_loses_nothing_synced_on_power_loss() {
    let d = Durability::Interval(Duration::from_secs(3600));
    let t = sweep("interval(1h), power loss", d, false, 12);
    assert_eq!((t.lost_synced, t.refused), (0, 0));
    // Not every acknowledged record was durable: the mode is what it says.
    assert!(t.runs_losing > 0, "no run lost an unsynced record");
}

#[test]
fn never_survives_process_crashes() {
    let t = sweep("never, process crash", Durability::Never, true, 13);
    assert_eq!(t.lost_acked, 0);
    let t = sweep(
        "interval(1h), process crash",
        Durability::Interval(Duration::from_secs(3600)),
        true,
        14,
    );
    assert_eq!(t.lost_acked, 0);
}

#[test]
fn never_keeps_what_sync_covered_on_power_loss() {
    let t = sweep("never, power loss", Durability::Never, false, 15);
    assert_eq!(t.lost_synced, 0);
    assert!(
        t.refused < t.runs / 2,
        "{} of {} runs refused to open",
        t.refused,
        t.runs
    );
    // A power loss does lose acknowledged records in this mode.
    assert!(t.runs_losing > 0, "no run lost an unsynced record");
}
