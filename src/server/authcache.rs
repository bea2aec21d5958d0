//! A short-lived cache of successful password verifications.
//!
//! Enswitch clients send `auth_username`/`auth_password` with every
//! request, and an argon2 verification costs tens of milliseconds of CPU by
//! design: without a cache a busy client would spend most of the server's
//! CPU proving again what it proved a second ago. Owns remembering, for a
//! bounded time, that a (username, password) pair verified, keyed by a
//! SHA-256 of a random per-process secret, the username and the password.
//!
//! It never stores a password or anything it could be recovered from
//! without the in-memory secret, never caches a failure (so a wrong
//! password or an unknown user always costs one argon2 verification, as
//! [`super::auth::verify_password`] guarantees), and never outlives a
//! users-file reload (the server clears it; each entry also records the
//! users snapshot it was verified against).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::auth::AuthUser;
use super::users::Users;

/// Most entries kept; past it, expired entries go, then everything.
pub const MAX_ENTRIES: usize = 4096;

type Key = [u8; 32];

struct Entry {
    at: Instant,
    users: usize,
    user: AuthUser,
}

/// Successful password verifications, remembered for a time-to-live.
pub struct AuthCache {
    secret: [u8; 32],
    ttl: Duration,
    map: Mutex<HashMap<Key, Entry>>,
}

impl std::fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthCache")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn snapshot_id(users: &Arc<Users>) -> usize {
    Arc::as_ptr(users) as usize
}

impl AuthCache {
    /// A cache keeping entries for `ttl` (zero: never caches).
    pub fn new(ttl: Duration) -> Self {
        use argon2::password_hash::rand_core::{OsRng, RngCore};
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut secret);
        AuthCache {
            secret,
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, username: &str, password: &str) -> Key {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update((username.len() as u64).to_le_bytes());
        h.update(username.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// The user `username`/`password` verified as within the time-to-live,
    /// against this same users snapshot.
    pub fn get(&self, users: &Arc<Users>, username: &str, password: &str) -> Option<AuthUser> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = self.key(username, password);
        let map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        map.get(&key)
            .filter(|e| e.users == snapshot_id(users) && e.at.elapsed() < self.ttl)
            .map(|e| e.user.clone())
    }

    /// Remembers that `username`/`password` verified as `user`.
    pub fn put(&self, users: &Arc<Users>, username: &str, password: &str, user: &AuthUser) {
        if self.ttl.is_zero() {
            return;
        }
        let key = self.key(username, password);
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            key,
            Entry {
                at: Instant::now(),
                users: snapshot_id(users),
                user: user.clone(),
            },
        );
    }

    /// Forgets everything (after the users file is reloaded).
    pub fn clear(&self) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::users::Roles;

    fn user() -> AuthUser {
        AuthUser {
            username: "a".into(),
            customer: 1,
            roles: Roles::NONE,
        }
    }

    #[test]
    fn remembers_only_the_same_pair_and_snapshot() {
        let users = Arc::new(Users::default());
        let c = AuthCache::new(Duration::from_secs(60));
        assert!(c.get(&users, "a", "pw").is_none());
        c.put(&users, "a", "pw", &user());
        assert_eq!(c.get(&users, "a", "pw"), Some(user()));
        assert!(c.get(&users, "a", "pw2").is_none());
        assert!(c.get(&users, "ap", "w").is_none(), "the split is keyed");
        let other = Arc::new(Users::default());
        assert!(c.get(&other, "a", "pw").is_none(), "another snapshot");
        c.clear();
        assert!(c.get(&users, "a", "pw").is_none());
    }

    #[test]
    fn zero_ttl_and_expiry() {
        let users = Arc::new(Users::default());
        let c = AuthCache::new(Duration::ZERO);
        c.put(&users, "a", "pw", &user());
        assert!(c.get(&users, "a", "pw").is_none());
        let c = AuthCache::new(Duration::from_nanos(1));
        c.put(&users, "a", "pw", &user());
        std::thread::sleep(Duration::from_millis(2));
        assert!(c.get(&users, "a", "pw").is_none());
        let c = AuthCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            c.put(&users, &format!("u{i}"), "pw", &user());
        }
        assert!(c.map.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
