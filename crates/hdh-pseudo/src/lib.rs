//! Keyed pseudonyms. The hub holds one secret (outside its database); each
//! project gets its own key derived from it with HKDF, so two projects'
//! pseudonyms for the same person cannot be linked without the hub secret.
//!
//! Pseudonym = HMAC-SHA-256(project key, input), truncated to 128 bits, hex.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of the hub secret.
pub const SECRET_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum PseudoError {
    #[error("the hub secret must be {SECRET_LEN} bytes (64 hex characters), got {0} bytes")]
    BadSecretLength(usize),
    #[error("the hub secret is not valid hex: {0}")]
    BadHex(String),
}

/// The hub's pseudonymisation secret. Never logged, never stored in the database.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HubSecret([u8; SECRET_LEN]);

impl std::fmt::Debug for HubSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HubSecret(<redacted>)")
    }
}

impl HubSecret {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PseudoError> {
        let arr: [u8; SECRET_LEN] = bytes
            .try_into()
            .map_err(|_| PseudoError::BadSecretLength(bytes.len()))?;
        Ok(HubSecret(arr))
    }

    pub fn from_hex(s: &str) -> Result<Self, PseudoError> {
        let mut bytes = hex::decode(s.trim()).map_err(|e| PseudoError::BadHex(e.to_string()))?;
        let r = Self::from_bytes(&bytes);
        bytes.zeroize();
        r
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Derives the key of one project (HKDF-SHA-256, info = project id).
    pub fn project_key(&self, project_id: &str) -> ProjectKey {
        let hk = Hkdf::<Sha256>::new(Some(b"hdh/project-pseudonym/v1"), &self.0);
        let mut okm = [0u8; 32];
        // 32 bytes is always a valid HKDF-SHA-256 output length.
        if hk.expand(project_id.as_bytes(), &mut okm).is_err() {
            unreachable!("32-byte HKDF output is within the limit");
        }
        ProjectKey(okm)
    }

    /// Derives a sub-key for another purpose of the hub (e.g. `"session-csrf"`).
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"hdh/purpose/v1"), &self.0);
        let mut okm = [0u8; 32];
        if hk.expand(purpose.as_bytes(), &mut okm).is_err() {
            unreachable!("32-byte HKDF output is within the limit");
        }
        okm
    }
}

/// A project's pseudonymisation key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ProjectKey([u8; 32]);

impl std::fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProjectKey(<redacted>)")
    }
}

impl ProjectKey {
    /// The project pseudonym of `value` (32 hex characters).
    pub fn pseudonym(&self, value: &str) -> String {
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(value.as_bytes());
        let out = mac.finalize().into_bytes();
        hex::encode(&out[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> HubSecret {
        HubSecret::from_bytes(&[7u8; 32]).unwrap()
    }

    #[test]
    fn pseudonyms_are_stable_per_project_and_differ_between_projects() {
        let s = secret();
        let a = s.project_key("project-a");
        let b = s.project_key("project-b");
        assert_eq!(
            a.pseudonym("1234567890ABCDEFG"),
            a.pseudonym("1234567890ABCDEFG")
        );
        assert_ne!(
            a.pseudonym("1234567890ABCDEFG"),
            b.pseudonym("1234567890ABCDEFG")
        );
        assert_ne!(a.pseudonym("x"), a.pseudonym("y"));
        assert_eq!(a.pseudonym("x").len(), 32);
    }

    #[test]
    fn another_secret_gives_other_pseudonyms() {
        let other = HubSecret::from_bytes(&[8u8; 32]).unwrap();
        assert_ne!(
            secret().project_key("p").pseudonym("v"),
            other.project_key("p").pseudonym("v")
        );
    }

    #[test]
    fn secret_parsing_and_redaction() {
        assert!(HubSecret::from_hex("abcd").is_err());
        assert!(HubSecret::from_hex("zz").is_err());
        let s = secret();
        assert_eq!(
            HubSecret::from_hex(&s.to_hex()).unwrap().to_hex(),
            s.to_hex()
        );
        assert_eq!(format!("{s:?}"), "HubSecret(<redacted>)");
    }
}
