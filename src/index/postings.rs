//! Per-segment index data and its compact encoding: the offset and time
//! columns, and one sorted dictionary of values -> record ordinals per
//! indexed field. Pure: no I/O.
//!
//! Blob layout (all integers LE; varints are LEB128):
//! ```text
//! column blob   := count u32, values (u32 offsets | i64 times) ..., crc32 u32
//! postings blob := nvalues u32, { keylen varint, key bytes, nords varint,
//!                  ords as varint deltas (first absolute) } ..., crc32 u32
//! ```
//! Decoding checks the CRC first and every length against the blob's
//! size, so a damaged blob is an error, never a panic or a huge allocation.

use rustc_hash::FxHashMap as HashMap;

use super::field::FieldIndex;

/// The fields with postings, in blob-kind order.
pub const INDEXED: [IndexedField; 7] = [
    IndexedField::Customer,
    IndexedField::Person,
    IndexedField::Source,
    IndexedField::Action,
    IndexedField::Object,
    IndexedField::ObjectId,
    IndexedField::Refs,
];

/// A field that has postings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexedField {
    /// `customer` (keys are decimal strings).
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
    /// each entry of `refs`
    Refs,
}

impl IndexedField {
    /// Position in [`INDEXED`].
    pub fn slot(self) -> usize {
        self as usize
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn seal(mut out: Vec<u8>) -> Vec<u8> {
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Checks and strips the CRC trailer.
fn unseal(b: &[u8]) -> Option<&[u8]> {
    let (body, crc) = b.split_at(b.len().checked_sub(4)?);
    (crc32fast::hash(body).to_le_bytes() == crc).then_some(body)
}

/// Encodes the offsets column.
pub fn encode_u32s(v: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + v.len() * 4 + 4);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    seal(out)
}

/// Decodes the offsets column.
pub fn decode_u32s(b: &[u8]) -> Option<Vec<u32>> {
    let body = unseal(b)?;
    let n = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let rest = body.get(4..)?;
    if rest.len() != n.checked_mul(4)? {
        return None;
    }
    Some(
        rest.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// Encodes the times column.
pub fn encode_i64s(v: &[i64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + v.len() * 8 + 4);
    out.extend_from_slice(&(v.len() as u32).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    seal(out)
}

/// Decodes the times column.
pub fn decode_i64s(b: &[u8]) -> Option<Vec<i64>> {
    let body = unseal(b)?;
    let n = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
    let rest = body.get(4..)?;
    if rest.len() != n.checked_mul(8)? {
        return None;
    }
    Some(
        rest.chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
    )
}

/// Encodes a value -> ordinals map as a sorted postings blob.
pub fn encode_postings(map: &HashMap<Box<str>, Vec<u32>>) -> Vec<u8> {
    let mut keys: Vec<(&Box<str>, &Vec<u32>)> = map.iter().collect();
    keys.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::new();
    out.extend_from_slice(&(keys.len() as u32).to_le_bytes());
    for (k, ords) in keys {
        put_entry(&mut out, k, ords);
    }
    seal(out)
}

/// Encodes an active segment's field as a postings blob (the same bytes
/// [`encode_postings`] gives for the same values and ordinals).
pub fn encode_field(f: &FieldIndex) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    let mut n = 0u32;
    f.for_each_sorted(|key, ords| {
        n += 1;
        put_entry(&mut out, key, ords);
    });
    out[..4].copy_from_slice(&n.to_le_bytes());
    seal(out)
}

fn put_entry(out: &mut Vec<u8>, key: &str, ords: &[u32]) {
    put_varint(out, key.len() as u64);
    out.extend_from_slice(key.as_bytes());
    put_varint(out, ords.len() as u64);
    let mut prev = 0u32;
    for (i, &o) in ords.iter().enumerate() {
        put_varint(out, u64::from(if i == 0 { o } else { o - prev }));
        prev = o;
    }
}

/// A decoded postings blob: the keys are located, the ordinals decoded on
/// demand.
#[derive(Debug, Default)]
pub struct Postings {
    body: Vec<u8>,
    /// (key start, key len, ords start, ords count) per value, sorted by key.
    entries: Vec<(u32, u32, u32, u32)>,
}

impl Postings {
    /// Parses a blob (checking its CRC and every length).
    pub fn decode(b: &[u8]) -> Option<Postings> {
        let body = unseal(b)?;
        let n = u32::from_le_bytes(body.get(..4)?.try_into().ok()?) as usize;
        let mut entries = Vec::with_capacity(n.min(body.len()));
        let mut pos = 4usize;
        for _ in 0..n {
            let klen = usize::try_from(get_varint(body, &mut pos)?).ok()?;
            let kstart = pos;
            body.get(kstart..kstart.checked_add(klen)?)?;
            std::str::from_utf8(&body[kstart..kstart + klen]).ok()?;
            pos = kstart + klen;
            let count = usize::try_from(get_varint(body, &mut pos)?).ok()?;
            let ostart = pos;
            for _ in 0..count {
                get_varint(body, &mut pos)?;
            }
            entries.push((
                u32::try_from(kstart).ok()?,
                u32::try_from(klen).ok()?,
                u32::try_from(ostart).ok()?,
                u32::try_from(count).ok()?,
            ));
        }
        if pos != body.len() {
            return None;
        }
        Some(Postings {
            body: body.to_vec(),
            entries,
        })
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The key of entry `i`.
    pub fn key(&self, i: usize) -> &str {
        let (ks, kl, _, _) = self.entries[i];
        std::str::from_utf8(&self.body[ks as usize..(ks + kl) as usize]).unwrap_or("")
    }

    /// Number of ordinals of entry `i`.
    pub fn count(&self, i: usize) -> usize {
        self.entries[i].3 as usize
    }

    /// Entry index of an exact key.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.entries
            .binary_search_by(|&(ks, kl, _, _)| {
                self.body[ks as usize..(ks + kl) as usize].cmp(key.as_bytes())
            })
            .ok()
    }

    /// Entries whose key starts with `prefix` (a contiguous range).
    pub fn prefix_range(&self, prefix: &str) -> std::ops::Range<usize> {
        let p = prefix.as_bytes();
        let lo = self
            .entries
            .partition_point(|&(ks, kl, _, _)| &self.body[ks as usize..(ks + kl) as usize] < p);
        let hi = lo
            + self.entries[lo..]
                .iter()
                .take_while(|&&(ks, kl, _, _)| {
                    self.body[ks as usize..(ks + kl) as usize].starts_with(p)
                })
                .count();
        lo..hi
    }

    /// Appends the ordinals of entry `i` to `out`.
    pub fn ords_into(&self, i: usize, out: &mut Vec<u32>) {
        let (_, _, os, n) = self.entries[i];
        let mut pos = os as usize;
        let mut prev = 0u32;
        for j in 0..n {
            let d = get_varint(&self.body, &mut pos).unwrap_or(0) as u32;
            prev = if j == 0 { d } else { prev.wrapping_add(d) };
            out.push(prev);
        }
    }

    /// Bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.body.len() + self.entries.len() * 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postings_round_trip_and_damage() {
        let mut m: HashMap<Box<str>, Vec<u32>> = HashMap::default();
        m.insert("bob".into(), vec![1, 5, 300, 70000]);
        m.insert("alice".into(), vec![0]);
        m.insert("al".into(), vec![2, 3]);
        m.insert("".into(), vec![4]);
        let b = encode_postings(&m);
        let p = Postings::decode(&b).unwrap();
        assert_eq!(p.len(), 4);
        let i = p.find("bob").unwrap();
        let mut v = Vec::new();
        p.ords_into(i, &mut v);
        assert_eq!(v, vec![1, 5, 300, 70000]);
        let r = p.prefix_range("al");
        assert_eq!(r.len(), 2);
        assert_eq!(p.key(r.start), "al");
        assert!(p.find("carol").is_none());
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert!(Postings::decode(&bad).is_none(), "flip at {i} accepted");
        }
        assert!(Postings::decode(&b[..b.len() - 1]).is_none());
        let mut f = FieldIndex::default();
        for (o, k) in [
            (0, "alice"),
            (1, "bob"),
            (2, "al"),
            (3, "al"),
            (4, ""),
            (5, "bob"),
        ] {
            f.add(k, o);
        }
        for o in [300, 70000] {
            f.add("bob", o);
        }
        let mut m2 = m.clone();
        m2.insert("bob".into(), vec![1, 5, 300, 70000]);
        assert_eq!(encode_field(&f), encode_postings(&m2));
    }

    #[test]
    fn columns_round_trip() {
        let o = vec![32u32, 100, 400];
        assert_eq!(decode_u32s(&encode_u32s(&o)).unwrap(), o);
        let t = vec![-5i64, 0, i64::MAX];
        assert_eq!(decode_i64s(&encode_i64s(&t)).unwrap(), t);
        let mut b = encode_i64s(&t);
        b[5] ^= 1;
        assert!(decode_i64s(&b).is_none());
    }
}
