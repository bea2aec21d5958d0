//! The SHA-256 hash chain over records (see `docs/format.md`, "Tamper
//! evidence"). Pure: no I/O.
//!
//! `link_0` is the chain head a segment starts from (32 zero bytes for the
//! first segment of a log); for each record in append order
//! `link_i = SHA-256(link_{i-1} || payload_i)`, where `payload_i` is the
//! record's encoded bytes exactly as stored in its frame. Each frame keeps
//! the first [`TAG_LEN`] bytes of its link (the tag); the full 32-byte head
//! is kept in each segment header (`prev_head`), in the seal footer, in
//! signed checkpoints and in the signed retention horizon.

use sha2::{Digest, Sha256};

/// A 32-byte chain head (the link after some record).
pub type Head = [u8; 32];

/// The head a log starts from: 32 zero bytes.
pub const GENESIS: Head = [0u8; 32];

/// Bytes of a link kept in each frame.
pub const TAG_LEN: usize = 8;

/// The next link: `SHA-256(prev || payload)`. Allocates nothing.
#[inline]
pub fn link(prev: &Head, payload: &[u8]) -> Head {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(payload);
    h.finalize().into()
}

/// The frame tag of a link (its first [`TAG_LEN`] bytes).
#[inline]
pub fn tag_of(link: &Head) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&link[..TAG_LEN]);
    t
}

/// Lower-case hex of some bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Parses exactly `N` bytes of hex (either case); `None` otherwise.
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (nibble(s[2 * i])? << 4) | nibble(s[2 * i + 1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_is_sha256_of_prev_and_payload() {
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(b"abc");
        let want: Head = h.finalize().into();
        assert_eq!(link(&GENESIS, b"abc"), want);
        assert_ne!(link(&GENESIS, b"abd"), want);
        assert_eq!(tag_of(&want), want[..8]);
    }

    #[test]
    fn hex_round_trip() {
        let h = link(&GENESIS, b"x");
        assert_eq!(from_hex::<32>(&to_hex(&h)), Some(h));
        assert_eq!(from_hex::<2>("aB0f"), Some([0xab, 0x0f]));
        assert_eq!(from_hex::<2>("ab0"), None);
        assert_eq!(from_hex::<1>("zz"), None);
    }
}
