//! Guards against the engine's zero-copy export path (rows written straight
//! from the log) drifting from the plain path (query, then write owned
//! records): both must produce byte-identical output for every layout,
//! sort direction, limit, offset and cursor.

mod common;

use auditlog::export::{export, ExportOptions, Layout};
use auditlog::query::{Field, MatchMode, Predicate, Query, Scope};
use auditlog::{Durability, NewRecord, Options};
use common::*;

#[test]
fn fast_export_equals_query_then_write() {
    let dir = tempfile::tempdir().unwrap();
    let log = Options::new(dir.path())
        .durability(Durability::Never)
        .segment_size(64 << 10)
        .open()
        .unwrap();
    log.set_parents(&[(2, Some(1)), (3, Some(1))]).unwrap();
    let mut rng = Rng(3);
    let recs: Vec<NewRecord> = (0..4000)
        .map(|i| gen_record(&mut rng, i, 1_767_225_600_000_000))
        .collect();
    for c in recs.chunks(100) {
        log.append_batch(c.to_vec()).unwrap();
    }
    let queries = vec![
        Query::new(),
        Query::new()
            .with_sort(Field::Time, true)
            .with_limit(777)
            .with_offset(13),
        Query::new().with_sort(Field::Id, true),
        Query::new()
            .with_scope(Scope::Children(1))
            .with_sort(Field::Id, false)
            .with_limit(50),
        Query::new()
            .with_predicate(Predicate::new(Field::Name, MatchMode::Contains, "ali").ignore_case()),
        Query::new().with_sort(Field::Name, false).with_limit(100),
    ];
    for q in queries {
        for opts in [
            ExportOptions::csv(),
            ExportOptions::csv()
                .layout(Layout::Voximplant)
                .header(false),
            ExportOptions::csv().neutralize(false),
            ExportOptions::ndjson(),
        ] {
            let mut a = Vec::new();
            let n = log.export(&q, &mut a, &opts, &mut |_| {}).unwrap();
            let mut b = Vec::new();
            let m = export(log.query(&q).unwrap(), &mut b, &opts, &mut |_| {}).unwrap();
            assert_eq!(n, m, "{q:?} {opts:?}");
            assert!(n > 0, "{q:?} matched nothing");
            assert_eq!(
                String::from_utf8(a).unwrap(),
                String::from_utf8(b).unwrap(),
                "{q:?} {opts:?}"
            );
        }
    }
}
