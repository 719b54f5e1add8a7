//! HMAC-SHA256 signatures with the server secret, for what must work without an API token: a
//! CSV export link, a browser's stream ticket. Every api node of a deployment shares the secret,
//! so a link signed by one is honoured by all.

use hmac::{Hmac, KeyInit, Mac};
use microdash_domain::hex::{from_hex, to_hex};
use sha2::Sha256;

/// Signs and checks messages with one secret. `Debug` does not show the secret.
#[derive(Clone)]
pub struct Signer {
    key: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    /// A signer over `secret` (any length; 32 random bytes or more is right).
    pub fn new(secret: &[u8]) -> Self {
        Self { key: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length") }
    }

    /// The signature of `message`, as 64 lowercase hex digits (URL-safe).
    pub fn sign(&self, message: &[u8]) -> String {
        let mut mac = self.key.clone();
        mac.update(message);
        to_hex(&mac.finalize().into_bytes())
    }

    /// Whether `signature` is the signature of `message`, compared in constant time.
    pub fn verify(&self, message: &[u8], signature: &str) -> bool {
        let Some(bytes) = from_hex(signature) else { return false };
        let mut mac = self.key.clone();
        mac.update(message);
        mac.verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_message_and_secret() {
        let signer = Signer::new(b"server secret");
        let sig = signer.sign(b"tenant=1&exp=100");
        assert_eq!(sig.len(), 64);
        assert!(signer.verify(b"tenant=1&exp=100", &sig));
        assert!(!signer.verify(b"tenant=2&exp=100", &sig), "another message");
        assert!(!Signer::new(b"other secret").verify(b"tenant=1&exp=100", &sig), "another secret");
        let mut tampered = sig.clone();
        tampered.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
        assert!(!signer.verify(b"tenant=1&exp=100", &tampered));
        assert!(!signer.verify(b"tenant=1&exp=100", "zz"), "not hex");
        assert!(!signer.verify(b"tenant=1&exp=100", ""), "empty");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        assert_eq!(format!("{:?}", Signer::new(b"s3cret")), "Signer([redacted])");
    }
}
