#![no_main]
//! See `auditlog::fuzzing::decode_frame` for what this target checks.

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: auditlog::fuzzing::TrackingAlloc = auditlog::fuzzing::TrackingAlloc;

fuzz_target!(|data: &[u8]| auditlog::fuzzing::decode_frame(data));
