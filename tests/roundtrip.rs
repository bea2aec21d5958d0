//! Guards against the log losing, reordering, duplicating or altering
//! records across appends, segment rolls, close and reopen: a record read
//! back by id or by range (in either direction) must be exactly the record
//! appended under that id, in every durability mode, and ids must be
//! exactly 1..=n.

mod common;

use std::time::Duration;

use auditlog::{AuditLog, Durability, NewRecord, Options};
use common::{gen_record, Rng};

const N: u64 = 3000;
const SEGMENT: u64 = 8 << 10;

fn open(dir: &std::path::Path, d: Durability) -> AuditLog {
    Options::new(dir)
        .durability(d)
        .segment_size(SEGMENT)
        .open()
        .unwrap()
}

/// Checks every way of reading the log back against `recs` (ids 1..=n).
fn check_all(log: &AuditLog, recs: &[NewRecord], when: &str) {
    let n = recs.len() as u64;
    assert_eq!(log.last_id(), n, "{when}: last id");

    let fwd: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(fwd.len() as u64, n, "{when}: forward range length");
    for (i, r) in fwd.iter().enumerate() {
        assert_eq!(r.id, i as u64 + 1, "{when}: forward id at {i}");
        assert_eq!(r.to_new(), recs[i], "{when}: forward record {}", r.id);
    }

    let back: Vec<_> = log.range(..).rev().collect::<Result<_, _>>().unwrap();
    assert_eq!(back.len() as u64, n, "{when}: backward range length");
    for (i, r) in back.iter().enumerate() {
        let id = n - i as u64;
        assert_eq!(r.id, id, "{when}: backward id at {i}");
        assert_eq!(
            r.to_new(),
            recs[id as usize - 1],
            "{when}: backward record {id}"
        );
    }

    for id in 1..=n {
        let r = log
            .get(id)
            .unwrap()
            .unwrap_or_else(|| panic!("{when}: get({id}) found nothing"));
        assert_eq!(r.id, id);
        assert_eq!(r.to_new(), recs[id as usize - 1], "{when}: get({id})");
    }
    assert!(log.get(0).unwrap().is_none(), "{when}: id 0 exists");
    assert!(
        log.get(n + 1).unwrap().is_none(),
        "{when}: id past the end exists"
    );

    // Bounded ranges, and both ends of one iterator consumed alternately.
    let mid: Vec<u64> = log.range(100..=250).map(|r| r.unwrap().id).collect();
    assert_eq!(
        mid,
        (100..=250).collect::<Vec<_>>(),
        "{when}: range(100..=250)"
    );
    let excl: Vec<u64> = log.range(n - 5..n + 10).map(|r| r.unwrap().id).collect();
    assert_eq!(
        excl,
        (n - 5..=n).collect::<Vec<_>>(),
        "{when}: range past the end"
    );
    let mut it = log.range(10..20);
    let mut seen = Vec::new();
    loop {
        let a = it.next();
        let b = it.next_back();
        if a.is_none() && b.is_none() {
            break;
        }
        seen.extend(a.map(|r| r.unwrap().id));
        seen.extend(b.map(|r| r.unwrap().id));
    }
    seen.sort_unstable();
    assert_eq!(
        seen,
        (10..20).collect::<Vec<_>>(),
        "{when}: double-ended range"
    );
}

fn roundtrip(d: Durability, seed: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let base = 1_700_000_000_000_000;
    let recs: Vec<NewRecord> = (0..N).map(|i| gen_record(&mut rng, i, base)).collect();
    {
        let log = open(dir.path(), d);
        let mut next = 0usize;
        while next < recs.len() {
            let k = (1 + rng.below(40) as usize).min(recs.len() - next);
            let ids = if k == 1 {
                let id = log.append(recs[next].clone()).unwrap();
                id..=id
            } else {
                log.append_batch(recs[next..next + k].to_vec()).unwrap()
            };
            assert_eq!(ids, next as u64 + 1..=(next + k) as u64, "ids assigned");
            next += k;
        }
        let st = log.stats().unwrap();
        assert_eq!(st.records, N);
        assert!(st.live_segments >= 20, "too few rolls: {st:?}");
        check_all(&log, &recs, &format!("{d:?} before close"));
    }
    let log = open(dir.path(), d);
    assert!(
        log.warnings().is_empty(),
        "clean reopen warned: {:?}",
        log.warnings()
    );
    check_all(&log, &recs, &format!("{d:?} after reopen"));
    assert!(log.verify().unwrap().is_ok());
    // Appends continue with the next id after the reopen.
    let more = gen_record(&mut rng, N, base);
    assert_eq!(log.append(more.clone()).unwrap(), N + 1);
    assert_eq!(log.get(N + 1).unwrap().unwrap().to_new(), more);
    drop(log);
    let report = AuditLog::verify_dir(dir.path()).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records, N + 1);
    assert_eq!((report.first_id, report.last_id), (Some(1), Some(N + 1)));
}

#[test]
fn roundtrip_always() {
    roundtrip(Durability::Always, 11);
}

#[test]
fn roundtrip_interval() {
    roundtrip(Durability::Interval(Duration::from_millis(2)), 12);
}

#[test]
fn roundtrip_never() {
    roundtrip(Durability::Never, 13);
}

/// Records whose encoding is at, or a few bytes under, the 1 MiB record
/// limit are either refused at append or read back intact after a reopen
/// (the decoder once refused what the encoder had accepted near the limit).
#[test]
fn records_at_the_size_limit_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let limit = auditlog::record::MAX_RECORD_BYTES;
    let mut kept = Vec::new();
    {
        let log = Options::new(dir.path())
            .durability(Durability::Never)
            .open()
            .unwrap();
        // `args` is a JSON string of `n` bytes: sizes around the limit.
        for n in (limit - 80..limit - 20).step_by(3) {
            let r = NewRecord::new(1)
                .person("p")
                .args(serde_json::Value::String("z".repeat(n)));
            match log.append(r.clone()) {
                Ok(id) => kept.push((id, r)),
                Err(e) => assert!(e.to_string().contains("limit"), "{e}"),
            }
        }
        assert!(kept.len() > 5, "some records near the limit are accepted");
        for (id, r) in &kept {
            let got = log.get(*id).unwrap().unwrap();
            assert!(got.args == r.args && got.person == r.person, "id {id}");
        }
    }
    let log = Options::new(dir.path()).open().unwrap();
    assert!(log.verify().unwrap().damage.is_none());
    for (id, r) in &kept {
        let got = log.get(*id).unwrap().unwrap();
        assert!(got.args == r.args && got.person == r.person, "id {id}");
    }
}

/// Records parsed from NDJSON and appended borrowed (`NewRecordRef`, the
/// bulk-ingest path) read back exactly as the same lines parsed into owned
/// `NewRecord`s, including lines whose strings carry escapes and whose
/// `args` are not compact (those take the copying paths).
#[test]
fn borrowed_records_read_back_like_owned_ones() {
    use auditlog::record::NewRecordRef;
    let mut rng = Rng(11);
    let base = 1_700_000_000_000_000;
    let mut lines: Vec<String> = (0..2_000)
        .map(|i| {
            let r = gen_record(&mut rng, i, base);
            let json = r.into_record(0, auditlog::Timestamp::MIN).to_json();
            format!("{{{}", json.strip_prefix("{\"id\":0,").unwrap())
        })
        .collect();
    lines.push(r#"{"customer":3,"time":"2026-01-02T03:04:05.5Z","name":"tab\there \"q\" \u00e9","refs":["a\\b","c"],"args":{"z": [1, 2.50, -0], "a": {"y":1,"x":"\/"}},"result":null}"#.into());
    lines.push(r#"{"customer":4,"time":1700000000,"args":"text","result":[{"b":1,"a":2}]}"#.into());
    let owned: Vec<NewRecord> = lines
        .iter()
        .map(|l| NewRecord::from_json(l).unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Durability::Never);
    for chunk in lines.chunks(97) {
        let batch: Vec<NewRecordRef<'_>> = chunk
            .iter()
            .map(|l| NewRecordRef::from_json(l).unwrap())
            .collect();
        log.append_batch(batch).unwrap();
    }
    let last = log.get(lines.len() as u64).unwrap().unwrap();
    assert_eq!(last.args.as_ref().unwrap().as_str(), "\"text\"");
    assert_eq!(last.result.as_ref().unwrap().as_str(), r#"[{"a":2,"b":1}]"#);
    let odd = log.get(lines.len() as u64 - 1).unwrap().unwrap();
    assert_eq!(odd.name, "tab\there \"q\" é");
    assert_eq!(odd.refs, vec!["a\\b".to_string(), "c".to_string()]);
    assert_eq!(
        odd.args.as_ref().unwrap().as_str(),
        r#"{"a":{"x":"/","y":1},"z":[1,2.5,-0.0]}"#
    );
    assert_eq!(odd.result.as_ref().unwrap().as_str(), "null");
    check_all(&log, &owned, "borrowed append");
    drop(log);
    let log = open(dir.path(), Durability::Never);
    check_all(&log, &owned, "borrowed append, reopened");
}

/// A batch with one record over a limit is refused whole: nothing of it is
/// stored or indexed (the records before the bad one were already encoded
/// and indexed when it was found), and the next append takes the next id.
#[test]
fn a_batch_with_one_bad_record_leaves_no_trace() {
    use auditlog::query::{Field, MatchMode, Predicate, Query};
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Durability::Always);
    log.append(NewRecord::new(1).person("kept")).unwrap();
    let too_long = "x".repeat(auditlog::record::MAX_STRING_BYTES + 1);
    let batch = vec![
        NewRecord::new(2).person("ghost"),
        NewRecord::new(2).person("ghost").object_id("o1"),
        NewRecord::new(2).person("ghost").name(too_long),
        NewRecord::new(2).person("ghost"),
    ];
    let err = log.append_batch(batch).unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    // It says which record of the batch it was.
    assert!(
        err.to_string().contains("in record 3 of 4 of the batch"),
        "{err}"
    );
    assert_eq!(log.last_id(), 1);
    let ghosts =
        Query::new().with_predicate(Predicate::new(Field::Person, MatchMode::Exact, "ghost"));
    assert_eq!(log.count(&ghosts).unwrap(), 0);
    let by_object =
        Query::new().with_predicate(Predicate::new(Field::ObjectId, MatchMode::Exact, "o1"));
    assert_eq!(log.count(&by_object).unwrap(), 0);
    // Ids 2..=4 take the places the refused records had in the segment.
    assert_eq!(log.append(NewRecord::new(3).person("ghost")).unwrap(), 2);
    for _ in 0..2 {
        log.append(NewRecord::new(3).person("other")).unwrap();
    }
    assert_eq!(log.count(&ghosts).unwrap(), 1);
    assert_eq!(log.count(&by_object).unwrap(), 0);
    drop(log);
    let log = open(dir.path(), Durability::Always);
    assert_eq!(log.count(&ghosts).unwrap(), 1);
    assert!(log.verify().unwrap().damage.is_none());
}

#[test]
fn segments_stay_within_their_size_bound() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path(), Durability::Never);
    let mut rng = Rng(7);
    let base = 1_700_000_000_000_000;
    // Records of about 100-200 bytes.
    let small = |rng: &mut Rng, i: u64| gen_record(rng, i, base);
    // Batches far below the bound: every segment ends at or below it.
    let mut i = 0;
    while log.segments().len() < 6 {
        let k = 1 + rng.below(8);
        let batch: Vec<NewRecord> = (0..k).map(|j| small(&mut rng, i + j)).collect();
        log.append_batch(batch).unwrap();
        i += k;
    }
    let segs = log.segments();
    for s in &segs {
        assert!(s.bytes <= SEGMENT, "{s:?}");
    }
    // Sealed ones are full but for less than one batch.
    let biggest_batch = segs
        .iter()
        .filter(|s| s.sealed)
        .map(|s| SEGMENT - s.bytes)
        .max()
        .unwrap();
    assert!(biggest_batch < SEGMENT / 2, "{segs:?}");
    // A batch larger than the bound by itself fills a segment alone.
    let big: Vec<NewRecord> = (0..200).map(|j| small(&mut rng, i + j)).collect();
    let ids = log.append_batch(big).unwrap();
    log.append(small(&mut rng, i + 200)).unwrap();
    let segs = log.segments();
    let alone = segs
        .iter()
        .find(|s| s.first_id == *ids.start())
        .expect("the big batch starts a segment");
    assert_eq!(alone.last_id, *ids.end(), "{segs:?}");
    assert!(alone.bytes > SEGMENT, "{alone:?}");
    assert!(log.verify().unwrap().is_ok());
}
