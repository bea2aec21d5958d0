//! Shared helpers for the integration tests: a seeded record generator and
//! the naive reference model queries are checked against.
#![allow(dead_code)]

pub mod http_support;

use auditlog::query::{Field, Query, Scope, Sort};
use auditlog::{CustomerTree, NewRecord, Record, Timestamp};

/// A tiny deterministic PRNG (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

pub const PERSONS: &[&str] = &[
    "alice", "Alice", "ALICE", "bob", "", "Zoë", "carol_ü", "dave", "admin_7", "root",
];
pub const SOURCES: &[&str] = &["203.0.113.5", "198.51.100.7", "web", "api", "", "10.0.0.1"];
pub const ACTIONS: &[&str] = &[
    "add",
    "change",
    "delete",
    "CreateUser",
    "createuser",
    "DeleteUser",
    "login",
];
pub const OBJECTS: &[&str] = &["user", "phone_number", "Application", "", "rule"];
pub const NAMES: &[&str] = &[
    "Alice Smith",
    "alice smith",
    "Bob",
    "",
    "Ünïcödé ñame",
    "=cmd|' /C calc'!A0",
    "comma, \"quoted\"",
    "line\nbreak",
    "tab\there",
    "Zed",
];

/// A generated record; times mostly increase, some go back.
pub fn gen_record(rng: &mut Rng, i: u64, base: i64) -> NewRecord {
    let jitter = rng.below(600_000_000) as i64 - 300_000_000;
    let t = base
        + (i as i64) * 1_000_000
        + if rng.chance(5) {
            -(rng.below(86_400) as i64) * 1_000_000
        } else {
            jitter
        };
    let mut r = NewRecord::new(1 + rng.below(12))
        .person(*rng.pick(PERSONS))
        .source(*rng.pick(SOURCES))
        .action(*rng.pick(ACTIONS))
        .object(*rng.pick(OBJECTS))
        .object_id(format!("{}", rng.below(300)))
        .name(*rng.pick(NAMES))
        .field(*rng.pick(&["email", "name", "", "Password"]))
        .old(format!("o{}", rng.below(50)))
        .new_value(format!("n{}", rng.below(50)))
        .time(Timestamp::from_micros(t.max(0)).unwrap());
    let nrefs = rng.below(3);
    r.refs = (0..nrefs)
        .map(|_| format!("7495{}", rng.below(40)))
        .collect();
    if rng.chance(30) {
        r = r.args(serde_json::json!({"user_name": rng.pick(PERSONS), "n": rng.below(10)}));
    }
    if rng.chance(20) {
        r = r.result(serde_json::json!({"ok": true}));
    }
    r
}

/// The reference: filter and sort a Vec naively.
pub fn reference(all: &[(Record, bool)], tree: &CustomerTree, q: &Query) -> Vec<Record> {
    let scope = tree.resolve(q.scope.unwrap_or(Scope::System));
    let mut rows: Vec<Record> = all
        .iter()
        .filter(|(_, archived)| !*archived || q.include_archived)
        .map(|(r, _)| r)
        .filter(|r| q.matches_filters(*r))
        .filter(|r| scope.as_ref().is_none_or(|s| s.contains(&r.customer)))
        .filter(|r| q.predicates.iter().all(|p| p.matches(*r)))
        .cloned()
        .collect();
    let sort: Sort = q.sort;
    rows.sort_by(|a, b| sort.compare(a, b));
    if let Some(c) = &q.cursor {
        rows.retain(|r| c.is_before(r));
    }
    let rows: Vec<Record> = rows.into_iter().skip(q.offset as usize).collect();
    match q.limit {
        Some(l) => rows.into_iter().take(l as usize).collect(),
        None => rows,
    }
}

pub fn sortable() -> Vec<Field> {
    Field::ALL.into_iter().filter(|f| f.is_sortable()).collect()
}
