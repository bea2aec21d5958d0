//! Parquet export and the Parquet lake (feature `parquet`, issue 8).
//!
//! - `export_schema_and_rows`: the parquet crate's own reader sees the
//!   documented schema and exactly the engine's rows.
//! - `lake_archive_idempotent_and_lake_only`: `archive_with` writes one file
//!   per segment and date, reruns skip or rewrite identical bytes, and
//!   `lake_only` removes exactly the segments in the lake.
//! - `duckdb_reads_export_and_lake`: an independent reader (DuckDB from
//!   PyPI in a virtualenv cached under `target/`) answers row counts,
//!   aggregates and whole rows exactly as the engine does. Fails loudly when
//!   python3 or pip is missing, unless `AUDITLOG_SKIP_PY=1`.
#![cfg(feature = "parquet")]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;

use arrow_array::cast::AsArray;
use arrow_array::types::{TimestampMicrosecondType, UInt64Type};
use arrow_array::Array;
use auditlog::export::{parquet_schema, ExportOptions, Format};
use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::workload::Workload;
use auditlog::{ArchiveOptions, AuditLog, Durability, NewRecord, Options, Record, Timestamp};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Value};

const RECORDS: u64 = 20_000;

/// A log with the workload's first `RECORDS` records plus a few edge cases,
/// in small segments (so the lake has many files).
fn build(dir: &Path) -> AuditLog {
    let log = Options::new(dir)
        .durability(Durability::Never)
        .segment_size(512 << 10)
        .open()
        .expect("open the log");
    let w = Workload::default();
    let recs: Vec<NewRecord> = w.records(RECORDS).collect();
    for c in recs.chunks(5_000) {
        log.append_batch(c.to_vec()).expect("append");
    }
    let t = Timestamp::parse_rfc3339("2026-02-03T23:59:59.999999Z").expect("time");
    log.append_batch(vec![
        NewRecord::new(7)
            .time(t)
            .name("ünïcödé x \"quoted\", comma")
            .refs(Vec::<String>::new())
            .action("edge"),
        NewRecord::new(7)
            .time(t)
            .person("=formula")
            .name("")
            .refs(["a", "", "ç"])
            .action("edge"),
    ])
    .expect("append edge cases");
    log.sync().expect("sync");
    log
}

fn all(log: &AuditLog, q: &Query) -> Vec<Record> {
    log.query(q)
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Every row of a Parquet file, read with the parquet crate, as records.
fn read_parquet(path: &Path) -> (Vec<Record>, arrow_schema::SchemaRef, usize) {
    let f = File::open(path).expect("open parquet");
    let b = ParquetRecordBatchReaderBuilder::try_new(f).expect("parquet reader");
    let schema = b.schema().clone();
    let groups = b.metadata().num_row_groups();
    for rg in b.metadata().row_groups() {
        for c in rg.columns() {
            assert!(
                matches!(c.compression(), parquet::basic::Compression::ZSTD(_)),
                "column {} is {:?}, not zstd",
                c.column_path(),
                c.compression()
            );
        }
    }
    let mut out = Vec::new();
    for batch in b.build().expect("build reader") {
        let batch = batch.expect("batch");
        let id = batch.column(0).as_primitive::<UInt64Type>();
        let time = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        let cust = batch.column(2).as_primitive::<UInt64Type>();
        let text: Vec<_> = (3..12)
            .map(|i| batch.column(i).as_string::<i32>())
            .collect();
        let refs = batch.column(12).as_list::<i32>();
        let args = batch.column(13).as_string::<i32>();
        let result = batch.column(14).as_string::<i32>();
        for i in 0..batch.num_rows() {
            let rl = refs.value(i);
            let rl = rl.as_string::<i32>();
            let opt = |a: &arrow_array::StringArray| {
                (!a.is_null(i)).then(|| serde_json::from_str(a.value(i)).expect("json"))
            };
            out.push(Record {
                id: id.value(i),
                time: Timestamp::from_micros(time.value(i)).expect("time"),
                customer: cust.value(i),
                person: text[0].value(i).into(),
                source: text[1].value(i).into(),
                action: text[2].value(i).into(),
                object: text[3].value(i).into(),
                object_id: text[4].value(i).into(),
                name: text[5].value(i).into(),
                field: text[6].value(i).into(),
                old: text[7].value(i).into(),
                new: text[8].value(i).into(),
                refs: (0..rl.len()).map(|j| rl.value(j).to_string()).collect(),
                args: opt(args),
                result: opt(result),
            });
        }
    }
    (out, schema, groups)
}

#[test]
fn export_schema_and_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = build(&dir.path().join("data"));
    let file = dir.path().join("all.parquet");
    let q = Query::new().with_sort(Field::Id, false);
    let n = log
        .export(
            &q,
            File::create(&file).expect("create"),
            &ExportOptions::new().format(Format::Parquet),
            &mut |_| {},
        )
        .expect("export");
    assert_eq!(n, RECORDS + 2);
    let (rows, schema, _) = read_parquet(&file);
    assert_eq!(schema.fields(), parquet_schema().fields());
    let want = all(&log, &q);
    assert_eq!(rows.len(), want.len());
    for (a, b) in rows.iter().zip(&want) {
        assert_eq!(a, b, "row {}", b.id);
    }
    assert!(want.iter().any(|r| r.args.is_some()) && want.iter().any(|r| r.args.is_none()));

    // A filtered, sorted, limited query through the generic path, and an
    // empty result (still a valid file with the schema).
    let q2 = Query::new()
        .with_predicate(Predicate::new(Field::Action, MatchMode::Exact, "edge"))
        .with_sort(Field::Name, true);
    let mut buf = Vec::new();
    let n2 = log
        .export(
            &q2,
            &mut buf,
            &ExportOptions::new().format(Format::Parquet),
            &mut |_| {},
        )
        .expect("export");
    assert_eq!(n2, 2);
    let f2 = dir.path().join("edge.parquet");
    fs::write(&f2, &buf).expect("write");
    assert_eq!(read_parquet(&f2).0, all(&log, &q2));
    let q3 = Query::new().with_scope(Scope::Own(u64::MAX));
    let mut buf = Vec::new();
    let n3 = log
        .export(
            &q3,
            &mut buf,
            &ExportOptions::new().format(Format::Parquet),
            &mut |_| {},
        )
        .expect("export");
    assert_eq!(n3, 0);
    let f3 = dir.path().join("empty.parquet");
    fs::write(&f3, &buf).expect("write");
    let (rows, schema, _) = read_parquet(&f3);
    assert!(rows.is_empty());
    assert_eq!(schema.fields(), parquet_schema().fields());
}

#[test]
fn export_row_groups_bounded() {
    // 300k tiny records: more than one row group of ROW_GROUP_ROWS.
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Options::new(dir.path().join("data"))
        .durability(Durability::Never)
        .open()
        .expect("open");
    let n = auditlog::export::PARQUET_ROW_GROUP_ROWS as u64 + 10_000;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.push(NewRecord::new(i % 13).action("a"));
        if batch.len() == 50_000 {
            log.append_batch(std::mem::take(&mut batch))
                .expect("append");
        }
    }
    log.append_batch(batch).expect("append");
    let file = dir.path().join("big.parquet");
    log.export(
        &Query::new(),
        File::create(&file).expect("create"),
        &ExportOptions::new().format(Format::Parquet),
        &mut |_| {},
    )
    .expect("export");
    let (rows, _, groups) = read_parquet(&file);
    assert_eq!(rows.len() as u64, n);
    assert_eq!(groups, 2);
}

fn lake_files(lake: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    for d in fs::read_dir(lake).expect("lake dir") {
        let d = d.expect("entry").path();
        for f in fs::read_dir(&d).expect("partition") {
            let f = f.expect("entry").path();
            m.insert(f.clone(), fs::read(&f).expect("read"));
        }
    }
    m
}

#[test]
fn lake_archive_idempotent_and_lake_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = build(&dir.path().join("data"));
    let lake = dir.path().join("lake");
    let cutoff = Timestamp::parse_rfc3339("2026-01-20T00:00:00Z").expect("cutoff");
    let rep = log
        .archive_with(cutoff, &ArchiveOptions::new().lake(&lake))
        .expect("archive");
    assert!(!rep.archived.is_empty());
    assert_eq!(rep.lake_written, rep.archived);
    let files = lake_files(&lake);
    assert_eq!(files.len(), rep.lake_files.len());
    for p in files.keys() {
        let name = p.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with("seg-") && name.ends_with(".parquet"),
            "{name}"
        );
        let part = p
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str());
        assert!(
            part.is_some_and(|d| d.starts_with("date=2026-01-")),
            "{p:?}"
        );
    }
    // Every archived record is in the lake, in its date's partition.
    let last_archived = log
        .segments()
        .iter()
        .filter(|s| s.tier == "archived")
        .map(|s| s.last_id)
        .max()
        .expect("archived segments");
    let mut archived_q = Query::new().with_archived(true);
    archived_q.until_id = Some(last_archived);
    let want = all(&log, &archived_q);
    let mut got = Vec::new();
    for p in files.keys() {
        let date = p
            .parent()
            .and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("date="))
            .expect("partition")
            .to_string();
        for r in read_parquet(p).0 {
            assert_eq!(r.time.to_date(), date, "record {} in {p:?}", r.id);
            got.push(r);
        }
    }
    got.sort_by_key(|r| r.id);
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "lake rows differ from the engine's archived rows"
    );

    // A rerun skips everything; a lost file is written again, identically.
    let rep2 = log
        .archive_with(cutoff, &ArchiveOptions::new().lake(&lake))
        .expect("rerun");
    assert!(rep2.archived.is_empty() && rep2.lake_written.is_empty());
    assert_eq!(rep2.lake_skipped, rep.lake_written);
    let (victim, bytes) = files.iter().next_back().expect("a file");
    fs::remove_file(victim).expect("remove");
    let rep3 = log
        .archive_with(cutoff, &ArchiveOptions::new().lake(&lake))
        .expect("rerun");
    assert_eq!(rep3.lake_written.len(), 1);
    assert_eq!(&fs::read(victim).expect("rewritten"), bytes);
    assert_eq!(lake_files(&lake), files);

    // lake_only: the archived segments leave the engine, the lake keeps them.
    let before = log.stats().expect("stats").records;
    let rep4 = log
        .archive_with(cutoff, &ArchiveOptions::new().lake(&lake).lake_only(true))
        .expect("lake only");
    assert_eq!(rep4.removed, rep.archived);
    assert_eq!(
        log.stats().expect("stats").records,
        before - want.len() as u64
    );
    assert!(all(&log, &archived_q).is_empty());
    assert!(log.get(1).expect("get").is_none());
    assert!(log.verify().expect("verify").damage.is_none());
    assert_eq!(lake_files(&lake), files);

    // Without the lake directory, lake_only is refused.
    let e = log
        .archive_with(cutoff, &ArchiveOptions::new().lake_only(true))
        .expect_err("lake_only needs a lake");
    assert!(e.to_string().contains("lake"), "{e}");
}

/// The virtualenv with duckdb, created once under `target/` and reused.
fn duckdb_python() -> Option<PathBuf> {
    if std::env::var("AUDITLOG_SKIP_PY").is_ok_and(|v| v == "1") {
        eprintln!("AUDITLOG_SKIP_PY=1: skipping the DuckDB cross-check");
        return None;
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let venv = target.join("pyenv-duckdb");
    let py = venv.join("bin").join("python");
    let ok = |py: &Path| {
        Command::new(py)
            .args(["-c", "import duckdb"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ok(&py) {
        return Some(py);
    }
    let st = Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv)
        .status()
        .unwrap_or_else(|e| {
            panic!("python3 is needed for the DuckDB cross-check ({e}); set AUDITLOG_SKIP_PY=1 to skip it")
        });
    assert!(
        st.success(),
        "python3 -m venv {venv:?} failed ({st}); set AUDITLOG_SKIP_PY=1 to skip"
    );
    let st = Command::new(venv.join("bin").join("pip"))
        .args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "duckdb",
        ])
        .status()
        .unwrap_or_else(|e| {
            panic!("pip in {venv:?} did not run ({e}); set AUDITLOG_SKIP_PY=1 to skip")
        });
    assert!(
        st.success(),
        "pip install duckdb failed ({st}); set AUDITLOG_SKIP_PY=1 to skip"
    );
    assert!(ok(&py), "duckdb does not import in {venv:?}");
    Some(py)
}

fn row_json(r: &Record) -> Value {
    json!({
        "id": r.id, "time": r.time.as_micros(), "customer": r.customer,
        "person": r.person, "source": r.source, "action": r.action,
        "object": r.object, "object_id": r.object_id, "name": r.name,
        "field": r.field, "old": r.old, "new": r.new, "refs": r.refs,
        "args": r.args.as_ref().map(|j| j.as_str()),
        "result": r.result.as_ref().map(|j| j.as_str()),
    })
}

/// What DuckDB must say about the rows of `q` (same facts as the script).
fn expected(log: &AuditLog, q: &Query, customer: u64, needle: &str) -> Value {
    let rows = all(log, q);
    let mut by_action: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &rows {
        *by_action.entry(&r.action).or_default() += 1;
    }
    let cq = q.clone().with_scope(Scope::Own(customer));
    let times: Vec<i64> = all(log, &cq).iter().map(|r| r.time.as_micros()).collect();
    let nq = q
        .clone()
        .with_predicate(Predicate::new(Field::Name, MatchMode::Contains, needle));
    let first: Vec<Value> = rows.iter().take(50).map(row_json).collect();
    let last: Vec<Value> = rows.iter().rev().take(50).map(row_json).collect();
    json!({
        "count": rows.len(),
        "by_action": by_action,
        "customer_min_time": times.iter().min(),
        "customer_max_time": times.iter().max(),
        "name_contains": log.count(&nq).expect("count"),
        "first": first,
        "last": last,
    })
}

#[test]
fn duckdb_reads_export_and_lake() {
    let Some(py) = duckdb_python() else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let log = build(&dir.path().join("data"));
    let lake = dir.path().join("lake");
    let cutoff = Timestamp::parse_rfc3339("2026-01-20T00:00:00Z").expect("cutoff");
    log.archive_with(cutoff, &ArchiveOptions::new().lake(&lake))
        .expect("archive");
    let file = dir.path().join("all.parquet");
    let q = Query::new().with_archived(true).with_sort(Field::Id, false);
    log.export(
        &q,
        File::create(&file).expect("create"),
        &ExportOptions::new().format(Format::Parquet),
        &mut |_| {},
    )
    .expect("export");
    let customer = Workload::default().queries(RECORDS).customer_all.customer;
    let needle = "x";

    let out = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parquet_duckdb.py"))
        .arg(&file)
        .arg(&lake)
        .arg(customer.to_string())
        .arg(needle)
        .output()
        .expect("run the DuckDB script");
    assert!(
        out.status.success(),
        "DuckDB script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("script output is JSON");

    let types = json!({
        "id": "UBIGINT", "time": "TIMESTAMP WITH TIME ZONE", "customer": "UBIGINT",
        "person": "VARCHAR", "source": "VARCHAR", "action": "VARCHAR", "object": "VARCHAR",
        "object_id": "VARCHAR", "name": "VARCHAR", "field": "VARCHAR", "old": "VARCHAR",
        "new": "VARCHAR", "refs": "VARCHAR[]", "args": "VARCHAR", "result": "VARCHAR",
    });
    let check = |what: &str, got: &Value, mut want: Value| {
        for k in [
            "count",
            "by_action",
            "customer_min_time",
            "customer_max_time",
            "name_contains",
            "first",
            "last",
        ] {
            assert_eq!(
                got[k], want[k],
                "{what}: {k} differs between DuckDB and the engine"
            );
        }
        let mut t = got["types"].clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("date");
        }
        assert_eq!(t, types, "{what}: column types as DuckDB sees them");
        want["count"].take();
    };
    check(
        "export",
        &got["export"],
        expected(&log, &q, customer, needle),
    );

    let last_archived = log
        .segments()
        .iter()
        .filter(|s| s.tier == "archived")
        .map(|s| s.last_id)
        .max()
        .expect("archived segments");
    let mut lq = Query::new().with_archived(true).with_sort(Field::Id, false);
    lq.until_id = Some(last_archived);
    check("lake", &got["lake"], expected(&log, &lq, customer, needle));
    assert_eq!(got["lake"]["types"]["date"], "DATE");
    let mut by_date: BTreeMap<String, u64> = BTreeMap::new();
    for r in all(&log, &lq) {
        *by_date.entry(r.time.to_date()).or_default() += 1;
    }
    assert_eq!(got["lake"]["by_date"], json!(by_date));
}

/// Not a test: times DuckDB on the SPEC section 6 queries over the lake of
/// the workload (1,000,000 records by default; `AUDITLOG_BENCH_RECORDS`)
/// next to our engine's same queries, and prints the lake's size next to
/// the segment files'. Run in release:
///
/// `cargo test --release --test parquet -- --ignored --nocapture bench_lake`
#[cfg(feature = "sqlite-bench")]
#[test]
#[ignore]
fn bench_lake_duckdb_vs_engine() {
    use auditlog::bench::harness::{ingest_ours, set_tree, QueryKind};
    use std::time::{Duration, Instant};

    let Some(py) = duckdb_python() else { return };
    let n: u64 = std::env::var("AUDITLOG_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    let reps = 5;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let w = Workload::default();
    {
        let log = Options::new(&data)
            .durability(Durability::Never)
            .open()
            .expect("open");
        set_tree(&log, &w).expect("tree");
        eprintln!("ingesting {n} records ...");
        ingest_ours(&log, &w, n, 100_000, &mut |_| {}).expect("ingest");
        log.sync().expect("sync");
    }
    // Reopened with no age bound, so archive seals the active segment too
    // and the whole log goes to the lake.
    let log = Options::new(&data)
        .durability(Durability::Never)
        .segment_max_age(Some(Duration::ZERO))
        .open()
        .expect("reopen");
    let seg_bytes = log.stats().expect("stats").live_bytes;
    let lake = dir.path().join("lake");
    let t = Instant::now();
    let rep = log
        .archive_with(Timestamp::now(), &ArchiveOptions::new().lake(&lake))
        .expect("archive to the lake");
    let lake_secs = t.elapsed().as_secs_f64();
    assert_eq!(rep.lake_rows, n, "the whole log is in the lake");
    let lake_bytes: u64 = lake_files(&lake).values().map(|b| b.len() as u64).sum();
    eprintln!(
        "lake: {} files, {lake_bytes} bytes ({:.1} B/record) written in {lake_secs:.2} s ({:.0} records/s); segments {seg_bytes} bytes ({:.1} B/record)",
        rep.lake_files.len(),
        lake_bytes as f64 / n as f64,
        n as f64 / lake_secs,
        seg_bytes as f64 / n as f64
    );

    // Whole-log export, Parquet and CSV, to files (single thread, this run).
    let everything = Query::new().with_archived(true);
    for (fmt, name) in [(Format::Parquet, "all.parquet"), (Format::Csv, "all.csv")] {
        let path = dir.path().join(name);
        let t = Instant::now();
        let rows = log
            .export(
                &everything,
                File::create(&path).expect("create"),
                &ExportOptions::new().format(fmt),
                &mut |_| {},
            )
            .expect("export");
        let secs = t.elapsed().as_secs_f64();
        let size = fs::metadata(&path).expect("size").len();
        eprintln!(
            "export {fmt}: {rows} rows in {secs:.2} s ({:.0} rows/s), {size} bytes ({:.1} B/record)",
            rows as f64 / secs,
            size as f64 / n as f64
        );
        fs::remove_file(&path).expect("remove");
    }

    let qs = w.queries(n);
    let rfc = |w: auditlog::workload::Window| json!([w.start.to_rfc3339(), w.end.to_rfc3339()]);
    let children: Vec<u64> = w
        .customer_parents()
        .into_iter()
        .filter(|&(_, p)| p == qs.subtree_day.reseller)
        .map(|(c, _)| c)
        .collect();
    let params = json!({
        "time_slice": rfc(qs.time_slice.window),
        "person_window": rfc(qs.person_window.window),
        "person": qs.person_window.person,
        "customer": qs.customer_all.customer,
        "name_contains": rfc(qs.name_contains.window),
        "needle": qs.name_contains.needle,
        "subtree_day": rfc(qs.subtree_day.window),
        "children": children,
        "sort_by_name": rfc(qs.sort_by_name.window),
        "sort_limit": qs.sort_by_name.limit,
    });
    let out = Command::new(&py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lake_bench_duckdb.py"))
        .arg(&lake)
        .arg(params.to_string())
        .arg(reps.to_string())
        .output()
        .expect("run the DuckDB bench script");
    assert!(
        out.status.success(),
        "DuckDB bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let duck: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    eprintln!(
        "{:<28} {:>9} {:>12} {:>12}",
        "query", "rows", "ours ms", "DuckDB ms"
    );
    for k in QueryKind::ALL {
        let q = k.query(&qs).with_archived(true);
        let mut times = Vec::new();
        let mut rows = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let v: Vec<Record> = all(&log, &q);
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            rows = v.len();
        }
        times.sort_by(f64::total_cmp);
        let d = &duck[k.key()];
        assert_eq!(d["rows"], json!(rows), "{}: row counts differ", k.key());
        eprintln!(
            "{:<28} {:>9} {:>12.1} {:>12.1}",
            k.label(),
            rows,
            times[times.len() / 2],
            d["ms"].as_f64().unwrap_or(f64::NAN)
        );
    }
    eprintln!(
        "DuckDB count(*) over the lake: {:.1} ms",
        duck["count_all"]["ms"].as_f64().unwrap_or(f64::NAN)
    );
}

fn cli(data: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_auditlog"))
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run auditlog");
    assert!(
        out.status.success(),
        "auditlog {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn cli_export_report_and_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let want = {
        let log = build(&data);
        all(&log, &Query::new().with_sort(Field::Id, false))
    };
    let file = dir.path().join("out.parquet");
    cli(
        &data,
        &[
            "export",
            "--format",
            "parquet",
            "-o",
            file.to_str().expect("utf-8 path"),
        ],
    );
    assert!(read_parquet(&file).0 == want, "CLI Parquet export differs");
    // To a pipe (stdout is not a terminal here): the same bytes.
    let piped = cli(&data, &["export", "--format", "parquet"]).stdout;
    assert_eq!(piped, fs::read(&file).expect("read"));

    // A Parquet report, downloaded as stored.
    let out = cli(
        &data,
        &[
            "report", "create", "--owner", "1", "--format", "parquet", "--wait",
        ],
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("parquet"), "{shown}");
    let rep = dir.path().join("report.parquet");
    cli(
        &data,
        &[
            "report",
            "download",
            "1",
            "-o",
            rep.to_str().expect("utf-8 path"),
        ],
    );
    assert!(read_parquet(&rep).0 == want, "Parquet report differs");

    // archive --lake, then --lake-only.
    let lake = dir.path().join("lake");
    let lake_s = lake.to_str().expect("utf-8 path");
    let out = cli(
        &data,
        &["archive", "--older-than", "2026-01-20", "--lake", lake_s],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("lake ") && s.contains("wrote"), "{s}");
    let files = lake_files(&lake);
    assert!(!files.is_empty());
    let out = cli(
        &data,
        &[
            "archive",
            "--older-than",
            "2026-01-20",
            "--lake",
            lake_s,
            "--lake-only",
        ],
    );
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("removed from the engine"), "{s}");
    assert_eq!(lake_files(&lake), files);
    let lake_rows: usize = files.keys().map(|p| read_parquet(p).0.len()).sum();
    let left = AuditLog::open(&data)
        .expect("open")
        .stats()
        .expect("stats")
        .records;
    assert_eq!(left + lake_rows as u64, want.len() as u64);
}
