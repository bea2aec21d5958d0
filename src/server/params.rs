//! Request parameters: query strings and bodies turned into one ordered
//! list of text key/value pairs.
//!
//! Owns decoding (`application/x-www-form-urlencoded` with `&` or also `;`
//! separators, `multipart/form-data` text fields, a flat JSON object),
//! merging the query string with the body, and the limits on parameter
//! count and sizes. It never interprets a parameter (the endpoint modules
//! do), never puts a parameter's *value* into an error or a `Debug` output
//! (values may be passwords), and never holds more than the limits allow.
//!
//! Decoding follows the WHATWG form-urlencoded rules: `+` is a space,
//! `%XX` is a byte, a `%` not followed by two hex digits is kept as is,
//! empty pairs (`a=1&&b=2`) are skipped, and a pair without `=` is a key
//! with an empty value. Decoded bytes must be UTF-8.

use std::fmt;

use bytes::Bytes;

/// Default maximum number of parameters in one request.
pub const MAX_PARAMS: usize = 256;
/// Default maximum length of a decoded parameter name, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Default maximum length of a decoded parameter value, in bytes (64 KiB,
/// the longest string a record field can hold).
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Bounds on what a request may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most parameters (query string and body together). Defaults to 256.
    pub max_params: usize,
    /// Longest decoded name, in bytes. Defaults to 256.
    pub max_key_bytes: usize,
    /// Longest decoded value, in bytes. Defaults to 64 KiB.
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_params: MAX_PARAMS,
            max_key_bytes: MAX_KEY_BYTES,
            max_value_bytes: MAX_VALUE_BYTES,
        }
    }
}

/// Which characters separate pairs in urlencoded text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Separators {
    /// `&` only (Voximplant: a `;` belongs to list values).
    Ampersand,
    /// `&` or `;` (Enswitch's examples use `;`).
    AmpersandOrSemicolon,
}

/// A parameter problem: the parameter's name (empty when the problem is
/// the request as a whole) and a message that never includes the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamError {
    /// The offending parameter, or `""`.
    pub key: String,
    /// What is wrong.
    pub message: String,
    /// Whether a [`Limits`] bound was passed (too many parameters, a name
    /// or value too long): SPEC section 5.3 answers those with HTTP 400 in
    /// both APIs.
    pub over_limit: bool,
}

impl ParamError {
    /// Builds an error about parameter `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            key: key.into(),
            message: message.into(),
            over_limit: false,
        }
    }

    /// Builds an error about parameter `key` passing one of the [`Limits`].
    pub fn limit(key: impl Into<String>, message: impl Into<String>) -> Self {
        ParamError {
            over_limit: true,
            ..ParamError::new(key, message)
        }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "parameter {:?}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ParamError {}

/// Request parameters in arrival order (query string first, then body);
/// repeated names are kept.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
    limits: Limits,
}

impl fmt::Debug for Params {
    /// Names only: values may be passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.pairs.iter().map(|(k, _)| k))
            .finish()
    }
}

impl Params {
    /// No parameters, with these limits.
    pub fn new(limits: Limits) -> Self {
        Params {
            pairs: Vec::new(),
            limits,
        }
    }

    /// Adds one pair, enforcing the limits.
    pub fn push(&mut self, key: String, value: String) -> Result<(), ParamError> {
        if self.pairs.len() >= self.limits.max_params {
            return Err(ParamError::limit(
                "",
                format!("too many parameters (at most {})", self.limits.max_params),
            ));
        }
        check_key(&key, &self.limits)?;
        check_value(&key, value.len(), &self.limits)?;
        self.pairs.push((key, value));
        Ok(())
    }

    /// Parses urlencoded text: a query string (without `?`) or a form body.
    pub fn parse_urlencoded(
        input: &[u8],
        separators: Separators,
        limits: Limits,
    ) -> Result<Params, ParamError> {
        let mut params = Params::new(limits);
        let is_sep =
            |b: &u8| *b == b'&' || (separators == Separators::AmpersandOrSemicolon && *b == b';');
        for pair in input.split(is_sep).filter(|p| !p.is_empty()) {
            if params.pairs.len() >= limits.max_params {
                return Err(ParamError::limit(
                    "",
                    format!("too many parameters (at most {})", limits.max_params),
                ));
            }
            let (k, v) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (
                    pair.get(..i).unwrap_or_default(),
                    pair.get(i + 1..).unwrap_or_default(),
                ),
                None => (pair, &b""[..]),
            };
            // Decoding never makes text longer, so an over-long raw name is
            // refused before decoding; values are checked after (a %XX is 3
            // bytes for 1).
            if k.len() > limits.max_key_bytes * 3 {
                return Err(ParamError::limit(
                    String::from_utf8_lossy(k.get(..32).unwrap_or(k)).into_owned(),
                    format!("name longer than {} bytes", limits.max_key_bytes),
                ));
            }
            let key = String::from_utf8(percent_decode(k)).map_err(|e| {
                ParamError::new(
                    String::from_utf8_lossy(e.as_bytes()).into_owned(),
                    "the name is not valid UTF-8",
                )
            })?;
            check_key(&key, &limits)?;
            if v.len() > limits.max_value_bytes * 3 {
                return Err(value_too_long(&key, &limits));
            }
            let value = String::from_utf8(percent_decode(v))
                .map_err(|_| ParamError::new(key.clone(), "the value is not valid UTF-8"))?;
            params.push(key, value)?;
        }
        Ok(params)
    }

    /// Parses a `multipart/form-data` body (text fields only). `content_type`
    /// is the request's `Content-Type` header, which carries the boundary.
    pub async fn parse_multipart(
        body: Bytes,
        content_type: &str,
        limits: Limits,
    ) -> Result<Params, ParamError> {
        let bad = |m: String| ParamError::new("", format!("malformed multipart body: {m}"));
        let boundary = multer::parse_boundary(content_type).map_err(|e| bad(e.to_string()))?;
        let constraints = multer::Constraints::new().size_limit(
            multer::SizeLimit::new()
                .per_field(u64::try_from(limits.max_value_bytes).unwrap_or(u64::MAX)),
        );
        let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
        let mut mp = multer::Multipart::with_constraints(stream, boundary, constraints);
        let mut params = Params::new(limits);
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(bad(e.to_string())),
            };
            let key = field
                .name()
                .ok_or_else(|| bad("a part has no name".to_string()))?
                .to_string();
            check_key(&key, &limits)?;
            if field.file_name().is_some() {
                return Err(ParamError::new(key, "file uploads are not accepted"));
            }
            if params.pairs.len() >= limits.max_params {
                return Err(ParamError::limit(
                    "",
                    format!("too many parameters (at most {})", limits.max_params),
                ));
            }
            let bytes = field.bytes().await.map_err(|e| match e {
                multer::Error::FieldSizeExceeded { .. } => value_too_long(&key, &limits),
                e => bad(e.to_string()),
            })?;
            let value = String::from_utf8(bytes.to_vec())
                .map_err(|_| ParamError::new(key.clone(), "the value is not valid UTF-8"))?;
            params.push(key, value)?;
        }
        Ok(params)
    }

    /// Parses a JSON object body: each member a parameter; strings,
    /// numbers and booleans become their text, arrays of those become the
    /// parameter repeated. `{}` (the seed's example body) is no parameters.
    pub fn parse_json(body: &[u8], limits: Limits) -> Result<Params, ParamError> {
        use serde_json::Value;
        let map: serde_json::Map<String, Value> = serde_json::from_slice(body)
            .map_err(|e| ParamError::new("", format!("the JSON body is not an object: {e}")))?;
        let mut params = Params::new(limits);
        let text = |key: &str, v: &Value| -> Result<String, ParamError> {
            match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err(ParamError::new(
                    key,
                    "expected a string, number, boolean or an array of those",
                )),
            }
        };
        for (k, v) in &map {
            match v {
                Value::Array(items) => {
                    for item in items {
                        params.push(k.clone(), text(k, item)?)?;
                    }
                }
                v => params.push(k.clone(), text(k, v)?)?,
            }
        }
        Ok(params)
    }

    /// Parses a request body by its `Content-Type`: urlencoded, multipart,
    /// or JSON. A body without a `Content-Type` is read as urlencoded (what
    /// a form post is). An empty body is no parameters whatever its type; a
    /// non-empty body of another type is an error.
    pub async fn parse_body(
        body: Bytes,
        content_type: Option<&str>,
        separators: Separators,
        limits: Limits,
    ) -> Result<Params, ParamError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Params::new(limits));
        }
        let ct = content_type.unwrap_or("application/x-www-form-urlencoded");
        let media = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-www-form-urlencoded" => Params::parse_urlencoded(&body, separators, limits),
            "multipart/form-data" => Params::parse_multipart(body, ct, limits).await,
            "application/json" => Params::parse_json(&body, limits),
            _ => Err(ParamError::new(
                "",
                format!(
                    "unsupported Content-Type {:?} for a request body (use application/x-www-form-urlencoded or multipart/form-data)",
                    media.chars().take(64).collect::<String>()
                ),
            )),
        }
    }

    /// Appends `other`'s pairs after this one's (query string, then body),
    /// enforcing the count limit over both.
    pub fn merge(&mut self, other: Params) -> Result<(), ParamError> {
        for (k, v) in other.pairs {
            self.push(k, v)?;
        }
        Ok(())
    }

    /// The single value of `name`: `None` when absent; the value when given
    /// once, or several times with the same value; an error when given
    /// with different values.
    pub fn get_one(&self, name: &str) -> Result<Option<&str>, ParamError> {
        let mut found: Option<&str> = None;
        for (_, v) in self.pairs.iter().filter(|(k, _)| k == name) {
            match found {
                None => found = Some(v.as_str()),
                Some(f) if f == v => {}
                Some(_) => {
                    return Err(ParamError::new(
                        name,
                        "given more than once with different values",
                    ))
                }
            }
        }
        Ok(found)
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether `name` was given at all.
    pub fn contains(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// The first parameter whose name is not in `allowed`, as an error
    /// naming it (SPEC section 7: unknown fields are rejected).
    pub fn reject_unknown(&self, allowed: &[&str]) -> Result<(), ParamError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !allowed.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ParamError::new(
                k.clone(),
                format!(
                    "unknown parameter (expected one of: {})",
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there is no pair.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn check_key(key: &str, limits: &Limits) -> Result<(), ParamError> {
    if key.is_empty() {
        return Err(ParamError::new("", "a parameter has an empty name"));
    }
    if key.len() > limits.max_key_bytes {
        let shown: String = key.chars().take(32).collect();
        return Err(ParamError::limit(
            shown,
            format!("name longer than {} bytes", limits.max_key_bytes),
        ));
    }
    Ok(())
}

fn check_value(key: &str, len: usize, limits: &Limits) -> Result<(), ParamError> {
    if len > limits.max_value_bytes {
        return Err(value_too_long(key, limits));
    }
    Ok(())
}

fn value_too_long(key: &str, limits: &Limits) -> ParamError {
    ParamError::limit(
        key,
        format!("value longer than {} bytes", limits.max_value_bytes),
    )
}

/// Decodes `+` and `%XX`; a `%` without two hex digits stays literal.
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    input.get(i + 1).copied().and_then(hex),
                    input.get(i + 2).copied().and_then(hex),
                ) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Params {
        Params::parse_urlencoded(
            s.as_bytes(),
            Separators::AmpersandOrSemicolon,
            Limits::default(),
        )
        .unwrap()
    }

    fn pairs(p: &Params) -> Vec<(&str, &str)> {
        p.iter().collect()
    }

    #[test]
    fn both_separators_decoding_and_order() {
        let p = q(
            "auth_username=user;auth_password=hunter%3B2&start=1234567890;x=a+b%20c;;&flag;empty=",
        );
        assert_eq!(
            pairs(&p),
            vec![
                ("auth_username", "user"),
                ("auth_password", "hunter;2"),
                ("start", "1234567890"),
                ("x", "a b c"),
                ("flag", ""),
                ("empty", ""),
            ]
        );
        assert!(
            !format!("{p:?}").contains("hunter"),
            "Debug shows names only: {p:?}"
        );
        // Ampersand only: `;` stays inside the value (Voximplant lists).
        let p = Params::parse_urlencoded(
            b"filtered_ip=1.2.3.4;5.6.7.8&a=%E2%82%AC",
            Separators::Ampersand,
            Limits::default(),
        )
        .unwrap();
        assert_eq!(
            pairs(&p),
            vec![("filtered_ip", "1.2.3.4;5.6.7.8"), ("a", "€")]
        );
        // Lenient percent: a lone % stays.
        assert_eq!(q("a=100%&b=%zz&c=%4").get_all("a"), vec!["100%"]);
        assert_eq!(q("a=100%&b=%zz&c=%4").get_one("b").unwrap(), Some("%zz"));
        assert_eq!(q("a=100%&b=%zz&c=%4").get_one("c").unwrap(), Some("%4"));
        assert_eq!(q("a%3Db=c").get_one("a=b").unwrap(), Some("c"));
        assert_eq!(q("a=b=c").get_one("a").unwrap(), Some("b=c"));
    }

    #[test]
    fn get_one_and_get_all() {
        let p = q("id=1&id=2;id=1&same=x&same=x");
        assert_eq!(p.get_all("id"), vec!["1", "2", "1"]);
        let e = p.get_one("id").unwrap_err();
        assert_eq!(e.key, "id");
        assert!(e.message.contains("different values"));
        assert_eq!(p.get_one("same").unwrap(), Some("x"));
        assert_eq!(p.get_one("missing").unwrap(), None);
        assert!(p.get_all("missing").is_empty());
        assert!(p.contains("same") && !p.contains("Same"));
        assert_eq!(p.reject_unknown(&["id", "same"]), Ok(()));
        let e = p.reject_unknown(&["id"]).unwrap_err();
        assert_eq!(e.key, "same");
    }

    #[test]
    fn limits_and_utf8() {
        let small = Limits {
            max_params: 3,
            max_key_bytes: 4,
            max_value_bytes: 5,
        };
        let parse = |s: &[u8]| Params::parse_urlencoded(s, Separators::Ampersand, small);
        assert_eq!(parse(b"a=1&b=2&c=3").unwrap().len(), 3);
        let e = parse(b"a=1&b=2&c=3&d=4").unwrap_err();
        assert_eq!(e.key, "");
        assert!(e.message.contains("too many"));
        assert!(e.over_limit);
        assert!(parse(b"abcde=1").unwrap_err().over_limit);
        assert!(parse(b"k=123456").unwrap_err().over_limit);
        assert!(!parse(b"v=%FF").unwrap_err().over_limit);
        let e = parse(b"abcde=1").unwrap_err();
        assert!(e.message.contains("name longer than 4"), "{e}");
        let e = parse(b"k=123456").unwrap_err();
        assert_eq!(e.key, "k");
        assert!(e.message.contains("value longer than 5"));
        // %41 decodes to one byte each: 5 bytes is within the limit.
        assert_eq!(
            parse(b"k=%41%41%41%41%41").unwrap().get_one("k").unwrap(),
            Some("AAAAA")
        );
        let e = parse(b"k=%41%41%41%41%41%41").unwrap_err();
        assert_eq!(e.key, "k");
        let e = parse(b"v=%FF%FE").unwrap_err();
        assert_eq!(e.key, "v");
        assert!(e.message.contains("UTF-8"));
        assert!(parse(b"=1").unwrap_err().message.contains("empty name"));
        let e = parse(b"%FF=1").unwrap_err();
        assert!(e.message.contains("name is not valid UTF-8"));
        // Merging counts both halves.
        let mut a = parse(b"a=1&b=2").unwrap();
        assert!(a.merge(parse(b"c=1&d=2").unwrap()).is_err());
        let mut a = parse(b"a=1").unwrap();
        a.merge(parse(b"a=2&b=3").unwrap()).unwrap();
        assert_eq!(a.get_all("a"), vec!["1", "2"]);
    }

    fn multipart_body(parts: &[(&str, Option<&str>, &[u8])]) -> (Bytes, String) {
        let boundary = "XyZzY123";
        let mut b = Vec::new();
        for (name, file, value) in parts {
            b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match file {
                Some(f) => b.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            b.extend_from_slice(value);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (
            Bytes::from(b),
            format!("multipart/form-data; boundary={boundary}"),
        )
    }

    #[tokio::test]
    async fn multipart_text_fields() {
        let (body, ct) = multipart_body(&[
            ("from_date", None, b"2018-02-01 00:00:00"),
            ("audit_log_id", None, b"101"),
            ("audit_log_id", None, b"102;103"),
            ("utf", None, "é&;=".as_bytes()),
        ]);
        let p = Params::parse_body(body, Some(&ct), Separators::Ampersand, Limits::default())
            .await
            .unwrap();
        assert_eq!(p.get_one("from_date").unwrap(), Some("2018-02-01 00:00:00"));
        assert_eq!(p.get_all("audit_log_id"), vec!["101", "102;103"]);
        assert_eq!(p.get_one("utf").unwrap(), Some("é&;="));

        let (body, ct) = multipart_body(&[("f", Some("x.txt"), b"data")]);
        let e = Params::parse_multipart(body, &ct, Limits::default())
            .await
            .unwrap_err();
        assert_eq!(e.key, "f");
        assert!(e.message.contains("file"));
        let (body, ct) = multipart_body(&[("bad", None, b"\xff\xfe")]);
        let e = Params::parse_multipart(body, &ct, Limits::default())
            .await
            .unwrap_err();
        assert_eq!(e.key, "bad");
        let small = Limits {
            max_value_bytes: 4,
            ..Limits::default()
        };
        let (body, ct) = multipart_body(&[("big", None, b"12345678")]);
        let e = Params::parse_multipart(body, &ct, small).await.unwrap_err();
        assert_eq!(e.key, "big");
        assert!(e.message.contains("longer"), "{e}");
        let e = Params::parse_multipart(
            Bytes::from_static(b"garbage"),
            "multipart/form-data; boundary=q",
            Limits::default(),
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("malformed multipart"), "{e}");
        let e = Params::parse_multipart(
            Bytes::from_static(b"x"),
            "multipart/form-data",
            Limits::default(),
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("malformed multipart"), "{e}");
    }

    #[tokio::test]
    async fn body_by_content_type() {
        let lim = Limits::default();
        let seps = Separators::AmpersandOrSemicolon;
        let p = Params::parse_body(
            Bytes::from_static(b"a=1;b=2"),
            Some("application/x-www-form-urlencoded; charset=UTF-8"),
            seps,
            lim,
        )
        .await
        .unwrap();
        assert_eq!(pairs(&p), vec![("a", "1"), ("b", "2")]);
        // The seed's curl example: JSON content type, body `{}`.
        let p = Params::parse_body(
            Bytes::from_static(b"{}"),
            Some("application/json"),
            seps,
            lim,
        )
        .await
        .unwrap();
        assert!(p.is_empty());
        let p = Params::parse_body(
            Bytes::from_static(
                br#"{"count":10,"desc_order":true,"filtered_cmd":["A","B"],"s":"x"}"#,
            ),
            Some("Application/JSON"),
            seps,
            lim,
        )
        .await
        .unwrap();
        assert_eq!(p.get_one("count").unwrap(), Some("10"));
        assert_eq!(p.get_one("desc_order").unwrap(), Some("true"));
        assert_eq!(p.get_all("filtered_cmd"), vec!["A", "B"]);
        let e = Params::parse_body(
            Bytes::from_static(br#"{"o":{"x":1}}"#),
            Some("application/json"),
            seps,
            lim,
        )
        .await
        .unwrap_err();
        assert_eq!(e.key, "o");
        assert!(Params::parse_body(
            Bytes::from_static(b"[1]"),
            Some("application/json"),
            seps,
            lim
        )
        .await
        .is_err());
        // Empty bodies are fine whatever the type; others must be known.
        assert!(
            Params::parse_body(Bytes::new(), Some("text/plain"), seps, lim)
                .await
                .unwrap()
                .is_empty()
        );
        let e = Params::parse_body(Bytes::from_static(b"a=1"), Some("text/plain"), seps, lim)
            .await
            .unwrap_err();
        assert!(e.message.contains("unsupported Content-Type"), "{e}");
        // No Content-Type: a form body.
        let p = Params::parse_body(Bytes::from_static(b"a=1;b=2"), None, seps, lim)
            .await
            .unwrap();
        assert_eq!(pairs(&p), vec![("a", "1"), ("b", "2")]);
    }
}
