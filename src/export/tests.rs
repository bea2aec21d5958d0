use std::io::{self, Write};

use super::testdata::{nasty_records, workload_records};
use super::*;
use crate::record::{Json, NewRecord};
use crate::time::Timestamp;

fn run(records: &[Record], opts: &ExportOptions) -> Vec<u8> {
    let mut out = Vec::new();
    let n = export(records.iter().cloned().map(Ok), &mut out, opts, &mut |_| {}).unwrap();
    assert_eq!(n, records.len() as u64);
    out
}

/// Undoes the neutralisation rule: a leading `'` before a formula character.
fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if is_formula_like(rest.as_bytes()) => rest,
        _ => cell,
    }
}

fn read_csv(bytes: &[u8], header: bool) -> (Option<Vec<String>>, Vec<Vec<String>>) {
    let mut rd = ::csv::ReaderBuilder::new()
        .has_headers(header)
        .from_reader(bytes);
    let head = header.then(|| rd.headers().unwrap().iter().map(String::from).collect());
    let rows = rd
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (head, rows)
}

fn native_from_cells(cells: &[String], undo: bool) -> Record {
    assert_eq!(cells.len(), 15, "{cells:?}");
    let c: Vec<&str> = cells
        .iter()
        .map(|s| if undo { unneutralize(s) } else { s.as_str() })
        .collect();
    let json = |s: &str| (!s.is_empty()).then(|| Json::parse(s).unwrap());
    Record {
        id: c[0].parse().unwrap(),
        time: Timestamp::parse_rfc3339(c[1]).unwrap(),
        customer: c[2].parse().unwrap(),
        person: c[3].into(),
        source: c[4].into(),
        action: c[5].into(),
        object: c[6].into(),
        object_id: c[7].into(),
        name: c[8].into(),
        field: c[9].into(),
        old: c[10].into(),
        new: c[11].into(),
        refs: if c[12].is_empty() {
            vec![]
        } else {
            c[12].split(';').map(String::from).collect()
        },
        args: json(c[13]),
        result: json(c[14]),
    }
}

#[test]
fn native_csv_round_trips_nasty_records_in_order() {
    let recs = nasty_records(2000, 5, 7);
    // The generator must actually produce what this test is about.
    let all: String = recs.iter().map(|r| r.name.clone() + &r.old).collect();
    for needle in ["\"", ",", "\n", "\r", "\t", "=", "🎉"] {
        assert!(all.contains(needle), "generator lacks {needle:?}");
    }
    let out = run(&recs, &ExportOptions::csv());
    let (head, rows) = read_csv(&out, true);
    assert_eq!(head.unwrap(), NATIVE_COLUMNS.to_vec());
    assert_eq!(rows.len(), recs.len());
    for (cells, want) in rows.iter().zip(&recs) {
        assert_eq!(&native_from_cells(cells, true), want);
    }
    // RFC 4180 line ends.
    assert!(out.ends_with(b"\r\n"));
    assert!(out.starts_with(b"id,time,customer,person,source,action,object,object_id,name,field,old,new,refs,args,result\r\n"));
}

#[test]
fn neutralisation_prefixes_formula_cells_only_when_on() {
    let t = Timestamp::parse_rfc3339("2026-11-01T12:00:00.5Z").unwrap();
    let r = NewRecord::new(7)
        .person("=1+1")
        .source("+44")
        .action("-rm")
        .object("@SUM")
        .object_id("\tx")
        .name("\rcr")
        .field("a=b")
        .old("'=already")
        .refs(["=r1", "r2"])
        .args(serde_json::json!(-5))
        .result(serde_json::json!({"a": "=b"}))
        .into_record(3, t);
    let on = run(
        std::slice::from_ref(&r),
        &ExportOptions::csv().header(false),
    );
    let (_, rows) = read_csv(&on, false);
    assert_eq!(
        rows[0],
        [
            "3",
            "2026-11-01T12:00:00.500000Z",
            "7",
            "'=1+1",
            "'+44",
            "'-rm",
            "'@SUM",
            "'\tx",
            "'\rcr",
            "a=b",
            // Starts with `'`: left alone (the rule's one lossy case).
            "'=already",
            "",
            "'=r1;r2",
            "'-5",
            r#"{"a":"=b"}"#,
        ]
    );
    let off = run(
        std::slice::from_ref(&r),
        &ExportOptions::csv().header(false).neutralize(false),
    );
    let (_, rows) = read_csv(&off, false);
    assert_eq!(native_from_cells(&rows[0], false), r);
    assert_eq!(rows[0][3], "=1+1");
}

#[test]
fn voximplant_layout_columns_and_cells() {
    let recs = nasty_records(500, 3, 11);
    let out = run(&recs, &ExportOptions::csv().layout(Layout::Voximplant));
    let (head, rows) = read_csv(&out, true);
    assert_eq!(head.unwrap(), VOXIMPLANT_COLUMNS.to_vec());
    assert_eq!(rows.len(), recs.len());
    let mut saw_absent_args = false;
    for (c, r) in rows.iter().zip(&recs) {
        assert_eq!(c.len(), 8);
        assert_eq!(c[0], r.id.to_string());
        assert_eq!(c[1], r.customer.to_string());
        assert_eq!(unneutralize(&c[2]), r.person);
        assert_eq!(c[3], r.time.to_sql());
        assert_eq!(unneutralize(&c[4]), r.source);
        assert_eq!(unneutralize(&c[5]), r.action);
        // JSON null shows as absent, as in `GetAuditLog`.
        match r.args.as_ref().filter(|a| !a.is_null()) {
            Some(a) => assert_eq!(unneutralize(&c[6]), a.as_str()),
            None => {
                saw_absent_args = true;
                assert_eq!(c[6], "{}");
            }
        }
        assert_eq!(
            unneutralize(&c[7]),
            r.result
                .as_ref()
                .filter(|j| !j.is_null())
                .map_or("", Json::as_str)
        );
        if is_formula_like(r.person.as_bytes()) {
            assert!(c[2].starts_with('\''), "{:?}", c[2]);
        }
    }
    assert!(saw_absent_args);
    // Null args and result, as absent ones.
    let mut r = recs[0].clone();
    r.args = Some(Json::from_value(&serde_json::Value::Null));
    r.result = Some(Json::from_value(&serde_json::Value::Null));
    let out = run(
        std::slice::from_ref(&r),
        &ExportOptions::csv()
            .layout(Layout::Voximplant)
            .header(false),
    );
    let (_, rows) = read_csv(&out, false);
    assert_eq!((rows[0][6].as_str(), rows[0][7].as_str()), ("{}", ""));
}

#[test]
fn header_can_be_left_out() {
    let recs = nasty_records(3, 1, 1);
    let with = run(&recs, &ExportOptions::csv());
    let without = run(&recs, &ExportOptions::csv().header(false));
    let head = b"id,time,customer,person,source,action,object,object_id,name,field,old,new,refs,args,result\r\n";
    assert_eq!(&with[..head.len()], head);
    assert_eq!(&with[head.len()..], &without[..]);
}

#[test]
fn ndjson_round_trips_through_the_ingest_parser() {
    let recs = nasty_records(1000, 4, 3);
    let out = run(&recs, &ExportOptions::ndjson());
    let text = String::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), recs.len());
    for (line, want) in lines.iter().zip(&recs) {
        assert_eq!(*line, want.to_json());
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v.as_object_mut().unwrap().remove("id").unwrap();
        let back = NewRecord::from_json(&v.to_string())
            .unwrap()
            .into_record(id.as_u64().unwrap(), Timestamp::MIN);
        assert_eq!(&back, want);
    }
}

#[test]
fn progress_is_reported_every_n_rows_and_at_the_end() {
    let recs = nasty_records(25, 1, 5);
    for format in [Format::Csv, Format::Ndjson] {
        let mut seen = Vec::new();
        let n = export(
            recs.iter().cloned().map(Ok),
            io::sink(),
            &ExportOptions::new().format(format).progress_every(10),
            &mut |n| seen.push(n),
        )
        .unwrap();
        assert_eq!(n, 25);
        assert_eq!(seen, [10, 20, 25]);
    }
    let mut seen = Vec::new();
    export(
        recs[..20].iter().cloned().map(Ok),
        io::sink(),
        &ExportOptions::new().progress_every(10),
        &mut |n| seen.push(n),
    )
    .unwrap();
    assert_eq!(seen, [10, 20]);
    let mut seen = Vec::new();
    export(Vec::new(), io::sink(), &ExportOptions::new(), &mut |n| {
        seen.push(n)
    })
    .unwrap();
    assert_eq!(seen, [0]);
}

#[test]
fn iterator_error_stops_the_export_and_is_returned() {
    let recs = nasty_records(3, 1, 9);
    for format in [Format::Csv, Format::Ndjson] {
        let rows = vec![
            Ok(recs[0].clone()),
            Ok(recs[1].clone()),
            Err(Error::invalid("segment", "boom")),
            Ok(recs[2].clone()),
        ];
        let mut out = Vec::new();
        let e = export(
            rows,
            &mut out,
            &ExportOptions::new().format(format).header(false),
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        // The rows before the error were flushed; the one after never came.
        let expect = run(
            &recs[..2],
            &ExportOptions::new().format(format).header(false),
        );
        assert_eq!(out, expect);
    }
}

/// Accepts `limit` bytes, then fails; counts write calls.
struct Flaky {
    limit: usize,
    written: usize,
    calls: usize,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.written + buf.len() > self.limit {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
        }
        self.written += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_name_the_format_and_destination() {
    let recs = workload_records(20_000);
    for (format, what) in [(Format::Csv, "CSV"), (Format::Ndjson, "NDJSON")] {
        let mut w = Flaky {
            limit: 100_000,
            written: 0,
            calls: 0,
        };
        let e = export(
            recs.iter().cloned().map(Ok),
            &mut w,
            &ExportOptions::new()
                .format(format)
                .destination("/reports/9.csv"),
            &mut |_| {},
        )
        .unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Io { .. }), "{msg}");
        assert!(
            msg.contains(what) && msg.contains("/reports/9.csv"),
            "{msg}"
        );
        assert!(msg.contains("disk full"), "{msg}");
    }
}

#[test]
fn the_callers_writer_gets_large_chunks() {
    let recs = workload_records(20_000);
    for format in [Format::Csv, Format::Ndjson] {
        let mut w = Flaky {
            limit: usize::MAX,
            written: 0,
            calls: 0,
        };
        export(
            recs.iter().cloned().map(Ok),
            &mut w,
            &ExportOptions::new().format(format),
            &mut |_| {},
        )
        .unwrap();
        assert!(w.written > 2_000_000, "{}", w.written);
        assert!(
            w.calls <= w.written / (BUFFER_BYTES / 2) + 2,
            "{format}: {} calls for {} bytes",
            w.calls,
            w.written
        );
    }
}

#[test]
fn names_parse() {
    assert_eq!("ndjson".parse::<Format>().unwrap(), Format::Ndjson);
    assert_eq!("voximplant".parse::<Layout>().unwrap(), Layout::Voximplant);
    let e = "xml".parse::<Format>().unwrap_err();
    assert!(e.to_string().contains("xml"), "{e}");
    assert!("tsv".parse::<Layout>().is_err());
}

/// Throughput check, for an optimised build:
/// `cargo test --release --lib export::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in an optimised build"]
fn throughput() {
    let recs = workload_records(1_000_000);
    let bytes: usize = recs.iter().map(|r| r.to_json().len()).sum();
    eprintln!("avg JSON record {} bytes", bytes / recs.len());
    for (name, opts) in [
        ("csv native", ExportOptions::csv()),
        (
            "csv voximplant",
            ExportOptions::csv().layout(Layout::Voximplant),
        ),
        ("ndjson", ExportOptions::ndjson()),
    ] {
        let t = std::time::Instant::now();
        let n = export(recs.iter().cloned().map(Ok), io::sink(), &opts, &mut |_| {}).unwrap();
        let s = t.elapsed().as_secs_f64();
        eprintln!(
            "{name}: {:.2}M rows/s (clones included)",
            n as f64 / s / 1e6
        );
    }
}
