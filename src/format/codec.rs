//! The binary encoding of a record inside a frame (bincode 2, standard
//! configuration: little-endian, varint integers).
//!
//! Owns the mapping between [`Record`] and bytes. Pure: no I/O. Decoding
//! untrusted bytes never panics and never allocates more than the bytes
//! given justify (bincode's limit is 1 MiB; the `refs` count is not
//! trusted for preallocation).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::record::{Json, NewRecord, Record, MAX_RECORD_BYTES, MAX_REFS};
use crate::time::Timestamp;

/// The on-disk shape of a record, borrowing its strings for zero-copy reads.
#[derive(Serialize, Deserialize, Debug)]
pub struct StoredRecord<'a> {
    /// Record id.
    pub id: u64,
    /// Microseconds since the epoch.
    pub time: i64,
    /// Customer id.
    pub customer: u64,
    /// person
    #[serde(borrow)]
    pub person: &'a str,
    /// source
    #[serde(borrow)]
    pub source: &'a str,
    /// action
    #[serde(borrow)]
    pub action: &'a str,
    /// object
    #[serde(borrow)]
    pub object: &'a str,
    /// object_id
    #[serde(borrow)]
    pub object_id: &'a str,
    /// name
    #[serde(borrow)]
    pub name: &'a str,
    /// field
    #[serde(borrow)]
    pub field: &'a str,
    /// old
    #[serde(borrow)]
    pub old: &'a str,
    /// new
    #[serde(borrow)]
    pub new: &'a str,
    /// refs
    #[serde(borrow, deserialize_with = "refs")]
    pub refs: Vec<&'a str>,
    /// args as compact JSON text
    #[serde(borrow)]
    pub args: Option<&'a str>,
    /// result as compact JSON text
    #[serde(borrow)]
    pub result: Option<&'a str>,
}

/// Decodes `refs` without trusting the count in the bytes for the
/// allocation: serde would reserve up to 1 MiB for any claimed count, so a
/// few damaged bytes could cost a megabyte. Reserve at most what a valid
/// record holds ([`MAX_REFS`]); more entries grow the vector as they
/// actually decode (each takes at least one input byte).
fn refs<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<&'a str>, D::Error> {
    struct Refs<'a>(std::marker::PhantomData<&'a ()>);
    impl<'de: 'a, 'a> serde::de::Visitor<'de> for Refs<'a> {
        type Value = Vec<&'a str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence of strings")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_REFS));
            while let Some(s) = seq.next_element::<&'de str>()? {
                v.push(s);
            }
            Ok(v)
        }
    }
    d.deserialize_seq(Refs(std::marker::PhantomData))
}

/// The bincode configuration the hand-written encoder reproduces byte for
/// byte (its tests compare the two).
#[cfg(test)]
fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_RECORD_BYTES>()
}

/// The decoder's limit. A payload is at most [`MAX_RECORD_BYTES`] (the frame
/// length is checked first), and decoding borrows its strings from it, so
/// the decoder cannot allocate more than the payload's size anyway. Its
/// limit is only a second guard, and bincode counts a borrowed string's
/// bytes twice against it (once for the length it claims, once for the
/// bytes it reads): a limit of exactly [`MAX_RECORD_BYTES`] refused records
/// the encoder had accepted near that size. Twice the bound cannot be
/// reached by double counting a payload within it.
fn decode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<{ 2 * MAX_RECORD_BYTES }>()
}

impl<'a> StoredRecord<'a> {
    /// Borrows a record for encoding.
    pub fn from_record(r: &'a Record) -> Self {
        StoredRecord {
            id: r.id,
            time: r.time.as_micros(),
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
            refs: r.refs.iter().map(String::as_str).collect(),
            args: r.args.as_ref().map(Json::as_str),
            result: r.result.as_ref().map(Json::as_str),
        }
    }

    /// Borrows a record about to be appended as record `id` (`now` when it
    /// has no time), without building a [`Record`] first. `refs` is a
    /// vector to reuse for the `refs` field (cleared, then filled).
    pub fn from_new(nr: &'a NewRecord, id: u64, now: Timestamp, mut refs: Vec<&'a str>) -> Self {
        refs.clear();
        refs.extend(nr.refs.iter().map(String::as_str));
        StoredRecord {
            id,
            time: nr.time.unwrap_or(now).as_micros(),
            customer: nr.customer,
            person: &nr.person,
            source: &nr.source,
            action: &nr.action,
            object: &nr.object,
            object_id: &nr.object_id,
            name: &nr.name,
            field: &nr.field,
            old: &nr.old,
            new: &nr.new,
            refs,
            args: nr.args.as_ref().map(Json::as_str),
            result: nr.result.as_ref().map(Json::as_str),
        }
    }

    /// Decodes a frame payload without copying strings.
    pub fn decode(bytes: &'a [u8]) -> Result<Self> {
        let (r, used): (StoredRecord<'a>, usize) =
            bincode::serde::borrow_decode_from_slice(bytes, decode_config())
                .map_err(|e| Error::invalid("record bytes", e.to_string()))?;
        if used != bytes.len() {
            return Err(Error::invalid(
                "record bytes",
                format!("{} trailing bytes after the record", bytes.len() - used),
            ));
        }
        Ok(r)
    }

    /// Copies into an owned [`Record`].
    pub fn to_record(&self) -> Result<Record> {
        Ok(Record {
            id: self.id,
            time: Timestamp::from_micros(self.time)?,
            customer: self.customer,
            person: self.person.to_owned(),
            source: self.source.to_owned(),
            action: self.action.to_owned(),
            object: self.object.to_owned(),
            object_id: self.object_id.to_owned(),
            name: self.name.to_owned(),
            field: self.field.to_owned(),
            old: self.old.to_owned(),
            new: self.new.to_owned(),
            refs: self.refs.iter().map(|s| (*s).to_owned()).collect(),
            args: self.args.map(|s| Json::from_trusted(s.to_owned())),
            result: self.result.map(|s| Json::from_trusted(s.to_owned())),
        })
    }
}

/// Appends the encoding of `r` to `out`; errors when it exceeds
/// [`MAX_RECORD_BYTES`].
pub fn encode_into(r: &Record, out: &mut Vec<u8>) -> Result<()> {
    encode_stored_into(&StoredRecord::from_record(r), out)
}

/// Appends the encoding of a borrowed record to `out`; errors when it
/// exceeds [`MAX_RECORD_BYTES`].
///
/// Written by hand, byte for byte what bincode 2.0.1 produces for
/// [`StoredRecord`] under [`config`] (the tests compare the two): fields in
/// declaration order; integers as varints (a byte up to 250, else 251, 252
/// or 253 then 2, 4 or 8 little-endian bytes), `time` zigzagged first;
/// strings and `refs` as a varint length then their bytes or entries;
/// options as a byte 0 (none) or 1 then the value.
pub fn encode_stored_into(r: &StoredRecord<'_>, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    let strings = [
        r.person,
        r.source,
        r.action,
        r.object,
        r.object_id,
        r.name,
        r.field,
        r.old,
        r.new,
    ];
    // Room for everything but the refs in one reservation: 9 bytes per
    // varint at most.
    let opt = |o: Option<&str>| o.map_or(1, |s| 1 + 9 + s.len());
    let bound = 3 * 9
        + strings.iter().map(|s| 9 + s.len()).sum::<usize>()
        + 9
        + opt(r.args)
        + opt(r.result);
    out.reserve(bound);
    put_varint(out, r.id);
    put_varint(out, zigzag(r.time));
    put_varint(out, r.customer);
    for s in strings {
        put_str(out, s);
    }
    put_varint(out, r.refs.len() as u64);
    for s in &r.refs {
        put_str(out, s);
    }
    for o in [r.args, r.result] {
        match o {
            None => out.push(0),
            Some(s) => {
                out.push(1);
                put_str(out, s);
            }
        }
    }
    let n = out.len() - start;
    if n > MAX_RECORD_BYTES {
        out.truncate(start);
        return Err(Error::record(
            "record",
            format!("encoded size {n} bytes is over the limit of {MAX_RECORD_BYTES}"),
        ));
    }
    Ok(())
}

/// bincode's zigzag mapping of a signed integer.
#[inline]
fn zigzag(v: i64) -> u64 {
    if v < 0 {
        !(v as u64) * 2 + 1
    } else {
        (v as u64) * 2
    }
}

/// bincode's varint (standard configuration, little-endian).
#[inline]
fn put_varint(out: &mut Vec<u8>, v: u64) {
    if v <= 250 {
        out.push(v as u8);
    } else if v <= u64::from(u16::MAX) {
        out.push(251);
        out.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v <= u64::from(u32::MAX) {
        out.push(252);
        out.extend_from_slice(&(v as u32).to_le_bytes());
    } else {
        out.push(253);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

#[inline]
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Decodes an owned record from a frame payload.
pub fn decode(bytes: &[u8]) -> Result<Record> {
    StoredRecord::decode(bytes)?.to_record()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::NewRecord;

    #[test]
    fn round_trip() {
        let r = NewRecord::new(7)
            .person("bob")
            .name("Zoë")
            .refs(["a", "b"])
            .args(serde_json::json!({"x": [1, 2]}))
            .into_record(9, Timestamp::from_micros(123).unwrap());
        let mut buf = Vec::new();
        encode_into(&r, &mut buf).unwrap();
        assert_eq!(decode(&buf).unwrap(), r);
        assert!(decode(&buf[..buf.len() - 1]).is_err());
        let mut longer = buf.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn every_strict_prefix_is_rejected() {
        let r = NewRecord::new(3)
            .person("p")
            .refs(["r1"])
            .into_record(1, Timestamp::from_micros(5).unwrap());
        let mut buf = Vec::new();
        encode_into(&r, &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert!(
                decode(&buf[..cut]).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        // A huge claimed string length is refused without allocating it.
        let mut evil = buf[..3].to_vec();
        evil.extend_from_slice(&[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(decode(&evil).is_err());
    }
}

#[cfg(test)]
mod encoder_tests {
    use super::*;
    use crate::record::{NewRecord, MAX_STRING_BYTES};

    /// What bincode 2.0.1 itself produces (the reference for the
    /// hand-written encoder).
    fn bincode_bytes(r: &StoredRecord<'_>) -> Vec<u8> {
        bincode::serde::encode_to_vec(r, config()).unwrap()
    }

    fn check(r: &StoredRecord<'_>) {
        let want = bincode_bytes(r);
        let mut got = vec![0xAA];
        let res = encode_stored_into(r, &mut got);
        if want.len() > MAX_RECORD_BYTES {
            assert!(res.is_err());
            assert_eq!(got, vec![0xAA], "a refused record leaves nothing behind");
            return;
        }
        res.unwrap();
        assert_eq!(&got[1..], &want[..], "differs from bincode for {r:?}");
        // Whatever the encoder accepts decodes back, up to the limit.
        let back = StoredRecord::decode(&got[1..]).unwrap();
        assert_eq!(back.id, r.id);
        assert_eq!(back.args, r.args);
    }

    /// Integers around every varint boundary.
    fn ints() -> Vec<u64> {
        let mut v = vec![0, 1, 2, u64::MAX, u64::MAX - 1, i64::MAX as u64];
        for b in [250u64, 251, 252, 253, 254, 255, 256, 1 << 16, 1 << 32] {
            v.extend([b - 1, b, b + 1]);
        }
        v.extend([u64::from(u16::MAX), u64::from(u32::MAX)]);
        v
    }

    #[test]
    fn integers_match_bincode() {
        let mut times: Vec<i64> = vec![i64::MIN, i64::MIN + 1, i64::MAX, -1, 0];
        for x in ints() {
            let x = x.min(i64::MAX as u64) as i64;
            times.extend([x, -x, x.wrapping_sub(1), -(x / 2) - 1]);
        }
        for &id in &ints() {
            for &t in &times {
                let r = NewRecord::new(id ^ 0x5555).into_record(id, Timestamp::MIN);
                let mut sr = StoredRecord::from_record(&r);
                sr.time = t;
                check(&sr);
            }
        }
    }

    #[test]
    fn strings_refs_and_json_match_bincode() {
        let long = "x".repeat(MAX_STRING_BYTES);
        let lens = [0usize, 1, 250, 251, 252, 65_535, 65_536, 70_000];
        let strs: Vec<String> = lens
            .iter()
            .map(|&n| "é".repeat(n / 2) + &"a".repeat(n % 2))
            .chain(["Zoë ✓ 日本語 \u{1F600}".to_string(), String::new()])
            .collect();
        let mut n = 0u64;
        for s in &strs {
            for refs in [vec![], vec!["a"], vec!["", s.as_str(), "r"]] {
                for json in [None, Some("{}"), Some(r#"{"x":[1,2],"y":"z\"q"}"#)] {
                    n += 1;
                    let rec = NewRecord::new(n).into_record(n * 977, Timestamp::MIN);
                    let mut sr = StoredRecord::from_record(&rec);
                    sr.person = s;
                    sr.name = s;
                    sr.new = if n.is_multiple_of(2) { s } else { "" };
                    sr.refs = refs.clone();
                    sr.args = json;
                    sr.result = if n.is_multiple_of(3) { Some(s) } else { json };
                    check(&sr);
                }
            }
        }
        // Generated records with every field filled, and many refs.
        for (i, nr) in crate::workload::Workload::default()
            .records(2_000)
            .enumerate()
        {
            let r = nr
                .refs((0..i % 7).map(|k| format!("ref{k}")))
                .into_record(i as u64 * 1_000_003, Timestamp::now());
            check(&StoredRecord::from_record(&r));
        }
        // At the record limit, and just over it.
        let rec = NewRecord::new(1).into_record(1, Timestamp::MIN);
        let mut sr = StoredRecord::from_record(&rec);
        sr.person = &long;
        sr.source = &long;
        sr.action = &long;
        sr.object = &long;
        let big = "y".repeat(MAX_RECORD_BYTES);
        // With `args` of n bytes (a 5-byte varint length): base + 5 + n.
        let base = bincode_bytes(&sr).len() + 5;
        let room = MAX_RECORD_BYTES - base;
        for n in [room - 2, room - 1, room, room + 1, room + 2] {
            sr.args = Some(&big[..n]);
            check(&sr);
        }
    }
}

/// The fixed fields of an encoded record and the byte ranges of its nine
/// single-valued strings, read without validating or copying anything
/// (queries use it to reject most records before a full decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peek<'a> {
    /// Record id.
    pub id: u64,
    /// Microseconds since the epoch.
    pub time: i64,
    /// Customer id.
    pub customer: u64,
    /// person, source, action, object, object_id, name, field, old, new:
    /// raw bytes (not yet checked to be UTF-8).
    pub strings: [&'a [u8]; 9],
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let tag = *b.get(*pos)?;
    *pos += 1;
    let take = |pos: &mut usize, n: usize| -> Option<&[u8]> {
        let s = b.get(*pos..*pos + n)?;
        *pos += n;
        Some(s)
    };
    Some(match tag {
        0..=250 => u64::from(tag),
        251 => u64::from(u16::from_le_bytes(take(pos, 2)?.try_into().ok()?)),
        252 => u64::from(u32::from_le_bytes(take(pos, 4)?.try_into().ok()?)),
        253 => u64::from_le_bytes(take(pos, 8)?.try_into().ok()?),
        _ => return None,
    })
}

/// Reads the id, time, customer and string ranges of an encoded record
/// (the layout of `docs/format.md` section 3). `None` when the bytes do
/// not have that shape; a full [`decode`] then reports why.
pub fn peek(bytes: &[u8]) -> Option<Peek<'_>> {
    let mut pos = 0;
    let id = varint(bytes, &mut pos)?;
    let z = varint(bytes, &mut pos)?;
    let time = ((z >> 1) as i64) ^ -((z & 1) as i64);
    let customer = varint(bytes, &mut pos)?;
    let mut strings: [&[u8]; 9] = [&[]; 9];
    for s in &mut strings {
        let n = usize::try_from(varint(bytes, &mut pos)?).ok()?;
        *s = bytes.get(pos..pos.checked_add(n)?)?;
        pos += n;
    }
    Some(Peek {
        id,
        time,
        customer,
        strings,
    })
}

#[cfg(test)]
mod peek_tests {
    use super::*;
    use crate::record::NewRecord;

    #[test]
    fn peek_agrees_with_decode() {
        for (i, big) in [
            (1u64, 1usize),
            (300, 300),
            (70_000, 70_000 % 60_000),
            (u64::MAX / 3, 5),
        ] {
            let r = NewRecord::new(i.wrapping_mul(7))
                .person("p".repeat(big))
                .source("")
                .name("Zoë")
                .new_value("n")
                .refs(["x"])
                .into_record(
                    i,
                    Timestamp::from_micros(i64::try_from(i % 1_000_000_000).unwrap()).unwrap(),
                );
            let mut buf = Vec::new();
            encode_into(&r, &mut buf).unwrap();
            let p = peek(&buf).unwrap();
            let d = StoredRecord::decode(&buf).unwrap();
            assert_eq!((p.id, p.time, p.customer), (d.id, d.time, d.customer));
            let want = [
                d.person,
                d.source,
                d.action,
                d.object,
                d.object_id,
                d.name,
                d.field,
                d.old,
                d.new,
            ];
            for (a, b) in p.strings.iter().zip(want) {
                assert_eq!(*a, b.as_bytes());
            }
        }
        assert!(peek(&[]).is_none());
        assert!(peek(&[254]).is_none());
    }
}
