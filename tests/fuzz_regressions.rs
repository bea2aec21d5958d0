//! Every input a fuzzer found failing, as a named test, run through the
//! same check as its fuzz target (`auditlog::fuzzing`). The bytes live in
//! `tests/fuzz_regressions/TARGET/NAME` (also replayed by
//! `tests/fuzz_corpus.rs`); each test says what was wrong and where it was
//! fixed. See `docs/fuzzing.md`.

use auditlog::fuzzing;

// The targets check allocation sizes; this allocator lets them see.
#[global_allocator]
static ALLOC: fuzzing::TrackingAlloc = fuzzing::TrackingAlloc;

macro_rules! input {
    ($target:literal, $name:literal) => {
        include_bytes!(concat!("fuzz_regressions/", $target, "/", $name))
    };
}

/// A damaged frame followed by a seal footer that closes the file at the
/// offset it names was taken for a torn tail: open truncated the damaged
/// record, the rest and the footer. Fixed in `log::segment::valid_frame_after`
/// (a closing footer counts as evidence, like an intact frame).
#[test]
fn recover_damage_then_closing_footer() {
    fuzzing::recover(input!("recover", "damage_then_closing_footer"));
}

/// A seal footer with good checksums and `body_len` near `u64::MAX` made
/// open panic (`body_len + FOOTER_LEN` overflowed). Fixed in
/// `format::layout::Footer::decode` (numbers no segment can have are damage).
#[test]
fn recover_forged_footer_body_len_overflow() {
    fuzzing::recover(input!("recover", "forged_footer_body_len_overflow"));
}

/// A 44-byte payload whose `refs` count claims billions of entries made
/// serde reserve 1 MiB before failing. Fixed in `format::codec` (the
/// reservation is capped at `MAX_REFS`).
#[test]
fn decode_frame_refs_count_preallocates_1mib() {
    fuzzing::decode_frame(input!("decode_frame", "refs_count_preallocates_1mib"));
}

/// A float in `args` printed by `to_json` (shortest round-trip form) parsed
/// back one ULP off, so a record exported as NDJSON and ingested again had
/// different `args`: serde_json's default float parser is not correctly
/// rounded. Fixed in `Cargo.toml` (serde_json's `float_roundtrip`).
#[test]
fn record_json_float_reparse_off_by_one_ulp() {
    fuzzing::record_json(input!("record_json", "float_reparse_off_by_one_ulp"));
}

/// A cursor whose `descending` byte was 0x26 (any non-zero value) decoded
/// as `descending = true`: two texts named the same position, and the
/// engine handed back a different text than it accepted. Fixed in
/// `query::model::Cursor::decode` (only 0 and 1 are accepted).
#[test]
fn cursor_descending_flag_not_canonical() {
    fuzzing::cursor(input!("cursor", "descending_flag_not_canonical"));
}

/// An active segment whose last 96 bytes decode as a seal footer naming
/// its own offset, but one that does not match the frames before it (so
/// recovery cuts it as a torn tail): open judged the file sealed from its
/// tail, skipped replaying its records into the in-memory index, then kept
/// it as the active segment, so queries missed its records. Found by
/// replaying the `recover` corpus after recovery became a single windowed
/// pass. Fixed in `log::Log::open` (such a segment is replayed after all).
#[test]
fn recover_mismatched_footer_tail_not_replayed() {
    fuzzing::recover(input!("recover", "mismatched_footer_tail_not_replayed"));
}

/// A cursor text with `+0` in place of a hex pair decoded (Rust's
/// `u8::from_str_radix` accepts a leading sign), so two texts named one
/// position. Fixed in `query::model::Cursor::decode` (hex digits only).
#[test]
fn cursor_plus_sign_in_hex() {
    fuzzing::cursor(input!("cursor", "plus_sign_in_hex"));
}
