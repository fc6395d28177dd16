//! API keys: how they are made and how they are stored (an HMAC digest, never the key).
//!
//! The stored digest is HMAC-SHA256 of the key under a server-side pepper kept outside the
//! database (`REFVID_KEY_PEPPER`, or the data directory's `key-pepper` file): a leaked database
//! alone cannot even confirm a guessed key. Keys carry 256 random bits; lookups go by digest,
//! so the key itself is never compared, kept or logged.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of every key, so that leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "rv_";

/// A new random API key.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// Turns keys into the digests stored for them.
#[derive(Clone)]
pub struct KeyHasher {
    pepper: Vec<u8>,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher(..)") // never print the pepper
    }
}

impl KeyHasher {
    pub fn new(pepper: Vec<u8>) -> Self {
        Self { pepper }
    }

    /// The digest stored for a key.
    pub fn digest(&self, key: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.pepper).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// A new key id (not secret).
pub fn new_key_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_random_and_digests_stable() {
        let (a, b) = (super::generate(), super::generate());
        assert_ne!(a, b);
        assert!(a.starts_with("rv_") && a.len() == 67);
        let hasher = super::KeyHasher::new(b"pepper".to_vec());
        assert_eq!(hasher.digest(&a), hasher.digest(&a));
        assert_ne!(hasher.digest(&a), hasher.digest(&b));
        assert!(!hasher.digest(&a).contains(&a[3..]));
        let other = super::KeyHasher::new(b"other".to_vec());
        assert_ne!(hasher.digest(&a), other.digest(&a), "the pepper matters");
    }
}
