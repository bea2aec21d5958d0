//! Test-only record generators shared by the export and report tests.
//!
//! Owns deterministic data (no clock, no global random state); it must
//! never be compiled outside tests.

use crate::record::{Json, Record};
use crate::time::Timestamp;

/// xorshift64: deterministic and dependency-free.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Pieces that CSV must quote or neutralise, plus ordinary text. None
/// contains `;` (the `refs` separator) and none starts with `'` followed by
/// a formula character (the one case the neutralisation rule cannot undo).
pub(crate) const PIECES: [&str; 17] = [
    "",
    "plain",
    "with,comma",
    "with \"quotes\"",
    "\"",
    "line\nbreak",
    "crlf\r\nline",
    "\ttab",
    "=SUM(A1:A2)",
    "+1",
    "-2",
    "@cmd",
    "Zoë 日本語 🎉",
    " spaced ",
    "\rcr",
    "'quoted",
    "203.0.113.5",
];

const JSONS: [&str; 8] = [
    r#"{"user_name":"alice"}"#,
    r#"{"k":"v,\"x\"\n","n":[1,2,{"z":null}]}"#,
    "[1,2]",
    "-5",
    r#""=str""#,
    "null",
    r#"{"ü":"🎉","t":"\t"}"#,
    "{}",
];

fn text(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(4) {
        s.push_str(rng.pick(&PIECES));
    }
    s
}

fn json(rng: &mut Rng) -> Option<Json> {
    if rng.below(3) == 0 {
        None
    } else {
        Some(Json::parse(rng.pick(&JSONS)).unwrap())
    }
}

/// `n` records with ids `1..=n`, increasing times from 2026-01-01, customers
/// `1..=customers`, and every string field drawn from [`PIECES`].
pub(crate) fn nasty_records(n: u64, customers: u64, seed: u64) -> Vec<Record> {
    let mut rng = Rng::new(seed);
    let mut t = 1_767_225_600_000_000i64; // 2026-01-01T00:00:00Z
    (1..=n)
        .map(|id| {
            t += rng.below(5_000_000_000) as i64 + 1;
            let refs = (0..rng.below(4))
                .map(|_| {
                    let mut r = text(&mut rng);
                    if r.is_empty() {
                        r.push('x');
                    }
                    r
                })
                .collect();
            Record {
                id,
                time: Timestamp::from_micros(t).unwrap(),
                customer: 1 + rng.below(customers),
                person: text(&mut rng),
                source: text(&mut rng),
                action: text(&mut rng),
                object: text(&mut rng),
                object_id: text(&mut rng),
                name: text(&mut rng),
                field: text(&mut rng),
                old: text(&mut rng),
                new: text(&mut rng),
                refs,
                args: json(&mut rng),
                result: json(&mut rng),
            }
        })
        .collect()
}

/// Records shaped like the SPEC section 6 workload (about 200 bytes, no
/// special characters), for throughput checks.
pub(crate) fn workload_records(n: u64) -> Vec<Record> {
    let mut rng = Rng::new(42);
    let mut t = 1_767_225_600_000_000i64;
    (1..=n)
        .map(|id| {
            t += rng.below(2_000_000) as i64;
            Record {
                id,
                time: Timestamp::from_micros(t).unwrap(),
                customer: 1 + rng.below(1000),
                person: format!("person_{}", rng.below(5000)),
                source: format!("10.{}.{}.{}", rng.below(8), rng.below(250), rng.below(250)),
                action: format!("Action{}", rng.below(40)),
                object: format!("object{}", rng.below(15)),
                object_id: format!("{}", rng.below(200_000)),
                name: format!("Display Name {}", rng.below(100_000)),
                field: format!("field{}", rng.below(20)),
                old: format!("old-value-{}", rng.below(1000)),
                new: format!("new-value-{}", rng.below(1000)),
                refs: vec![format!("7495{:07}", rng.below(10_000_000))],
                args: Some(Json::parse(r#"{"user_name":"alice","enabled":true}"#).unwrap()),
                result: Some(Json::parse(r#"{"user_id":55}"#).unwrap()),
            }
        })
        .collect()
}
