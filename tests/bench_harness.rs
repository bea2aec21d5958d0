//! The side-by-side benchmark harness at a tiny size: the report is
//! complete and both engines return the same rows for every query (this
//! checks correctness, not speed).
#![cfg(feature = "sqlite-bench")]

use auditlog::bench::harness::{self, BenchConfig, QueryKind};

#[test]
fn harness_report_is_complete_and_engines_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BenchConfig::new(dir.path().join("bench"));
    cfg.records = 20_000;
    cfg.repeats = 1;
    // Small segments: several sealed ones, and a quick recovery phase.
    cfg.segment_size = 256 << 10;
    let mut lines = Vec::new();
    let report = harness::run(&cfg, &mut |l| lines.push(l.to_string())).unwrap();

    assert!(
        report.mismatches.is_empty(),
        "engines disagree: {:#?}",
        report.mismatches
    );
    report.check().unwrap();
    assert_eq!(report.records, 20_000);
    assert!(report.compared_sqlite);
    assert!(!lines.is_empty());

    let row = |key: &str| {
        report
            .row(key)
            .unwrap_or_else(|| panic!("no row {key} in {report}"))
    };
    for key in ["ingest_never", "ingest_always", "disk_bytes_per_record"] {
        let r = row(key);
        assert!(r.ours.unwrap() > 0.0, "{key}");
        assert!(r.sqlite.unwrap() > 0.0, "{key}");
        assert!(r.ratio.unwrap() > 0.0, "{key}");
    }
    // Every query: both engines measured, the same number of rows, some rows.
    for kind in QueryKind::ALL {
        let r = row(&format!("query_{}", kind.key()));
        assert!(r.ours.unwrap() > 0.0 && r.sqlite.unwrap() > 0.0, "{r:?}");
        assert_eq!(r.ours_samples.len(), 1);
        assert_eq!(r.sqlite_samples.len(), 1);
        let rows = r.rows.unwrap();
        assert!(rows > 0, "{} returned no rows", kind.label());
        assert_eq!(
            Some(rows),
            r.sqlite_rows,
            "{}: row counts differ",
            kind.label()
        );
        assert!(r.pass.is_some());
    }
    let e = row("export_csv");
    assert_eq!(e.rows, Some(20_000));
    assert_eq!(e.sqlite_rows, Some(20_000));
    assert!(e.ours.unwrap() > 0.0 && e.sqlite.unwrap() > 0.0);
    if cfg!(target_os = "linux") {
        let m = row("peak_rss_listing");
        assert_eq!(m.rows, Some(20_000));
        assert_eq!(m.sqlite_rows, Some(20_000));
        assert!(m.ours.unwrap() > 0.0 && m.sqlite.unwrap() > 0.0);
    }
    for key in [
        "open_clean",
        "open_index_deleted",
        "open_active_replay",
        "open_sealed_unindexed",
    ] {
        assert!(row(key).ours.unwrap() > 0.0, "{key}");
    }
    assert!(row("sqlite_open_after_crash").sqlite.unwrap() > 0.0);
    assert!(row("open_index_deleted").what.contains("sealed segments"));
    let d = &report.disk;
    assert!(d.segments > 20_000 * 100 && d.index > 0 && d.customers > 0);
    assert!(report.sqlite_disk.unwrap() > 0);

    // The table names every row; the JSON carries every row.
    let table = report.to_string();
    for r in &report.rows {
        assert!(table.contains(&r.what), "{table}");
    }
    assert!(table.contains("ratio (>1: ours better)"));
    assert!(table.contains("load average"), "{table}");
    assert!(report.cpus >= 1);
    if cfg!(target_os = "linux") {
        assert!(report.load_before.is_some() && report.load_after.is_some());
    }
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(
        json["rows"].as_array().unwrap().len(),
        report.rows.len(),
        "{json}"
    );
    assert_eq!(json["records"], 20_000);

    // A second run into the same directory is refused, and deletes nothing.
    let e = harness::run(&cfg, &mut |_| {}).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    assert!(cfg.dir.join(harness::OURS_DIR).exists());
}

#[test]
fn harness_without_sqlite_measures_ours_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = BenchConfig::new(dir.path());
    cfg.records = 3_000;
    cfg.repeats = 1;
    cfg.compare_sqlite = false;
    cfg.ingest_always = false;
    cfg.recovery = false;
    let report = harness::run(&cfg, &mut |_| {}).unwrap();
    assert!(report.mismatches.is_empty(), "{:?}", report.mismatches);
    assert!(report
        .rows
        .iter()
        .all(|r| r.sqlite.is_none() && r.ratio.is_none()));
    assert!(report.row("query_sort_by_name").unwrap().ours.is_some());
    assert!(report.row("open_active_replay").is_none());
    assert!(report.sqlite_disk.is_none());
}
