//! The query model of SPEC section 2, shared by every interface.
//!
//! Owns what a query *is* (time range, customer scope, predicates, id set,
//! archive flag, sort, paging) and how one record is matched against it.
//! It never reads storage; planning and execution live beside it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::Record;
use crate::time::Timestamp;

/// Which customers a query covers (SPEC section 2, Enswitch `customer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Every customer on the system.
    System,
    /// Exactly this customer.
    Own(u64),
    /// The customers directly under this one (not itself). Enswitch `all`.
    Children(u64),
    /// Every customer under this one at any depth (not itself). Enswitch `recursive`.
    Descendants(u64),
}

/// A record field, as named in the JSON form, plus the pseudo-field
/// `relation` (`object_id` or any of `refs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `id`
    Id,
    /// `time`
    Time,
    /// `customer`
    Customer,
    /// `person`
    Person,
    /// `source`
    Source,
    /// `action`
    Action,
    /// `object`
    Object,
    /// `object_id`
    ObjectId,
    /// `name`
    Name,
    /// `field`
    Field,
    /// `old`
    Old,
    /// `new`
    New,
    /// `refs`
    Refs,
    /// `object_id` or any entry of `refs`.
    Relation,
    /// `args`
    Args,
    /// `result`
    Result,
}

impl Field {
    /// The nine single-valued text fields, in the native column order
    /// (between `customer` and `refs`).
    pub const TEXT: [Field; 9] = [
        Field::Person,
        Field::Source,
        Field::Action,
        Field::Object,
        Field::ObjectId,
        Field::Name,
        Field::Field,
        Field::Old,
        Field::New,
    ];

    /// Every field, in the native column order, then `relation`.
    pub const ALL: [Field; 16] = [
        Field::Id,
        Field::Time,
        Field::Customer,
        Field::Person,
        Field::Source,
        Field::Action,
        Field::Object,
        Field::ObjectId,
        Field::Name,
        Field::Field,
        Field::Old,
        Field::New,
        Field::Refs,
        Field::Args,
        Field::Result,
        Field::Relation,
    ];

    /// The field's name in the JSON form.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Time => "time",
            Field::Customer => "customer",
            Field::Person => "person",
            Field::Source => "source",
            Field::Action => "action",
            Field::Object => "object",
            Field::ObjectId => "object_id",
            Field::Name => "name",
            Field::Field => "field",
            Field::Old => "old",
            Field::New => "new",
            Field::Refs => "refs",
            Field::Relation => "relation",
            Field::Args => "args",
            Field::Result => "result",
        }
    }

    /// Whether a predicate may test this field.
    pub fn is_filterable(self) -> bool {
        !matches!(self, Field::Time | Field::Args | Field::Result)
    }

    /// Whether results may be sorted by this field.
    pub fn is_sortable(self) -> bool {
        !matches!(
            self,
            Field::Args | Field::Result | Field::Refs | Field::Relation
        )
    }

    /// The value of a single-valued string field of `r` (`None` for `id`,
    /// `time`, `customer`, `refs`, `relation`, `args`, `result`).
    pub fn str_of(self, r: &Record) -> Option<&str> {
        Some(match self {
            Field::Person => &r.person,
            Field::Source => &r.source,
            Field::Action => &r.action,
            Field::Object => &r.object,
            Field::ObjectId => &r.object_id,
            Field::Name => &r.name,
            Field::Field => &r.field,
            Field::Old => &r.old,
            Field::New => &r.new,
            _ => return None,
        })
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Field {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "field",
                    format!(
                        "unknown field {s:?} (expected one of: {})",
                        Field::ALL.map(Field::name).join(", ")
                    ),
                )
            })
    }
}

/// How a predicate compares a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// Equal.
    #[default]
    Exact,
    /// Starts with (prefix).
    Start,
    /// Ends with (suffix).
    End,
    /// Contains (substring).
    Contains,
}

impl MatchMode {
    /// The mode's name as the interfaces spell it.
    pub fn name(self) -> &'static str {
        match self {
            MatchMode::Exact => "exact",
            MatchMode::Start => "start",
            MatchMode::End => "end",
            MatchMode::Contains => "contains",
        }
    }
}

impl FromStr for MatchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "exact" => MatchMode::Exact,
            "start" => MatchMode::Start,
            "end" => MatchMode::End,
            "contains" => MatchMode::Contains,
            _ => {
                return Err(Error::invalid(
                    "match",
                    format!("unknown match mode {s:?} (expected exact, start, end or contains)"),
                ))
            }
        })
    }
}

/// One condition: `field` matches any of `values` under `mode`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Predicate {
    /// The field tested (filterable fields only).
    pub field: Field,
    /// How values are compared.
    pub mode: MatchMode,
    /// The record matches if any value matches (an empty list matches nothing).
    pub values: Vec<String>,
    /// ASCII case-insensitive comparison.
    #[serde(default)]
    pub case_insensitive: bool,
}

impl Predicate {
    /// A case-sensitive predicate with one value.
    pub fn new(field: Field, mode: MatchMode, value: impl Into<String>) -> Self {
        Predicate {
            field,
            mode,
            values: vec![value.into()],
            case_insensitive: false,
        }
    }

    /// A case-sensitive predicate with several values (any may match).
    pub fn any_of<I: IntoIterator<Item = S>, S: Into<String>>(
        field: Field,
        mode: MatchMode,
        values: I,
    ) -> Self {
        Predicate {
            field,
            mode,
            values: values.into_iter().map(Into::into).collect(),
            case_insensitive: false,
        }
    }

    /// The same predicate, matching ASCII case-insensitively.
    #[must_use]
    pub fn ignore_case(mut self) -> Self {
        self.case_insensitive = true;
        self
    }

    /// Checks the field is filterable.
    pub fn validate(&self) -> Result<()> {
        if !self.field.is_filterable() {
            return Err(Error::invalid(
                "field",
                format!("{} cannot be used in a predicate", self.field),
            ));
        }
        Ok(())
    }

    /// Whether one string matches any of the values.
    pub fn matches_str(&self, s: &str) -> bool {
        self.values
            .iter()
            .any(|v| match_one(self.mode, self.case_insensitive, s, v))
    }

    /// Whether the record satisfies this predicate.
    pub fn matches<R: RecordView + ?Sized>(&self, r: &R) -> bool {
        match self.field {
            Field::Id => self.matches_str(&r.id().to_string()),
            Field::Customer => self.matches_str(&r.customer().to_string()),
            Field::Refs => r.any_ref(&mut |x| self.matches_str(x)),
            Field::Relation => {
                self.matches_str(r.text(Field::ObjectId)) || r.any_ref(&mut |x| self.matches_str(x))
            }
            f => self.matches_str(r.text(f)),
        }
    }
}

/// Read access to a record's fields, owned or borrowed from the log.
pub trait RecordView {
    /// `id`
    fn id(&self) -> u64;
    /// `customer`
    fn customer(&self) -> u64;
    /// `time` in microseconds.
    fn time_micros(&self) -> i64;
    /// A single-valued string field (`""` for any other field).
    fn text(&self, f: Field) -> &str;
    /// Whether `f` holds for any entry of `refs`.
    fn any_ref(&self, f: &mut dyn FnMut(&str) -> bool) -> bool;
    /// The entries of `refs`, in order.
    fn refs_iter(&self) -> Box<dyn Iterator<Item = &str> + '_>;
    /// `args` as compact JSON text.
    fn args_json(&self) -> Option<&str>;
    /// `result` as compact JSON text.
    fn result_json(&self) -> Option<&str>;
    /// An owned copy.
    fn to_owned_record(&self) -> crate::Result<Record>;
}

impl RecordView for Record {
    fn id(&self) -> u64 {
        self.id
    }
    fn customer(&self) -> u64 {
        self.customer
    }
    fn time_micros(&self) -> i64 {
        self.time.as_micros()
    }
    fn text(&self, f: Field) -> &str {
        f.str_of(self).unwrap_or("")
    }
    fn any_ref(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.refs.iter().any(|r| f(r))
    }
    fn refs_iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.refs.iter().map(String::as_str))
    }
    fn args_json(&self) -> Option<&str> {
        self.args.as_ref().map(crate::record::Json::as_str)
    }
    fn result_json(&self) -> Option<&str> {
        self.result.as_ref().map(crate::record::Json::as_str)
    }
    fn to_owned_record(&self) -> crate::Result<Record> {
        Ok(self.clone())
    }
}

impl RecordView for crate::format::codec::StoredRecord<'_> {
    fn id(&self) -> u64 {
        self.id
    }
    fn customer(&self) -> u64 {
        self.customer
    }
    fn time_micros(&self) -> i64 {
        self.time
    }
    fn text(&self, f: Field) -> &str {
        match f {
            Field::Person => self.person,
            Field::Source => self.source,
            Field::Action => self.action,
            Field::Object => self.object,
            Field::ObjectId => self.object_id,
            Field::Name => self.name,
            Field::Field => self.field,
            Field::Old => self.old,
            Field::New => self.new,
            _ => "",
        }
    }
    fn any_ref(&self, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.refs.iter().any(|r| f(r))
    }
    fn refs_iter(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        Box::new(self.refs.iter().copied())
    }
    fn args_json(&self) -> Option<&str> {
        self.args
    }
    fn result_json(&self) -> Option<&str> {
        self.result
    }
    fn to_owned_record(&self) -> crate::Result<Record> {
        self.to_record()
    }
}

/// Compares `s` against `pattern` under a match mode.
pub fn match_one(mode: MatchMode, ci: bool, s: &str, pattern: &str) -> bool {
    let (s, p) = (s.as_bytes(), pattern.as_bytes());
    if ci {
        match mode {
            MatchMode::Exact => s.eq_ignore_ascii_case(p),
            MatchMode::Start => s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p),
            MatchMode::End => s.len() >= p.len() && s[s.len() - p.len()..].eq_ignore_ascii_case(p),
            MatchMode::Contains => {
                p.is_empty() || s.windows(p.len()).any(|w| w.eq_ignore_ascii_case(p))
            }
        }
    } else {
        match mode {
            MatchMode::Exact => s == p,
            MatchMode::Start => s.starts_with(p),
            MatchMode::End => s.ends_with(p),
            MatchMode::Contains => p.is_empty() || memchr_find(s, p),
        }
    }
}

fn memchr_find(h: &[u8], n: &[u8]) -> bool {
    // std's str::contains uses a two-way search; both are valid UTF-8.
    match (std::str::from_utf8(h), std::str::from_utf8(n)) {
        (Ok(h), Ok(n)) => h.contains(n),
        _ => h.windows(n.len()).any(|w| w == n),
    }
}

/// The order of results: a sortable field and a direction. Ties are
/// always broken by `id` in the same direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Sort {
    /// The sort field (default `time`).
    pub field: Field,
    /// Descending when true (default ascending).
    pub descending: bool,
}

impl Default for Sort {
    fn default() -> Self {
        Sort {
            field: Field::Time,
            descending: false,
        }
    }
}

/// A complete query. Build it with the `with_*` methods:
///
/// ```
/// use auditlog::query::{Query, Scope, Predicate, Field, MatchMode};
/// let q = Query::new()
///     .with_scope(Scope::Descendants(1))
///     .with_predicate(Predicate::new(Field::Person, MatchMode::Start, "adm").ignore_case())
///     .with_sort(Field::Name, true)
///     .with_limit(50);
/// assert_eq!(q.limit, Some(50));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Query {
    /// Inclusive lower bound on `time` (default: none).
    pub start: Option<Timestamp>,
    /// Exclusive upper bound on `time` (default: none).
    pub end: Option<Timestamp>,
    /// Customer scope (default: [`Scope::System`]).
    pub scope: Option<Scope>,
    /// All must hold.
    pub predicates: Vec<Predicate>,
    /// Only these ids (default: any).
    pub ids: Option<Vec<u64>>,
    /// Only records with an id at most this (a snapshot: reports fix it at
    /// creation so a resumed report writes the same rows; default: none).
    pub until_id: Option<u64>,
    /// Include records in archived segments (default: false).
    pub include_archived: bool,
    /// Order of results (default: time ascending).
    pub sort: Sort,
    /// At most this many rows (default: all).
    pub limit: Option<u64>,
    /// Skip this many rows first (default: 0).
    pub offset: u64,
    /// Start after this keyset position (from a previous page).
    pub cursor: Option<Cursor>,
}

impl Query {
    /// Everything, by time ascending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the time range `[start, end)`.
    #[must_use]
    pub fn with_range(mut self, start: Option<Timestamp>, end: Option<Timestamp>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Sets the customer scope.
    #[must_use]
    pub fn with_scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Adds a predicate.
    #[must_use]
    pub fn with_predicate(mut self, p: Predicate) -> Self {
        self.predicates.push(p);
        self
    }

    /// Restricts to an id set.
    #[must_use]
    pub fn with_ids(mut self, ids: Vec<u64>) -> Self {
        self.ids = Some(ids);
        self
    }

    /// Includes archived records.
    #[must_use]
    pub fn with_archived(mut self, yes: bool) -> Self {
        self.include_archived = yes;
        self
    }

    /// Sets the sort field and direction.
    #[must_use]
    pub fn with_sort(mut self, field: Field, descending: bool) -> Self {
        self.sort = Sort { field, descending };
        self
    }

    /// Sets the row limit.
    #[must_use]
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Sets the offset.
    #[must_use]
    pub fn with_offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Continues after a cursor returned by a previous page.
    #[must_use]
    pub fn with_cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// Checks the query is well formed: `start` not after `end`, sortable
    /// sort field, filterable predicate fields, cursor of the same sort.
    pub fn validate(&self) -> Result<()> {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s > e {
                return Err(Error::invalid(
                    "start",
                    format!("start {s} is after end {e}"),
                ));
            }
        }
        if !self.sort.field.is_sortable() {
            return Err(Error::invalid(
                "sort",
                format!("cannot sort by {}", self.sort.field),
            ));
        }
        for p in &self.predicates {
            p.validate()?;
        }
        if let Some(c) = &self.cursor {
            c.check()?;
            if c.sort != self.sort {
                return Err(Error::invalid(
                    "cursor",
                    "the cursor belongs to a query with another sort order",
                ));
            }
        }
        Ok(())
    }

    /// Whether `r` passes the time range, predicates and id set (the customer
    /// scope is resolved by the engine against its customer tree, and the
    /// archive flag by the segment a record lives in).
    pub fn matches_filters<R: RecordView + ?Sized>(&self, r: &R) -> bool {
        let t = r.time_micros();
        self.start.is_none_or(|s| t >= s.as_micros())
            && self.end.is_none_or(|e| t < e.as_micros())
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&r.id()))
            && self.until_id.is_none_or(|u| r.id() <= u)
            && self.predicates.iter().all(|p| p.matches(r))
    }
}

/// A position in a sorted result: the sort key and id of the last row
/// returned. Opaque to clients (see [`Cursor::encode`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The sort the cursor belongs to.
    pub sort: Sort,
    /// The sort key of the last row returned.
    pub key: SortKey,
    /// The id of the last row returned.
    pub id: u64,
}

/// The value a row sorts by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// `id`, `customer`, or `time` (microseconds).
    Int(i128),
    /// A string field, compared by UTF-8 bytes.
    Str(String),
}

impl SortKey {
    /// The key of `r` for sort field `f` (which must be sortable).
    pub fn of(f: Field, r: &Record) -> SortKey {
        match f {
            Field::Id => SortKey::Int(i128::from(r.id)),
            Field::Customer => SortKey::Int(i128::from(r.customer)),
            Field::Time => SortKey::Int(i128::from(r.time.as_micros())),
            other => SortKey::Str(other.str_of(r).unwrap_or_default().to_string()),
        }
    }
}

impl Sort {
    /// Orders two records by this sort (ties by id, same direction).
    pub fn compare(&self, a: &Record, b: &Record) -> std::cmp::Ordering {
        let ord = match self.field {
            Field::Id => a.id.cmp(&b.id),
            Field::Customer => a.customer.cmp(&b.customer).then(a.id.cmp(&b.id)),
            Field::Time => a.time.cmp(&b.time).then(a.id.cmp(&b.id)),
            f => f
                .str_of(a)
                .unwrap_or_default()
                .as_bytes()
                .cmp(f.str_of(b).unwrap_or_default().as_bytes())
                .then(a.id.cmp(&b.id)),
        };
        if self.descending {
            ord.reverse()
        } else {
            ord
        }
    }
}

const CURSOR_VERSION: u8 = 1;

impl Cursor {
    /// The cursor positioned after `r` under `sort`.
    pub fn after(sort: Sort, r: &Record) -> Self {
        Cursor {
            sort,
            key: SortKey::of(sort.field, r),
            id: r.id,
        }
    }

    /// Checks that the cursor is a position some row could have: a
    /// sortable field, a key of that field's kind (a number for `id`,
    /// `customer` and `time`, text for the others), and for `id` the key
    /// equal to the id. A cursor built by hand (or decoded from text made
    /// by hand: its checksum is no secret) that is none of these would
    /// page wrongly rather than fail.
    pub fn check(&self) -> Result<()> {
        let field = self.sort.field;
        let fits = field.is_sortable()
            && match (field, &self.key) {
                (Field::Id, SortKey::Int(k)) => *k == i128::from(self.id),
                (Field::Customer, SortKey::Int(k)) => u64::try_from(*k).is_ok(),
                (Field::Time, SortKey::Int(k)) => i64::try_from(*k).is_ok(),
                (Field::Id | Field::Customer | Field::Time, SortKey::Str(_)) => false,
                (_, SortKey::Str(_)) => true,
                (_, SortKey::Int(_)) => false,
            };
        if fits {
            Ok(())
        } else {
            Err(Error::invalid(
                "cursor",
                format!(
                    "not a position in a result sorted by {field}: its key {:?} cannot come from such a row",
                    self.key
                ),
            ))
        }
    }

    /// Whether `r` comes strictly after this position.
    pub fn is_before(&self, r: &Record) -> bool {
        let key = SortKey::of(self.sort.field, r);
        let ord = key.cmp(&self.key).then(r.id.cmp(&self.id));
        if self.sort.descending {
            ord == std::cmp::Ordering::Less
        } else {
            ord == std::cmp::Ordering::Greater
        }
    }

    /// An opaque URL-safe string (hex) carrying the position.
    pub fn encode(&self) -> String {
        let mut b = vec![CURSOR_VERSION];
        let fi = Field::ALL
            .iter()
            .position(|f| *f == self.sort.field)
            .unwrap_or(0);
        b.push(fi as u8);
        b.push(u8::from(self.sort.descending));
        b.extend_from_slice(&self.id.to_le_bytes());
        match &self.key {
            SortKey::Int(v) => {
                b.push(0);
                b.extend_from_slice(&v.to_le_bytes());
            }
            SortKey::Str(s) => {
                b.push(1);
                b.extend_from_slice(s.as_bytes());
            }
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Parses a string from [`Cursor::encode`].
    pub fn decode(s: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor", format!("{s:?} is not a cursor from this engine"));
        if !s.len().is_multiple_of(2) || s.len() > 2 * (crate::record::MAX_STRING_BYTES + 64) {
            return Err(bad());
        }
        // Hex digits only: `from_str_radix` alone would also take a sign
        // (`+0`), giving a second text for the same cursor.
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..s.len())
            .step_by(2)
            .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<_>>()
            .ok_or_else(bad)?;
        if bytes.len() < 16 {
            return Err(bad());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(bad());
        }
        let [ver, fi, desc, rest @ ..] = body else {
            return Err(bad());
        };
        if *ver != CURSOR_VERSION || rest.len() < 9 {
            return Err(bad());
        }
        let field = *Field::ALL.get(usize::from(*fi)).ok_or_else(bad)?;
        // Only the two bytes the encoder writes: one cursor, one text.
        let descending = match desc {
            0 => false,
            1 => true,
            _ => return Err(bad()),
        };
        let (idb, rest) = rest.split_at(8);
        let id = u64::from_le_bytes(idb.try_into().map_err(|_| bad())?);
        let (tag, kb) = rest.split_first().ok_or_else(bad)?;
        let key = match tag {
            0 => SortKey::Int(i128::from_le_bytes(kb.try_into().map_err(|_| bad())?)),
            1 => SortKey::Str(String::from_utf8(kb.to_vec()).map_err(|_| bad())?),
            _ => return Err(bad()),
        };
        let c = Cursor {
            sort: Sort { field, descending },
            key,
            id,
        };
        c.check().map_err(|_| bad())?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_modes() {
        assert!(match_one(MatchMode::Exact, true, "Alice", "aLICE"));
        assert!(!match_one(MatchMode::Exact, false, "Alice", "aLICE"));
        assert!(match_one(MatchMode::Start, false, "Alice", "Al"));
        assert!(match_one(MatchMode::End, true, "Alice", "CE"));
        assert!(match_one(MatchMode::Contains, false, "Alice", "lic"));
        assert!(!match_one(MatchMode::Contains, false, "Alice", "LIC"));
        assert!(match_one(MatchMode::Contains, true, "Alice", "LIC"));
        assert!(match_one(MatchMode::Exact, false, "", ""));
        assert!(!match_one(MatchMode::Start, true, "A", "Ab"));
    }

    #[test]
    fn query_serde_round_trip() {
        let q = Query::new()
            .with_range(
                Some(Timestamp::from_micros(5).unwrap()),
                Some(Timestamp::from_micros(9_000_000).unwrap()),
            )
            .with_scope(Scope::Descendants(7))
            .with_predicate(
                Predicate::any_of(Field::ObjectId, MatchMode::Contains, ["a", "b"]).ignore_case(),
            )
            .with_ids(vec![1, 2, 3])
            .with_sort(Field::Name, true)
            .with_limit(10)
            .with_offset(2)
            .with_cursor(Cursor {
                sort: Sort {
                    field: Field::Name,
                    descending: true,
                },
                key: SortKey::Str("x".into()),
                id: 4,
            });
        let text = serde_json::to_string(&q).unwrap();
        assert!(text.contains(r#""field":"object_id""#), "{text}");
        assert!(text.contains(r#""descendants":7"#), "{text}");
        assert_eq!(serde_json::from_str::<Query>(&text).unwrap(), q);
        let c = Cursor {
            sort: Sort::default(),
            key: SortKey::Int(i128::from(i64::MAX) + 1),
            id: 1,
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<Cursor>(&text).unwrap(), c);
        assert_eq!(serde_json::from_str::<Query>("{}").unwrap(), Query::new());
        assert!(serde_json::from_str::<Query>(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn cursor_round_trip_and_tamper() {
        let c = Cursor {
            sort: Sort {
                field: Field::Name,
                descending: true,
            },
            key: SortKey::Str("Zoë".into()),
            id: 77,
        };
        let s = c.encode();
        assert_eq!(Cursor::decode(&s).unwrap(), c);
        let mut t = s.clone().into_bytes();
        t[10] = if t[10] == b'0' { b'1' } else { b'0' };
        assert!(Cursor::decode(std::str::from_utf8(&t).unwrap()).is_err());
        assert!(Cursor::decode("zz").is_err());
    }

    #[test]
    fn cursors_no_row_could_give_are_refused() {
        let at = |field, key, id| Cursor {
            sort: Sort {
                field,
                descending: false,
            },
            key,
            id,
        };
        let good = [
            at(Field::Time, SortKey::Int(1_700_000_000_000_000), 5),
            at(Field::Id, SortKey::Int(5), 5),
            at(Field::Customer, SortKey::Int(42), 5),
            at(Field::Person, SortKey::Str("x".into()), 5),
        ];
        for c in good {
            c.check().unwrap();
            assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        }
        let bad = [
            at(Field::Time, SortKey::Str("m".into()), 1),
            at(Field::Id, SortKey::Int(6), 5),
            at(Field::Customer, SortKey::Int(-1), 5),
            at(Field::Person, SortKey::Int(3), 5),
            at(Field::Refs, SortKey::Str("x".into()), 5),
        ];
        for c in bad {
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains("cursor"), "{e}");
            assert!(Cursor::decode(&c.encode()).is_err(), "{c:?}");
            let q = Query::new()
                .with_sort(c.sort.field, false)
                .with_cursor(c.clone());
            assert!(q.validate().is_err(), "{c:?}");
        }
    }
}
