//! The stored form of `args` and `result`: JSON compacted the way
//! `serde_json::Value::to_string` writes it (no whitespace, object keys
//! sorted and unique, numbers and strings as serde_json prints them).
//!
//! Most values arrive already in that form, so [`canonical`] first checks
//! the text as it is and borrows it; only text that is not canonical is
//! parsed into a `Value` and printed again. Both paths give the same bytes:
//! the check accepts only forms that the printer would write unchanged, and
//! declines (falls back) on anything it is not sure of.

use std::borrow::Cow;

/// `text` (valid JSON) in its stored form: borrowed when it already is.
pub(crate) fn canonical(text: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if is_canonical(text) {
        return Ok(Cow::Borrowed(text));
    }
    let v: serde_json::Value = serde_json::from_str(text)?;
    Ok(Cow::Owned(v.to_string()))
}

/// Whether `text` is exactly what printing its parsed value would give.
pub(crate) fn is_canonical(text: &str) -> bool {
    let mut c = Checker {
        b: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    c.value() && c.at == c.b.len()
}

/// Deeper nesting is left to the full parser (which has its own limit).
const MAX_DEPTH: u32 = 64;

struct Checker<'a> {
    b: &'a [u8],
    at: usize,
    depth: u32,
}

impl<'a> Checker<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        if self.b[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> bool {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().is_some(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.integer(),
            _ => false,
        }
    }

    fn nest(&mut self) -> bool {
        self.depth += 1;
        self.depth <= MAX_DEPTH
    }

    fn object(&mut self) -> bool {
        self.at += 1;
        if !self.nest() {
            return false;
        }
        if !self.eat(b'}') {
            let mut prev: Option<&'a [u8]> = None;
            loop {
                // Keys compare by their text only when it has no escapes.
                let Some(key) = self.string() else {
                    return false;
                };
                if key.contains(&b'\\') || prev.is_some_and(|p| p >= key) {
                    return false;
                }
                prev = Some(key);
                if !self.eat(b':') || !self.value() {
                    return false;
                }
                if self.eat(b'}') {
                    break;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        self.depth -= 1;
        true
    }

    fn array(&mut self) -> bool {
        self.at += 1;
        if !self.nest() {
            return false;
        }
        if !self.eat(b']') {
            loop {
                if !self.value() {
                    return false;
                }
                if self.eat(b']') {
                    break;
                }
                if !self.eat(b',') {
                    return false;
                }
            }
        }
        self.depth -= 1;
        true
    }

    /// A string as the printer writes it; returns its body (between the
    /// quotes). The printer escapes `"` and `\` and the control characters,
    /// the common ones with the short escapes; anything else (`\/`,
    /// `\u` forms) is not canonical here.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.at += 1;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => {
                    let body = &self.b[start..self.at];
                    self.at += 1;
                    return Some(body);
                }
                b'\\' => {
                    match self.b.get(self.at + 1)? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        _ => return None,
                    }
                    self.at += 2;
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }

    /// Integers only, in the range serde_json keeps exactly (`i64`/`u64`),
    /// without a leading zero and not `-0`. Fractions and exponents go to
    /// the full parser, whose float formatting decides their form.
    fn integer(&mut self) -> bool {
        let start = self.at;
        let neg = self.eat(b'-');
        let digits = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        let n = self.at - digits;
        if n == 0 || matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return false;
        }
        if self.b[digits] == b'0' && (n > 1 || neg) {
            return false;
        }
        // 18 digits always fit either way; longer ones are checked.
        n <= 18
            || std::str::from_utf8(&self.b[start..self.at]).is_ok_and(|t| {
                if neg {
                    t.parse::<i64>().is_ok()
                } else {
                    t.parse::<u64>().is_ok()
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reprint(text: &str) -> String {
        serde_json::from_str::<serde_json::Value>(text)
            .unwrap()
            .to_string()
    }

    #[test]
    fn accepts_exactly_the_printers_output() {
        for t in [
            r#"{"a":1,"b":[true,false,null],"c":{"d":"x\"y\\z\n\t"}}"#,
            r#"[]"#,
            r#"{}"#,
            r#""plain""#,
            r#"-9223372036854775808"#,
            r#"18446744073709551615"#,
            r#"0"#,
            r#"{"user_name":"alice","ü":"é"}"#,
        ] {
            assert!(is_canonical(t), "{t}");
            assert_eq!(reprint(t), t);
            assert!(matches!(canonical(t).unwrap(), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn declines_what_the_printer_would_change() {
        for t in [
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{ "a":1}"#,
            r#"[1, 2]"#,
            r#"1.0"#,
            r#"1e3"#,
            r#"-0"#,
            r#"18446744073709551616"#,
            r#"-9223372036854775809"#,
            r#""\u00e9""#,
            r#""a\/b""#,
            r#"{"\u0061":1}"#,
            " 1",
        ] {
            assert!(!is_canonical(t), "{t}");
            assert_eq!(canonical(t).unwrap(), reprint(t), "{t}");
        }
    }

    #[test]
    fn the_fast_path_never_differs_from_the_printer() {
        // Generated values printed in many spellings: whatever the check
        // decides, the stored text equals the reprint.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let atoms = [
            "1",
            "-1",
            "0",
            "00",
            "1.5",
            "2e2",
            "true",
            "null",
            r#""a""#,
            r#""\n""#,
            r#""\u0001""#,
            r#""\/""#,
            "123456789012345678901",
        ];
        for _ in 0..5_000 {
            let n = (next() % 4) as usize;
            let mut keys: Vec<String> = (0..n).map(|_| format!("k{}", next() % 5)).collect();
            if next() % 2 == 0 {
                keys.sort();
            }
            let body: Vec<String> = keys
                .iter()
                .map(|k| {
                    let v = atoms[(next() % atoms.len() as u64) as usize];
                    let sep = if next() % 5 == 0 { ": " } else { ":" };
                    format!("\"{k}\"{sep}{v}")
                })
                .collect();
            let text = format!("{{{}}}", body.join(","));
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            assert_eq!(canonical(&text).unwrap(), v.to_string(), "{text}");
        }
    }
}
