//! Password hashing: argon2id PHC strings for the users file.
//!
//! Owns producing a PHC string from a password (`auditlog hash-password`),
//! checking that a PHC string from the users file is an argon2id hash this
//! build can verify, and verifying a password against one. It never logs,
//! stores or returns a password, and it never chooses whether an unknown
//! user is handled in constant time: that is the server's `auth` module,
//! which calls [`verify`] against a dummy hash for unknown users.
//!
//! Everything here is CPU-bound and blocking (tens of milliseconds per
//! call by design); async callers run it on a blocking thread.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

/// Largest accepted argon2 memory cost in a stored hash, in KiB (1 GiB):
/// a users file must not be able to make one login allocate more.
pub const MAX_M_COST_KIB: u32 = 1024 * 1024;
/// Largest accepted argon2 time cost (iterations) in a stored hash.
pub const MAX_T_COST: u32 = 64;
/// Largest accepted argon2 parallelism in a stored hash.
pub const MAX_P_COST: u32 = 64;

/// The hasher used for new hashes: argon2id, version 0x13, the argon2
/// crate's default cost (19 MiB, 2 iterations, 1 lane; the OWASP minimum).
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Hashes `password` into an argon2id PHC string
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh random
/// 16-byte salt from the operating system.
///
/// ```
/// let phc = auditlog::password::hash_password("correct horse").unwrap();
/// assert!(phc.starts_with("$argon2id$v=19$"));
/// assert!(auditlog::password::verify(&phc, "correct horse").unwrap());
/// ```
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::invalid("password", format!("argon2 hashing failed: {e}")))
}

/// Checks that `phc` is an argon2id PHC string with parameters this build
/// accepts; the error says what is wrong (never echoing the hash itself).
pub fn check_phc(phc: &str) -> std::result::Result<(), String> {
    let parsed = PasswordHash::new(phc).map_err(|e| {
        format!("not a PHC string ({e}); produce one with `auditlog hash-password`")
    })?;
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return Err(format!(
            "algorithm {} is not accepted (argon2id only)",
            parsed.algorithm
        ));
    }
    if let Some(v) = parsed.version {
        if v != u32::from(Version::V0x13) {
            return Err(format!("argon2 version {v} is not accepted (19 only)"));
        }
    }
    let params = Params::try_from(&parsed).map_err(|e| format!("bad argon2 parameters: {e}"))?;
    if params.m_cost() > MAX_M_COST_KIB
        || params.t_cost() > MAX_T_COST
        || params.p_cost() > MAX_P_COST
    {
        return Err(format!(
            "argon2 cost m={},t={},p={} is above the accepted maximum m={MAX_M_COST_KIB},t={MAX_T_COST},p={MAX_P_COST}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("the salt or the hash part is missing".to_string());
    }
    Ok(())
}

/// Verifies `password` against the PHC string `phc`: `Ok(true)` when it
/// matches, `Ok(false)` when it does not, an error when `phc` is not a hash
/// [`check_phc`] accepts. The comparison of the derived hash is constant
/// time (the argon2 crate compares with `subtle`).
pub fn verify(phc: &str, password: &str) -> Result<bool> {
    check_phc(phc).map_err(|reason| Error::invalid("password_hash", reason))?;
    let parsed = PasswordHash::new(phc)
        .map_err(|e| Error::invalid("password_hash", format!("not a PHC string: {e}")))?;
    // The hash carries its own parameters; the hasher's defaults are unused.
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::invalid(
            "password_hash",
            format!("argon2 verification failed: {e}"),
        )),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A cheap argon2id hash (8 KiB, 1 pass) so tests stay fast in debug builds.
    pub(crate) fn cheap_hash(password: &str) -> String {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(password.as_bytes(), &salt)
        .unwrap()
        .to_string()
    }

    #[test]
    fn hash_is_argon2id_with_random_salt_and_verifies() {
        let a = hash_password("s3cret").unwrap();
        let b = hash_password("s3cret").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "two hashes of one password must differ (salt)");
        assert!(check_phc(&a).is_ok());
        assert!(verify(&a, "s3cret").unwrap());
        assert!(!verify(&a, "s3cret ").unwrap());
        assert!(!verify(&a, "").unwrap());
    }

    #[test]
    fn cheap_hash_verifies_and_bad_phc_is_an_error() {
        let h = cheap_hash("pw");
        assert!(verify(&h, "pw").unwrap());
        assert!(!verify(&h, "PW").unwrap());
        assert!(verify("not a hash", "pw").is_err());
        let e =
            check_phc("$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA").unwrap_err();
        assert!(e.contains("argon2id only"), "{e}");
        let e = check_phc("$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
            .unwrap_err();
        assert!(e.contains("above the accepted maximum"), "{e}");
        let e = check_phc("$argon2id$v=19$m=8,t=1,p=1").unwrap_err();
        assert!(e.contains("missing"), "{e}");
        let e = check_phc("plaintext").unwrap_err();
        assert!(e.contains("not a PHC string"), "{e}");
        assert!(!e.contains("plaintext"), "must not echo the value: {e}");
    }
}
