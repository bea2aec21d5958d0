mod common;
use auditlog::{AuditLog, Durability, NewRecord, Options, Query};
use common::*;

#[test]
fn append_roll_reopen_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(1);
    let base = 1_700_000_000_000_000;
    let recs: Vec<NewRecord> = (0..5000).map(|i| gen_record(&mut rng, i, base)).collect();
    {
        let log = Options::new(dir.path())
            .durability(Durability::Never)
            .segment_size(64 << 10)
            .open()
            .unwrap();
        for chunk in recs.chunks(100) {
            log.append_batch(chunk.to_vec()).unwrap();
        }
        let st = log.stats().unwrap();
        assert_eq!(st.records, 5000);
        assert!(st.live_segments > 5, "{st:?}");
    }
    let log = Options::new(dir.path())
        .durability(Durability::Never)
        .segment_size(64 << 10)
        .open()
        .unwrap();
    assert_eq!(log.stats().unwrap().records, 5000);
    let all: Vec<_> = log.range(..).collect::<Result<_, _>>().unwrap();
    assert_eq!(all.len(), 5000);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r.id, i as u64 + 1);
        assert_eq!(r.to_new(), recs[i]);
    }
    let rows: Vec<_> = log
        .query(&Query::new())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 5000);
    assert!(rows
        .windows(2)
        .all(|w| (w[0].time, w[0].id) < (w[1].time, w[1].id)));
    let _ = AuditLog::verify_dir(dir.path()).unwrap();
}
