//! Guards against acknowledged records being lost or altered when the
//! process dies at an arbitrary instant (kill -9): mid-append, mid-roll,
//! mid-fsync, with several appender threads in `Durability::Always`.
//!
//! The test re-runs its own binary as a child that appends and prints each
//! acknowledged id as soon as `append` returns; the parent kills it after a
//! random number of acknowledgements, reopens the log and checks that every
//! acknowledged id is there with the content generated for it, that ids are
//! gap-free from 1, and that the log verifies clean. Each record's content
//! is a pure function of a sequence number carried in its `object_id`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use auditlog::{AuditLog, Durability, NewRecord, Options, Timestamp};

/// Set in the child: the data directory to append to.
const CHILD_DIR: &str = "AUDITLOG_CRASH_KILL_DIR";
/// Set in the child: the first sequence number it may use.
const CHILD_BASE: &str = "AUDITLOG_CRASH_KILL_BASE";
const THREADS: u64 = 4;
const CYCLES: u64 = 200;

/// The record for sequence number `seq` (small, so segments roll often).
fn record(seq: u64) -> NewRecord {
    let h = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    NewRecord::new(1 + h % 13)
        .person(format!("p{}", h % 7))
        .action(["add", "change", "delete"][(h % 3) as usize])
        .object("user")
        .object_id(seq.to_string())
        .name(format!("n{}", (h >> 20) % 1000))
        .time(Timestamp::from_micros(1_700_000_000_000_000 + (seq as i64) * 1000).unwrap())
}

fn opts(dir: &Path) -> Options {
    Options::new(dir)
        .durability(Durability::Always)
        .segment_size(4 << 10)
        .segment_max_age(None)
}

/// The child: append from several threads until killed.
fn child(dir: &str, base: u64) {
    let log = opts(Path::new(dir)).open().unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let log = &log;
            s.spawn(move || {
                let mut seq = base + t * 1_000_000;
                // Bounded, in case the parent is gone.
                for i in 0..20_000u64 {
                    let ids = if i % 3 == 2 {
                        log.append_batch(vec![record(seq), record(seq + 1)])
                            .unwrap()
                    } else {
                        let id = log.append(record(seq)).unwrap();
                        id..=id
                    };
                    let mut out = std::io::stdout().lock();
                    for id in ids {
                        // One write per line; "END" marks a complete line.
                        writeln!(out, "ACK {id} {seq} END").unwrap();
                        seq += 1;
                    }
                    out.flush().unwrap();
                }
            });
        }
    });
}

fn parse_ack(line: &str) -> Option<(u64, u64)> {
    let mut it = line.strip_prefix("ACK ")?.split(' ');
    let id = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    (it.next()? == "END" && it.next().is_none()).then_some((id, seq))
}

/// A tiny deterministic PRNG (SplitMix64).
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Checks the log from id `from` on (all of it when `from` is 1): ids
/// run gap-free to the end, every record is the one generated for the
/// sequence number it carries, every acknowledged id holds the sequence
/// number acknowledged for it, and no acknowledged id is missing.
fn check_log(log: &AuditLog, from: u64, acked: &BTreeMap<u64, u64>, what: &str) -> u64 {
    let mut last = from - 1;
    for r in log.range(from..) {
        let r = r.unwrap_or_else(|e| panic!("{what}: read after id {last}: {e}"));
        assert_eq!(r.id, last + 1, "{what}: ids are not gap-free");
        last = r.id;
        let seq: u64 = r
            .object_id
            .parse()
            .unwrap_or_else(|_| panic!("{what}: record {} is not ours: {r:?}", r.id));
        assert_eq!(r.to_new(), record(seq), "{what}: record {} altered", r.id);
        if let Some(&want) = acked.get(&r.id) {
            assert_eq!(
                seq, want,
                "{what}: record {} is not the one acknowledged",
                r.id
            );
        }
    }
    assert_eq!(last, log.last_id(), "{what}");
    if let Some((&id, _)) = acked.iter().next_back() {
        assert!(
            id <= last,
            "{what}: acknowledged id {id} lost (log ends at {last})"
        );
    }
    last
}

#[test]
fn kill_and_reopen_cycles() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        let base = std::env::var(CHILD_BASE).unwrap().parse().unwrap();
        child(&dir, base);
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let stderr_path = tmp.path().join("child.stderr");
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x5eed_u64;
    let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut rolls_seen = 0;
    let mut last_segments = 0;
    let mut checked = 0;
    for cycle in 0..CYCLES {
        let kill_after = 1 + next(&mut rng) % 30;
        let mut child = Command::new(&exe)
            .args([
                "kill_and_reopen_cycles",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &dir)
            .env(CHILD_BASE, ((cycle + 1) * 10_000_000).to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut got = 0;
        let mut line = String::new();
        let record_ack = |line: &str, acked: &mut BTreeMap<u64, u64>| {
            if let Some((id, seq)) = parse_ack(line.trim_end()) {
                let prev = acked.insert(id, seq);
                assert!(prev.is_none(), "cycle {cycle}: id {id} acknowledged twice");
                true
            } else {
                false
            }
        };
        while got < kill_after {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("cycle {cycle}: the child exited by itself after {got} acks:\n{err}");
            }
            if record_ack(&line, &mut acked) {
                got += 1;
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever complete lines were printed before the kill are acks too.
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                break;
            }
            record_ack(&line, &mut acked);
        }

        let what = format!("cycle {cycle} (killed after {kill_after} acks)");
        let rep = AuditLog::verify_dir(&dir).unwrap();
        assert!(rep.is_ok(), "{what}: verify_dir before reopening: {rep:?}");
        let log = opts(&dir).open().unwrap();
        // The whole log every tenth cycle; otherwise what is new since
        // the last check (records once present are checked again later).
        let from = if cycle % 10 == 9 { 1 } else { checked + 1 };
        let last = check_log(&log, from.min(checked + 1), &acked, &what);
        assert!(
            last >= checked,
            "{what}: the log shrank from {checked} to {last}"
        );
        checked = last;
        let rep = log.verify().unwrap();
        assert!(rep.is_ok() && rep.notes.is_empty(), "{what}: {rep:?}");
        assert_eq!(rep.last_id, Some(last), "{what}");
        let segs = log.stats().unwrap().live_segments;
        if segs > last_segments {
            rolls_seen += 1;
        }
        last_segments = segs;
    }
    let log = opts(&dir).open().unwrap();
    assert_eq!(check_log(&log, 1, &acked, "final"), checked);
    drop(log);
    let rep = AuditLog::verify_dir(&dir).unwrap();
    assert!(rep.is_ok() && rep.notes.is_empty(), "{rep:?}");
    assert!(
        acked.len() as u64 >= CYCLES * 10,
        "only {} acks",
        acked.len()
    );
    assert!(
        rolls_seen >= 20,
        "segments rolled in only {rolls_seen} cycles"
    );
    eprintln!(
        "{CYCLES} kill/reopen cycles, {} acknowledged records, {} in the log, {last_segments} segments, {:?}",
        acked.len(),
        rep.records,
        started.elapsed()
    );
}
