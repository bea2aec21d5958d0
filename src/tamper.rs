//! Tamper evidence beyond the hash chain itself: the Ed25519 log key,
//! signed checkpoints and the signed retention horizon (see
//! `docs/format.md`, "Tamper evidence").
//!
//! The chain (`format::chain`) makes any change inside the log visible to
//! `verify`; the signatures here pin the chain to documents an attacker
//! cannot forge without the key: a checkpoint kept off the machine proves
//! that the log still extends it (no truncation, no rewrite before it),
//! and the horizon vouches for the records that retention removed.
//!
//! All file I/O goes through [`Storage`].

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, Verifier};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::format::chain::{from_hex, to_hex, Head};
use crate::storage::{read_all, write_atomic, write_atomic_private, Storage};
use crate::time::Timestamp;

/// The secret key file in the data directory (the 32-byte Ed25519 seed,
/// mode 0600).
pub const KEY_FILE: &str = "checkpoint.key";
/// The public key file beside it (64 hex digits and a newline).
pub const PUBLIC_KEY_FILE: &str = "checkpoint.pub";
/// The signed retention horizon in the data directory.
pub const HORIZON_FILE: &str = "horizon.json";
/// The `format` of a checkpoint document.
pub const CHECKPOINT_FORMAT: &str = "auditlog-checkpoint/1";
/// The `format` of a horizon document.
pub const HORIZON_FORMAT: &str = "auditlog-horizon/1";

fn key_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::invalid(format!("key file {}", path.display()), reason)
}

/// Parses key bytes: exactly 32 raw bytes, or 64 hex digits (surrounding
/// whitespace ignored).
fn parse_key_bytes(path: &Path, bytes: &[u8]) -> Result<[u8; 32]> {
    if let Ok(raw) = <[u8; 32]>::try_from(bytes) {
        // 32 bytes that are not hex text are the raw form.
        if !bytes.iter().all(u8::is_ascii_hexdigit) {
            return Ok(raw);
        }
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|_| key_error(path, "neither 32 raw bytes nor 64 hex digits"))?;
    from_hex::<32>(text.trim())
        .ok_or_else(|| key_error(path, "neither 32 raw bytes nor 64 hex digits"))
}

/// Reads an Ed25519 secret key (the 32-byte seed, raw or as 64 hex
/// digits) from `path`.
pub fn read_signing_key(storage: &dyn Storage, path: &Path) -> Result<SigningKey> {
    let bytes = read_all(storage, path).map_err(|e| Error::io("read key", path, e))?;
    Ok(SigningKey::from_bytes(&parse_key_bytes(path, &bytes)?))
}

/// Reads an Ed25519 public key (32 raw bytes or 64 hex digits) from `path`.
pub fn read_public_key(storage: &dyn Storage, path: &Path) -> Result<VerifyingKey> {
    let bytes = read_all(storage, path).map_err(|e| Error::io("read public key", path, e))?;
    VerifyingKey::from_bytes(&parse_key_bytes(path, &bytes)?)
        .map_err(|e| key_error(path, format!("not an Ed25519 public key: {e}")))
}

/// Parses a public key from 64 hex digits.
pub fn parse_public_key(hex: &str) -> Result<VerifyingKey> {
    let b = from_hex::<32>(hex.trim())
        .ok_or_else(|| Error::invalid("public_key", "expected 64 hex digits"))?;
    VerifyingKey::from_bytes(&b)
        .map_err(|e| Error::invalid("public_key", format!("not an Ed25519 public key: {e}")))
}

/// The log key of the data directory `dir`: read from `checkpoint.key`,
/// or generated from the operating system's random source on first use
/// and written there (mode 0600, atomically) with `checkpoint.pub` beside
/// it.
pub fn load_or_create_key(storage: &dyn Storage, dir: &Path) -> Result<SigningKey> {
    let path = dir.join(KEY_FILE);
    let pub_path = dir.join(PUBLIC_KEY_FILE);
    let write_pub = |key: &SigningKey| {
        let text = format!("{}\n", to_hex(key.verifying_key().as_bytes()));
        write_atomic(storage, &pub_path, text.as_bytes())
            .map_err(|e| Error::io("write", &pub_path, e))
    };
    if storage.exists(&path) {
        let key = read_signing_key(storage, &path)?;
        // A crash between the two files leaves the key without its
        // public half: write it now.
        if !storage.exists(&pub_path) {
            write_pub(&key)?;
        }
        return Ok(key);
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| {
        Error::io(
            "generate a key for",
            &path,
            std::io::Error::other(e.to_string()),
        )
    })?;
    let key = SigningKey::from_bytes(&seed);
    write_atomic_private(storage, &path, &seed).map_err(|e| Error::io("write", &path, e))?;
    write_pub(&key)?;
    Ok(key)
}

/// The public key kept beside the data directory's secret key, if any.
pub fn dir_public_key(storage: &dyn Storage, dir: &Path) -> Result<Option<VerifyingKey>> {
    let path = dir.join(PUBLIC_KEY_FILE);
    if !storage.exists(&path) {
        return Ok(None);
    }
    read_public_key(storage, &path).map(Some)
}

fn signature_of(hex: &str, what: &str) -> Result<Signature> {
    let b = from_hex::<64>(hex.trim()).ok_or_else(|| {
        Error::invalid(
            format!("{what} signature"),
            "expected 128 hex digits (64 bytes)",
        )
    })?;
    Ok(Signature::from_bytes(&b))
}

/// A signed statement of the log's state: everything up to `last_id`
/// hashes to `chain_head`. Kept away from the machine, it lets
/// [`crate::AuditLog::verify_checkpoint`] prove that the log still extends
/// it.
///
/// The signature is Ed25519 over [`Checkpoint::signed_bytes`]: the UTF-8
/// text
///
/// ```text
/// auditlog-checkpoint/1\n
/// last_id=<decimal>\n
/// records=<decimal>\n
/// log_bytes=<decimal>\n
/// chain_head=<64 lower-case hex digits>\n
/// time=<the time field, verbatim>\n
/// public_key=<64 lower-case hex digits>\n
/// ```
///
/// (`format` first, then every other field but `signature`, in this order,
/// each line ending with one `\n`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The last record id covered (0 for an empty log).
    pub last_id: u64,
    /// Records in the log when it was taken (from the retention horizon).
    pub records: u64,
    /// Bytes of segment files (both tiers) when it was taken.
    pub log_bytes: u64,
    /// The chain head after `last_id`, lower-case hex.
    pub chain_head: String,
    /// When it was taken, RFC 3339 UTC.
    pub time: String,
    /// The signer's Ed25519 public key, hex.
    pub public_key: String,
    /// Ed25519 signature over [`Checkpoint::signed_bytes`], hex.
    pub signature: String,
}

impl Checkpoint {
    /// Builds and signs a checkpoint.
    pub fn sign(
        key: &SigningKey,
        last_id: u64,
        records: u64,
        log_bytes: u64,
        chain_head: &Head,
        time: Timestamp,
    ) -> Checkpoint {
        let mut c = Checkpoint {
            format: CHECKPOINT_FORMAT.into(),
            last_id,
            records,
            log_bytes,
            chain_head: to_hex(chain_head),
            time: time.to_rfc3339(),
            public_key: to_hex(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        c.signature = to_hex(&key.sign(&c.signed_bytes()).to_bytes());
        c
    }

    /// The canonical bytes the signature covers (see the type's docs).
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "{}\nlast_id={}\nrecords={}\nlog_bytes={}\nchain_head={}\ntime={}\npublic_key={}\n",
            self.format,
            self.last_id,
            self.records,
            self.log_bytes,
            self.chain_head,
            self.time,
            self.public_key
        )
        .into_bytes()
    }

    /// The chain head as bytes.
    pub fn head(&self) -> Result<Head> {
        from_hex::<32>(&self.chain_head)
            .ok_or_else(|| Error::invalid("checkpoint chain_head", "expected 64 hex digits"))
    }

    /// Checks the format and the signature under `trusted` (which must
    /// also be the key the checkpoint names). Says what is wrong.
    pub fn check_signature(&self, trusted: &VerifyingKey) -> std::result::Result<(), String> {
        if self.format != CHECKPOINT_FORMAT {
            return Err(format!(
                "checkpoint format {:?} is not {CHECKPOINT_FORMAT:?}",
                self.format
            ));
        }
        let trusted_hex = to_hex(trusted.as_bytes());
        if !self.public_key.eq_ignore_ascii_case(&trusted_hex) {
            return Err(format!(
                "checkpoint was signed by key {}, not by the trusted key {trusted_hex}",
                self.public_key
            ));
        }
        let sig = signature_of(&self.signature, "checkpoint").map_err(|e| e.to_string())?;
        trusted
            .verify(&self.signed_bytes(), &sig)
            .map_err(|_| "checkpoint signature is not valid under the trusted key (the document was altered or forged)".to_string())
    }
}

/// The signed record of what retention removed: records before
/// `first_id` are gone on purpose, and the chain continues from
/// `prev_head`. Stored as `horizon.json`; signed like a checkpoint, over
///
/// ```text
/// auditlog-horizon/1\n
/// first_id=<decimal>\n
/// prev_head=<64 hex>\n
/// removed_through=<decimal>\n
/// time=<verbatim>\n
/// public_key=<64 hex>\n
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Horizon {
    /// Always [`HORIZON_FORMAT`].
    pub format: String,
    /// The first record id kept.
    pub first_id: u64,
    /// The chain head before `first_id` (the first kept segment's
    /// `prev_head`), hex.
    pub prev_head: String,
    /// The last record id removed (`first_id - 1`).
    pub removed_through: u64,
    /// When retention ran, RFC 3339 UTC.
    pub time: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// Ed25519 signature, hex.
    pub signature: String,
}

impl Horizon {
    /// Builds and signs a horizon.
    pub fn sign(
        key: &SigningKey,
        first_id: u64,
        prev_head: &Head,
        removed_through: u64,
    ) -> Horizon {
        let mut h = Horizon {
            format: HORIZON_FORMAT.into(),
            first_id,
            prev_head: to_hex(prev_head),
            removed_through,
            time: Timestamp::now().to_rfc3339(),
            public_key: to_hex(key.verifying_key().as_bytes()),
            signature: String::new(),
        };
        h.signature = to_hex(&key.sign(&h.signed_bytes()).to_bytes());
        h
    }

    /// The canonical bytes the signature covers.
    pub fn signed_bytes(&self) -> Vec<u8> {
        format!(
            "{}\nfirst_id={}\nprev_head={}\nremoved_through={}\ntime={}\npublic_key={}\n",
            self.format,
            self.first_id,
            self.prev_head,
            self.removed_through,
            self.time,
            self.public_key
        )
        .into_bytes()
    }

    /// The chain head before `first_id`.
    pub fn head(&self) -> Option<Head> {
        from_hex::<32>(&self.prev_head)
    }

    /// Checks the format and the signature under `key`.
    pub fn check_signature(&self, key: &VerifyingKey) -> std::result::Result<(), String> {
        if self.format != HORIZON_FORMAT {
            return Err(format!(
                "horizon format {:?} is not {HORIZON_FORMAT:?}",
                self.format
            ));
        }
        if !self
            .public_key
            .eq_ignore_ascii_case(&to_hex(key.as_bytes()))
        {
            return Err(format!(
                "horizon was signed by key {}, not by the log key {}",
                self.public_key,
                to_hex(key.as_bytes())
            ));
        }
        let sig = signature_of(&self.signature, "horizon").map_err(|e| e.to_string())?;
        key.verify(&self.signed_bytes(), &sig).map_err(|_| {
            "horizon signature is not valid (horizon.json was altered or forged)".to_string()
        })
    }
}

/// Path of the horizon file of `dir`.
pub fn horizon_path(dir: &Path) -> PathBuf {
    dir.join(HORIZON_FILE)
}

/// Writes `horizon.json` atomically.
pub fn write_horizon(storage: &dyn Storage, dir: &Path, h: &Horizon) -> Result<()> {
    let path = horizon_path(dir);
    let text = serde_json::to_vec_pretty(h)
        .map_err(|e| Error::invalid("horizon", format!("cannot encode: {e}")))?;
    write_atomic(storage, &path, &text).map_err(|e| Error::io("write", &path, e))
}

/// Reads `horizon.json` (`None` when there is none).
pub fn read_horizon(storage: &dyn Storage, dir: &Path) -> Result<Option<Horizon>> {
    let path = horizon_path(dir);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let bytes = read_all(storage, &path).map_err(|e| Error::io("read", &path, e))?;
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::invalid(format!("horizon file {}", path.display()), e.to_string()))
}

/// The chain head the horizon file records before `first_id`, when it
/// names exactly that id (unchecked: used only to start a new segment
/// when no sealed segment is left to continue from).
pub(crate) fn read_horizon_head(storage: &dyn Storage, dir: &Path, first_id: u64) -> Option<Head> {
    read_horizon(storage, dir)
        .ok()
        .flatten()
        .filter(|h| h.first_id == first_id)
        .and_then(|h| h.head())
}

/// Reads a checkpoint document (JSON) from `path`.
pub fn read_checkpoint(storage: &dyn Storage, path: &Path) -> Result<Checkpoint> {
    let bytes = read_all(storage, path).map_err(|e| Error::io("read checkpoint", path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("checkpoint file {}", path.display()), e.to_string()))
}

/// The outcome of checking a log against a checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointReport {
    /// The checkpoint's last id.
    pub checkpoint_last_id: u64,
    /// The log's last id now (`None` when it holds no record).
    pub log_last_id: Option<u64>,
    /// `None`: the log extends the checkpoint. Otherwise what is wrong.
    pub problem: Option<String>,
}

impl CheckpointReport {
    /// True when the log provably extends the checkpoint.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_signature() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let c = Checkpoint::sign(&key, 10, 10, 1234, &[1; 32], Timestamp::now());
        assert_eq!(c.check_signature(&key.verifying_key()), Ok(()));
        let mut bad = c.clone();
        bad.last_id = 9;
        assert!(bad.check_signature(&key.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(c
            .check_signature(&other.verifying_key())
            .unwrap_err()
            .contains("not by the trusted key"));
        let json = serde_json::to_string(&c).unwrap();
        let back: Checkpoint = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn horizon_signature() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let h = Horizon::sign(&key, 11, &[2; 32], 10);
        assert_eq!(h.check_signature(&key.verifying_key()), Ok(()));
        let mut bad = h.clone();
        bad.first_id = 12;
        assert!(bad.check_signature(&key.verifying_key()).is_err());
        assert_eq!(h.head(), Some([2; 32]));
    }

    #[test]
    fn key_bytes() {
        let p = Path::new("k");
        assert_eq!(parse_key_bytes(p, &[0xab; 32]).unwrap(), [0xab; 32]);
        let hex = format!("{}\n", to_hex(&[0xcd; 32]));
        assert_eq!(parse_key_bytes(p, hex.as_bytes()).unwrap(), [0xcd; 32]);
        assert!(parse_key_bytes(p, b"short").is_err());
    }
}
