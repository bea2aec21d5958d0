//! Helpers for the HTTP tests (`tests/http.rs`, `tests/load.rs`): a log with
//! generated records and a customer tree, a users file with argon2 hashes
//! and RSA service-account keys, a server on a free loopback port that
//! stops when dropped, and JWT signing.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::thread::JoinHandle;

use auditlog::server::http::{serve, ServeConfig, ShutdownHandle};
use auditlog::{AuditLog, Durability, NewRecord, Options, Record, Timestamp};

use super::{gen_record, Rng};

/// 2026-01-01T00:00:00Z in microseconds.
pub const BASE: i64 = 1_767_225_600_000_000;
/// 2026-01-01T00:00:00Z in seconds.
pub const BASE_S: i64 = BASE / 1_000_000;

/// The customer tree of the fixtures: 1 > 2 > 4 > 7 > 8; 2 > 5; 1 > 3 > 6;
/// 9 > 10; 11, 12 top-level.
pub const TREE: &[(u64, Option<u64>)] = &[
    (2, Some(1)),
    (3, Some(1)),
    (4, Some(2)),
    (5, Some(2)),
    (6, Some(3)),
    (7, Some(4)),
    (8, Some(7)),
    (10, Some(9)),
];

/// Two unrelated 2048-bit RSA key pairs (private PKCS#8 PEM, public SPKI
/// PEM), generated once per test binary.
pub fn keys() -> &'static [(String, String); 2] {
    static KEYS: OnceLock<[(String, String); 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
        let gen = || {
            let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            (
                private.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
                private
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .unwrap(),
            )
        };
        [gen(), gen()]
    })
}

/// A cheap argon2id PHC string (8 KiB, 1 pass): the server verifies any
/// argon2id cost, and tests stay fast.
pub fn cheap_hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8, 1, 1, None).unwrap(),
    )
    .hash_password(password.as_bytes(), &salt)
    .unwrap()
    .to_string()
}

/// One `[[user]]` of a users file.
pub struct UserSpec {
    pub name: &'static str,
    pub password: Option<&'static str>,
    pub customer: u64,
    pub roles: &'static [&'static str],
    /// (key id, index into [`keys`]).
    pub key: Option<(&'static str, usize)>,
}

/// The users of the fixtures. Passwords are `<name>-pw`.
pub const USERS: &[UserSpec] = &[
    // Top-level customer 1, audit only.
    UserSpec {
        name: "top",
        password: Some("top-pw"),
        customer: 1,
        roles: &["audit"],
        key: None,
    },
    UserSpec {
        name: "arch",
        password: Some("arch-pw"),
        customer: 1,
        roles: &["audit", "archive"],
        key: None,
    },
    // Customer 2 has a parent (1).
    UserSpec {
        name: "c2",
        password: Some("c2-pw"),
        customer: 2,
        roles: &["audit"],
        key: None,
    },
    UserSpec {
        name: "noaudit",
        password: Some("noaudit-pw"),
        customer: 1,
        roles: &["owner", "writer"],
        key: None,
    },
    // An unknown customer has no parent: it counts as top-level.
    UserSpec {
        name: "lone",
        password: Some("lone-pw"),
        customer: 555,
        roles: &["audit"],
        key: None,
    },
    UserSpec {
        name: "writer2",
        password: Some("writer2-pw"),
        customer: 2,
        roles: &["writer", "audit"],
        key: None,
    },
    UserSpec {
        name: "vox3",
        password: None,
        customer: 3,
        roles: &["owner"],
        key: Some(("k3", 0)),
    },
    UserSpec {
        name: "vox9",
        password: None,
        customer: 9,
        roles: &["owner"],
        key: Some(("k9", 1)),
    },
    UserSpec {
        name: "aud3",
        password: None,
        customer: 3,
        roles: &["audit"],
        key: Some(("k3-audit", 0)),
    },
];

/// The users file text for `users`.
pub fn users_toml(users: &[UserSpec]) -> String {
    static HASHES: OnceLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
        OnceLock::new();
    let hashes = HASHES.get_or_init(Default::default);
    let mut out = String::new();
    for u in users {
        out.push_str(&format!(
            "[[user]]\nusername = \"{}\"\ncustomer = {}\nroles = [{}]\n",
            u.name,
            u.customer,
            u.roles
                .iter()
                .map(|r| format!("\"{r}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(pw) = u.password {
            let h = hashes
                .lock()
                .unwrap()
                .entry(pw.to_string())
                .or_insert_with(|| cheap_hash(pw))
                .clone();
            out.push_str(&format!("password_hash = \"{h}\"\n"));
        }
        if let Some((kid, k)) = u.key {
            out.push_str(&format!(
                "key_id = \"{kid}\"\npublic_key = '''\n{}'''\n",
                keys()[k].1
            ));
        }
        out.push('\n');
    }
    out
}

/// Writes the fixtures' users file into `dir`.
pub fn write_users(dir: &Path) -> PathBuf {
    let path = dir.join("users.toml");
    std::fs::write(&path, users_toml(USERS)).unwrap();
    path
}

/// A log in `dir` holding `n` generated records (customers 1..=12) in
/// small segments, the first third of the time span archived (when there
/// are at least 1000), and the
/// fixtures' customer tree. Returns it with every record and whether it is
/// archived.
pub fn build_log(dir: &Path, n: u64, seed: u64) -> (AuditLog, Vec<(Record, bool)>) {
    let log = Options::new(dir)
        .durability(Durability::Never)
        .segment_size(16 << 10)
        .open()
        .unwrap();
    log.set_parents(TREE).unwrap();
    let mut rng = Rng(seed);
    let recs: Vec<NewRecord> = (0..n).map(|i| gen_record(&mut rng, i, BASE)).collect();
    for chunk in recs.chunks(100) {
        log.append_batch(chunk.to_vec()).unwrap();
    }
    if n >= 1000 {
        let moved = log
            .archive(Timestamp::from_micros(BASE + (n as i64 / 3) * 1_000_000).unwrap())
            .unwrap();
        assert!(!moved.is_empty(), "nothing archived: {:?}", log.segments());
    }
    let all = tagged(&log);
    assert_eq!(all.len() as u64, n);
    (log, all)
}

/// Every record of `log` with whether its segment is archived.
pub fn tagged(log: &AuditLog) -> Vec<(Record, bool)> {
    let segs = log.segments();
    log.range(..)
        .map(|r| {
            let r = r.unwrap();
            let seg = segs.iter().rev().find(|s| s.first_id <= r.id).unwrap();
            let archived = seg.tier == "archived";
            (r, archived)
        })
        .collect()
}

/// A server running in a thread; dropping it stops it (gracefully) and
/// waits for `serve` to return.
pub struct Server {
    pub addr: SocketAddr,
    pub url: String,
    pub shutdown: ShutdownHandle,
    thread: Option<JoinHandle<auditlog::Result<()>>>,
}

impl Server {
    /// Starts `serve` on a free loopback port with `cfg` (its `listen`
    /// and signal handling are overridden).
    pub fn start(log: AuditLog, cfg: ServeConfig) -> Server {
        let shutdown = ShutdownHandle::new();
        let cfg = cfg
            .listen("127.0.0.1:0".parse().unwrap())
            .handle_signals(false)
            .shutdown_on(shutdown.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || serve(log, cfg, Some(tx)));
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the server did not start");
        Server {
            addr,
            url: format!("http://{addr}"),
            shutdown,
            thread: Some(thread),
        }
    }

    /// Stops the server and returns what `serve` returned.
    pub fn stop(mut self) -> auditlog::Result<()> {
        self.shutdown.trigger();
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An RS256 JWT with `kid`, signed with key `key` (index into [`keys`]),
/// `iss` as given, expiring `exp_in` seconds from now.
pub fn token(kid: &str, key: usize, iss: serde_json::Value, exp_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(kid.to_string());
    jsonwebtoken::encode(
        &h,
        &serde_json::json!({"iss": iss, "iat": now - 5, "exp": now + exp_in}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(keys()[key].0.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn pct(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A blocking HTTP client without automatic decompression.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_gzip()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}
