//! Bytes on disk: the record codec, segment headers and footers, frames.
//! Pure functions only (no I/O); fuzzed. See `docs/format.md`.

pub mod chain;
pub mod codec;
pub mod layout;
