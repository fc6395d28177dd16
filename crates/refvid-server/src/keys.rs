//! API keys: how they are made and how they are stored (a SHA-256 digest, never the key).
//!
//! Keys carry 256 random bits, so a plain digest cannot be reversed or guessed; lookups go by
//! digest, so the key itself is never compared or kept.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every key, so that leaked keys are easy to recognise and scan for.
pub const KEY_PREFIX: &str = "rv_";

/// A new random API key.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{KEY_PREFIX}{}", hex::encode(bytes))
}

/// The digest stored for a key.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
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
        assert_eq!(super::digest(&a), super::digest(&a));
        assert_ne!(super::digest(&a), super::digest(&b));
        assert!(!super::digest(&a).contains(&a[3..]));
    }
}
