//! Keyed pseudonyms. The hub holds one secret (outside its database); each
//! project gets its own key derived from it with HKDF, so two projects'
//! pseudonyms for the same person cannot be linked without the hub secret.
//!
//! Pseudonym = HMAC-SHA-256(project key, input), truncated to 128 bits, hex.
//!
//! The chain from a person's identifiers to a project pseudonym:
//!
//! 1. [`normalise`]: the identifying fields, written the same way whoever
//!    delivers them (NIR without key, name, ISO date, sex `1`/`2`, …);
//! 2. [`level1`]: the national pseudonym, HMAC-SHA-256 with a key that only
//!    the trusted third party holds (`hdh-ttp`), or a producer that received
//!    it in a [`sealed`] key package;
//! 3. [`level2`]: the hub's storage pseudonym, AES-256 of level 1 under the
//!    hub's level-2 key (invertible, so it can be rotated);
//! 4. level 3: the project pseudonym, [`ProjectKey::pseudonym_of`] the level-1
//!    pseudonym (so project pseudonyms survive a level-2 rotation).
//!
//! Pure: no file or network I/O (only the OS's randomness for new keys).
//! Errors never carry key material or identifiers.

pub mod keyfile;
pub mod level1;
pub mod level2;
pub mod normalise;
pub mod sealed;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length in bytes of the hub secret.
pub const SECRET_LEN: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PseudoError {
    #[error("the hub secret must be {SECRET_LEN} bytes (64 hex characters), got {0} bytes")]
    BadSecretLength(usize),
    #[error("the hub secret is not valid hex: {0}")]
    BadHex(String),
    #[error("a pseudonym must be 32 hex characters, {0}")]
    BadPseudonym(String),
    #[error("a key must be 32 bytes, got {0} bytes")]
    BadKeyLength(usize),
    #[error("a key id must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'")]
    BadKeyId,
    #[error("the key file is invalid: {0}")]
    KeyFile(String),
    #[error("the key package is refused: {0}")]
    Package(String),
    #[error(
        "the key package is refused: its signature does not verify \
         (altered, or not issued by this trusted third party)"
    )]
    BadSignature,
    #[error("the key package is refused: it has expired")]
    PackageExpired,
    #[error("the key package is refused: it was sealed for another recipient key")]
    WrongRecipient,
}

/// Parses a 128-bit pseudonym from 32 hex characters; the error never quotes
/// the input.
pub(crate) fn parse_pseudonym_hex(s: &str) -> Result<[u8; 16], PseudoError> {
    let n = s.chars().count();
    if n != 32 {
        return Err(PseudoError::BadPseudonym(format!("found {n} characters")));
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| PseudoError::BadPseudonym("found a character that is not hex".into()))?;
    Ok(out)
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

    /// The project pseudonym (level 3) of a level-1 pseudonym: hex of the
    /// first 16 bytes of HMAC-SHA-256(project key, `b"hdh-l3-v1"` || the 16
    /// bytes). The hub computes it as
    /// `project_key.pseudonym_of(&level2_key.decrypt(&l2))`.
    pub fn pseudonym_of(&self, l1: &level1::Level1Pseudonym) -> String {
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(b"hdh-l3-v1");
        mac.update(&l1.0);
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

    // Independent values: Python's hmac/hashlib and pyca/cryptography's HKDF
    // (see tests/vectors.json).
    #[test]
    fn level3_known_answers() {
        let p1 = secret().project_key("p-1");
        let p2 = secret().project_key("p-2");
        let l1 = level1::Level1Pseudonym::from_hex("0e987f216ea14a635cee9da8f03f4f3b").unwrap();
        assert_eq!(p1.pseudonym_of(&l1), "72d733df4c544c36bcfad36f52a1cd48");
        assert_eq!(p2.pseudonym_of(&l1), "828b366e3418ee564e3e4457027c31b3");
        let l1 = level1::Level1Pseudonym::from_hex("26a77df7836bce53108fc819c2278235").unwrap();
        assert_eq!(p1.pseudonym_of(&l1), "0d3e7cd26c9941c1db2d660c03016ec1");
        assert_eq!(
            p1.pseudonym("1850578006048"),
            "e9bf527db6f6000af8084e06ec2767a9"
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
