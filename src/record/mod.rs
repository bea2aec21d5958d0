//! The audit record (SPEC section 1): its Rust types, its JSON form and its
//! validation limits.
//!
//! Owns what a record is and what makes one acceptable. It never touches
//! files; the binary encoding lives in [`crate::format::codec`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};
use crate::format::codec::StoredRecord;
use crate::time::Timestamp;

mod canonical;
mod parse;

pub use parse::NewRecordRef;

/// Longest accepted string field, in bytes (64 KiB).
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most entries accepted in `refs`.
pub const MAX_REFS: usize = 64;
/// Largest accepted encoded record, in bytes (1 MiB).
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// A JSON value kept as its compact text (`args` and `result`).
///
/// Stored and compared as text so that reading a record never re-parses
/// JSON; the JSON form embeds it verbatim.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Json(String);

/// Whether compact JSON text is `null`.
pub(crate) fn is_null_json(text: &str) -> bool {
    text == "null"
}

impl Json {
    /// Compacts a parsed JSON value.
    pub fn from_value(v: &serde_json::Value) -> Self {
        Json(v.to_string())
    }

    /// Parses JSON text, validating and compacting it.
    pub fn parse(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid("json", format!("not valid JSON: {e}")))?;
        Ok(Self::from_value(&v))
    }

    /// Wraps text already known to be compact, valid JSON (from the log).
    pub(crate) fn from_trusted(text: String) -> Self {
        Json(text)
    }

    /// The compact JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is JSON `null` (which the Voximplant views show
    /// as absent).
    pub fn is_null(&self) -> bool {
        is_null_json(&self.0)
    }

    /// Parses the text into a [`serde_json::Value`].
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match serde_json::value::RawValue::from_string(self.0.clone()) {
            Ok(raw) => raw.serialize(s),
            Err(e) => Err(serde::ser::Error::custom(e)),
        }
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Ok(Json::from_value(&v))
    }
}

/// One stored audit record, as returned by queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Assigned by the engine at append; strictly increasing, never reused.
    pub id: u64,
    /// When the action happened (UTC, microseconds).
    #[serde(serialize_with = "ser_time")]
    pub time: Timestamp,
    /// The tenant the action belongs to.
    pub customer: u64,
    /// Who acted.
    pub person: String,
    /// Where from (an IP address or an interface name).
    pub source: String,
    /// What was done.
    pub action: String,
    /// The kind of object acted on.
    pub object: String,
    /// The id of the object acted on.
    pub object_id: String,
    /// The object's display name.
    pub name: String,
    /// The field that changed.
    pub field: String,
    /// Value before.
    pub old: String,
    /// Value after.
    pub new: String,
    /// Further related entity ids.
    pub refs: Vec<String>,
    /// The command's arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub args: Option<Json>,
    /// The command's result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<Json>,
}

fn ser_time<S: Serializer>(t: &Timestamp, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

impl Record {
    /// The native JSON form (one line, no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The record without its id, for appending elsewhere.
    pub fn to_new(&self) -> NewRecord {
        NewRecord {
            time: Some(self.time),
            customer: self.customer,
            person: self.person.clone(),
            source: self.source.clone(),
            action: self.action.clone(),
            object: self.object.clone(),
            object_id: self.object_id.clone(),
            name: self.name.clone(),
            field: self.field.clone(),
            old: self.old.clone(),
            new: self.new.clone(),
            refs: self.refs.clone(),
            args: self.args.clone(),
            result: self.result.clone(),
        }
    }
}

/// A record to append: everything but the id, which the engine assigns.
///
/// ```
/// use auditlog::NewRecord;
/// let r = NewRecord::new(42).person("admin_7").action("CreateUser").object("user");
/// assert_eq!(r.customer, 42);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRecord {
    /// When it happened; `None` means the append time.
    pub time: Option<Timestamp>,
    /// The tenant (required).
    pub customer: u64,
    /// Who acted.
    pub person: String,
    /// Where from.
    pub source: String,
    /// What was done.
    pub action: String,
    /// The kind of object.
    pub object: String,
    /// The object's id.
    pub object_id: String,
    /// The object's display name.
    pub name: String,
    /// The field that changed.
    pub field: String,
    /// Value before.
    pub old: String,
    /// Value after.
    pub new: String,
    /// Related entity ids.
    pub refs: Vec<String>,
    /// Command arguments.
    pub args: Option<Json>,
    /// Command result.
    pub result: Option<Json>,
}

macro_rules! setters {
    ($($fname:ident => $name:ident),*) => {$(
        #[doc = concat!("Sets `", stringify!($name), "`.")]
        #[must_use]
        pub fn $fname(mut self, v: impl Into<String>) -> Self {
            self.$name = v.into();
            self
        }
    )*};
}

impl NewRecord {
    /// A record for `customer` with every other field empty.
    pub fn new(customer: u64) -> Self {
        NewRecord {
            customer,
            ..Default::default()
        }
    }

    setters!(person => person, source => source, action => action, object => object,
        object_id => object_id, name => name, field => field, old => old, new_value => new);

    /// Sets `time`.
    #[must_use]
    pub fn time(mut self, t: Timestamp) -> Self {
        self.time = Some(t);
        self
    }

    /// Sets `refs`.
    #[must_use]
    pub fn refs<I: IntoIterator<Item = S>, S: Into<String>>(mut self, refs: I) -> Self {
        self.refs = refs.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `args`.
    #[must_use]
    pub fn args(mut self, v: serde_json::Value) -> Self {
        self.args = Some(Json::from_value(&v));
        self
    }

    /// Sets `result`.
    #[must_use]
    pub fn result(mut self, v: serde_json::Value) -> Self {
        self.result = Some(Json::from_value(&v));
        self
    }

    /// Parses one NDJSON line in the ingest form of SPEC section 1.
    ///
    /// Unknown fields, an `id`, wrong types and oversize values are errors
    /// naming the field. (Bulk ingest can skip the copies:
    /// [`NewRecordRef::from_json`] borrows from the line.)
    pub fn from_json(line: &str) -> Result<Self> {
        NewRecordRef::from_json(line).map(NewRecordRef::into_owned)
    }

    /// Checks the limits of SPEC section 1 (string lengths, `refs` count,
    /// time range). The encoded-size limit is checked at encoding.
    pub fn validate(&self) -> Result<()> {
        validate_fields(
            text_fields!(self),
            &self.refs,
            [
                ("args", self.args.as_ref().map(Json::as_str)),
                ("result", self.result.as_ref().map(Json::as_str)),
            ],
            self.time,
        )
    }

    /// The stored record this becomes with `id` and a resolved time.
    pub fn into_record(self, id: u64, now: Timestamp) -> Record {
        Record {
            id,
            time: self.time.unwrap_or(now),
            customer: self.customer,
            person: self.person,
            source: self.source,
            action: self.action,
            object: self.object,
            object_id: self.object_id,
            name: self.name,
            field: self.field,
            old: self.old,
            new: self.new,
            refs: self.refs,
            args: self.args,
            result: self.result,
        }
    }
}

/// The nine text fields of a record to append (`NewRecord` or
/// `NewRecordRef`), named, as `&str`s.
macro_rules! text_fields {
    ($r:expr) => {
        [
            ("person", &*$r.person),
            ("source", &*$r.source),
            ("action", &*$r.action),
            ("object", &*$r.object),
            ("object_id", &*$r.object_id),
            ("name", &*$r.name),
            ("field", &*$r.field),
            ("old", &*$r.old),
            ("new", &*$r.new),
        ]
    };
}
use text_fields;

/// The limits of SPEC section 1 over a record's parts (string lengths,
/// `refs` count, `args`/`result` size, time range). The encoded-size limit
/// is checked at encoding.
fn validate_fields<S: AsRef<str>>(
    strings: [(&str, &str); 9],
    refs: &[S],
    json: [(&str, Option<&str>); 2],
    time: Option<Timestamp>,
) -> Result<()> {
    for (name, v) in strings {
        if v.len() > MAX_STRING_BYTES {
            return Err(Error::record(
                name,
                format!("{} bytes is over the limit of {MAX_STRING_BYTES}", v.len()),
            ));
        }
    }
    if refs.len() > MAX_REFS {
        return Err(Error::record(
            "refs",
            format!("{} entries is over the limit of {MAX_REFS}", refs.len()),
        ));
    }
    for r in refs {
        let r = r.as_ref();
        if r.len() > MAX_STRING_BYTES {
            return Err(Error::record(
                "refs",
                format!(
                    "an entry of {} bytes is over the limit of {MAX_STRING_BYTES}",
                    r.len()
                ),
            ));
        }
    }
    for (name, j) in json {
        if let Some(j) = j {
            if j.len() > MAX_RECORD_BYTES {
                return Err(Error::record(
                    name,
                    format!(
                        "{} bytes is over the record limit of {MAX_RECORD_BYTES}",
                        j.len()
                    ),
                ));
            }
        }
    }
    if let Some(t) = time {
        Timestamp::from_micros(t.as_micros()).map_err(|e| Error::record("time", e.to_string()))?;
    }
    Ok(())
}

/// A record the engine can append: [`NewRecord`], or [`NewRecordRef`]
/// borrowed from the text it was parsed from. Sealed: implemented only here.
pub trait Appendable: sealed::Sealed {
    /// Checks the limits of SPEC section 1.
    fn check(&self) -> Result<()>;
    /// The record as it will be encoded, as record `id` (`now` when it has
    /// no time); `refs` is a vector to reuse for the `refs` field.
    fn stored<'s>(&'s self, id: u64, now: Timestamp, refs: Vec<&'s str>) -> StoredRecord<'s>;
}

mod sealed {
    /// Keeps [`super::Appendable`] implemented by this crate only.
    pub trait Sealed {}
    impl Sealed for super::NewRecord {}
    impl Sealed for super::NewRecordRef<'_> {}
    impl<T: Sealed + ?Sized> Sealed for &T {}
}

/// Records appended by reference stay the caller's (to retry after a
/// failed append, or to keep using them) and are not freed by the append.
impl<T: Appendable + ?Sized> Appendable for &T {
    fn check(&self) -> Result<()> {
        (**self).check()
    }

    fn stored<'s>(&'s self, id: u64, now: Timestamp, refs: Vec<&'s str>) -> StoredRecord<'s> {
        (**self).stored(id, now, refs)
    }
}

impl Appendable for NewRecord {
    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn stored<'s>(&'s self, id: u64, now: Timestamp, refs: Vec<&'s str>) -> StoredRecord<'s> {
        StoredRecord::from_new(self, id, now, refs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example() {
        let line = r#"{"time":"2026-11-01T12:00:00.123456Z","customer":42,"person":"admin_7",
 "source":"203.0.113.5","action":"CreateUser","object":"user","object_id":"55",
 "name":"Alice","field":"email","old":"a@example.com","new":"b@example.com",
 "refs":["74951234567"],"args":{"user_name":"alice"},"result":{"user_id":55}}"#;
        let r = NewRecord::from_json(line).unwrap();
        assert_eq!(r.customer, 42);
        assert_eq!(
            r.args.as_ref().unwrap().as_str(),
            r#"{"user_name":"alice"}"#
        );
        let rec = r.into_record(1, Timestamp::now());
        assert_eq!(
            rec.to_json(),
            r#"{"id":1,"time":"2026-11-01T12:00:00.123456Z","customer":42,"person":"admin_7","source":"203.0.113.5","action":"CreateUser","object":"user","object_id":"55","name":"Alice","field":"email","old":"a@example.com","new":"b@example.com","refs":["74951234567"],"args":{"user_name":"alice"},"result":{"user_id":55}}"#
        );
    }

    #[test]
    fn rejects_bad_input_naming_the_field() {
        for line in [r#"{"customer":1,"id":5}"#, r#"{"customer":1,"id":null}"#] {
            let e = NewRecord::from_json(line).unwrap_err();
            assert!(e.to_string().contains("`id`"), "{line}: {e}");
        }
        let e = NewRecord::from_json(r#"{"person":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("customer"), "{e}");
        let e = NewRecord::from_json(r#"{"customer":1,"persn":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("persn"), "{e}");
        let e = NewRecord::from_json(r#"{"customer":"x"}"#).unwrap_err();
        assert!(e.to_string().contains("customer"), "{e}");
        let e =
            NewRecord::from_json(r#"{"customer":1,"time":"1960-01-01T00:00:00Z"}"#).unwrap_err();
        assert!(e.to_string().contains("`time`"), "{e}");
        let big = "x".repeat(MAX_STRING_BYTES + 1);
        let e = NewRecord::from_json(&format!(r#"{{"customer":1,"name":"{big}"}}"#)).unwrap_err();
        assert!(e.to_string().contains("`name`"), "{e}");
        let refs: Vec<String> = (0..65).map(|i| format!("\"{i}\"")).collect();
        let e = NewRecord::from_json(&format!(r#"{{"customer":1,"refs":[{}]}}"#, refs.join(",")))
            .unwrap_err();
        assert!(e.to_string().contains("`refs`"), "{e}");
    }

    #[test]
    fn integer_time_is_unix_seconds() {
        let r = NewRecord::from_json(r#"{"customer":1,"time":1234567890}"#).unwrap();
        assert_eq!(r.time.unwrap().unix_seconds(), 1_234_567_890);
    }
}
