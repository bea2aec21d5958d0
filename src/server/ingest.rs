//! The ingestion endpoint `POST /api/v1/records` (SPEC section 5.3): an
//! NDJSON body turned into one all-or-nothing batch of records.
//!
//! Owns the rules of a request: the `writer` role, parsing and validating
//! every line before anything is stored (a bad line rejects the whole
//! request, naming the line), tenancy (every record's customer must be the
//! caller's or under it), and the JSON answers. It never appends (the HTTP
//! layer hands the records to [`crate::AuditLog::append_batch`] in one
//! call), never authenticates (HTTP Basic is checked before), and never
//! echoes a field's value in an error.
//!
//! Decisions (also in `docs/server.md`):
//! - lines end with `\n` (a `\r` before it is dropped); lines holding only
//!   whitespace are skipped; line numbers count every line from 1;
//! - an empty body (or only blank lines) stores nothing and answers
//!   `{"count":0,"ids":[]}`;
//! - a record of another customer is 403 naming the line (the native API
//!   uses plain HTTP statuses; Enswitch's 402 is not used here);
//! - a record whose encoded form would pass the 1 MiB limit is refused here
//!   with its line, not later by the log.

use std::fmt;

use serde::Serialize;

use super::auth::AuthUser;
use super::enswitch::CustomerTree;
use super::users::Role;
use crate::format::codec;
use crate::record::{NewRecord, MAX_RECORD_BYTES};
use crate::time::Timestamp;

/// Lines longer than this get an exact encoded-size check before the batch
/// is appended (shorter ones cannot encode past [`MAX_RECORD_BYTES`]: the
/// binary form of a record is never much larger than its JSON line).
const EXACT_SIZE_CHECK_BYTES: usize = MAX_RECORD_BYTES / 2;

/// An ingestion request refused: the HTTP status, the 1-based line when one
/// line is at fault, and a message that never holds a field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestError {
    /// 400, 401, 403, 413, 500 or 503.
    pub status: u16,
    /// The offending line, from 1.
    pub line: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl IngestError {
    /// An error with this status, no line.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        IngestError {
            status,
            line: None,
            message: message.into(),
        }
    }

    fn at(status: u16, line: u64, message: impl fmt::Display) -> Self {
        IngestError {
            status,
            line: Some(line),
            message: format!("line {line}: {message}"),
        }
    }

    /// `{"error":{"code":N,"message":"...","line":L}}`.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: u16,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            line: Option<u64>,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        serde_json::to_string(&Outer {
            error: Inner {
                code: self.status,
                message: &self.message,
                line: self.line,
            },
        })
        .unwrap_or_default()
    }
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for IngestError {}

/// 403 unless `caller` holds the `writer` role.
pub fn authorize(caller: &AuthUser) -> Result<(), IngestError> {
    if caller.has(Role::Writer) {
        Ok(())
    } else {
        Err(IngestError::new(
            403,
            "your role does not allow this: ingesting needs the writer role",
        ))
    }
}

/// Parses and validates every line of an NDJSON body for `caller`: each
/// line must be a valid record (SPEC section 1) of the caller's customer or
/// one under it. Returns the records in body order, or the first problem.
pub fn parse_ndjson(
    body: &[u8],
    caller: &AuthUser,
    tree: &dyn CustomerTree,
) -> Result<Vec<NewRecord>, IngestError> {
    let mut records = Vec::new();
    let mut scratch = Vec::new();
    let now = Timestamp::now();
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let n = i as u64 + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line = std::str::from_utf8(raw)
            .map_err(|e| IngestError::at(400, n, format!("not valid UTF-8 ({e})")))?;
        let rec = NewRecord::from_json(line).map_err(|e| IngestError::at(400, n, e))?;
        if !tree.is_within(rec.customer, caller.customer) {
            return Err(IngestError::at(
                403,
                n,
                format!(
                    "customer {} is not yours ({}) or under yours",
                    rec.customer, caller.customer
                ),
            ));
        }
        if line.len() > EXACT_SIZE_CHECK_BYTES {
            scratch.clear();
            codec::encode_into(&rec.clone().into_record(0, now), &mut scratch)
                .map_err(|e| IngestError::at(400, n, e))?;
        }
        records.push(rec);
    }
    Ok(records)
}

/// Parses a customer-tree body (CSV lines `customer,parent`, an optional
/// header `id,parent`, an empty parent to clear) for `caller`: every
/// customer must be under the caller's customer (or new to the tree) and
/// every parent the caller's customer or under it; the caller's own
/// customer cannot be moved. Errors name the line.
pub fn parse_parents(
    body: &[u8],
    caller: &AuthUser,
    tree: &crate::customers::CustomerTree,
) -> Result<Vec<(u64, Option<u64>)>, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::new(400, format!("the body is not valid UTF-8 ({e})")))?;
    let mut out = Vec::new();
    let mut pending: std::collections::HashMap<u64, Option<u64>> = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.trim();
        if line.is_empty() || (n == 1 && line.eq_ignore_ascii_case("id,parent")) {
            continue;
        }
        let (c, p) = line
            .split_once(',')
            .ok_or_else(|| IngestError::at(400, n, "expected `customer,parent`"))?;
        let c: u64 = c.trim().parse().map_err(|_| {
            IngestError::at(400, n, format!("customer {c:?} is not an unsigned integer"))
        })?;
        let p = match p.trim() {
            "" => None,
            p => Some(p.parse::<u64>().map_err(|_| {
                IngestError::at(400, n, format!("parent {p:?} is not an unsigned integer"))
            })?),
        };
        // Earlier lines of the same body count: walk parents through them first.
        let mine = |x: u64| {
            let mut x = x;
            for _ in 0..1_000_000 {
                if x == caller.customer {
                    return true;
                }
                let up = match pending.get(&x) {
                    Some(p) => *p,
                    None => tree.parent_of(x),
                };
                match up {
                    Some(p) => x = p,
                    None => return false,
                }
            }
            false
        };
        // A customer the tree does not know yet (no parent, no children)
        // may be placed under one of the caller's.
        let new = |x: u64| {
            !pending.contains_key(&x)
                && tree.parent_of(x).is_none()
                && tree.children_of(x).is_empty()
        };
        let movable = mine(c) || (new(c) && p.is_some());
        if c == caller.customer || !movable || p.is_some_and(|p| !mine(p)) {
            return Err(IngestError::at(
                403,
                n,
                format!(
                    "only customers under yours ({}) can be placed, and only under yours",
                    caller.customer
                ),
            ));
        }
        pending.insert(c, p);
        out.push((c, p));
    }
    Ok(out)
}

/// The answer once the records are stored: `{"count":N,"first_id":A,
/// "last_id":B,"ids":[A,...,B]}` (`first_id`/`last_id` left out when
/// nothing was stored). The ids of one request are consecutive.
pub fn stored_body(ids: std::ops::RangeInclusive<u64>) -> String {
    let (a, b) = (*ids.start(), *ids.end());
    if ids.is_empty() {
        return r#"{"count":0,"ids":[]}"#.to_string();
    }
    let count = b - a + 1;
    let mut out = String::with_capacity(64 + 8 * count as usize);
    out.push_str(&format!(
        "{{\"count\":{count},\"first_id\":{a},\"last_id\":{b},\"ids\":["
    ));
    let mut buf = itoa::Buffer::new();
    for id in ids {
        if id != a {
            out.push(',');
        }
        out.push_str(buf.format(id));
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::users::Roles;

    struct Tree;
    impl CustomerTree for Tree {
        fn parent_of(&self, c: u64) -> Option<u64> {
            (c == 11).then_some(10)
        }
        fn is_within(&self, c: u64, root: u64) -> bool {
            c == root || (c == 11 && root == 10)
        }
    }

    fn writer() -> AuthUser {
        AuthUser {
            username: "w".into(),
            customer: 10,
            roles: Roles::NONE.with(Role::Writer),
        }
    }

    #[test]
    fn good_lines_blank_lines_and_crlf() {
        let body = b"{\"customer\":10,\"action\":\"add\"}\r\n\n  \n{\"customer\":11,\"time\":5}\n";
        let recs = parse_ndjson(body, &writer(), &Tree).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].action, "add");
        assert_eq!(recs[1].customer, 11);
        assert!(parse_ndjson(b"", &writer(), &Tree).unwrap().is_empty());
        assert!(parse_ndjson(b"\n\n", &writer(), &Tree).unwrap().is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        let e = parse_ndjson(
            b"{\"customer\":10}\n{\"customer\":\"x\"}\n",
            &writer(),
            &Tree,
        )
        .unwrap_err();
        assert_eq!((e.status, e.line), (400, Some(2)));
        assert!(e.message.starts_with("line 2: "), "{e}");
        assert!(e.message.contains("customer"), "{e}");
        let e = parse_ndjson(b"\n{\"customer\":10,\"id\":4}", &writer(), &Tree).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("`id`"), "{e}");
        let e = parse_ndjson(b"{\"customer\":10,\"bogus\":1}", &writer(), &Tree).unwrap_err();
        assert_eq!(e.line, Some(1));
        let e = parse_ndjson(b"{\"customer\":10}\n\xff\xfe\n", &writer(), &Tree).unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("UTF-8"), "{e}");
        let e = parse_ndjson(b"not json", &writer(), &Tree).unwrap_err();
        assert_eq!((e.status, e.line), (400, Some(1)));
        // Another customer's record: 403 naming the line.
        let e =
            parse_ndjson(b"{\"customer\":10}\n{\"customer\":12}", &writer(), &Tree).unwrap_err();
        assert_eq!((e.status, e.line), (403, Some(2)));
        assert!(e.message.contains("customer 12"), "{e}");
        // An oversize field is named.
        let big = format!(
            "{{\"customer\":10,\"name\":\"{}\"}}",
            "x".repeat(crate::record::MAX_STRING_BYTES + 1)
        );
        let e = parse_ndjson(big.as_bytes(), &writer(), &Tree).unwrap_err();
        assert_eq!(e.line, Some(1));
        assert!(e.message.contains("`name`"), "{e}");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(v["error"]["code"], 400);
        assert_eq!(v["error"]["line"], 1);
    }

    #[test]
    fn an_oversize_encoded_record_is_caught_with_its_line() {
        // Nine 64 KiB-ish fields plus args near 1 MiB: each field passes,
        // the encoded whole does not.
        let s = "y".repeat(60_000);
        let args = format!("{{\"a\":\"{}\"}}", "z".repeat(700_000));
        let line = format!(
            "{{\"customer\":10,\"person\":\"{s}\",\"source\":\"{s}\",\"action\":\"{s}\",\"object\":\"{s}\",\"name\":\"{s}\",\"old\":\"{s}\",\"new\":\"{s}\",\"args\":{args}}}"
        );
        let body = format!("{{\"customer\":10}}\n{line}\n");
        let Err(e) = parse_ndjson(body.as_bytes(), &writer(), &Tree) else {
            panic!("an oversize record must be refused")
        };
        assert_eq!((e.status, e.line), (400, Some(2)), "{e}");
        assert!(e.message.contains("limit"), "{e}");
    }

    #[test]
    fn role_and_answers() {
        let mut u = writer();
        assert!(authorize(&u).is_ok());
        u.roles = Roles::NONE.with(Role::Audit).with(Role::Owner);
        assert_eq!(authorize(&u).unwrap_err().status, 403);
        assert_eq!(
            stored_body(5..=7),
            r#"{"count":3,"first_id":5,"last_id":7,"ids":[5,6,7]}"#
        );
        #[allow(clippy::reversed_empty_ranges)]
        let empty = 1..=0;
        assert_eq!(stored_body(empty), r#"{"count":0,"ids":[]}"#);
    }
}
