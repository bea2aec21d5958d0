//! The Enswitch JSON API `audit/list` (seed `003`): request parameters to a
//! [`Query`], tenancy decisions, and the response envelope.
//!
//! Owns what the endpoint accepts and answers: parameter validation (400
//! with `key` naming the parameter), role and tenancy checks (402), the
//! `{"responses":[...],"data":[...]}` envelope written piece by piece so the
//! HTTP layer can stream rows. It never reads storage, never authenticates
//! (the HTTP layer verifies `auth_username`/`auth_password` with
//! [`super::auth::verify_password`] first), and never echoes a parameter's
//! value in an error.
//!
//! Decisions where the seed is silent (also in `docs/server.md`):
//! - unknown parameters are rejected with 400 naming the key (SPEC
//!   section 7); `auth_username` and `auth_password` are the only extras;
//! - a parameter given twice with different values is a 400;
//! - `start`/`end` are decimal integers; `end` is `-1` (now, the default)
//!   or a unix time; other negative values are a 400; `start` after `end`
//!   is a 400 with key `start`; `start` = `end` is an empty result;
//! - `archive` and `descending` take exactly `0` or `1`;
//! - empty `customer`, `match` and `sort` mean their defaults; `customer`
//!   keywords (`own`, `all`, `recursive`, `system`; `own` is SPEC section
//!   2's name for the caller's own customer) are ASCII case-insensitive;
//! - `column`, `match` and `sort` names are ASCII case-insensitive; beyond
//!   the seed's lists, `column` also takes `customer`, `object_id` and
//!   `refs`, and `sort` also takes `source` and `object_id` (SPEC section
//!   2: every field but `args`, `result` and `refs` sorts);
//! - `value` without a `column` is ignored (the seed: empty column = none);
//! - checks run in this order: the `audit` role (402), parameters (400),
//!   then `archive` and `customer` authority (402).

use std::fmt;

use serde::Serialize;

use super::auth::AuthUser;
use super::params::{ParamError, Params};
use super::users::Role;
use crate::query::{Field, MatchMode, Predicate, Query, Scope};
use crate::record::Record;
use crate::time::Timestamp;

/// The row cap when the server configuration sets none.
pub const DEFAULT_ROW_CAP: u64 = 1_000_000;

/// The parameters `audit/list` accepts.
pub const PARAMETERS: [&str; 11] = [
    "auth_username",
    "auth_password",
    "start",
    "end",
    "archive",
    "customer",
    "column",
    "match",
    "value",
    "sort",
    "descending",
];

/// The customer tree as the endpoint needs it (the engine implements it).
pub trait CustomerTree {
    /// The parent of customer `c`; `None` for a top-level or unknown customer.
    fn parent_of(&self, c: u64) -> Option<u64>;
    /// Whether `c` is `root` itself or a descendant of `root` at any depth.
    fn is_within(&self, c: u64, root: u64) -> bool;
}

impl CustomerTree for crate::customers::CustomerTree {
    fn parent_of(&self, c: u64) -> Option<u64> {
        crate::customers::CustomerTree::parent_of(self, c)
    }
    fn is_within(&self, c: u64, root: u64) -> bool {
        crate::customers::CustomerTree::is_within(self, c, root)
    }
}

/// An `audit/list` answer other than 200: the HTTP status (also the
/// envelope's `code`), the offending parameter and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnswitchError {
    /// 400, 401, 402 or 500.
    pub status: u16,
    /// The parameter concerned, or `""`.
    pub key: String,
    /// What is wrong, for the client.
    pub message: String,
}

impl EnswitchError {
    /// 400: invalid input parameter `key`.
    pub fn bad_request(key: impl Into<String>, message: impl Into<String>) -> Self {
        EnswitchError {
            status: 400,
            key: key.into(),
            message: message.into(),
        }
    }

    /// 401: the authentication details are invalid (whatever the reason,
    /// which goes to the log, not to the client).
    pub fn unauthorized() -> Self {
        EnswitchError {
            status: 401,
            key: String::new(),
            message: "The authentication details provided are invalid.".to_string(),
        }
    }

    /// 402: the user's role does not allow this.
    pub fn forbidden(key: impl Into<String>, message: impl Into<String>) -> Self {
        EnswitchError {
            status: 402,
            key: key.into(),
            message: message.into(),
        }
    }

    /// 400 with key `end`: the query matches `count` rows, over `cap`.
    pub fn too_many_rows(count: u64, cap: u64) -> Self {
        EnswitchError::bad_request(
            "end",
            format!(
                "The request matches {count} entries, more than the limit of {cap}; \
                 ask for a narrower time range (start/end) or add a column filter."
            ),
        )
    }

    /// 500: the server failed (details go to the log).
    pub fn internal() -> Self {
        EnswitchError {
            status: 500,
            key: String::new(),
            message: "Internal error; the server log has the details.".to_string(),
        }
    }

    /// The whole response body: the envelope with this error and no data.
    pub fn body(&self) -> String {
        format!(
            "{}[]}}",
            responses_head(self.status, &self.key, &self.message)
        )
    }
}

impl From<ParamError> for EnswitchError {
    fn from(e: ParamError) -> Self {
        EnswitchError::bad_request(e.key, e.message)
    }
}

impl From<super::auth::AuthError> for EnswitchError {
    /// Any authentication failure is a 401; log the reason before converting.
    fn from(_: super::auth::AuthError) -> Self {
        EnswitchError::unauthorized()
    }
}

impl fmt::Display for EnswitchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.key, self.message)
    }
}

impl std::error::Error for EnswitchError {}

/// A validated `audit/list` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnswitchRequest {
    /// What to list: range, scope, column predicate, archive flag, sort.
    /// No limit: the endpoint returns the whole result (under the row cap).
    pub query: Query,
}

/// The `auth_username` and `auth_password` parameters; missing ones are a 401.
pub fn credentials(params: &Params) -> Result<(String, super::auth::Password), EnswitchError> {
    let user = params
        .get_one("auth_username")
        .map_err(|_| EnswitchError::unauthorized())?;
    let pass = params
        .get_one("auth_password")
        .map_err(|_| EnswitchError::unauthorized())?;
    match (user, pass) {
        (Some(u), Some(p)) if !u.is_empty() => Ok((u.to_string(), super::auth::Password::new(p))),
        _ => Err(EnswitchError::unauthorized()),
    }
}

/// Turns `audit/list` parameters into a query for `user`, who has already
/// been authenticated. `now` resolves `end=-1`.
pub fn parse_audit_list(
    params: &Params,
    user: &AuthUser,
    tree: &dyn CustomerTree,
    now: Timestamp,
) -> Result<EnswitchRequest, EnswitchError> {
    if !user.has(Role::Audit) {
        return Err(EnswitchError::forbidden(
            "",
            "Your role does not allow this: audit/list needs the audit role.",
        ));
    }
    params.reject_unknown(&PARAMETERS)?;

    let start = match params.get_one("start")? {
        None | Some("") => {
            return Err(EnswitchError::bad_request(
                "start",
                "start is required (a unix timestamp).",
            ))
        }
        Some(s) => unix_seconds("start", s, false)?,
    };
    let end = match params.get_one("end")? {
        None | Some("") | Some("-1") => now,
        Some(s) => unix_seconds("end", s, true)?,
    };
    if start > end {
        return Err(EnswitchError::bad_request(
            "start",
            format!(
                "start ({}) is after end ({}).",
                start.unix_seconds(),
                end.unix_seconds()
            ),
        ));
    }
    let archive = flag(params, "archive")?;
    let descending = flag(params, "descending")?;

    let mode = match params.get_one("match")? {
        None | Some("") => MatchMode::Exact,
        Some(m) => m.to_ascii_lowercase().parse::<MatchMode>().map_err(|_| {
            EnswitchError::bad_request(
                "match",
                "match must be one of: exact, start, end, contains.",
            )
        })?,
    };
    let column = match params.get_one("column")? {
        None | Some("") => None,
        Some(c) => Some(column_field(c).ok_or_else(|| {
            EnswitchError::bad_request(
                "column",
                format!(
                    "column must be one of: {}, or empty for none.",
                    COLUMNS.map(|(n, _)| n).join(", ")
                ),
            )
        })?),
    };
    let value = params.get_one("value")?.unwrap_or_default();
    let sort = match params.get_one("sort")? {
        None | Some("") => Field::Time,
        Some(s) => sort_field(s).ok_or_else(|| {
            EnswitchError::bad_request(
                "sort",
                format!("sort must be one of: {}.", SORTS.map(|(n, _)| n).join(", ")),
            )
        })?,
    };

    let scope = match params.get_one("customer")? {
        None | Some("") => Scope::Own(user.customer),
        Some(c) if c.eq_ignore_ascii_case("own") => Scope::Own(user.customer),
        Some(c) if c.eq_ignore_ascii_case("all") => Scope::Children(user.customer),
        Some(c) if c.eq_ignore_ascii_case("recursive") => Scope::Descendants(user.customer),
        Some(c) if c.eq_ignore_ascii_case("system") => Scope::System,
        Some(c) => Scope::Own(c.parse::<u64>().map_err(|_| {
            EnswitchError::bad_request(
                "customer",
                "customer must be a customer id, \"own\", \"all\", \"recursive\" or \"system\".",
            )
        })?),
    };

    if archive && !user.has(Role::Archive) {
        return Err(EnswitchError::forbidden(
            "archive",
            "Your role does not allow this: archive=1 needs the archive role.",
        ));
    }
    match scope {
        Scope::System if tree.parent_of(user.customer).is_some() => {
            return Err(EnswitchError::forbidden(
                "customer",
                "Your role does not allow this: only top-level customers may list the whole system.",
            ))
        }
        Scope::Own(c) if !tree.is_within(c, user.customer) => {
            return Err(EnswitchError::forbidden(
                "customer",
                format!("Your role does not allow this: customer {c} is not yours or under yours."),
            ))
        }
        _ => {}
    }

    let mut query = Query::new()
        .with_range(Some(start), Some(end))
        .with_scope(scope)
        .with_archived(archive)
        .with_sort(sort, descending);
    if let Some(field) = column {
        query = query.with_predicate(Predicate::new(field, mode, value).ignore_case());
    }
    Ok(EnswitchRequest { query })
}

/// `column` names and the record fields they search: the seed's nine,
/// then the other fields of SPEC section 2 a row shows or relates to.
const COLUMNS: [(&str, Field); 12] = [
    ("person", Field::Person),
    ("source", Field::Source),
    ("action", Field::Action),
    ("object", Field::Object),
    ("id", Field::Id),
    ("name", Field::Name),
    ("field", Field::Field),
    ("old", Field::Old),
    ("new", Field::New),
    ("customer", Field::Customer),
    ("object_id", Field::ObjectId),
    ("refs", Field::Refs),
];

/// `sort` names and the record fields they order by: the seed's ten, then
/// the other sortable fields of SPEC section 2.
const SORTS: [(&str, Field); 12] = [
    ("action", Field::Action),
    ("customer", Field::Customer),
    ("field", Field::Field),
    ("id", Field::Id),
    ("name", Field::Name),
    ("new", Field::New),
    ("person", Field::Person),
    ("object", Field::Object),
    ("old", Field::Old),
    ("time", Field::Time),
    ("source", Field::Source),
    ("object_id", Field::ObjectId),
];

/// The field `column` names, ASCII case-insensitively.
fn column_field(s: &str) -> Option<Field> {
    COLUMNS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, f)| *f)
}

/// The field `sort` names, ASCII case-insensitively.
fn sort_field(s: &str) -> Option<Field> {
    SORTS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(s))
        .map(|(_, f)| *f)
}

fn unix_seconds(key: &str, s: &str, is_end: bool) -> Result<Timestamp, EnswitchError> {
    let what = if is_end {
        "end must be -1 (now) or a unix timestamp (integer seconds)."
    } else {
        "start must be a unix timestamp (integer seconds)."
    };
    let n: i64 = s
        .parse()
        .map_err(|_| EnswitchError::bad_request(key, what))?;
    Timestamp::from_unix_seconds(n).map_err(|_| {
        if n < 0 {
            EnswitchError::bad_request(key, what)
        } else {
            EnswitchError::bad_request(key, format!("{key} is after the year 9999."))
        }
    })
}

fn flag(params: &Params, key: &str) -> Result<bool, EnswitchError> {
    match params.get_one(key)? {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(_) => Err(EnswitchError::bad_request(
            key,
            format!("{key} must be 0 or 1."),
        )),
    }
}

fn responses_head(status: u16, key: &str, message: &str) -> String {
    #[derive(Serialize)]
    struct Resp<'a> {
        code: String,
        key: &'a str,
        message: &'a str,
    }
    let resp = serde_json::to_string(&Resp {
        code: status.to_string(),
        key,
        message,
    })
    .unwrap_or_default();
    format!("{{\"responses\":[{resp}],\"data\":")
}

/// The start of a 200 body, up to and including the `[` that opens `data`.
pub fn envelope_head() -> &'static str {
    r#"{"responses":[{"code":"200","key":"","message":"OK"}],"data":["#
}

/// The end of a 200 body, closing `data` and the envelope.
pub fn envelope_tail() -> &'static str {
    "]}"
}

/// One row of `data`, as JSON.
pub fn row_json(r: &Record) -> String {
    let mut out = Vec::with_capacity(256);
    write_row(&mut out, r);
    String::from_utf8(out).unwrap_or_default()
}

/// Appends one row of `data` to `out` (no separator).
pub fn write_row(out: &mut Vec<u8>, r: &Record) {
    #[derive(Serialize)]
    struct Row<'a> {
        id: u64,
        time: i64,
        customer: u64,
        person: &'a str,
        source: &'a str,
        action: &'a str,
        object: &'a str,
        object_id: &'a str,
        name: &'a str,
        field: &'a str,
        old: &'a str,
        new: &'a str,
    }
    let row = Row {
        id: r.id,
        time: r.time.unix_seconds(),
        customer: r.customer,
        person: &r.person,
        source: &r.source,
        action: &r.action,
        object: &r.object,
        object_id: &r.object_id,
        name: &r.name,
        field: &r.field,
        old: &r.old,
        new: &r.new,
    };
    // Serialising borrowed strings and integers into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &row);
}

/// Writes rows into `data`, putting the commas between them.
///
/// ```
/// # use auditlog::server::enswitch::{envelope_head, envelope_tail, RowWriter};
/// let mut body = envelope_head().as_bytes().to_vec();
/// let mut rows = RowWriter::new();
/// // for r in records { rows.push(&mut body, &r); flush body when large }
/// body.extend_from_slice(envelope_tail().as_bytes());
/// assert_eq!(rows.count(), 0);
/// let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
/// assert_eq!(v["responses"][0]["code"], "200");
/// ```
#[derive(Debug, Default)]
pub struct RowWriter {
    count: u64,
}

impl RowWriter {
    /// A writer before the first row.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `r` to `out`, preceded by a comma unless it is the first row.
    pub fn push(&mut self, out: &mut Vec<u8>, r: &Record) {
        if self.count > 0 {
            out.push(b',');
        }
        write_row(out, r);
        self.count += 1;
    }

    /// How many rows were written.
    pub fn count(&self) -> u64 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::params::{Limits, Separators};
    use crate::server::users::Roles;
    use crate::NewRecord;
    use std::collections::HashMap;

    /// child -> parent.
    struct Tree(HashMap<u64, u64>);

    impl CustomerTree for Tree {
        fn parent_of(&self, c: u64) -> Option<u64> {
            self.0.get(&c).copied()
        }
        fn is_within(&self, c: u64, root: u64) -> bool {
            let mut cur = Some(c);
            for _ in 0..64 {
                match cur {
                    Some(x) if x == root => return true,
                    Some(x) => cur = self.parent_of(x),
                    None => return false,
                }
            }
            false
        }
    }

    /// 1 (top) > 10 > 100 ; 1 > 11 ; 2 (top).
    fn tree() -> Tree {
        Tree(HashMap::from([(10, 1), (100, 10), (11, 1)]))
    }

    fn user(customer: u64, roles: &[Role]) -> AuthUser {
        AuthUser {
            username: "u".into(),
            customer,
            roles: roles.iter().copied().collect::<Roles>(),
        }
    }

    const NOW: i64 = 1_700_000_000;

    fn parse_as(u: &AuthUser, qs: &str) -> Result<Query, EnswitchError> {
        let p = Params::parse_urlencoded(
            qs.as_bytes(),
            Separators::AmpersandOrSemicolon,
            Limits::default(),
        )
        .map_err(EnswitchError::from)?;
        parse_audit_list(&p, u, &tree(), Timestamp::from_unix_seconds(NOW).unwrap())
            .map(|r| r.query)
    }

    fn parse(qs: &str) -> Result<Query, EnswitchError> {
        parse_as(&user(10, &[Role::Audit]), qs)
    }

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_unix_seconds(s).unwrap()
    }

    fn err(qs: &str) -> (u16, String) {
        let e = parse(qs).unwrap_err();
        (e.status, e.key)
    }

    #[test]
    fn seed_example_and_defaults() {
        let q = parse("auth_username=user;auth_password=password;start=1234567890").unwrap();
        assert_eq!(q.start, Some(ts(1_234_567_890)));
        assert_eq!(q.end, Some(ts(NOW)), "end defaults to -1 = now");
        assert_eq!(
            q.scope,
            Some(Scope::Own(10)),
            "customer defaults to the user's"
        );
        assert!(!q.include_archived);
        assert!(q.predicates.is_empty());
        assert_eq!(q.sort.field, Field::Time);
        assert!(!q.sort.descending);
        assert_eq!(q.limit, None);
        assert_eq!(parse("start=5&end=-1").unwrap().end, Some(ts(NOW)));
    }

    #[test]
    fn every_parameter() {
        let u = user(10, &[Role::Audit, Role::Archive]);
        let q = parse_as(
            &u,
            "start=100&end=200&archive=1&customer=100&column=name&match=contains&value=Ali&sort=name&descending=1",
        )
        .unwrap();
        assert_eq!((q.start, q.end), (Some(ts(100)), Some(ts(200))));
        assert!(q.include_archived);
        assert_eq!(q.scope, Some(Scope::Own(100)));
        assert_eq!(
            q.predicates,
            vec![Predicate::new(Field::Name, MatchMode::Contains, "Ali").ignore_case()]
        );
        assert_eq!(q.sort.field, Field::Name);
        assert!(q.sort.descending);
        assert!(q.validate().is_ok());

        for (name, f) in COLUMNS {
            let q = parse(&format!("start=1&column={name}&match=start&value=x")).unwrap();
            assert_eq!(q.predicates[0].field, f);
            assert_eq!(q.predicates[0].mode, MatchMode::Start);
            assert!(q.predicates[0].case_insensitive, "MySQL-like collation");
        }
        for (name, f) in SORTS {
            assert_eq!(
                parse(&format!("start=1&sort={name}")).unwrap().sort.field,
                f
            );
        }
        for (m, mode) in [
            ("exact", MatchMode::Exact),
            ("end", MatchMode::End),
            ("", MatchMode::Exact),
        ] {
            let q = parse(&format!("start=1&column=person&match={m}&value=bob")).unwrap();
            assert_eq!(q.predicates[0].mode, mode);
        }
        // Column without value: exact match on the empty string.
        let q = parse("start=1&column=old").unwrap();
        assert_eq!(q.predicates[0].values, vec![String::new()]);
        // Empty column: no predicate, value ignored.
        assert!(parse("start=1&column=&value=zz")
            .unwrap()
            .predicates
            .is_empty());
        assert_eq!(
            parse("start=1&customer=all").unwrap().scope,
            Some(Scope::Children(10))
        );
        assert_eq!(
            parse("start=1&customer=RECURSIVE").unwrap().scope,
            Some(Scope::Descendants(10))
        );
        assert_eq!(
            parse("start=1&customer=10").unwrap().scope,
            Some(Scope::Own(10))
        );
        assert_eq!(
            parse("start=1&customer=").unwrap().scope,
            Some(Scope::Own(10))
        );
        // SPEC section 2's `own`, and names in any case.
        assert_eq!(
            parse("start=1&customer=Own").unwrap().scope,
            Some(Scope::Own(10))
        );
        let q = parse("start=1&column=PERSON&match=Contains&value=x&sort=Source").unwrap();
        assert_eq!(q.predicates[0].field, Field::Person);
        assert_eq!(q.predicates[0].mode, MatchMode::Contains);
        assert_eq!(q.sort.field, Field::Source);
        assert!(
            !parse("start=1&archive=0&descending=0")
                .unwrap()
                .sort
                .descending
        );
        // The same value twice is fine.
        assert!(parse("start=1&start=1").is_ok());
        // start = end is an empty range, not an error.
        assert!(parse("start=5&end=5").is_ok());
    }

    #[test]
    fn case_insensitive_column_match_applies() {
        let q = parse("start=1&column=person&value=ALICE").unwrap();
        let r = NewRecord::new(10).person("alice").into_record(1, ts(2));
        assert!(q.matches_filters(&r));
        let r = NewRecord::new(10).person("alicia").into_record(1, ts(2));
        assert!(!q.matches_filters(&r));
    }

    #[test]
    fn bad_parameters_are_400_naming_the_key() {
        assert_eq!(err(""), (400, "start".into()));
        assert_eq!(err("start="), (400, "start".into()));
        assert_eq!(err("start=abc"), (400, "start".into()));
        assert_eq!(err("start=1.5"), (400, "start".into()));
        assert_eq!(err("start=-5"), (400, "start".into()));
        assert_eq!(err("start=99999999999999"), (400, "start".into()));
        assert_eq!(err("start=1&end=x"), (400, "end".into()));
        assert_eq!(err("start=1&end=-2"), (400, "end".into()));
        assert_eq!(err("start=10&end=5"), (400, "start".into()));
        assert_eq!(
            err(&format!("start={}", NOW + 10)),
            (400, "start".into()),
            "start after now"
        );
        assert_eq!(err("start=1&archive=2"), (400, "archive".into()));
        assert_eq!(err("start=1&archive=yes"), (400, "archive".into()));
        assert_eq!(err("start=1&descending=true"), (400, "descending".into()));
        assert_eq!(err("start=1&column=args"), (400, "column".into()));
        assert_eq!(err("start=1&sort=refs"), (400, "sort".into()));
        assert_eq!(err("start=1&match=regex"), (400, "match".into()));
        assert_eq!(err("start=1&sort=bogus"), (400, "sort".into()));
        assert_eq!(err("start=1&customer=-1"), (400, "customer".into()));
        assert_eq!(err("start=1&customer=mine"), (400, "customer".into()));
        assert_eq!(err("start=1&limit=5"), (400, "limit".into()));
        assert_eq!(err("start=1&start=2"), (400, "start".into()));
        let e = parse("start=1&column=nope").unwrap_err();
        assert!(e.message.contains("person"), "{}", e.message);
    }

    #[test]
    fn tenancy_decisions() {
        let audit = user(10, &[Role::Audit]);
        // Role checks.
        let e = parse_as(&user(10, &[Role::Owner]), "start=1").unwrap_err();
        assert_eq!((e.status, e.key.as_str()), (402, ""));
        let e = parse_as(&user(10, &[]), "").unwrap_err();
        assert_eq!(e.status, 402, "no audit role: 402 before parameter checks");
        let e = parse_as(&audit, "start=1&archive=1").unwrap_err();
        assert_eq!((e.status, e.key.as_str()), (402, "archive"));
        // Own customer and descendants are allowed; others are not.
        assert!(parse_as(&audit, "start=1&customer=100").is_ok());
        for other in ["1", "11", "2", "999"] {
            let e = parse_as(&audit, &format!("start=1&customer={other}")).unwrap_err();
            assert_eq!(
                (e.status, e.key.as_str()),
                (402, "customer"),
                "customer {other}"
            );
        }
        // The top-level customer reaches everything under it.
        let top = user(1, &[Role::Audit]);
        assert!(parse_as(&top, "start=1&customer=100").is_ok());
        assert!(parse_as(&top, "start=1&customer=2").is_err());
        // system: only a top-level customer.
        assert_eq!(
            parse_as(&top, "start=1&customer=system").unwrap().scope,
            Some(Scope::System)
        );
        let e = parse_as(&audit, "start=1&customer=system").unwrap_err();
        assert_eq!((e.status, e.key.as_str()), (402, "customer"));
        // An unknown customer has no parent: it is top-level.
        assert!(parse_as(&user(555, &[Role::Audit]), "start=1&customer=system").is_ok());
        // all / recursive never leave the user's subtree.
        assert_eq!(
            parse_as(&audit, "start=1&customer=all").unwrap().scope,
            Some(Scope::Children(10))
        );
    }

    #[test]
    fn credentials_are_required() {
        let p = |s: &str| {
            Params::parse_urlencoded(
                s.as_bytes(),
                Separators::AmpersandOrSemicolon,
                Limits::default(),
            )
            .unwrap()
        };
        let (u, pw) = credentials(&p("auth_username=bob;auth_password=x%3By")).unwrap();
        assert_eq!((u.as_str(), pw.expose()), ("bob", "x;y"));
        assert_eq!(
            credentials(&p("auth_username=bob")).unwrap_err().status,
            401
        );
        assert_eq!(credentials(&p("auth_password=x")).unwrap_err().status, 401);
        assert_eq!(
            credentials(&p("auth_username=&auth_password=x"))
                .unwrap_err()
                .status,
            401
        );
        assert_eq!(
            credentials(&p("auth_username=a&auth_username=b&auth_password=x"))
                .unwrap_err()
                .status,
            401
        );
    }

    #[test]
    fn envelope_rows_and_errors() {
        let r = NewRecord::new(42)
            .person("admin \"7\"")
            .source("203.0.113.5")
            .action("change")
            .object("user")
            .object_id("55")
            .name("Alice")
            .field("email")
            .old("a@x")
            .new_value("b@x")
            .refs(["r1"])
            .into_record(9, Timestamp::from_micros(1_234_567_890_999_999).unwrap());
        let row: serde_json::Value = serde_json::from_str(&row_json(&r)).unwrap();
        assert_eq!(
            row,
            serde_json::json!({"id":9,"time":1234567890,"customer":42,"person":"admin \"7\"",
                "source":"203.0.113.5","action":"change","object":"user","object_id":"55",
                "name":"Alice","field":"email","old":"a@x","new":"b@x"})
        );
        let mut body = envelope_head().as_bytes().to_vec();
        let mut w = RowWriter::new();
        w.push(&mut body, &r);
        w.push(&mut body, &r);
        body.extend_from_slice(envelope_tail().as_bytes());
        assert_eq!(w.count(), 2);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["responses"],
            serde_json::json!([{"code":"200","key":"","message":"OK"}])
        );
        assert_eq!(v["data"].as_array().unwrap().len(), 2);

        let e = EnswitchError::bad_request("start", "start is \"required\".");
        let v: serde_json::Value = serde_json::from_str(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"responses":[{"code":"400","key":"start","message":"start is \"required\"."}],"data":[]})
        );
        let e = EnswitchError::too_many_rows(2_000_000, DEFAULT_ROW_CAP);
        assert_eq!((e.status, e.key.as_str()), (400, "end"));
        assert!(e.message.contains("1000000") && e.message.contains("narrower"));
        let v: serde_json::Value =
            serde_json::from_str(&EnswitchError::unauthorized().body()).unwrap();
        assert_eq!(v["responses"][0]["code"], "401");
        let v: serde_json::Value =
            serde_json::from_str(&EnswitchError::forbidden("customer", "no").body()).unwrap();
        assert_eq!(v["responses"][0]["code"], "402");
    }
}
