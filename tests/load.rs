//! Load tests of `auditlog serve` on loopback (ignored by default; run them
//! in release):
//!
//! ```text
//! AUDITLOG_LOAD_SECS=60 cargo test --release --test load -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `load_64_listers_8_ingesters`: 64 clients list (Enswitch `audit/list`
//! windows and column searches, Voximplant `GetAuditLog` pages) while 8
//! clients ingest NDJSON batches, for `AUDITLOG_LOAD_SECS` seconds (default
//! 60) over a preloaded log (`AUDITLOG_LOAD_PRELOAD` records, default
//! 200,000) with `Durability::Always` (`AUDITLOG_LOAD_INGESTERS` changes
//! the number of ingesting clients). Guards against errors under load and
//! lost acknowledged records: it fails on any error, and checks that every
//! acknowledged id is listed afterwards through the API. The server is the
//! built `auditlog serve` in its own process (stopped with SIGTERM, which
//! must exit cleanly). Prints requests/s and latency percentiles per kind,
//! and the server process's resident memory.
//!
//! `million_row_answer_streams_in_flat_memory`: one Enswitch answer of
//! 1,000,000 rows (the default row cap), read as it streams, while the
//! process's resident memory is sampled.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auditlog::server::http::ServeConfig;
use auditlog::{Durability, NewRecord, Options};
use common::http_support::*;
use common::{gen_record, Rng};
use serde::Deserialize;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident anonymous memory (heap and stacks) of process `pid` (`None`:
/// this one), in MiB. File-backed pages (the memory-mapped sealed
/// segments, which the kernel may drop at any time) are left out.
fn rss_mib_of(pid: Option<u32>) -> f64 {
    let path = pid.map_or_else(
        || "/proc/self/status".to_string(),
        |p| format!("/proc/{p}/status"),
    );
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resident anonymous memory of this process, in MiB.
fn rss_mib() -> f64 {
    rss_mib_of(None)
}

/// The server's segment size bound (`AUDITLOG_LOAD_SEGMENT_MIB`, default
/// 8 MiB: several seals within a minute of ingestion, so that the memory
/// figures include the active index's whole cycle, not only its growth).
fn segment_mib() -> u64 {
    env_u64("AUDITLOG_LOAD_SEGMENT_MIB", 8)
}

/// The `auditlog` binary serving `data` as a child process (its memory
/// is the server's alone, not the test clients' too).
struct ChildServer {
    child: std::process::Child,
    url: String,
}

impl ChildServer {
    fn start(data: &std::path::Path, users: &std::path::Path) -> ChildServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_auditlog"))
            .arg("--data")
            .arg(data)
            .args(["--segment-mib", &segment_mib().to_string()])
            .args(["serve", "--listen", "127.0.0.1:0", "--users"])
            .arg(users)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start auditlog serve");
        let out = child.stdout.take().expect("stdout");
        let mut lines = std::io::BufReader::new(out).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.split_once("listening on ")
                    .map(|(_, u)| u.trim().to_string())
            })
            .expect("the server did not say where it listens");
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ChildServer { child, url }
    }

    /// SIGTERM (graceful shutdown), then its exit status must be success.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        let st = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(st.success());
        let st = self.child.wait().expect("wait");
        assert!(st.success(), "serve exited with {st}");
    }
}

/// Samples RSS every 200 ms until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<f64>>,
}

impl RssSampler {
    fn start() -> Self {
        Self::of(None)
    }

    fn of(pid: Option<u32>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !s.load(Ordering::Relaxed) {
                samples.push(rss_mib_of(pid));
                std::thread::sleep(Duration::from_millis(200));
            }
            samples
        });
        RssSampler { stop, thread }
    }

    /// (min, max, the samples at each tenth of the run) in MiB.
    fn finish(self) -> (f64, f64, Vec<f64>) {
        self.stop.store(true, Ordering::Relaxed);
        let s = self.thread.join().unwrap();
        let lo = s.iter().copied().fold(f64::MAX, f64::min);
        let hi = s.iter().copied().fold(0.0, f64::max);
        let tenths = (1..=10)
            .filter_map(|k| s.get((s.len() * k / 10).saturating_sub(1)).copied())
            .collect();
        (lo, hi, tenths)
    }
}

#[derive(Default)]
struct Stats {
    lat: Vec<Duration>,
    errors: u64,
    first_errors: Vec<String>,
}

impl Stats {
    fn ok(&mut self, d: Duration) {
        self.lat.push(d);
    }
    fn err(&mut self, e: String) {
        self.errors += 1;
        if self.first_errors.len() < 5 {
            self.first_errors.push(e);
        }
    }
    fn merge(&mut self, o: Stats) {
        self.lat.extend(o.lat);
        self.errors += o.errors;
        self.first_errors.extend(o.first_errors.into_iter().take(5));
    }
    fn report(&mut self, name: &str, secs: f64) -> String {
        self.lat.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.lat.is_empty() {
                return 0.0;
            }
            let i = ((self.lat.len() as f64 * p).ceil() as usize).clamp(1, self.lat.len()) - 1;
            self.lat[i].as_secs_f64() * 1e3
        };
        format!(
            "{name:<28} {:>8} req {:>9.1} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  errors {}",
            self.lat.len(),
            self.lat.len() as f64 / secs,
            pct(0.50),
            pct(0.99),
            pct(1.0),
            self.errors
        )
    }
}

#[derive(Deserialize)]
struct IdRow {
    id: u64,
}

#[derive(Deserialize)]
struct Envelope {
    responses: Vec<serde_json::Value>,
    data: Vec<IdRow>,
}

#[test]
#[ignore = "load test: run in release with --ignored"]
fn load_64_listers_8_ingesters() {
    let secs = env_u64("AUDITLOG_LOAD_SECS", 60);
    let preload = env_u64("AUDITLOG_LOAD_PRELOAD", 200_000);
    let dir = tempfile::tempdir().unwrap();
    let log = Options::new(dir.path().join("data"))
        .durability(Durability::Always)
        .open()
        .unwrap();
    log.set_parents(TREE).unwrap();
    let t0 = Instant::now();
    let mut rng = Rng(99);
    let recs: Vec<NewRecord> = (0..preload)
        .map(|i| gen_record(&mut rng, i, BASE))
        .collect();
    for chunk in recs.chunks(10_000) {
        log.append_batch(chunk.to_vec()).unwrap();
    }
    drop(recs);
    println!(
        "preloaded {preload} records in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    drop(log);
    let users = write_users(dir.path());
    let srv = ChildServer::start(&dir.path().join("data"), &users);
    let url = srv.url.clone();
    let pid = Some(srv.child.id());
    let span_s = (preload as i64).max(600);
    let vox_token = token("k3", 0, serde_json::json!("3"), 3600);

    let rss_before = rss_mib_of(pid);
    let sampler = RssSampler::of(pid);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();

    // 64 listing clients.
    let listers: Vec<_> = (0..64u64)
        .map(|c| {
            let url = url.clone();
            let vox_token = vox_token.clone();
            std::thread::spawn(move || {
                let client = client();
                let mut rng = Rng(1000 + c);
                let (mut window, mut search, mut vox) =
                    (Stats::default(), Stats::default(), Stats::default());
                while Instant::now() < deadline {
                    let kind = rng.below(100);
                    let from = BASE_S + rng.below(span_s as u64) as i64;
                    let t = Instant::now();
                    let (stats, res) = if kind < 45 {
                        let to = from + 1 + rng.below(600) as i64;
                        let r = client
                            .get(format!(
                                "{url}/api/json/audit/list/?auth_username=top;auth_password=top-pw;start={from};end={to};customer=system"
                            ))
                            .send();
                        (&mut window, r.map(|r| (r.status().as_u16(), r.bytes())))
                    } else if kind < 60 {
                        let to = from + 3600;
                        let r = client
                            .get(format!(
                                "{url}/api/json/audit/list/?auth_username=top;auth_password=top-pw;start={from};end={to};customer=recursive;column=name;match=contains;value=smith;sort=name"
                            ))
                            .send();
                        (&mut search, r.map(|r| (r.status().as_u16(), r.bytes())))
                    } else {
                        let f = auditlog::Timestamp::from_unix_seconds(from).unwrap().to_sql();
                        let to = auditlog::Timestamp::from_unix_seconds(from + 7200)
                            .unwrap()
                            .to_sql();
                        let r = client
                            .post(format!("{url}/platform_api/GetAuditLog"))
                            .bearer_auth(&vox_token)
                            .form(&[("from_date", f.as_str()), ("to_date", to.as_str()), ("count", "100")])
                            .send();
                        (&mut vox, r.map(|r| (r.status().as_u16(), r.bytes())))
                    };
                    match res {
                        Ok((200, Ok(body))) => {
                            let ok = if kind < 60 {
                                body.starts_with(br#"{"responses":[{"code":"200""#)
                                    && body.ends_with(b"]}")
                            } else {
                                body.starts_with(br#"{"result":["#)
                            };
                            if ok {
                                stats.ok(t.elapsed());
                            } else {
                                stats.err(String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
                            }
                        }
                        Ok((st, body)) => stats.err(format!(
                            "status {st}: {:?}",
                            body.map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                        )),
                        Err(e) => stats.err(e.to_string()),
                    }
                }
                (window, search, vox)
            })
        })
        .collect();

    // 8 ingesting clients, each at most 20 batches of 50 records a second.
    let acked = Arc::new(Mutex::new(Vec::<u64>::new()));
    let ingested_records = Arc::new(AtomicU64::new(0));
    let ingesters: Vec<_> = (0..env_u64("AUDITLOG_LOAD_INGESTERS", 8))
        .map(|w| {
            let url = url.clone();
            let acked = acked.clone();
            let count = ingested_records.clone();
            std::thread::spawn(move || {
                let client = client();
                let mut stats = Stats::default();
                let mut b = 0u64;
                let pace = Duration::from_millis(50);
                while Instant::now() < deadline {
                    let slot = Instant::now() + pace;
                    let body: String = (0..50)
                        .map(|i| {
                            format!(
                                "{{\"customer\":5,\"person\":\"load-w{w}\",\"action\":\"ingest\",\"name\":\"w{w}-b{b}-i{i}\",\"source\":\"10.9.{w}.{i}\"}}\n"
                            )
                        })
                        .collect();
                    b += 1;
                    let t = Instant::now();
                    let r = client
                        .post(format!("{url}/api/v1/records"))
                        .basic_auth("writer2", Some("writer2-pw"))
                        .body(body)
                        .send();
                    match r {
                        Ok(r) if r.status().as_u16() == 200 => {
                            let v: serde_json::Value = r.json().unwrap();
                            let ids: Vec<u64> = v["ids"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|i| i.as_u64().unwrap())
                                .collect();
                            if ids.len() == 50 {
                                stats.ok(t.elapsed());
                                count.fetch_add(50, Ordering::Relaxed);
                                acked.lock().unwrap().extend(ids);
                            } else {
                                stats.err(format!("{} ids", ids.len()));
                            }
                        }
                        Ok(r) => stats.err(format!("status {}: {:?}", r.status(), r.text())),
                        Err(e) => stats.err(e.to_string()),
                    }
                    if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                stats
            })
        })
        .collect();

    let (mut window, mut search, mut vox, mut ing) = (
        Stats::default(),
        Stats::default(),
        Stats::default(),
        Stats::default(),
    );
    for h in listers {
        let (a, b, c) = h.join().unwrap();
        window.merge(a);
        search.merge(b);
        vox.merge(c);
    }
    for h in ingesters {
        ing.merge(h.join().unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let (rss_lo, rss_hi, rss_tenths) = sampler.finish();

    // Every acknowledged id is listed afterwards (through the API).
    let acked: Vec<u64> = std::mem::take(&mut *acked.lock().unwrap());
    let t = Instant::now();
    let resp = client()
        .get(format!(
            "{url}/api/json/audit/list/?auth_username=writer2;auth_password=writer2-pw;start=0;customer=5;column=person;match=start;value=load-w"
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let env: Envelope = serde_json::from_reader(std::io::BufReader::new(resp)).unwrap();
    assert_eq!(env.responses[0]["code"], "200");
    let listed: HashSet<u64> = env.data.iter().map(|r| r.id).collect();
    let verify_s = t.elapsed().as_secs_f64();
    let missing = acked.iter().filter(|id| !listed.contains(id)).count();

    println!("\n== load: 64 listing + 8 ingesting clients, {elapsed:.1} s, {preload} preloaded records, durability always");
    let total = window.lat.len() + search.lat.len() + vox.lat.len();
    println!("{}", window.report("enswitch list (window)", elapsed));
    println!("{}", search.report("enswitch list (name search)", elapsed));
    println!("{}", vox.report("voximplant GetAuditLog", elapsed));
    println!("{}", ing.report("ingest (50 records/batch)", elapsed));
    println!(
        "listing total: {total} requests, {:.1} req/s; ingested {} records ({:.0} records/s)",
        total as f64 / elapsed,
        ingested_records.load(Ordering::Relaxed),
        ingested_records.load(Ordering::Relaxed) as f64 / elapsed
    );
    println!(
        "resident anonymous memory: {rss_before:.0} MiB before, {rss_lo:.0}..{rss_hi:.0} MiB during; at each tenth of the run: {}",
        rss_tenths.iter().map(|m| format!("{m:.0}")).collect::<Vec<_>>().join(" ")
    );
    println!(
        "acknowledged {} ids, listed afterwards {} (in {verify_s:.1} s), missing {missing}",
        acked.len(),
        listed.len()
    );
    for s in [&window, &search, &vox, &ing] {
        for e in &s.first_errors {
            println!("error: {e}");
        }
    }
    assert_eq!(
        window.errors + search.errors + vox.errors + ing.errors,
        0,
        "errors under load"
    );
    assert_eq!(missing, 0, "acknowledged records not listed");
    assert_eq!(
        listed.len(),
        acked.len(),
        "listed records nobody acknowledged"
    );
    assert!(total > 0);
    srv.stop();
}

#[test]
#[ignore = "load test: run in release with --ignored"]
fn million_row_answer_streams_in_flat_memory() {
    let n = env_u64("AUDITLOG_STREAM_ROWS", 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let log = Options::new(dir.path().join("data"))
        .durability(Durability::Never)
        .open()
        .unwrap();
    log.set_parents(TREE).unwrap();
    let mut rng = Rng(5);
    let mut i = 0;
    while i < n {
        let batch: Vec<NewRecord> = (i..(i + 20_000).min(n))
            .map(|k| gen_record(&mut rng, k, BASE))
            .collect();
        i += batch.len() as u64;
        log.append_batch(batch).unwrap();
    }
    let users = write_users(dir.path());
    let srv = Server::start(log.clone(), ServeConfig::new(&users));
    let rss_before = rss_mib();
    let sampler = RssSampler::start();
    let t = Instant::now();
    let mut resp = client()
        .get(format!(
            "{}/api/json/audit/list/?auth_username=top;auth_password=top-pw;start=0;customer=system",
            srv.url
        ))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    // Count rows as the bytes arrive; never hold the answer.
    let (mut bytes, mut rows) = (0u64, 0u64);
    let mut buf = vec![0u8; 1 << 16];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let k = resp.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        bytes += k as u64;
        let mut joined = std::mem::take(&mut tail);
        joined.extend_from_slice(&buf[..k]);
        rows += joined.windows(6).filter(|w| w == b"{\"id\":").count() as u64;
        tail = joined[joined.len().saturating_sub(5)..].to_vec();
    }
    let secs = t.elapsed().as_secs_f64();
    let (lo, hi, _) = sampler.finish();
    println!(
        "\n== one audit/list answer of {rows} rows, {:.0} MiB, in {secs:.1} s ({:.0} rows/s); resident anonymous memory {rss_before:.0} MiB before, {lo:.0}..{hi:.0} MiB while streaming",
        bytes as f64 / (1 << 20) as f64,
        rows as f64 / secs
    );
    assert_eq!(rows, n);
    assert!(
        hi - rss_before < 256.0,
        "memory grew by {:.0} MiB while streaming",
        hi - rss_before
    );
    srv.stop().unwrap();
}
