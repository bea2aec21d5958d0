//! The ingest form of a record (SPEC section 1) read from one line of
//! NDJSON, borrowing its text from the line: [`NewRecordRef`].
//!
//! This is the one parser of the ingest form: [`NewRecord::from_json`] is
//! this parse followed by [`NewRecordRef::into_owned`]. Bulk ingest (the
//! CLI, the HTTP ingest endpoint) appends the borrowed records directly, so
//! a line's strings are never copied before they are encoded, and `args`
//! and `result` that are already compact JSON are stored as they came.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::canonical::canonical;
use super::{text_fields, validate_fields, Appendable, Json, NewRecord};
use crate::error::{Error, Result};
use crate::format::codec::{self, StoredRecord};
use crate::query::Field;
use crate::time::Timestamp;

/// A record to append whose text borrows from the line it was parsed from
/// (strings with JSON escapes, and `args`/`result` that were not compact,
/// are owned). Append it with [`crate::AuditLog::append_batch`] like a
/// [`NewRecord`].
///
/// ```
/// use auditlog::record::NewRecordRef;
/// let line = r#"{"customer":42,"person":"admin_7","args":{"user_name":"alice"}}"#;
/// let r = NewRecordRef::from_json(line).unwrap();
/// assert_eq!(r.person, "admin_7");
/// assert_eq!(r.args.as_deref(), Some(r#"{"user_name":"alice"}"#));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRecordRef<'a> {
    /// When it happened; `None` means the append time.
    pub time: Option<Timestamp>,
    /// The tenant (required).
    pub customer: u64,
    /// Who acted.
    pub person: Cow<'a, str>,
    /// Where from.
    pub source: Cow<'a, str>,
    /// What was done.
    pub action: Cow<'a, str>,
    /// The kind of object.
    pub object: Cow<'a, str>,
    /// The object's id.
    pub object_id: Cow<'a, str>,
    /// The object's display name.
    pub name: Cow<'a, str>,
    /// The field that changed.
    pub field: Cow<'a, str>,
    /// Value before.
    pub old: Cow<'a, str>,
    /// Value after.
    pub new: Cow<'a, str>,
    /// Related entity ids.
    pub refs: Vec<Cow<'a, str>>,
    /// Command arguments, as compact JSON text (see [`Json`]).
    pub args: Option<Cow<'a, str>>,
    /// Command result, as compact JSON text.
    pub result: Option<Cow<'a, str>>,
}

impl<'a> NewRecordRef<'a> {
    /// Parses one NDJSON line in the ingest form of SPEC section 1.
    ///
    /// Unknown fields, an `id`, wrong types and oversize values are errors
    /// naming the field.
    pub fn from_json(line: &'a str) -> Result<Self> {
        let raw: RawNewRecord<'a> = serde_json::from_str(line).map_err(|e| diagnose(line, &e))?;
        if raw.id {
            return Err(Error::record(
                "id",
                "must be absent: ids are assigned by the engine",
            ));
        }
        let time = match raw.time {
            None => None,
            Some(RawTime::Seconds(s)) => Some(
                Timestamp::from_unix_seconds(s)
                    .map_err(|e| Error::record("time", e.to_string()))?,
            ),
            Some(RawTime::Text(t)) => Some(
                Timestamp::parse_rfc3339(&t).map_err(|e| Error::record("time", e.to_string()))?,
            ),
        };
        let json = |name: &str, v: Option<&'a RawValue>| -> Result<Option<Cow<'a, str>>> {
            v.map(|v| canonical(v.get()))
                .transpose()
                .map_err(|e| Error::record(name, format!("not valid JSON: {e}")))
        };
        let r = NewRecordRef {
            time,
            customer: raw.customer,
            person: raw.person,
            source: raw.source,
            action: raw.action,
            object: raw.object,
            object_id: raw.object_id,
            name: raw.name,
            field: raw.field,
            old: raw.old,
            new: raw.new,
            refs: raw.refs,
            args: json("args", raw.args)?,
            result: json("result", raw.result)?,
        };
        r.validate()?;
        Ok(r)
    }

    /// Checks the limits of SPEC section 1, like [`NewRecord::validate`].
    pub fn validate(&self) -> Result<()> {
        validate_fields(
            text_fields!(self),
            &self.refs,
            [
                ("args", self.args.as_deref()),
                ("result", self.result.as_deref()),
            ],
            self.time,
        )
    }

    /// Checks that the record's encoding stays within [`MAX_RECORD_BYTES`](super::MAX_RECORD_BYTES)
    /// (an append checks it too, but rejects the whole batch).
    pub fn check_size(&self) -> Result<()> {
        let mut out = Vec::new();
        // Its error names the field (`record`), the size and the limit.
        codec::encode_stored_into(&self.stored(u64::MAX, Timestamp::MIN, Vec::new()), &mut out)
    }

    /// The owned [`NewRecord`] with the same content.
    pub fn into_owned(self) -> NewRecord {
        NewRecord {
            time: self.time,
            customer: self.customer,
            person: self.person.into_owned(),
            source: self.source.into_owned(),
            action: self.action.into_owned(),
            object: self.object.into_owned(),
            object_id: self.object_id.into_owned(),
            name: self.name.into_owned(),
            field: self.field.into_owned(),
            old: self.old.into_owned(),
            new: self.new.into_owned(),
            refs: self.refs.into_iter().map(Cow::into_owned).collect(),
            args: self.args.map(|j| Json::from_trusted(j.into_owned())),
            result: self.result.map(|j| Json::from_trusted(j.into_owned())),
        }
    }
}

impl Appendable for NewRecordRef<'_> {
    fn check(&self) -> Result<()> {
        self.validate()
    }

    fn stored<'s>(&'s self, id: u64, now: Timestamp, mut refs: Vec<&'s str>) -> StoredRecord<'s> {
        refs.clear();
        refs.extend(self.refs.iter().map(|r| &**r));
        StoredRecord {
            id,
            time: self.time.unwrap_or(now).as_micros(),
            customer: self.customer,
            person: &self.person,
            source: &self.source,
            action: &self.action,
            object: &self.object,
            object_id: &self.object_id,
            name: &self.name,
            field: &self.field,
            old: &self.old,
            new: &self.new,
            refs,
            args: self.args.as_deref(),
            result: self.result.as_deref(),
        }
    }
}

/// Turns a serde error into one that names the offending field: the fast
/// typed parse failed, so look at the line as a generic JSON value.
fn diagnose(line: &str, e: &serde_json::Error) -> Error {
    use serde_json::Value;
    let v: Value = match serde_json::from_str(line) {
        Ok(v) => v,
        Err(e) => return Error::record("record", format!("malformed JSON: {e}")),
    };
    let Value::Object(map) = v else {
        return Error::record("record", "expected a JSON object");
    };
    let strings = Field::TEXT.map(Field::name);
    for (k, v) in &map {
        let ok = match k.as_str() {
            "id" => return Error::record("id", "must be absent: ids are assigned by the engine"),
            "customer" => v.as_u64().is_some(),
            "time" => v.is_string() || v.as_i64().is_some(),
            "refs" => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            "args" | "result" => true,
            s if strings.contains(&s) => v.is_string(),
            other => {
                return Error::record(
                    other,
                    format!(
                        "unknown field (expected time, customer, {}, refs, args, result)",
                        strings.join(", ")
                    ),
                )
            }
        };
        if !ok {
            let want = match k.as_str() {
                "customer" => "an unsigned integer",
                "time" => "an RFC 3339 string or integer unix seconds",
                "refs" => "an array of strings",
                _ => "a string",
            };
            return Error::record(k.clone(), format!("expected {want}, found {v}"));
        }
    }
    if !map.contains_key("customer") {
        return Error::record("customer", "missing (it is required)");
    }
    Error::record("record", e.to_string())
}

/// True for a key that is there, whatever its value (even `null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNewRecord<'a> {
    /// Whether the line has an `id` key at all (`"id": null` included).
    #[serde(default, deserialize_with = "present")]
    id: bool,
    #[serde(default, borrow)]
    time: Option<RawTime<'a>>,
    customer: u64,
    #[serde(default, borrow)]
    person: Cow<'a, str>,
    #[serde(default, borrow)]
    source: Cow<'a, str>,
    #[serde(default, borrow)]
    action: Cow<'a, str>,
    #[serde(default, borrow)]
    object: Cow<'a, str>,
    #[serde(default, borrow)]
    object_id: Cow<'a, str>,
    #[serde(default, borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    field: Cow<'a, str>,
    #[serde(default, borrow)]
    old: Cow<'a, str>,
    #[serde(default, borrow)]
    new: Cow<'a, str>,
    #[serde(default, borrow, deserialize_with = "borrowed_strs")]
    refs: Vec<Cow<'a, str>>,
    // `"args": null` is stored as JSON `null`, distinct from an absent
    // field, hence not a plain `Option` (which would read null as None).
    #[serde(default, borrow, deserialize_with = "some_raw")]
    args: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "some_raw")]
    result: Option<&'a RawValue>,
}

fn some_raw<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<&'de RawValue>, D::Error> {
    <&'de RawValue>::deserialize(d).map(Some)
}

/// A string borrowed from the input when it has no escapes.
struct BorrowedStr<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

fn borrowed_strs<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
            while let Some(BorrowedStr(s)) = seq.next_element()? {
                out.push(s);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

enum RawTime<'a> {
    Seconds(i64),
    Text(Cow<'a, str>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawTime<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawTime<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 string or integer unix seconds")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Self::Value, E> {
                Ok(RawTime::Seconds(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Self::Value, E> {
                i64::try_from(v)
                    .map(RawTime::Seconds)
                    .map_err(|_| E::custom("time is out of range"))
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                v: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(RawTime::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(RawTime::Text(Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_compact_json() {
        let line = r#"{"customer":1,"person":"ann","name":"a\"b","refs":["x","y\\z"],"args":{"a":1},"result":{"b":2, "a":1}}"#;
        let r = NewRecordRef::from_json(line).unwrap();
        assert!(matches!(r.person, Cow::Borrowed("ann")));
        assert_eq!(r.name, "a\"b");
        assert!(matches!(r.name, Cow::Owned(_)));
        assert!(matches!(r.refs[0], Cow::Borrowed("x")));
        assert_eq!(r.refs[1], "y\\z");
        assert!(matches!(r.args, Some(Cow::Borrowed(r#"{"a":1}"#))));
        // Not compact: stored as serde_json prints the value.
        assert_eq!(r.result.as_deref(), Some(r#"{"a":1,"b":2}"#));
    }

    #[test]
    fn null_args_are_kept_and_owned_form_is_the_same() {
        let line = r#"{"customer":1,"args":null,"time":"2026-01-02T03:04:05Z"}"#;
        let r = NewRecordRef::from_json(line).unwrap();
        assert_eq!(r.args.as_deref(), Some("null"));
        assert_eq!(r.result, None);
        let owned = NewRecord::from_json(line).unwrap();
        assert_eq!(r.into_owned(), owned);
    }

    #[test]
    fn oversize_encoding_is_reported() {
        let big = "x".repeat(60 * 1024);
        let fields: Vec<String> = crate::query::Field::TEXT
            .map(crate::query::Field::name)
            .iter()
            .map(|f| format!("\"{f}\":\"{big}\""))
            .collect();
        let line = format!(r#"{{"customer":1,{}}}"#, fields.join(","));
        let r = NewRecordRef::from_json(&line).unwrap();
        assert!(r.check_size().is_ok());
        let refs: Vec<String> = (0..64).map(|_| format!("\"{big}\"")).collect();
        let line = format!(r#"{{"customer":1,"refs":[{}]}}"#, refs.join(","));
        let r = NewRecordRef::from_json(&line).unwrap();
        let e = r.check_size().unwrap_err();
        assert!(e.to_string().contains("record"), "{e}");
    }
}
