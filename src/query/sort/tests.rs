//! Every path of the sort (in memory, spilled, multi-pass, top-k and its
//! fallback) is checked against the reference `Vec::sort_by(Sort::compare)`
//! on inputs full of ties: duplicate keys, empty strings, unicode, strings
//! differing only in case. The bugs guarded against: a merge that breaks
//! ties differently from the in-memory sort, a run lost or duplicated in a
//! merge pass, a top-k that keeps the wrong rows, and a damaged spill file
//! that yields rows instead of an error.

use std::path::Path;

use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::hook::{damage_first_run, Damage};
use super::*;
use crate::query::model::Field;
use crate::record::Json;
use crate::time::Timestamp;

const WORDS: &[&str] = &[
    "",
    "",
    "a",
    "A",
    "b",
    "B",
    "ab",
    "aB",
    "Ab",
    "AB",
    "abc",
    "é",
    "É",
    "e\u{301}",
    "Zoë",
    "zoë",
    "ZOË",
    "日本",
    "日本語",
    "😀",
    "a\u{0}",
    "z",
    "Z",
    "~",
    " ",
    "admin_7",
    "Admin_7",
    "ADMIN_7",
];

fn word(rng: &mut StdRng) -> String {
    let mut w = WORDS[rng.gen_range(0..WORDS.len())].to_string();
    if rng.gen_bool(0.2) {
        w.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    w
}

/// `n` records with unique ids in random order and few distinct values per
/// field, so every sort has many ties on its key.
fn records(seed: u64, n: usize) -> Vec<Record> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut ids: Vec<u64> = (1..=n as u64).map(|i| i * 3).collect();
    if let Some(last) = ids.last_mut() {
        *last = u64::MAX;
    }
    ids.shuffle(&mut rng);
    let times = [
        0,
        1,
        1_000_000,
        1_700_000_000_000_000,
        Timestamp::MAX.as_micros(),
    ];
    ids.into_iter()
        .map(|id| Record {
            id,
            time: Timestamp::from_micros(times[rng.gen_range(0..times.len())]).unwrap(),
            customer: [0, 1, 2, u64::MAX][rng.gen_range(0..4)],
            person: word(&mut rng),
            source: word(&mut rng),
            action: word(&mut rng),
            object: word(&mut rng),
            object_id: word(&mut rng),
            name: word(&mut rng),
            field: word(&mut rng),
            old: word(&mut rng),
            new: word(&mut rng),
            refs: (0..rng.gen_range(0..3)).map(|_| word(&mut rng)).collect(),
            args: rng
                .gen_bool(0.3)
                .then(|| Json::from_value(&serde_json::json!({ "k": word(&mut rng) }))),
            result: rng
                .gen_bool(0.1)
                .then(|| Json::from_value(&serde_json::json!([1, 2]))),
        })
        .collect()
}

fn sortable() -> Vec<Field> {
    let f: Vec<Field> = Field::ALL.into_iter().filter(|f| f.is_sortable()).collect();
    assert_eq!(
        f.len(),
        12,
        "SPEC: every field but args, result, refs (and relation)"
    );
    f
}

fn all_sorts() -> Vec<Sort> {
    sortable()
        .into_iter()
        .flat_map(|field| [false, true].map(|descending| Sort { field, descending }))
        .collect()
}

fn expected(input: &[Record], sort: Sort) -> Vec<Record> {
    let mut v = input.to_vec();
    v.sort_by(|a, b| sort.compare(a, b));
    v
}

fn ok(input: &[Record]) -> impl Iterator<Item = Result<Record>> + '_ {
    input.iter().cloned().map(Ok)
}

/// Runs the full sort and collects it, with its stats.
fn full(input: &[Record], sort: Sort, opts: &SortOptions) -> (Vec<Record>, SortStats) {
    let it = sort_records(ok(input), sort, opts).unwrap();
    let stats = it.stats();
    (it.collect::<Result<Vec<_>>>().unwrap(), stats)
}

fn top(input: &[Record], sort: Sort, keep: usize, opts: &SortOptions) -> (Vec<Record>, SortStats) {
    let it = sort_records_limited(ok(input), sort, keep, opts).unwrap();
    let stats = it.stats();
    (it.collect::<Result<Vec<_>>>().unwrap(), stats)
}

fn tiny(dir: &Path) -> SortOptions {
    SortOptions::new(dir).with_budget(4096)
}

#[test]
fn in_memory_sort_matches_sort_by_for_every_field_and_direction() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(1, 300);
    let opts = SortOptions::new(dir.path());
    for sort in all_sorts() {
        let (got, stats) = full(&input, sort, &opts);
        assert_eq!(stats.runs_spilled, 0, "{sort:?}");
        assert!(got == expected(&input, sort), "{sort:?}");
    }
}

#[test]
fn tiny_budget_spills_and_merges_in_passes_for_every_field_and_direction() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(2, 1000);
    let opts = tiny(dir.path());
    for sort in all_sorts() {
        let it = sort_records(ok(&input), sort, &opts).unwrap();
        let stats = it.stats();
        // Spill files are unlinked: nothing shows in the directory even while
        // the merge holds them open.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let got = it.collect::<Result<Vec<_>>>().unwrap();
        assert!(stats.runs_spilled > 64, "{sort:?}: {stats:?}");
        assert!(
            stats.merge_passes >= 1 && stats.runs_merged >= 1,
            "{stats:?}"
        );
        assert_eq!(stats.widest_merge, DEFAULT_MERGE_WIDTH, "{stats:?}");
        assert!(stats.peak_buffered_bytes <= 4096, "{stats:?}");
        assert!(stats.bytes_spilled > 0);
        assert_eq!(got.len(), input.len());
        assert!(got == expected(&input, sort), "{sort:?}");
    }
}

#[test]
fn narrow_merges_take_many_passes_and_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(3, 400);
    for width in [2, 3, 5] {
        let opts = tiny(dir.path()).with_merge_width(width);
        for field in [Field::Name, Field::Customer, Field::Time] {
            for descending in [false, true] {
                let sort = Sort { field, descending };
                let (got, stats) = full(&input, sort, &opts);
                assert!(stats.merge_passes >= 2, "width {width}: {stats:?}");
                assert_eq!(stats.widest_merge, width, "{stats:?}");
                assert!(got == expected(&input, sort), "width {width} {sort:?}");
            }
        }
    }
}

#[test]
fn a_row_larger_than_the_budget_is_a_run_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(4, 50);
    let opts = SortOptions::new(dir.path())
        .with_budget(0)
        .with_merge_width(4);
    let sort = Sort {
        field: Field::Person,
        descending: false,
    };
    let (got, stats) = full(&input, sort, &opts);
    // 49 spilled runs plus the last row held as the tail.
    assert_eq!(stats.runs_spilled, 49);
    assert!(got == expected(&input, sort));
}

#[test]
fn top_k_equals_the_first_rows_of_the_full_sort() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(5, 200);
    let opts = SortOptions::new(dir.path());
    for sort in all_sorts() {
        let all = expected(&input, sort);
        for keep in [0, 1, 2, 17, 199, 200, 210] {
            let (got, stats) = top(&input, sort, keep, &opts);
            assert_eq!(stats.runs_spilled, 0, "fast path: {sort:?} keep {keep}");
            assert!(got == all[..keep.min(all.len())], "{sort:?} keep {keep}");
        }
    }
}

#[test]
fn top_k_falls_back_to_the_spill_sort_when_its_rows_exceed_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(6, 800);
    let opts = tiny(dir.path()).with_merge_width(8);
    for sort in all_sorts() {
        let all = expected(&input, sort);
        // Three rows fit in 4 KiB: the heap suffices.
        let (got, stats) = top(&input, sort, 3, &opts);
        assert_eq!(stats.runs_spilled, 0, "{stats:?}");
        assert!(stats.peak_buffered_bytes <= 4096, "{stats:?}");
        assert!(got == all[..3], "{sort:?}");
        // 300 rows do not: spill, merge in passes, stop at 300.
        let (got, stats) = top(&input, sort, 300, &opts);
        assert!(
            stats.runs_spilled > 8 && stats.merge_passes >= 1,
            "{stats:?}"
        );
        assert!(got == all[..300], "{sort:?}");
    }
}

#[test]
fn equal_rows_keep_their_input_order_on_every_path() {
    // Only duplicate ids make rows equal under Sort::compare; the engine
    // never produces them, but the order must still be deterministic.
    let dir = tempfile::tempdir().unwrap();
    let mut input = records(7, 300);
    for (i, r) in input.iter_mut().enumerate() {
        r.id = 7;
        r.old = i.to_string();
    }
    for sort in all_sorts() {
        let all = expected(&input, sort);
        for opts in [
            SortOptions::new(dir.path()),
            tiny(dir.path()).with_merge_width(3),
        ] {
            assert!(full(&input, sort, &opts).0 == all, "{sort:?}");
            assert!(top(&input, sort, 100, &opts).0 == all[..100], "{sort:?}");
        }
    }
}

/// Sorts with the first spill run damaged as `d`; the error, however it
/// comes (from `sort_records` or from the iterator).
fn sort_with_damage(dir: &Path, d: Damage) -> Error {
    let input = records(8, 200);
    let sort = Sort {
        field: Field::Name,
        descending: false,
    };
    damage_first_run(d);
    let out =
        sort_records(ok(&input), sort, &tiny(dir)).and_then(|it| it.collect::<Result<Vec<_>>>());
    match out {
        Ok(rows) => panic!("{d:?}: {} rows returned from a damaged run", rows.len()),
        Err(e) => e,
    }
}

#[test]
fn a_damaged_spill_run_is_an_error_naming_the_run_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    // Undamaged, the same sort succeeds.
    let input = records(8, 200);
    let sort = Sort {
        field: Field::Name,
        descending: false,
    };
    assert_eq!(full(&input, sort, &tiny(dir.path())).0.len(), 200);

    // A flipped payload byte of the first frame: checksum mismatch at 0.
    let e = sort_with_damage(dir.path(), Damage::Flip(9));
    assert!(
        matches!(&e, Error::SpillCorrupt { run: 0, offset: 0, reason, .. } if reason.contains("checksum")),
        "{e}"
    );
    assert!(e.to_string().contains("spill run 0"), "{e}");
    assert!(e.to_string().contains("at offset 0"), "{e}");

    // Any flipped byte of the first frames is caught, at or before the flip.
    for at in 0..200 {
        let e = sort_with_damage(dir.path(), Damage::Flip(at));
        match e {
            Error::SpillCorrupt { run: 0, offset, .. } => assert!(offset <= at, "{at}: {offset}"),
            other => panic!("flip at {at}: {other}"),
        }
    }

    // A run cut inside its last frame, or at a frame boundary.
    let e = sort_with_damage(dir.path(), Damage::Cut(1));
    assert!(
        matches!(&e, Error::SpillCorrupt { run: 0, offset, reason, .. } if *offset > 0 && reason.contains("short read")),
        "{e}"
    );
    // Cut to nothing, a frame boundary: the record count still catches it.
    let e = sort_with_damage(dir.path(), Damage::KeepOnly(0));
    assert!(
        matches!(&e, Error::SpillCorrupt { run: 0, offset: 0, reason, .. } if reason.contains("frame header of record 1 of")),
        "{e}"
    );
}

#[test]
fn an_input_error_is_returned_and_no_more_input_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(9, 300);
    let sort = Sort {
        field: Field::Object,
        descending: true,
    };
    let failing = || {
        ok(&input)
            .chain(std::iter::once(Err(Error::invalid("input", "boom"))))
            .chain(std::iter::from_fn(|| -> Option<Result<Record>> {
                panic!("input read after its error")
            }))
    };
    let big = SortOptions::new(dir.path());
    let small = tiny(dir.path());
    for opts in [&big, &small] {
        let e = sort_records(failing(), sort, opts).unwrap_err();
        assert!(e.to_string().contains("boom"), "{e}");
        for keep in [5, 250] {
            let e = sort_records_limited(failing(), sort, keep, opts).unwrap_err();
            assert!(e.to_string().contains("boom"), "{e}");
        }
    }
}

#[test]
fn a_missing_spill_dir_fails_only_when_the_sort_spills() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir");
    let input = records(10, 200);
    let sort = Sort::default();
    let (got, _) = full(&input, sort, &SortOptions::new(&missing));
    assert_eq!(got.len(), 200);
    let e = sort_records(ok(&input), sort, &tiny(&missing)).unwrap_err();
    assert!(
        matches!(&e, Error::Io { path, .. } if *path == missing),
        "{e}"
    );
}

#[test]
fn invalid_sorts_and_options_are_refused() {
    let input = records(11, 3);
    for field in [Field::Refs, Field::Relation, Field::Args, Field::Result] {
        let sort = Sort {
            field,
            descending: false,
        };
        let e = sort_records(ok(&input), sort, &SortOptions::default()).unwrap_err();
        assert!(
            matches!(&e, Error::Invalid { what, .. } if what == "sort"),
            "{e}"
        );
    }
    let opts = SortOptions::default().with_merge_width(1);
    let e = sort_records(ok(&input), Sort::default(), &opts).unwrap_err();
    assert!(
        matches!(&e, Error::Invalid { what, .. } if what == "merge_width"),
        "{e}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_budget_width_and_limit_gives_the_reference_order(
        seed in any::<u64>(),
        n in 0usize..250,
        budget in 0usize..16_384,
        width in 2usize..6,
        field in 0usize..12,
        descending in any::<bool>(),
        keep in 0usize..300,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let input = records(seed, n);
        let sort = Sort { field: sortable()[field], descending };
        let opts = SortOptions::new(dir.path()).with_budget(budget).with_merge_width(width);
        let all = expected(&input, sort);
        let (got, stats) = full(&input, sort, &opts);
        prop_assert!(got == all);
        prop_assert!(stats.widest_merge <= width, "{:?}", stats);
        prop_assert!(top(&input, sort, keep, &opts).0 == all[..keep.min(n)]);
    }
}
