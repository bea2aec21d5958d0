//! Segment file layout: header, frames and the seal footer (see
//! `docs/format.md`). Pure byte encoding and decoding; never does I/O and
//! never panics or allocates on behalf of untrusted lengths.
//!
//! ```text
//! segment := header frame* footer?
//! header  (64 bytes)
//!   0..8    magic        b"AUDLOGSG"
//!   8..12   version      u32 LE (FORMAT_VERSION = 2)
//!   12..20  first_id     u64 LE (also the file name, 20 zero-padded digits)
//!   20..28  created      i64 LE, microseconds since the epoch
//!   28..60  prev_head    the chain head before this segment's first record
//!   60..64  crc32        over bytes 0..60
//! frame
//!   0..4    len          u32 LE, payload length, 1..=MAX_RECORD_BYTES
//!   4..8    crc32        over bytes 0..4 (len), 8..16 (tag) and the payload
//!   8..16   tag          first 8 bytes of this record's chain link
//!   16..    payload      the record (bincode, see codec.rs)
//! footer  (96 bytes, only in sealed segments, right after the last frame)
//!   0..4    marker       u32 LE 0xFFFF_FFFF (never a valid frame length)
//!   4..8    magic        b"SEAL"
//!   8..16   first_id     u64 LE
//!   16..24  count        u64 LE, number of frames
//!   24..32  min_time     i64 LE
//!   32..40  max_time     i64 LE
//!   40..48  body_len     u64 LE, bytes of header + frames (= footer offset)
//!   48..52  body_crc     u32 LE, crc32 of bytes 0..body_len
//!   52..84  head         the chain head after the last frame
//!   84..92  reserved     zero
//!   92..96  crc32        over footer bytes 0..92
//! ```

use crate::format::chain::{Head, TAG_LEN};
use crate::record::MAX_RECORD_BYTES;

/// Magic number opening every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"AUDLOGSG";
/// The segment format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;
/// Size of the segment header.
pub const HEADER_LEN: usize = 64;
/// Size of a frame header (length + CRC + chain tag).
pub const FRAME_HEADER_LEN: usize = 8 + TAG_LEN;
/// Size of the seal footer.
pub const FOOTER_LEN: usize = 96;
/// The length value that introduces a footer.
pub const FOOTER_MARKER: u32 = u32::MAX;
/// Magic of the footer.
pub const FOOTER_MAGIC: [u8; 4] = *b"SEAL";

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn i64_at(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The decoded segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Format version found.
    pub version: u32,
    /// Id of the first record the segment holds (or will hold).
    pub first_id: u64,
    /// Creation time, microseconds since the epoch.
    pub created: i64,
    /// The chain head before this segment's first record.
    pub prev_head: Head,
}

/// Why a header could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer than [`HEADER_LEN`] bytes.
    Short,
    /// Not a segment file.
    BadMagic,
    /// Header CRC mismatch.
    BadCrc,
    /// A version this build does not read.
    Version(u32),
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..20].copy_from_slice(&self.first_id.to_le_bytes());
        b[20..28].copy_from_slice(&self.created.to_le_bytes());
        b[28..60].copy_from_slice(&self.prev_head);
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a header.
    /// A version-1 file (32-byte header, CRC over bytes 0..28) is
    /// reported as [`HeaderError::Version`], so the error names the version
    /// rather than calling the file damaged.
    pub fn decode(b: &[u8]) -> Result<Header, HeaderError> {
        if b.get(0..8).is_some_and(|m| m == SEGMENT_MAGIC) && u32_at(b, 8) == Some(1) {
            let v1_ok = b.len() >= 32 && u32_at(b, 28) == Some(crc32fast::hash(&b[0..28]));
            if v1_ok {
                return Err(HeaderError::Version(1));
            }
        }
        let b = b.get(..HEADER_LEN).ok_or(HeaderError::Short)?;
        if b[0..8] != SEGMENT_MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if u32_at(b, 60) != Some(crc32fast::hash(&b[0..60])) {
            return Err(HeaderError::BadCrc);
        }
        let version = u32_at(b, 8).ok_or(HeaderError::Short)?;
        if version != FORMAT_VERSION {
            return Err(HeaderError::Version(version));
        }
        let mut prev_head = [0u8; 32];
        prev_head.copy_from_slice(&b[28..60]);
        Ok(Header {
            version,
            first_id: u64_at(b, 12).ok_or(HeaderError::Short)?,
            created: i64_at(b, 20).ok_or(HeaderError::Short)?,
            prev_head,
        })
    }
}

fn frame_crc(len: [u8; 4], tag: &[u8], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(tag);
    h.update(payload);
    h.finalize()
}

/// Appends a frame holding `payload` with chain tag `tag` to `out`.
pub fn encode_frame(payload: &[u8], tag: &[u8; TAG_LEN], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX - 1);
    let lb = len.to_le_bytes();
    out.extend_from_slice(&lb);
    out.extend_from_slice(&frame_crc(lb, tag, payload).to_le_bytes());
    out.extend_from_slice(tag);
    out.extend_from_slice(payload);
}

/// Writes the frame header (length, CRC, `tag`) for a payload already
/// placed at `out[at + FRAME_HEADER_LEN..]`.
pub fn seal_frame_in_place(out: &mut [u8], at: usize, tag: &[u8; TAG_LEN]) {
    let payload_len = out.len() - at - FRAME_HEADER_LEN;
    let len = u32::try_from(payload_len).unwrap_or(u32::MAX - 1);
    let lb = len.to_le_bytes();
    let crc = frame_crc(lb, tag, &out[at + FRAME_HEADER_LEN..]);
    out[at..at + 4].copy_from_slice(&lb);
    out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    out[at + 8..at + FRAME_HEADER_LEN].copy_from_slice(tag);
}

/// What is found at a position in a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameRead<'a> {
    /// A complete, checksummed frame; `next` is the offset after it.
    Frame {
        /// The payload bytes.
        payload: &'a [u8],
        /// The chain tag stored in the frame (checked by the CRC, not
        /// against the chain: that is the caller's job).
        tag: [u8; TAG_LEN],
        /// Offset just past the frame.
        next: usize,
    },
    /// A footer marker: the segment is sealed here (decode with [`Footer::decode`]).
    Footer,
    /// Not enough bytes for the frame the header announces (a torn write
    /// when it is at the tail of the last segment).
    Incomplete,
    /// A length outside `1..=MAX_RECORD_BYTES`.
    BadLength(u32),
    /// The CRC does not match.
    BadCrc,
}

/// Reads the frame starting at `pos` of `buf` (the segment's bytes).
/// The length is checked against the limit before anything is touched.
pub fn read_frame(buf: &[u8], pos: usize) -> FrameRead<'_> {
    let Some(len) = u32_at(buf, pos) else {
        return FrameRead::Incomplete;
    };
    if len == FOOTER_MARKER {
        return FrameRead::Footer;
    }
    if len == 0 || len as usize > MAX_RECORD_BYTES {
        return FrameRead::BadLength(len);
    }
    let Some(crc) = u32_at(buf, pos + 4) else {
        return FrameRead::Incomplete;
    };
    let start = pos + FRAME_HEADER_LEN;
    let end = start + len as usize;
    let Some(payload) = buf.get(start..end) else {
        return FrameRead::Incomplete;
    };
    let Some(tag) = buf
        .get(pos + 8..start)
        .and_then(|t| <[u8; TAG_LEN]>::try_from(t).ok())
    else {
        return FrameRead::Incomplete;
    };
    if frame_crc(len.to_le_bytes(), &tag, payload) != crc {
        return FrameRead::BadCrc;
    }
    FrameRead::Frame {
        payload,
        tag,
        next: end,
    }
}

/// The seal footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Footer {
    /// First record id.
    pub first_id: u64,
    /// Number of frames.
    pub count: u64,
    /// Smallest record time (0 when empty).
    pub min_time: i64,
    /// Largest record time (0 when empty).
    pub max_time: i64,
    /// Bytes of header + frames; the footer starts here.
    pub body_len: u64,
    /// CRC32 of the body.
    pub body_crc: u32,
    /// The chain head after the last frame (the header's `prev_head` when
    /// there is none).
    pub head: Head,
}

impl Footer {
    /// The id of the last record (first_id - 1 when empty).
    pub fn last_id(&self) -> u64 {
        (self.first_id + self.count).saturating_sub(1)
    }

    /// Encodes the footer.
    pub fn encode(&self) -> [u8; FOOTER_LEN] {
        let mut b = [0u8; FOOTER_LEN];
        b[0..4].copy_from_slice(&FOOTER_MARKER.to_le_bytes());
        b[4..8].copy_from_slice(&FOOTER_MAGIC);
        b[8..16].copy_from_slice(&self.first_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.count.to_le_bytes());
        b[24..32].copy_from_slice(&self.min_time.to_le_bytes());
        b[32..40].copy_from_slice(&self.max_time.to_le_bytes());
        b[40..48].copy_from_slice(&self.body_len.to_le_bytes());
        b[48..52].copy_from_slice(&self.body_crc.to_le_bytes());
        b[52..84].copy_from_slice(&self.head);
        let crc = crc32fast::hash(&b[0..92]);
        b[92..96].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and checks a footer (exactly [`FOOTER_LEN`] bytes wanted):
    /// marker, magic, CRC, and numbers a segment can have.
    pub fn decode(b: &[u8]) -> Option<Footer> {
        if b.len() != FOOTER_LEN
            || u32_at(b, 0)? != FOOTER_MARKER
            || b[4..8] != FOOTER_MAGIC
            || u32_at(b, 92)? != crc32fast::hash(&b[0..92])
        {
            return None;
        }
        let mut head = [0u8; 32];
        head.copy_from_slice(&b[52..84]);
        let f = Footer {
            first_id: u64_at(b, 8)?,
            count: u64_at(b, 16)?,
            min_time: i64_at(b, 24)?,
            max_time: i64_at(b, 32)?,
            body_len: u64_at(b, 40)?,
            body_crc: u32_at(b, 48)?,
            head,
        };
        // Numbers no segment can have are damage (and arithmetic on them,
        // `body_len + FOOTER_LEN` or `first_id + count`, must not overflow).
        let possible = f.body_len >= HEADER_LEN as u64
            && f.body_len <= u64::MAX - FOOTER_LEN as u64
            && f.first_id.checked_add(f.count).is_some();
        possible.then_some(f)
    }
}

/// The file name of the segment whose first record id is `first_id`.
pub fn segment_file_name(first_id: u64) -> String {
    format!("{first_id:020}.seg")
}

/// Parses a segment file name back to its first id.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_damage() {
        let h = Header {
            version: FORMAT_VERSION,
            first_id: 42,
            created: 7,
            prev_head: [3; 32],
        };
        let mut b = h.encode();
        assert_eq!(Header::decode(&b), Ok(h));
        b[13] ^= 1;
        assert_eq!(Header::decode(&b), Err(HeaderError::BadCrc));
        assert_eq!(Header::decode(&b[..10]), Err(HeaderError::Short));
        // A version-1 header names its version.
        let mut v1 = [0u8; 32];
        v1[0..8].copy_from_slice(&SEGMENT_MAGIC);
        v1[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32fast::hash(&v1[0..28]);
        v1[28..32].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(Header::decode(&v1), Err(HeaderError::Version(1)));
    }

    #[test]
    fn frames_and_limits() {
        let mut buf = Vec::new();
        encode_frame(b"hello", &[1; 8], &mut buf);
        encode_frame(b"world!", &[2; 8], &mut buf);
        let FrameRead::Frame { payload, tag, next } = read_frame(&buf, 0) else {
            panic!("no frame")
        };
        assert_eq!(payload, b"hello");
        assert_eq!(tag, [1; 8]);
        // The CRC covers the tag.
        let mut t = buf.clone();
        t[9] ^= 1;
        assert_eq!(read_frame(&t, 0), FrameRead::BadCrc);
        assert!(matches!(
            read_frame(&buf, next),
            FrameRead::Frame {
                payload: b"world!",
                ..
            }
        ));
        for cut in next + 1..buf.len() {
            assert_eq!(read_frame(&buf[..cut], next), FrameRead::Incomplete);
        }
        let mut bad = buf.clone();
        bad[next + FRAME_HEADER_LEN + 1] ^= 0x40;
        assert_eq!(read_frame(&bad, next), FrameRead::BadCrc);
        let huge = [0xfe, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read_frame(&huge, 0), FrameRead::BadLength(0xffff_fffe));
        let marker = [0xff; 16];
        assert_eq!(read_frame(&marker, 0), FrameRead::Footer);
    }

    #[test]
    fn footer_round_trip() {
        let f = Footer {
            first_id: 1,
            count: 10,
            min_time: -1,
            max_time: 99,
            body_len: 1234,
            body_crc: 5,
            head: [9; 32],
        };
        let mut b = f.encode();
        assert_eq!(Footer::decode(&b), Some(f));
        assert_eq!(f.last_id(), 10);
        b[20] ^= 1;
        assert_eq!(Footer::decode(&b), None);
    }

    #[test]
    fn names() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(parse_segment_file_name("00000000000000000001.seg"), Some(1));
        assert_eq!(parse_segment_file_name("1.seg"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000x.seg"), None);
    }
}
