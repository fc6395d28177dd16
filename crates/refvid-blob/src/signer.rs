//! HMAC-SHA256 signatures for download URLs: `?expires=<unix s>&sig=<hex>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the link has expired")]
    Expired,
    #[error("the link's signature is not valid")]
    Invalid,
}

/// Signs and verifies `(key, expiry)` pairs with a secret.
#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for UrlSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UrlSigner(..)") // never print the secret
    }
}

impl UrlSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    fn mac(&self, key: &str, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The hex signature of `key` valid until `expires` (unix seconds).
    pub fn sign(&self, key: &str, expires: u64) -> String {
        hex::encode(self.mac(key, expires).finalize().into_bytes())
    }

    /// Checks a signature in constant time, then the expiry against `now` (unix seconds).
    pub fn verify(
        &self,
        key: &str,
        expires: u64,
        sig: &str,
        now: u64,
    ) -> Result<(), SignatureError> {
        let sig = hex::decode(sig).map_err(|_| SignatureError::Invalid)?;
        self.mac(key, expires)
            .verify_slice(&sig)
            .map_err(|_| SignatureError::Invalid)?;
        if now > expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_until_expiry_and_not_when_tampered() {
        let s = UrlSigner::new(b"secret".to_vec());
        let sig = s.sign("videos/a.mp4", 100);
        assert_eq!(s.verify("videos/a.mp4", 100, &sig, 99), Ok(()));
        assert_eq!(
            s.verify("videos/a.mp4", 100, &sig, 101),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            s.verify("videos/b.mp4", 100, &sig, 99),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("videos/a.mp4", 1000, &sig, 99),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            s.verify("videos/a.mp4", 100, "zz", 99),
            Err(SignatureError::Invalid)
        );
        let other = UrlSigner::new(b"other".to_vec());
        assert_eq!(
            other.verify("videos/a.mp4", 100, &sig, 99),
            Err(SignatureError::Invalid)
        );
    }
}
