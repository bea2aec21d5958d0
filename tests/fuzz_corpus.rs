//! Replays the committed fuzz corpus (`fuzz/corpus/TARGET/*`) and every
//! crash the fuzzers found (`tests/fuzz_regressions/TARGET/*`) through the
//! same checks the fuzz targets run (`auditlog::fuzzing`), so CI checks
//! them on every change with no fuzzer installed. See `docs/fuzzing.md`.

use std::path::{Path, PathBuf};

// The targets check that no length read from the input makes the code
// allocate more than the input justifies; this allocator lets them see.
#[global_allocator]
static ALLOC: auditlog::fuzzing::TrackingAlloc = auditlog::fuzzing::TrackingAlloc;

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs every input of `target`; fails naming each input that fails.
fn replay(target: &str) {
    let f = auditlog::fuzzing::target(target).expect("a target of this build");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = files(&root.join("fuzz/corpus").join(target));
    inputs.extend(files(&root.join("tests/fuzz_regressions").join(target)));
    assert!(!inputs.is_empty(), "no corpus for {target}");
    let mut failed = Vec::new();
    for p in &inputs {
        let data = std::fs::read(p).expect("read input");
        if std::panic::catch_unwind(|| f(&data)).is_err() {
            failed.push(p.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} inputs of {target} fail: {failed:#?}",
        failed.len(),
        inputs.len()
    );
}

macro_rules! corpus_tests {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {$(
        $(#[$m])*
        #[test]
        fn $name() {
            replay(stringify!($name));
        }
    )*};
}

corpus_tests!(
    decode_frame,
    recover,
    record_json,
    dates,
    csv_roundtrip,
    cursor,
    postings,
    #[cfg(feature = "server")]
    params,
);

#[test]
fn every_target_has_a_test_here() {
    let here = [
        "decode_frame",
        "recover",
        "record_json",
        "dates",
        "csv_roundtrip",
        "cursor",
        "postings",
        "params",
    ];
    for (name, _) in auditlog::fuzzing::TARGETS {
        assert!(here.contains(name), "{name} is not replayed");
    }
}
