//! A report worker killed mid-report (kill -9 of a real child process):
//! after reopening, the report completes or is failed with a reason, and a
//! half-written file is never served.
//!
//! The test re-runs its own binary as a child that opens the log, creates
//! a report of every record and prints the report's progress as the worker
//! writes it. The parent kills the child at a chosen point (right after
//! the report is created, after some rows, or once it is completed),
//! reopens the log, waits for the report and checks that either it is
//! completed and its download equals a direct export of the same query, or
//! it is failed with a reason and cannot be downloaded. Nothing else is
//! ever acceptable, whatever the moment of the kill.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use auditlog::export::ExportOptions;
use auditlog::report::{Customers, DownloadEncoding, NewReport, ReportState};
use auditlog::workload::Workload;
use auditlog::{AuditLog, Durability, Options, Query};

/// Set in the child: the data directory.
const CHILD_DIR: &str = "AUDITLOG_REPORT_CRASH_DIR";
/// Records in the log: enough for dozens of progress steps of 4096 rows.
const RECORDS: u64 = 120_000;
const LONG: Duration = Duration::from_secs(300);

fn opts(dir: &Path) -> Options {
    Options::new(dir).durability(Durability::Always)
}

/// The child: create a report of everything and print its progress (one
/// line per change) until it is finished; then wait to be killed.
fn child(dir: &str) {
    let log = opts(Path::new(dir)).open().unwrap();
    let id = log.create_report(NewReport::new(1, Query::new())).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n@created {id}").unwrap();
    out.flush().unwrap();
    let mut last = None;
    loop {
        let r = log.reports().get(id, &Customers::All).unwrap();
        let now = (r.rows_done, r.state.is_finished());
        if last != Some(now) {
            writeln!(out, "@rows {} {}", r.rows_done, r.state.is_finished()).unwrap();
            out.flush().unwrap();
            last = Some(now);
        }
        if r.state.is_finished() {
            break;
        }
        std::thread::yield_now();
    }
    // Stay alive: the parent kills us (a clean exit is not the point).
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn next(rng: &mut u64) -> u64 {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

/// The CSV of a direct export of the report's query, with its options.
fn direct_export(log: &AuditLog, r: &auditlog::report::Report) -> Vec<u8> {
    let opts = ExportOptions::csv()
        .layout(r.layout)
        .header(r.header)
        .neutralize(r.neutralize);
    let mut out = Vec::new();
    log.export(&r.query, &mut out, &opts, &mut |_| {}).unwrap();
    out
}

#[test]
fn report_worker_killed_mid_report() {
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        child(&dir);
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Options::new(&dir)
            .durability(Durability::Never)
            .open()
            .unwrap();
        let w = Workload::new(7);
        let mut batch = Vec::with_capacity(10_000);
        for r in w.records(RECORDS) {
            batch.push(r);
            if batch.len() == 10_000 {
                log.append_batch(std::mem::take(&mut batch)).unwrap();
            }
        }
        log.append_batch(batch).unwrap();
        log.sync().unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let stderr_path = tmp.path().join("child.stderr");
    let mut rng = 0x7e57_u64;
    let (mut completed, mut failed, mut mid) = (0, 0, 0);
    // Kill points: 0 = as soon as the report exists, 1..=k = after that
    // many progress lines, u64::MAX = once it is finished.
    let total_steps = RECORDS / 4096;
    let mut points = vec![0, 1, 2, u64::MAX];
    for _ in 0..8 {
        points.push(1 + next(&mut rng) % total_steps);
    }
    for (cycle, kill_at) in points.into_iter().enumerate() {
        let mut child = Command::new(&exe)
            .args([
                "report_worker_killed_mid_report",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut id = None;
        let mut steps = 0;
        let mut finished_before_kill = false;
        loop {
            line.clear();
            if out.read_line(&mut line).unwrap() == 0 {
                let err = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                panic!("cycle {cycle}: the child exited by itself:\n{err}");
            }
            // Our lines start with `@`; the harness's own lines do not.
            let ours = line.find('@').map_or("", |at| &line[at + 1..]);
            let words: Vec<&str> = ours.split_whitespace().collect();
            match words.as_slice() {
                ["created", n] => {
                    id = Some(n.parse::<u64>().unwrap());
                    if kill_at == 0 {
                        break;
                    }
                }
                ["rows", rows, done] => {
                    let rows: u64 = rows.parse().unwrap();
                    if *done == "true" {
                        finished_before_kill = true;
                        break;
                    }
                    if rows > 0 {
                        steps += 1;
                        if steps >= kill_at && kill_at != u64::MAX {
                            break;
                        }
                    }
                }
                _ => {}
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let id = id.expect("the child printed the report id");
        let what = format!("cycle {cycle} (killed at progress step {kill_at}, report {id})");
        if !finished_before_kill {
            mid += 1;
        }

        let log = opts(&dir).open().unwrap();
        let r = log.reports().wait(id, &Customers::All, LONG).unwrap();
        match &r.state {
            ReportState::Completed => {
                completed += 1;
                let mut got = Vec::new();
                log.reports()
                    .download(id, &Customers::All, DownloadEncoding::Plain)
                    .unwrap()
                    .read_to_end(&mut got)
                    .unwrap();
                let want = direct_export(&log, &r);
                assert_eq!(
                    got.len(),
                    want.len(),
                    "{what}: the downloaded CSV has the wrong length; starts:\n{}\n{}",
                    String::from_utf8_lossy(&got[..got.len().min(300)]),
                    String::from_utf8_lossy(&want[..want.len().min(300)]),
                );
                assert!(
                    got == want,
                    "{what}: the downloaded CSV differs from an export"
                );
                assert_eq!(r.rows_done, RECORDS, "{what}: rows_done");
                assert_eq!(r.file_size, Some(want.len() as u64), "{what}: file_size");
            }
            ReportState::Failed { reason } => {
                failed += 1;
                assert!(!reason.is_empty(), "{what}: failed without a reason");
                let e = log
                    .reports()
                    .download(id, &Customers::All, DownloadEncoding::Plain)
                    .unwrap_err();
                assert!(
                    e.to_string().contains("failed"),
                    "{what}: a failed report's download error: {e}"
                );
            }
            other => panic!("{what}: after reopen the report is {other:?}, not finished"),
        }
        // No half-written file is left next to the finished ones.
        let leftovers: Vec<String> = std::fs::read_dir(log.reports().dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "{what}: temporary files left: {leftovers:?}"
        );
    }
    eprintln!("report_crash: {completed} completed, {failed} failed, {mid} killed before the report finished");
    assert!(
        mid >= 4,
        "only {mid} kills landed before the report finished"
    );
    assert_eq!(completed + failed, 12);
}
