//! Authentication: passwords (Enswitch `auth_username`/`auth_password`,
//! HTTP Basic for ingest) and RS256 service-account JWTs (Voximplant
//! `Authorization: Bearer`).
//!
//! Owns deciding whether presented credentials identify a user of the
//! users file, and nothing about what that user may then do (roles and
//! tenancy are checked by the endpoint modules). It must never log, echo or
//! put into an error a password or a token: [`AuthError`] carries only a
//! reason meant for the server log. It never lets an unknown username be
//! told apart from a wrong password by timing: both run one argon2
//! verification. Password checks are CPU-bound and blocking; the async
//! layer calls [`verify_password`] through `spawn_blocking`.

use std::fmt;
use std::sync::OnceLock;

use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use super::users::{Role, Roles, User, Users};
use crate::password;
use crate::time::Timestamp;

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const JWT_LEEWAY_SECS: f64 = 5.0;
/// Longest accepted bearer token, in bytes.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Longest accepted HTTP Basic credential (before decoding), in bytes.
pub const MAX_BASIC_BYTES: usize = 4 * 1024;

/// The authenticated caller: who, which customer, which roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// The username from the users file.
    pub username: String,
    /// The customer the user belongs to.
    pub customer: u64,
    /// What the user may do.
    pub roles: Roles,
}

impl AuthUser {
    /// Whether the user holds `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }
}

impl From<&User> for AuthUser {
    fn from(u: &User) -> Self {
        AuthUser {
            username: u.username.clone(),
            customer: u.customer,
            roles: u.roles,
        }
    }
}

/// Authentication failed. One kind for every cause (Enswitch answers 401,
/// Voximplant code 100); the reason is for the server log only and never
/// contains the password or the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthError {
    reason: String,
}

impl AuthError {
    pub(crate) fn new(reason: impl Into<String>) -> Self {
        AuthError {
            reason: reason.into(),
        }
    }

    /// Why it failed (for logs; do not send it to the client).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "authentication failed: {}", self.reason)
    }
}

impl std::error::Error for AuthError {}

/// A password received from a client. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Self {
        Password(p.into())
    }

    /// The password itself, for verification only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A username and password from an `Authorization: Basic` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: Password,
}

/// The PHC string unknown users are verified against: an argon2id hash of
/// a random password with the default cost, computed once.
fn dummy_hash() -> Option<&'static str> {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    DUMMY
        .get_or_init(|| {
            let mut seed = [0u8; 24];
            getrandom_fill(&mut seed);
            let pw: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            password::hash_password(&pw).ok()
        })
        .as_deref()
}

fn getrandom_fill(buf: &mut [u8]) {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    OsRng.fill_bytes(buf);
}

/// Computes the dummy hash now, so the first unknown-user login is not
/// slower than the others. Call it once at server start (it blocks).
pub fn warm_up() {
    let _ = dummy_hash();
}

/// Checks `username`/`password` against the users file.
///
/// An unknown user, or one without a `password_hash` (a JWT-only service
/// account), is verified against a dummy hash and refused, so it costs the
/// same argon2 work as a wrong password. Blocking: tens of milliseconds.
pub fn verify_password(
    users: &Users,
    username: &str,
    password: &str,
) -> Result<AuthUser, AuthError> {
    let user = users.by_username(username);
    let shown = truncate(username, 64);
    match user.and_then(|u| u.password_hash.as_deref().map(|h| (u, h))) {
        Some((u, phc)) => match counted_verify(phc, password) {
            Ok(true) => Ok(AuthUser::from(u)),
            Ok(false) => Err(AuthError::new(format!("wrong password for user {shown:?}"))),
            Err(e) => Err(AuthError::new(format!(
                "user {shown:?} has an unusable password hash: {e}"
            ))),
        },
        None => {
            if let Some(dummy) = dummy_hash() {
                let _ = counted_verify(dummy, password);
            }
            Err(AuthError::new(if user.is_some() {
                format!("user {shown:?} has no password (key-only account)")
            } else {
                format!("unknown user {shown:?}")
            }))
        }
    }
}

#[cfg(test)]
thread_local! {
    /// argon2 verifications run on this thread (tests check that every
    /// login path pays exactly one).
    static VERIFIES: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// [`password::verify`], counted in tests.
fn counted_verify(phc: &str, password: &str) -> crate::Result<bool> {
    #[cfg(test)]
    VERIFIES.with(|c| c.set(c.get() + 1));
    password::verify(phc, password)
}

/// Parses an `Authorization: Basic <base64(user:password)>` header value.
pub fn parse_basic(header: &str) -> Result<BasicCredentials, AuthError> {
    if header.len() > MAX_BASIC_BYTES {
        return Err(AuthError::new("Authorization header too long"));
    }
    let (scheme, rest) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| AuthError::new("Authorization header is not `Basic <credentials>`"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(AuthError::new(format!(
            "Authorization scheme {:?} is not Basic",
            truncate(scheme, 32)
        )));
    }
    let raw = b64_decode(rest.trim(), Alphabet::Standard)
        .ok_or_else(|| AuthError::new("Basic credentials are not valid base64"))?;
    let text = String::from_utf8(raw)
        .map_err(|_| AuthError::new("Basic credentials are not valid UTF-8"))?;
    let (user, pass) = text
        .split_once(':')
        .ok_or_else(|| AuthError::new("Basic credentials have no `:` between user and password"))?;
    Ok(BasicCredentials {
        username: user.to_string(),
        password: Password::new(pass),
    })
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn parse_bearer(header: &str) -> Result<&str, AuthError> {
    let (scheme, rest) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| AuthError::new("Authorization header is not `Bearer <token>`"))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::new(format!(
            "Authorization scheme {:?} is not Bearer",
            truncate(scheme, 32)
        )));
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(AuthError::new("empty bearer token"));
    }
    Ok(token)
}

/// Verifies a Voximplant service-account JWT and returns its user.
///
/// In order: the header's `alg` must be `RS256` (`none`, `HS256` and every
/// other algorithm are refused before any key is looked up) and `crit` must
/// be absent; the header's `kid` must be a user's `key_id`; the RS256
/// signature must verify with that user's public key; `iss` must be the
/// user's customer id (a string of its decimal digits, or a number); `exp`
/// is required and `now` must be before `exp` + 5 s; `nbf`, when present,
/// must not be after `now` + 5 s; `iat`, `aud`, `sub` and other claims are
/// ignored.
pub fn verify_bearer(users: &Users, token: &str, now: Timestamp) -> Result<AuthUser, AuthError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::new(format!(
            "token of {} bytes is over the limit of {MAX_TOKEN_BYTES}",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::new("token is not three dot-separated parts"));
    };
    let header: Map<String, Value> = b64_decode(header_b64, Alphabet::Url)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AuthError::new("token header is not base64url JSON object"))?;
    match header.get("alg") {
        Some(Value::String(a)) if a == "RS256" => {}
        Some(Value::String(a)) => {
            return Err(AuthError::new(format!(
                "alg {:?} is not accepted (RS256 only)",
                truncate(a, 32)
            )))
        }
        _ => return Err(AuthError::new("token header has no alg")),
    }
    if header.contains_key("crit") {
        return Err(AuthError::new(
            "token header has crit extensions, which are not supported",
        ));
    }
    let kid = match header.get("kid") {
        Some(Value::String(k)) => k.as_str(),
        _ => return Err(AuthError::new("token header has no kid")),
    };
    let user = users
        .by_key_id(kid)
        .ok_or_else(|| AuthError::new(format!("unknown key id {:?}", truncate(kid, 64))))?;
    let key = user
        .key
        .as_ref()
        .ok_or_else(|| AuthError::new("key id has no key"))?;

    // The library checks the signature (and the alg again); every claim is
    // checked below against the injected clock.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key.decoding_key, &validation)
        .map_err(|e| AuthError::new(format!("key id {kid:?}: token rejected: {e}")))?
        .claims;

    let iss_ok = match claims.get("iss") {
        Some(Value::String(s)) => *s == user.customer.to_string(),
        Some(Value::Number(n)) => n.as_u64() == Some(user.customer),
        _ => return Err(AuthError::new(format!("key id {kid:?}: token has no iss"))),
    };
    if !iss_ok {
        return Err(AuthError::new(format!(
            "key id {kid:?}: iss is not customer {}",
            user.customer
        )));
    }
    let now_s = now.as_micros() as f64 / 1e6;
    let exp = numeric_claim(&claims, "exp", kid)?
        .ok_or_else(|| AuthError::new(format!("key id {kid:?}: token has no exp")))?;
    if now_s >= exp + JWT_LEEWAY_SECS {
        return Err(AuthError::new(format!("key id {kid:?}: token expired")));
    }
    if let Some(nbf) = numeric_claim(&claims, "nbf", kid)? {
        if nbf > now_s + JWT_LEEWAY_SECS {
            return Err(AuthError::new(format!(
                "key id {kid:?}: token not valid yet (nbf)"
            )));
        }
    }
    Ok(AuthUser::from(user))
}

fn numeric_claim(
    claims: &Map<String, Value>,
    name: &str,
    kid: &str,
) -> Result<Option<f64>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| AuthError::new(format!("key id {kid:?}: {name} is not a number"))),
        Some(_) => Err(AuthError::new(format!(
            "key id {kid:?}: {name} is not a number"
        ))),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => s.get(..i).unwrap_or(s),
        None => s,
    }
}

#[derive(Clone, Copy)]
enum Alphabet {
    /// RFC 4648 section 4 (`+`, `/`), padding optional.
    Standard,
    /// RFC 4648 section 5 (`-`, `_`), padding optional.
    Url,
}

/// Decodes base64; `None` on any character outside the alphabet, padding
/// anywhere but the end, or an impossible length.
fn b64_decode(s: &str, alphabet: Alphabet) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if matches!(alphabet, Alphabet::Standard) => 62,
            b'/' if matches!(alphabet, Alphabet::Standard) => 63,
            b'-' if matches!(alphabet, Alphabet::Url) => 62,
            b'_' if matches!(alphabet, Alphabet::Url) => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    for chunk in s.as_bytes().chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        let n = chunk.len() - 1; // 2 chars -> 1 byte, 3 -> 2, 4 -> 3
        out.extend_from_slice(bytes.get(1..1 + n)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::tests::cheap_hash;
    use crate::server::users::tests::{other_keys, test_keys};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(NOW).unwrap()
    }

    fn users() -> Users {
        let h = cheap_hash("right");
        let pem = &test_keys().1;
        Users::from_toml(&format!(
            r#"
[[user]]
username = "alice"
password_hash = "{h}"
customer = 42
roles = ["audit"]

[[user]]
username = "svc"
customer = 7
roles = ["owner"]
key_id = "kid-1"
public_key = '''{pem}'''
"#
        ))
        .unwrap()
    }

    fn sign(header: Header, claims: &Value, private_pem: &str) -> String {
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn rs256(kid: &str) -> Header {
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.to_string());
        h
    }

    fn b64url(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut acc = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                acc |= u32::from(*b) << (16 - 8 * i);
            }
            for i in 0..=chunk.len() {
                out.push(A[((acc >> (18 - 6 * i)) & 63) as usize] as char);
            }
        }
        out
    }

    fn good_claims() -> Value {
        json!({"iss": "7", "iat": NOW - 10, "exp": NOW + 3600})
    }

    #[test]
    fn valid_token_is_accepted_with_string_or_number_iss() {
        let u = users();
        let t = sign(rs256("kid-1"), &good_claims(), &test_keys().0);
        let who = verify_bearer(&u, &t, now()).unwrap();
        assert_eq!(who.username, "svc");
        assert_eq!(who.customer, 7);
        assert!(who.has(Role::Owner));
        assert!(!who.has(Role::Audit));
        let t = sign(
            rs256("kid-1"),
            &json!({"iss": 7, "exp": NOW + 60, "nbf": NOW}),
            &test_keys().0,
        );
        assert_eq!(verify_bearer(&u, &t, now()).unwrap().customer, 7);
        // Within the 5 s leeway.
        let t = sign(
            rs256("kid-1"),
            &json!({"iss": "7", "exp": NOW - 4}),
            &test_keys().0,
        );
        assert!(verify_bearer(&u, &t, now()).is_ok());
    }

    #[test]
    fn bad_tokens_are_refused() {
        let u = users();
        let (private, _) = test_keys();
        let reason = |t: &str| {
            verify_bearer(&u, t, now())
                .unwrap_err()
                .reason()
                .to_string()
        };

        // Signed with another key.
        let t = sign(rs256("kid-1"), &good_claims(), &other_keys().0);
        assert!(reason(&t).contains("token rejected"), "{}", reason(&t));
        // Unknown kid, and no kid.
        let t = sign(rs256("kid-2"), &good_claims(), private);
        assert!(reason(&t).contains("unknown key id"));
        let t = sign(Header::new(Algorithm::RS256), &good_claims(), private);
        assert!(reason(&t).contains("no kid"));
        // Expired beyond the leeway.
        let t = sign(
            rs256("kid-1"),
            &json!({"iss": "7", "exp": NOW - 6}),
            private,
        );
        assert!(reason(&t).contains("expired"));
        // exp missing, or not a number.
        let t = sign(rs256("kid-1"), &json!({"iss": "7"}), private);
        assert!(reason(&t).contains("no exp"));
        let t = sign(rs256("kid-1"), &json!({"iss": "7", "exp": "soon"}), private);
        assert!(reason(&t).contains("exp is not a number"));
        // nbf in the future.
        let t = sign(
            rs256("kid-1"),
            &json!({"iss": "7", "exp": NOW + 600, "nbf": NOW + 60}),
            private,
        );
        assert!(reason(&t).contains("nbf"));
        // Wrong or missing iss.
        for iss in [json!("42"), json!(42), json!("07"), json!(7.5)] {
            let t = sign(
                rs256("kid-1"),
                &json!({"iss": iss, "exp": NOW + 60}),
                private,
            );
            assert!(
                reason(&t).contains("iss is not customer 7"),
                "{iss}: {}",
                reason(&t)
            );
        }
        let t = sign(rs256("kid-1"), &json!({"exp": NOW + 60}), private);
        assert!(reason(&t).contains("no iss"));
        // HS256 with the public key as the secret (the classic confusion attack).
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("kid-1".into());
        let t = jsonwebtoken::encode(
            &h,
            &good_claims(),
            &EncodingKey::from_secret(test_keys().1.as_bytes()),
        )
        .unwrap();
        assert!(
            reason(&t).contains("\"HS256\" is not accepted"),
            "{}",
            reason(&t)
        );
        // alg none, unsigned.
        let head = b64url(br#"{"alg":"none","kid":"kid-1"}"#);
        let body = b64url(good_claims().to_string().as_bytes());
        let t = format!("{head}.{body}.");
        assert!(
            reason(&t).contains("\"none\" is not accepted"),
            "{}",
            reason(&t)
        );
        // A valid RS256 token whose header gains crit.
        let head = b64url(br#"{"alg":"RS256","kid":"kid-1","crit":["x"]}"#);
        assert!(reason(&format!("{head}.{body}.sig")).contains("crit"));
        // A tampered payload.
        let good = sign(rs256("kid-1"), &good_claims(), private);
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = b64url(
            json!({"iss": "7", "exp": NOW + 99999})
                .to_string()
                .as_bytes(),
        );
        parts[1] = &forged;
        assert!(reason(&parts.join(".")).contains("token rejected"));
        // Garbage.
        assert!(reason("a.b").contains("three"));
        assert!(reason("!!.b.c").contains("base64url"));
        assert!(reason(&"a".repeat(MAX_TOKEN_BYTES + 1)).contains("limit"));
        // No reason ever carries the token.
        assert!(!reason(&good.replace('.', ".x")).contains(&good[..20]));
    }

    #[test]
    fn passwords_and_unknown_users() {
        let u = users();
        let who = verify_password(&u, "alice", "right").unwrap();
        assert_eq!(who.customer, 42);
        assert!(who.has(Role::Audit));
        let e = verify_password(&u, "alice", "wrong").unwrap_err();
        assert!(e.reason().contains("wrong password"));
        assert!(
            !e.to_string().contains("wrong\""),
            "never echo the password"
        );
        let e = verify_password(&u, "mallory", "right").unwrap_err();
        assert!(e.reason().contains("unknown user"));
        let e = verify_password(&u, "svc", "anything").unwrap_err();
        assert!(e.reason().contains("no password"));
        let long = "x".repeat(10_000);
        let e = verify_password(&u, &long, "p").unwrap_err();
        assert!(
            e.reason().len() < 200,
            "client input is truncated in reasons"
        );
    }

    #[test]
    fn unknown_user_costs_an_argon2_verification() {
        // Same cost, checked without timing: the dummy hash has the
        // algorithm and parameters of a hash made for a real user, and
        // every refusal (wrong password, unknown user; a key-only user takes
        // the unknown user's path)
        // runs exactly one argon2 verification.
        warm_up();
        let h = password::hash_password("right").unwrap();
        let params = |phc: &str| phc.split('$').take(4).collect::<Vec<_>>().join("$");
        let dummy = dummy_hash().expect("dummy hash");
        assert_eq!(params(dummy), params(&h));
        assert!(
            params(&h).starts_with("$argon2id$v=19$m="),
            "{}",
            params(&h)
        );
        let u = Users::from_toml(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=1\nroles=[]\n"
        ))
        .unwrap();
        for name in ["bob", "nobody"] {
            let before = VERIFIES.with(|c| c.get());
            assert!(verify_password(&u, name, "wrong").is_err());
            assert_eq!(VERIFIES.with(|c| c.get()) - before, 1, "{name}");
        }
        let before = VERIFIES.with(|c| c.get());
        assert!(verify_password(&u, "bob", "right").is_ok());
        assert_eq!(VERIFIES.with(|c| c.get()) - before, 1);
    }

    #[test]
    fn basic_and_bearer_headers() {
        // "alice:pa:ss" in base64.
        let c = parse_basic("Basic YWxpY2U6cGE6c3M=").unwrap();
        assert_eq!(c.username, "alice");
        assert_eq!(c.password.expose(), "pa:ss");
        assert!(!format!("{c:?}").contains("pa:ss"));
        assert_eq!(parse_basic("basic   YWxpY2U6cGE6c3M").unwrap(), c);
        assert!(parse_basic("Bearer YWxpY2U6cGE6c3M=").is_err());
        assert!(parse_basic("Basic YWxpY2U=")
            .unwrap_err()
            .reason()
            .contains("no `:`"));
        assert!(parse_basic("Basic ***")
            .unwrap_err()
            .reason()
            .contains("base64"));
        assert!(parse_basic("Basic /w==")
            .unwrap_err()
            .reason()
            .contains("UTF-8"));
        assert!(parse_basic("Basic").is_err());
        assert_eq!(parse_bearer("Bearer abc.def.ghi").unwrap(), "abc.def.ghi");
        assert_eq!(parse_bearer("bearer  x ").unwrap(), "x");
        assert!(parse_bearer("Basic abc").is_err());
        assert!(parse_bearer("Bearer ").is_err());
    }

    #[test]
    fn base64_decoder() {
        assert_eq!(b64_decode("", Alphabet::Standard).unwrap(), b"");
        assert_eq!(b64_decode("Zg==", Alphabet::Standard).unwrap(), b"f");
        assert_eq!(b64_decode("Zm8", Alphabet::Standard).unwrap(), b"fo");
        assert_eq!(b64_decode("Zm9v", Alphabet::Standard).unwrap(), b"foo");
        assert_eq!(b64_decode("-_8", Alphabet::Url).unwrap(), vec![0xfb, 0xff]);
        assert_eq!(
            b64_decode("+/8", Alphabet::Standard).unwrap(),
            vec![0xfb, 0xff]
        );
        assert!(b64_decode("+/8", Alphabet::Url).is_none());
        assert!(b64_decode("-_8", Alphabet::Standard).is_none());
        assert!(b64_decode("Z", Alphabet::Standard).is_none());
        assert!(b64_decode("Zg=a", Alphabet::Standard).is_none());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(b64_decode(&b64url(&all), Alphabet::Url).unwrap(), all);
    }
}
