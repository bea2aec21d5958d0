//! Guards against query results that differ from the specification: every
//! feature of the query model (time range, scopes, predicates on every
//! field with every match mode and case folding, id sets, archive flag,
//! sorts, limit/offset, cursors, counts) is checked row for row and in
//! order against a naive reference over a `Vec`, on a log with many
//! segments, archived segments, out-of-order times, empty strings, unicode
//! and values that differ only in case.

mod common;

use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::{AuditLog, Durability, NewRecord, Options, Record, Timestamp};
use common::*;

const N: u64 = 20_000;
const BASE: i64 = 1_767_225_600_000_000; // 2026-01-01

fn build(dir: &std::path::Path) -> (AuditLog, Vec<(Record, bool)>) {
    let log = Options::new(dir)
        .durability(Durability::Never)
        .segment_size(96 << 10)
        .open()
        .unwrap();
    log.set_parents(&[
        (2, Some(1)),
        (3, Some(1)),
        (4, Some(2)),
        (5, Some(2)),
        (6, Some(3)),
        (7, Some(4)),
        (8, Some(7)),
        (10, Some(9)),
    ])
    .unwrap();
    let mut rng = Rng(42);
    let recs: Vec<NewRecord> = (0..N).map(|i| gen_record(&mut rng, i, BASE)).collect();
    for chunk in recs.chunks(250) {
        log.append_batch(chunk.to_vec()).unwrap();
    }
    // Archive the segments of the first ~third of the time span.
    let moved = log
        .archive(Timestamp::from_micros(BASE + (N as i64 / 3) * 1_000_000).unwrap())
        .unwrap();
    assert!(!moved.is_empty(), "nothing archived: {:?}", log.segments());
    let segs = log.segments();
    assert!(segs.len() > 10, "want many segments, got {}", segs.len());
    let all: Vec<Record> = log.range(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len() as u64, N);
    let tagged = all
        .into_iter()
        .map(|r| {
            let seg = segs.iter().rev().find(|s| s.first_id <= r.id).unwrap();
            let archived = seg.tier == "archived";
            (r, archived)
        })
        .collect();
    (log, tagged)
}

fn values_for(rng: &mut Rng, field: Field) -> Vec<String> {
    let pool: Vec<String> = match field {
        Field::Person => PERSONS.iter().map(|s| s.to_string()).collect(),
        Field::Source => SOURCES.iter().map(|s| s.to_string()).collect(),
        Field::Action => ACTIONS.iter().map(|s| s.to_string()).collect(),
        Field::Object => OBJECTS.iter().map(|s| s.to_string()).collect(),
        Field::Name => NAMES.iter().map(|s| s.to_string()).collect(),
        Field::Field => vec![
            "email".into(),
            "EMAIL".into(),
            "".into(),
            "pass".into(),
            "Password".into(),
        ],
        Field::Old | Field::New => (0..12)
            .map(|i| format!("{}{i}", if field == Field::Old { "o" } else { "n" }))
            .collect(),
        Field::ObjectId | Field::Relation | Field::Refs => (0..20)
            .map(|i| {
                if i % 2 == 0 {
                    format!("{i}")
                } else {
                    format!("7495{i}")
                }
            })
            .collect(),
        Field::Customer => (0..14).map(|i| i.to_string()).collect(),
        Field::Id => (0..50).map(|_| (1 + rng.below(N)).to_string()).collect(),
        _ => vec!["x".into()],
    };
    let n = 1 + rng.below(3) as usize;
    (0..n)
        .map(|_| {
            let v = rng.pick(&pool).clone();
            // Sometimes shorten for prefix/suffix/substring modes.
            match rng.below(4) {
                0 if v.chars().count() > 2 => v.chars().take(2).collect(),
                1 if v.chars().count() > 2 => v.chars().skip(1).collect(),
                _ => v,
            }
        })
        .collect()
}

fn gen_query(rng: &mut Rng) -> Query {
    let mut q = Query::new();
    let span = N as i64 * 1_000_000;
    if rng.chance(60) {
        let a = BASE - 86_400_000_000 + rng.below(span as u64 + 86_400_000_000) as i64;
        let len = rng.below(span as u64 / 2) as i64;
        let start = rng.chance(80).then(|| Timestamp::from_micros(a).unwrap());
        let end = rng
            .chance(80)
            .then(|| Timestamp::from_micros(a + len).unwrap());
        q = q.with_range(start, end);
    }
    match rng.below(6) {
        0 => q = q.with_scope(Scope::Own(1 + rng.below(13))),
        1 => q = q.with_scope(Scope::Children(1 + rng.below(10))),
        2 => q = q.with_scope(Scope::Descendants(1 + rng.below(10))),
        3 => q = q.with_scope(Scope::System),
        _ => {}
    }
    let filterable: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| f.is_filterable())
        .collect();
    for _ in 0..rng.below(3) {
        let field = *rng.pick(&filterable);
        let mode = *rng.pick(&[
            MatchMode::Exact,
            MatchMode::Start,
            MatchMode::End,
            MatchMode::Contains,
        ]);
        let mut p = Predicate::any_of(field, mode, values_for(rng, field));
        if rng.chance(40) {
            p = p.ignore_case();
        }
        q = q.with_predicate(p);
    }
    if rng.chance(5) {
        q = q.with_ids((0..rng.below(40)).map(|_| 1 + rng.below(N)).collect());
    }
    if rng.chance(5) {
        q.until_id = Some(rng.below(N));
    }
    q = q.with_archived(rng.chance(40));
    let sorts = sortable();
    let field = if rng.chance(50) {
        Field::Time
    } else {
        *rng.pick(&sorts)
    };
    q = q.with_sort(field, rng.chance(50));
    if rng.chance(30) {
        q = q.with_limit(rng.below(200));
    }
    if rng.chance(20) {
        q = q.with_offset(rng.below(300));
    }
    q
}

fn run(log: &AuditLog, q: &Query) -> Vec<Record> {
    log.query(q).unwrap().collect::<Result<_, _>>().unwrap()
}

fn ids(v: &[Record]) -> Vec<u64> {
    v.iter().map(|r| r.id).collect()
}

#[test]
fn queries_match_the_reference_model() {
    let dir = tempfile::tempdir().unwrap();
    let (log, all) = build(dir.path());
    let tree = log.customer_tree();
    let mut rng = Rng(7);
    let mut nonempty = 0;
    for i in 0..2_000 {
        let q = gen_query(&mut rng);
        let want = reference(&all, &tree, &q);
        let got = run(&log, &q);
        assert_eq!(ids(&got), ids(&want), "query #{i} {q:?}");
        assert_eq!(got, want, "query #{i} {q:?} (contents)");
        if !want.is_empty() {
            nonempty += 1;
        }
        let mut unpaged = q.clone();
        unpaged.limit = None;
        unpaged.offset = 0;
        assert_eq!(
            log.count(&q).unwrap(),
            reference(&all, &tree, &unpaged).len() as u64,
            "count of query #{i} {q:?}"
        );
    }
    assert!(
        nonempty > 1_000,
        "too few queries return rows ({nonempty}): the generator is too narrow"
    );
}

#[test]
fn paging_by_cursor_and_by_offset_gives_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (log, all) = build(dir.path());
    let tree = log.customer_tree();
    let mut rng = Rng(99);
    for i in 0..150 {
        let mut q = gen_query(&mut rng);
        q.limit = None;
        q.offset = 0;
        let full = reference(&all, &tree, &q);
        let page = 1 + rng.below(400);
        // Keyset paging.
        let mut got = Vec::new();
        let mut cursor = None;
        loop {
            let mut pq = q.clone().with_limit(page);
            if let Some(c) = cursor.take() {
                pq = pq.with_cursor(c);
            }
            let mut it = log.query(&pq).unwrap();
            let rows: Vec<Record> = it.by_ref().collect::<Result<_, _>>().unwrap();
            let n = rows.len() as u64;
            got.extend(rows);
            cursor = it.cursor();
            if n < page {
                break;
            }
            // Through the opaque string form, as a client would.
            cursor = cursor.map(|c| auditlog::query::Cursor::decode(&c.encode()).unwrap());
        }
        assert_eq!(
            ids(&got),
            ids(&full),
            "cursor paging of #{i} {q:?} page {page}"
        );
        // Limit/offset paging.
        let mut got = Vec::new();
        let mut off = 0;
        loop {
            let rows = run(&log, &q.clone().with_limit(page).with_offset(off));
            let n = rows.len() as u64;
            got.extend(rows);
            off += page;
            if n < page {
                break;
            }
        }
        assert_eq!(
            ids(&got),
            ids(&full),
            "offset paging of #{i} {q:?} page {page}"
        );
    }
}

#[test]
fn bad_queries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path()).unwrap();
    let t = |s| Some(Timestamp::from_unix_seconds(s).unwrap());
    let e = log
        .query(&Query::new().with_range(t(20), t(10)))
        .unwrap_err();
    assert!(e.to_string().contains("start"), "{e}");
    let e = log
        .query(&Query::new().with_sort(Field::Refs, false))
        .unwrap_err();
    assert!(e.to_string().contains("sort"), "{e}");
    let e = log
        .query(&Query::new().with_predicate(Predicate::new(Field::Args, MatchMode::Exact, "x")))
        .unwrap_err();
    assert!(e.to_string().contains("args"), "{e}");
    assert!("nosuch".parse::<Field>().is_err());
    assert!("like".parse::<MatchMode>().is_err());
}
