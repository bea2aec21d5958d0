//! The users file of `auditlog serve --users FILE` (SPEC section 5.3).
//!
//! Owns parsing and validating the TOML file into [`Users`] (lookups by
//! username and by JWT key id) and the reloadable [`SharedUsers`] handle the
//! server swaps on SIGHUP. It never verifies a password or a token (that is
//! [`super::auth`]), never logs or echoes a password hash or key material,
//! and never keeps a half-loaded file: a file with any error is rejected as a
//! whole and the previous users stay in force.
//!
//! ```toml
//! [[user]]
//! username = "alice"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! customer = 42
//! roles = ["audit", "archive"]
//!
//! [[user]]
//! username = "svc"
//! customer = 42
//! roles = ["owner", "writer"]
//! key_id = "0f1e2d3c"
//! public_key = """
//! -----BEGIN PUBLIC KEY-----
//! ...
//! -----END PUBLIC KEY-----
//! """
//! ```
//!
//! Rules beyond the SPEC's example (each violation is an error naming the
//! user and the field): `username`, `customer` and `roles` are required
//! (`roles = []` for none); a username is 1..=256 bytes without `:` (HTTP
//! Basic could not carry it) or control characters; `key_id` and
//! `public_key` come together; a user has a password hash, a key, or both;
//! usernames and key ids are unique; the public key is an RSA public key
//! (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) of at least 2048 bits;
//! unknown keys, at the top level or in a `[[user]]`, are rejected.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use jsonwebtoken::DecodingKey;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use toml::Value;

use crate::error::{Error, Result};
use crate::password;

/// Longest accepted username or key id, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Smallest accepted RSA modulus for a service-account key, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A permission a user may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Enswitch `audit/list`.
    Audit,
    /// The Voximplant methods.
    Owner,
    /// May read archived entries (Enswitch `archive=1`).
    Archive,
    /// May ingest records (`POST /api/v1/records`).
    Writer,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 4] = [Role::Audit, Role::Owner, Role::Archive, Role::Writer];

    /// The role's name in the users file.
    pub fn name(self) -> &'static str {
        match self {
            Role::Audit => "audit",
            Role::Owner => "owner",
            Role::Archive => "archive",
            Role::Writer => "writer",
        }
    }

    /// The role named `s` (exact, lowercase), if any.
    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// A set of roles.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Roles(u8);

impl Roles {
    /// No role.
    pub const NONE: Roles = Roles(0);

    /// Whether the set holds `r`.
    pub fn contains(self, r: Role) -> bool {
        self.0 & r.bit() != 0
    }

    /// The set with `r` added.
    #[must_use]
    pub fn with(self, r: Role) -> Roles {
        Roles(self.0 | r.bit())
    }

    /// The roles in the set, in [`Role::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Role> {
        Role::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Role> for Roles {
    fn from_iter<I: IntoIterator<Item = Role>>(iter: I) -> Self {
        iter.into_iter().fold(Roles::NONE, Roles::with)
    }
}

impl fmt::Debug for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter().map(Role::name)).finish()
    }
}

/// A service account's JWT verification key.
#[derive(Clone)]
pub struct JwtKey {
    /// The key id (JWT header `kid`).
    pub key_id: String,
    /// The RSA public key, ready for RS256 verification.
    pub decoding_key: DecodingKey,
}

/// One user of the users file.
#[derive(Clone)]
pub struct User {
    /// The login name (Enswitch `auth_username`, HTTP Basic user).
    pub username: String,
    /// The customer the user belongs to.
    pub customer: u64,
    /// What the user may do.
    pub roles: Roles,
    /// The argon2id PHC string, when the user logs in with a password.
    pub password_hash: Option<String>,
    /// The service-account key, when the user authenticates with JWTs.
    pub key: Option<JwtKey>,
}

impl fmt::Debug for User {
    /// Never prints the hash or the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("username", &self.username)
            .field("customer", &self.customer)
            .field("roles", &self.roles)
            .field("has_password", &self.password_hash.is_some())
            .field("key_id", &self.key.as_ref().map(|k| &k.key_id))
            .finish()
    }
}

/// What is wrong with a users file: which user (by name, or by position
/// when it has no usable name), which field, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsersError {
    /// `user "alice"` or `user #3`; `None` for file-level problems.
    pub user: Option<String>,
    /// The offending key of the `[[user]]` table, when there is one.
    pub field: Option<String>,
    /// Why it was rejected.
    pub reason: String,
}

impl fmt::Display for UsersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(u) = &self.user {
            write!(f, "{u}: ")?;
        }
        if let Some(k) = &self.field {
            write!(f, "field `{k}`: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for UsersError {}

/// The parsed users file: every user, indexed by username and by key id.
#[derive(Debug, Default)]
pub struct Users {
    users: Vec<User>,
    by_name: HashMap<String, usize>,
    by_key_id: HashMap<String, usize>,
}

const USER_KEYS: [&str; 6] = [
    "username",
    "password_hash",
    "customer",
    "roles",
    "key_id",
    "public_key",
];

impl Users {
    /// Parses and validates the text of a users file.
    pub fn from_toml(text: &str) -> std::result::Result<Users, UsersError> {
        let file_err = |reason: String| UsersError {
            user: None,
            field: None,
            reason,
        };
        let doc: toml::Table =
            toml::from_str(text).map_err(|e| file_err(format!("not valid TOML: {e}")))?;
        if let Some(k) = doc.keys().find(|k| k.as_str() != "user") {
            return Err(file_err(format!(
                "unknown top-level key `{k}` (only [[user]] tables are allowed)"
            )));
        }
        let entries = match doc.get("user") {
            None => &[][..],
            Some(Value::Array(a)) => a.as_slice(),
            Some(_) => {
                return Err(file_err(
                    "`user` must be an array of tables, written [[user]]".to_string(),
                ))
            }
        };
        let mut users = Users::default();
        for (i, entry) in entries.iter().enumerate() {
            let label = entry
                .get("username")
                .and_then(Value::as_str)
                .filter(|n| valid_name(n))
                .map_or_else(|| format!("user #{}", i + 1), |n| format!("user {n:?}"));
            let Value::Table(table) = entry else {
                return Err(UsersError {
                    user: Some(label),
                    field: None,
                    reason: "must be a table, written [[user]]".to_string(),
                });
            };
            if let Some(k) = table.keys().find(|k| !USER_KEYS.contains(&k.as_str())) {
                return Err(UsersError {
                    user: Some(label),
                    field: Some(k.clone()),
                    reason: format!(
                        "unknown key (expected {})",
                        USER_KEYS.map(|k| format!("`{k}`")).join(", ")
                    ),
                });
            }
            let user = parse_user(table).map_err(|(field, reason)| UsersError {
                user: Some(label.clone()),
                field: Some(field.to_string()),
                reason,
            })?;
            users.insert(user, &label)?;
        }
        Ok(users)
    }

    /// Reads and parses the users file at `path`.
    pub fn load(path: &Path) -> Result<Users> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        Users::from_toml(&text)
            .map_err(|e| Error::invalid(format!("users file {}", path.display()), e.to_string()))
    }

    fn insert(&mut self, user: User, label: &str) -> std::result::Result<(), UsersError> {
        let dup = |field: &str, other: usize| UsersError {
            user: Some(label.to_string()),
            field: Some(field.to_string()),
            reason: format!("already used by user #{}", other + 1),
        };
        if let Some(&other) = self.by_name.get(&user.username) {
            return Err(dup("username", other));
        }
        let idx = self.users.len();
        if let Some(k) = &user.key {
            if let Some(&other) = self.by_key_id.get(&k.key_id) {
                return Err(dup("key_id", other));
            }
            self.by_key_id.insert(k.key_id.clone(), idx);
        }
        self.by_name.insert(user.username.clone(), idx);
        self.users.push(user);
        Ok(())
    }

    /// The user with this username (exact, case-sensitive).
    pub fn by_username(&self, username: &str) -> Option<&User> {
        self.by_name.get(username).and_then(|&i| self.users.get(i))
    }

    /// The user whose `key_id` is `kid` (exact).
    pub fn by_key_id(&self, kid: &str) -> Option<&User> {
        self.by_key_id.get(kid).and_then(|&i| self.users.get(i))
    }

    /// Every user, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.users.iter()
    }

    /// How many users there are.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Whether there is no user.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_NAME_BYTES && !s.chars().any(char::is_control)
}

type FieldError = (&'static str, String);

fn parse_user(t: &toml::Table) -> std::result::Result<User, FieldError> {
    let username = required_str(t, "username")?;
    if !valid_name(username) || username.contains(':') {
        return Err((
            "username",
            format!("must be 1..={MAX_NAME_BYTES} bytes without `:` or control characters"),
        ));
    }
    let customer = match t.get("customer") {
        None => return Err(("customer", "missing (it is required)".to_string())),
        Some(Value::Integer(n)) => u64::try_from(*n).map_err(|_| {
            (
                "customer",
                format!("{n} is negative; customer ids are unsigned"),
            )
        })?,
        Some(v) => {
            return Err((
                "customer",
                format!("expected an integer, found {}", v.type_str()),
            ))
        }
    };
    let roles = match t.get("roles") {
        None => return Err(("roles", "missing (use roles = [] for none)".to_string())),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                let s = v.as_str().ok_or_else(|| {
                    ("roles", format!("expected strings, found {}", v.type_str()))
                })?;
                Role::from_name(s).ok_or_else(|| {
                    (
                        "roles",
                        format!(
                            "unknown role {s:?} (expected {})",
                            Role::ALL.map(|r| format!("{:?}", r.name())).join(", ")
                        ),
                    )
                })
            })
            .collect::<std::result::Result<Roles, _>>()?,
        Some(v) => {
            return Err((
                "roles",
                format!("expected an array of strings, found {}", v.type_str()),
            ))
        }
    };
    let password_hash = optional_str(t, "password_hash")?
        .map(|h| {
            password::check_phc(h)
                .map(|()| h.to_string())
                .map_err(|reason| ("password_hash", reason))
        })
        .transpose()?;
    let key = match (optional_str(t, "key_id")?, optional_str(t, "public_key")?) {
        (None, None) => None,
        (Some(_), None) => {
            return Err((
                "public_key",
                "missing: a key_id needs its public_key".to_string(),
            ))
        }
        (None, Some(_)) => {
            return Err((
                "key_id",
                "missing: a public_key needs its key_id".to_string(),
            ))
        }
        (Some(kid), Some(pem)) => {
            if !valid_name(kid) {
                return Err((
                    "key_id",
                    format!("must be 1..={MAX_NAME_BYTES} bytes without control characters"),
                ));
            }
            Some(JwtKey {
                key_id: kid.to_string(),
                decoding_key: parse_public_key(pem).map_err(|r| ("public_key", r))?,
            })
        }
    };
    if password_hash.is_none() && key.is_none() {
        return Err((
            "password_hash",
            "the user has neither a password_hash nor a key_id/public_key, so it could never log in"
                .to_string(),
        ));
    }
    Ok(User {
        username: username.to_string(),
        customer,
        roles,
        password_hash,
        key,
    })
}

fn required_str<'a>(
    t: &'a toml::Table,
    key: &'static str,
) -> std::result::Result<&'a str, FieldError> {
    optional_str(t, key)?.ok_or((key, "missing (it is required)".to_string()))
}

fn optional_str<'a>(
    t: &'a toml::Table,
    key: &'static str,
) -> std::result::Result<Option<&'a str>, FieldError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err((key, format!("expected a string, found {}", v.type_str()))),
    }
}

/// Parses an RSA public key PEM (SPKI `PUBLIC KEY` or PKCS#1
/// `RSA PUBLIC KEY`), checks its size, and builds the RS256 verifier key.
fn parse_public_key(pem: &str) -> std::result::Result<DecodingKey, String> {
    let pem = pem.trim();
    if pem.contains("PRIVATE KEY-----") {
        return Err(
            "this is a private key; give the public key (`openssl rsa -in key.pem -pubout`)"
                .to_string(),
        );
    }
    let key = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        rsa::RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| e.to_string())
    } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
        rsa::RsaPublicKey::from_public_key_pem(pem).map_err(|e| e.to_string())
    } else {
        Err("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)".to_string())
    }
    .map_err(|e| format!("not a valid RSA public key: {e}"))?;
    let bits = key.size() * 8;
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "an RSA key of {bits} bits is too small (at least {MIN_RSA_BITS})"
        ));
    }
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not usable for RS256 verification: {e}"))
}

/// The users currently in force, swappable as a whole (SIGHUP reload).
///
/// Readers take an `Arc<Users>` snapshot with [`SharedUsers::current`] and
/// keep using it for the whole request, so a reload never changes the
/// users under a request in flight.
#[derive(Debug)]
pub struct SharedUsers {
    path: Option<PathBuf>,
    current: RwLock<Arc<Users>>,
}

impl SharedUsers {
    /// Loads the users file at `path`; [`SharedUsers::reload`] re-reads it.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let users = Users::load(&path)?;
        Ok(SharedUsers {
            path: Some(path),
            current: RwLock::new(Arc::new(users)),
        })
    }

    /// Wraps users that did not come from a file (tests, embedding hosts).
    pub fn from_users(users: Users) -> Self {
        SharedUsers {
            path: None,
            current: RwLock::new(Arc::new(users)),
        }
    }

    /// A snapshot of the users in force.
    pub fn current(&self) -> Arc<Users> {
        // A poisoned lock only means a panic elsewhere while swapping an
        // Arc; the Arc inside is always whole.
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Replaces the users in force.
    pub fn replace(&self, users: Users) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(users);
    }

    /// Re-reads the file given to [`SharedUsers::open`] and, if it is valid,
    /// puts it in force; on any error the previous users stay. Returns the
    /// number of users now in force.
    pub fn reload(&self) -> Result<usize> {
        let Some(path) = &self.path else {
            return Err(Error::invalid(
                "users file",
                "these users were not loaded from a file",
            ));
        };
        let users = Users::load(path)?;
        let n = users.len();
        self.replace(users);
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::password::tests::cheap_hash;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use std::sync::OnceLock;

    /// One 2048-bit key pair per test binary: (private PKCS#8 PEM, public SPKI PEM).
    pub(crate) fn test_keys() -> &'static (String, String) {
        static KEYS: OnceLock<(String, String)> = OnceLock::new();
        KEYS.get_or_init(|| new_keys(2048))
    }

    /// A second, unrelated key pair.
    pub(crate) fn other_keys() -> &'static (String, String) {
        static KEYS: OnceLock<(String, String)> = OnceLock::new();
        KEYS.get_or_init(|| new_keys(2048))
    }

    fn new_keys(bits: usize) -> (String, String) {
        let mut rng = rand::thread_rng();
        let private = rsa::RsaPrivateKey::new(&mut rng, bits).unwrap();
        let public = private.to_public_key();
        (
            private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            public.to_public_key_pem(LineEnding::LF).unwrap(),
        )
    }

    fn err(text: &str) -> UsersError {
        Users::from_toml(text).unwrap_err()
    }

    #[test]
    fn parses_password_and_key_users() {
        let hash = cheap_hash("pw");
        let pem = &test_keys().1;
        let text = format!(
            r#"
[[user]]
username = "alice"
password_hash = "{hash}"
customer = 42
roles = ["audit", "archive"]

[[user]]
username = "svc"
customer = 7
roles = ["owner", "writer"]
key_id = "k1"
public_key = """
{pem}"""
"#
        );
        let users = Users::from_toml(&text).unwrap();
        assert_eq!(users.len(), 2);
        let a = users.by_username("alice").unwrap();
        assert_eq!(a.customer, 42);
        assert!(a.roles.contains(Role::Audit) && a.roles.contains(Role::Archive));
        assert!(!a.roles.contains(Role::Owner));
        assert_eq!(a.password_hash.as_deref(), Some(hash.as_str()));
        assert!(a.key.is_none());
        let s = users.by_key_id("k1").unwrap();
        assert_eq!(s.username, "svc");
        assert_eq!(s.customer, 7);
        assert!(s.password_hash.is_none());
        assert!(
            users.by_username("Alice").is_none(),
            "usernames are case-sensitive"
        );
        assert!(users.by_key_id("k2").is_none());
        let dbg = format!("{a:?}");
        assert!(
            !dbg.contains("argon2"),
            "Debug must not print the hash: {dbg}"
        );
        assert!(Users::from_toml("").unwrap().is_empty());
    }

    #[test]
    fn errors_name_user_and_field() {
        let h = cheap_hash("pw");
        let e = err(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=1\nroles=[\"audit\",\"admin\"]\n"
        ));
        assert_eq!(e.user.as_deref(), Some("user \"bob\""));
        assert_eq!(e.field.as_deref(), Some("roles"));
        assert!(e.reason.contains("\"admin\""), "{e}");
        assert!(
            e.to_string().starts_with("user \"bob\": field `roles`:"),
            "{e}"
        );

        let e = err(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=1\nroles=[]\nrolez=[]\n"
        ));
        assert_eq!(e.field.as_deref(), Some("rolez"));
        assert!(e.reason.contains("unknown key"), "{e}");

        let e = err(&format!(
            "[[user]]\npassword_hash=\"{h}\"\ncustomer=1\nroles=[]\n"
        ));
        assert_eq!(e.user.as_deref(), Some("user #1"));
        assert_eq!(e.field.as_deref(), Some("username"));

        let e = err(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"$argon2id$nope\"\ncustomer=1\nroles=[]\n",
        );
        assert_eq!(e.field.as_deref(), Some("password_hash"));

        let e = err(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=-3\nroles=[]\n"
        ));
        assert_eq!(e.field.as_deref(), Some("customer"));
        let e = err(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=\"3\"\nroles=[]\n"
        ));
        assert_eq!(e.field.as_deref(), Some("customer"));
        let e = err(&format!(
            "[[user]]\nusername=\"bob\"\npassword_hash=\"{h}\"\ncustomer=3\n"
        ));
        assert_eq!(e.field.as_deref(), Some("roles"));
        let e = err("[[user]]\nusername=\"bob\"\ncustomer=3\nroles=[]\n");
        assert!(e.reason.contains("could never log in"), "{e}");
        let e = err(&format!(
            "[[user]]\nusername=\"a:b\"\npassword_hash=\"{h}\"\ncustomer=3\nroles=[]\n"
        ));
        assert_eq!(e.field.as_deref(), Some("username"));

        let e = err("users = 1\n");
        assert!(e.user.is_none());
        assert!(e.reason.contains("unknown top-level key `users`"), "{e}");
        let e = err("[[user]\n");
        assert!(e.reason.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn duplicates_are_rejected() {
        let h = cheap_hash("pw");
        let pem = &test_keys().1;
        let e = err(&format!(
            "[[user]]\nusername=\"a\"\npassword_hash=\"{h}\"\ncustomer=1\nroles=[]\n\
             [[user]]\nusername=\"a\"\npassword_hash=\"{h}\"\ncustomer=2\nroles=[]\n"
        ));
        assert_eq!(e.user.as_deref(), Some("user \"a\""));
        assert_eq!(e.field.as_deref(), Some("username"));
        assert!(e.reason.contains("user #1"), "{e}");
        let e = err(&format!(
            "[[user]]\nusername=\"a\"\ncustomer=1\nroles=[]\nkey_id=\"k\"\npublic_key='''{pem}'''\n\
             [[user]]\nusername=\"b\"\ncustomer=2\nroles=[]\nkey_id=\"k\"\npublic_key='''{pem}'''\n"
        ));
        assert_eq!(e.user.as_deref(), Some("user \"b\""));
        assert_eq!(e.field.as_deref(), Some("key_id"));
    }

    #[test]
    fn bad_keys_are_rejected() {
        let (private, public) = test_keys();
        let user =
            |extra: &str| format!("[[user]]\nusername=\"s\"\ncustomer=1\nroles=[]\n{extra}\n");
        let e = err(&user(&format!("key_id=\"k\"\npublic_key='''{private}'''")));
        assert_eq!(e.field.as_deref(), Some("public_key"));
        assert!(e.reason.contains("private key"), "{e}");
        assert!(
            !e.to_string().contains("BEGIN"),
            "must not echo key material: {e}"
        );
        let e = err(&user("key_id=\"k\"\npublic_key='''-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'''"));
        assert_eq!(e.field.as_deref(), Some("public_key"));
        assert!(e.reason.contains("not a valid RSA public key"), "{e}");
        let e = err(&user("key_id=\"k\"\npublic_key=\"hello\""));
        assert_eq!(e.field.as_deref(), Some("public_key"));
        let e = err(&user(&format!("public_key='''{public}'''")));
        assert_eq!(e.field.as_deref(), Some("key_id"));
        let e = err(&user("key_id=\"k\""));
        assert_eq!(e.field.as_deref(), Some("public_key"));
        // A 1024-bit key is too small.
        let small = new_keys(1024).1;
        let e = err(&user(&format!("key_id=\"k\"\npublic_key='''{small}'''")));
        assert!(e.reason.contains("1024 bits is too small"), "{e}");
        // PKCS#1 public keys are accepted too.
        let pk = rsa::RsaPublicKey::from_public_key_pem(public).unwrap();
        let pkcs1 = rsa::pkcs1::EncodeRsaPublicKey::to_pkcs1_pem(&pk, LineEnding::LF).unwrap();
        let users =
            Users::from_toml(&user(&format!("key_id=\"k\"\npublic_key='''{pkcs1}'''"))).unwrap();
        assert!(users.by_key_id("k").is_some());
    }

    #[test]
    fn reload_swaps_only_valid_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let h = cheap_hash("pw");
        let one =
            format!("[[user]]\nusername=\"a\"\npassword_hash=\"{h}\"\ncustomer=1\nroles=[]\n");
        std::fs::write(&path, &one).unwrap();
        let shared = SharedUsers::open(&path).unwrap();
        let before = shared.current();
        assert!(before.by_username("a").is_some());
        let two =
            format!("{one}[[user]]\nusername=\"b\"\npassword_hash=\"{h}\"\ncustomer=2\nroles=[]\n");
        std::fs::write(&path, two).unwrap();
        assert_eq!(shared.reload().unwrap(), 2);
        assert!(shared.current().by_username("b").is_some());
        assert!(
            before.by_username("b").is_none(),
            "old snapshots stay as they were"
        );
        std::fs::write(&path, "[[user]]\nusername=\"c\"\n").unwrap();
        let e = shared.reload().unwrap_err();
        assert!(e.to_string().contains("users.toml"), "{e}");
        assert!(
            shared.current().by_username("b").is_some(),
            "a bad file keeps the old users"
        );
        assert!(SharedUsers::from_users(Users::default()).reload().is_err());
    }
}
