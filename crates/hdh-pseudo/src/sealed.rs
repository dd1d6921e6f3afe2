//! Sealed key packages: how the trusted third party hands the level-1 key to
//! a producer that pseudonymises offline.
//!
//! The key is sealed (libsodium `crypto_box_seal`: X25519 + XSalsa20-Poly1305,
//! an ephemeral sender key) to the producer's X25519 public key, and the
//! whole package is signed with the TTP's Ed25519 key. The signature covers
//! every other field: the canonical bytes are `serde_json::to_vec` of the
//! package with `signature = ""` (fields in declaration order, compact).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey};
use ed25519_dalek::Signature;
use ed25519_dalek::ed25519::signature::Signer;
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::level1::{KEY_LEN, Level1Key};
use crate::{PseudoError, keyfile};

/// The `format` of packages made by this version.
pub const FORMAT: &str = "hdh-key-package/1";

/// How far in the future `issued_at` may be (clock skew between machines).
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKeyPackage {
    /// `"hdh-key-package/1"`.
    pub format: String,
    /// The producer the package was issued to.
    pub producer: String,
    /// The id of the level-1 key inside.
    pub key_id: String,
    /// RFC 3339.
    pub issued_at: String,
    /// RFC 3339; the package is refused from this instant on.
    pub expires_at: String,
    /// Hex of the recipient's X25519 public key.
    pub recipient: String,
    /// Base64 (standard, padded) of the sealed box of the 32 key bytes.
    pub sealed_key: String,
    /// Base64 of the TTP's Ed25519 signature of the canonical bytes.
    pub signature: String,
}

impl SealedKeyPackage {
    /// The bytes the signature covers: the package with an empty signature,
    /// serialised compactly by serde_json.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, PseudoError> {
        let unsigned = SealedKeyPackage {
            signature: String::new(),
            ..self.clone()
        };
        serde_json::to_vec(&unsigned)
            .map_err(|_| PseudoError::Package("the package cannot be serialised".into()))
    }
}

/// The X25519 public key of a secret key.
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    SecretKey::from_bytes(*secret).public_key().to_bytes()
}

/// A fresh X25519 secret key (OS randomness) for a producer that will receive
/// packages; give [`x25519_public`] of it to the TTP.
pub fn x25519_generate() -> Zeroizing<[u8; 32]> {
    let mut s = Zeroizing::new([0u8; 32]);
    crate::level1::os_random(s.as_mut_slice());
    s
}

/// A fresh Ed25519 signing key (OS randomness), for the TTP.
pub fn generate_signing_key() -> SigningKey {
    let mut s = Zeroizing::new([0u8; 32]);
    crate::level1::os_random(s.as_mut_slice());
    SigningKey::from_bytes(&s)
}

/// Parses the TTP's Ed25519 public key from 64 hex characters.
pub fn verifying_key_from_hex(s: &str) -> Result<VerifyingKey, PseudoError> {
    let bytes: [u8; 32] = hex::decode(s.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| PseudoError::Package("a public key must be 64 hex characters".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| PseudoError::Package("the public key is not a valid Ed25519 key".into()))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn parse_time(s: &str, field: &str) -> Result<DateTime<Utc>, PseudoError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| PseudoError::Package(format!("`{field}` is not an RFC 3339 time")))
}

/// Seals `key` for the holder of the X25519 secret whose public key is
/// `recipient_public`, and signs the package with the TTP's key.
pub fn seal(
    key: &Level1Key,
    producer: &str,
    recipient_public: &[u8; 32],
    ttp: &SigningKey,
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<SealedKeyPackage, PseudoError> {
    if !keyfile::valid_id(producer) {
        return Err(PseudoError::Package(
            "a producer name must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'".into(),
        ));
    }
    if expires_at <= issued_at {
        return Err(PseudoError::Package(
            "a package must expire after it is issued".into(),
        ));
    }
    let sealed = PublicKey::from_bytes(*recipient_public)
        .seal(&mut OsRng, key.secret_bytes())
        .map_err(|_| PseudoError::Package("the key could not be sealed".into()))?;
    let mut pkg = SealedKeyPackage {
        format: FORMAT.to_string(),
        producer: producer.to_string(),
        key_id: key.id().to_string(),
        issued_at: rfc3339(issued_at),
        expires_at: rfc3339(expires_at),
        recipient: hex::encode(recipient_public),
        sealed_key: B64.encode(sealed),
        signature: String::new(),
    };
    let sig: Signature = ttp.sign(&pkg.canonical_bytes()?);
    pkg.signature = B64.encode(sig.to_bytes());
    Ok(pkg)
}

/// Checks a package (format, the TTP's signature, validity period,
/// recipient) and opens it with the recipient's X25519 secret key.
pub fn open(
    pkg: &SealedKeyPackage,
    recipient_secret: &[u8; 32],
    ttp_public: &VerifyingKey,
    now: DateTime<Utc>,
) -> Result<Level1Key, PseudoError> {
    if pkg.format != FORMAT {
        return Err(PseudoError::Package(format!(
            "the package format is not {FORMAT}"
        )));
    }
    let sig_bytes: [u8; 64] = B64
        .decode(pkg.signature.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| PseudoError::Package("the signature is not 64 bytes of base64".into()))?;
    ttp_public
        .verify_strict(&pkg.canonical_bytes()?, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| PseudoError::BadSignature)?;
    let issued_at = parse_time(&pkg.issued_at, "issued_at")?;
    let expires_at = parse_time(&pkg.expires_at, "expires_at")?;
    if now >= expires_at {
        return Err(PseudoError::PackageExpired);
    }
    if issued_at > now + MAX_CLOCK_SKEW {
        return Err(PseudoError::Package(
            "the package is issued in the future (check the clocks)".into(),
        ));
    }
    if pkg.recipient != hex::encode(x25519_public(recipient_secret)) {
        return Err(PseudoError::WrongRecipient);
    }
    let sealed = B64
        .decode(pkg.sealed_key.trim())
        .map_err(|_| PseudoError::Package("the sealed key is not base64".into()))?;
    let bytes = Zeroizing::new(
        SecretKey::from_bytes(*recipient_secret)
            .unseal(&sealed)
            .map_err(|_| PseudoError::Package("the sealed key cannot be opened".into()))?,
    );
    if bytes.len() != KEY_LEN {
        return Err(PseudoError::Package(
            "the sealed key is not a 32-byte key".into(),
        ));
    }
    Level1Key::from_bytes(&pkg.key_id, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    struct Fixture {
        key: Level1Key,
        ttp: SigningKey,
        recipient: [u8; 32],
        pkg: SealedKeyPackage,
    }

    fn fixture() -> Fixture {
        let key = Level1Key::from_bytes("l1-test", &(0u8..32).collect::<Vec<_>>()).unwrap();
        let ttp = SigningKey::from_bytes(&[0x40; 32]);
        let recipient = [0x60; 32];
        let pkg = seal(
            &key,
            "cnam",
            &x25519_public(&recipient),
            &ttp,
            t(2026, 1, 1),
            t(2026, 12, 31),
        )
        .unwrap();
        Fixture {
            key,
            ttp,
            recipient,
            pkg,
        }
    }

    #[test]
    fn open_gives_the_same_key() {
        let f = fixture();
        assert_eq!(f.pkg.format, FORMAT);
        assert_eq!(f.pkg.issued_at, "2026-01-01T00:00:00Z");
        assert!(!f.pkg.sealed_key.contains("000102"));
        let opened = open(&f.pkg, &f.recipient, &f.ttp.verifying_key(), t(2026, 6, 1)).unwrap();
        assert_eq!(opened.id(), "l1-test");
        let parts = ["1850578006048", "1985-05-12", "1"];
        assert_eq!(opened.pseudonymise(&parts), f.key.pseudonymise(&parts));
        // Through JSON, as it travels.
        let json = serde_json::to_string(&f.pkg).unwrap();
        let back: SealedKeyPackage = serde_json::from_str(&json).unwrap();
        assert!(open(&back, &f.recipient, &f.ttp.verifying_key(), t(2026, 6, 1)).is_ok());
    }

    #[test]
    fn refusals() {
        let f = fixture();
        let vk = f.ttp.verifying_key();
        let now = t(2026, 6, 1);
        let tampered: Vec<(&str, SealedKeyPackage)> = vec![
            (
                "producer",
                SealedKeyPackage {
                    producer: "other".into(),
                    ..f.pkg.clone()
                },
            ),
            (
                "key_id",
                SealedKeyPackage {
                    key_id: "l1-other".into(),
                    ..f.pkg.clone()
                },
            ),
            (
                "issued_at",
                SealedKeyPackage {
                    issued_at: "2025-01-01T00:00:00Z".into(),
                    ..f.pkg.clone()
                },
            ),
            (
                "expires_at",
                SealedKeyPackage {
                    expires_at: "2036-12-31T00:00:00Z".into(),
                    ..f.pkg.clone()
                },
            ),
            (
                "recipient",
                SealedKeyPackage {
                    recipient: hex::encode(x25519_public(&[0x61; 32])),
                    ..f.pkg.clone()
                },
            ),
            (
                "sealed_key",
                SealedKeyPackage {
                    sealed_key: {
                        let mut b = B64.decode(&f.pkg.sealed_key).unwrap();
                        b[40] ^= 1;
                        B64.encode(b)
                    },
                    ..f.pkg.clone()
                },
            ),
        ];
        for (field, pkg) in tampered {
            assert_eq!(
                open(&pkg, &f.recipient, &vk, now).unwrap_err(),
                PseudoError::BadSignature,
                "{field}"
            );
        }
        let other_sig = SealedKeyPackage {
            signature: B64.encode([0u8; 64]),
            ..f.pkg.clone()
        };
        assert_eq!(
            open(&other_sig, &f.recipient, &vk, now).unwrap_err(),
            PseudoError::BadSignature
        );
        let garbage = SealedKeyPackage {
            signature: "!!".into(),
            ..f.pkg.clone()
        };
        assert!(matches!(
            open(&garbage, &f.recipient, &vk, now),
            Err(PseudoError::Package(_))
        ));
        let format = SealedKeyPackage {
            format: "hdh-key-package/2".into(),
            ..f.pkg.clone()
        };
        assert!(matches!(
            open(&format, &f.recipient, &vk, now),
            Err(PseudoError::Package(_))
        ));
        // Another TTP's key.
        let other_ttp = SigningKey::from_bytes(&[0x41; 32]).verifying_key();
        assert_eq!(
            open(&f.pkg, &f.recipient, &other_ttp, now).unwrap_err(),
            PseudoError::BadSignature
        );
        // Wrong recipient secret.
        assert_eq!(
            open(&f.pkg, &[0x61; 32], &vk, now).unwrap_err(),
            PseudoError::WrongRecipient
        );
        // Expired, and not yet issued.
        assert_eq!(
            open(&f.pkg, &f.recipient, &vk, t(2026, 12, 31)).unwrap_err(),
            PseudoError::PackageExpired
        );
        assert!(matches!(
            open(&f.pkg, &f.recipient, &vk, t(2025, 12, 1)),
            Err(PseudoError::Package(_))
        ));
        // Sealing refusals.
        assert!(
            seal(
                &f.key,
                "bad name",
                &[1; 32],
                &f.ttp,
                t(2026, 1, 1),
                t(2026, 2, 1)
            )
            .is_err()
        );
        assert!(
            seal(
                &f.key,
                "cnam",
                &[1; 32],
                &f.ttp,
                t(2026, 1, 1),
                t(2026, 1, 1)
            )
            .is_err()
        );
        // No error message carries key material.
        for e in [
            PseudoError::BadSignature,
            PseudoError::WrongRecipient,
            PseudoError::PackageExpired,
        ] {
            assert!(!e.to_string().contains("000102"));
        }
        // Unknown fields are refused when parsing.
        let mut v = serde_json::to_value(&f.pkg).unwrap();
        v["extra"] = serde_json::json!("x");
        assert!(serde_json::from_value::<SealedKeyPackage>(v).is_err());
    }

    #[test]
    fn keys_from_hex() {
        let vk = SigningKey::from_bytes(&[0x40; 32]).verifying_key();
        assert_eq!(
            verifying_key_from_hex(&hex::encode(vk.to_bytes())).unwrap(),
            vk
        );
        assert!(verifying_key_from_hex("abcd").is_err());
        let s = x25519_generate();
        assert_ne!(*s, [0u8; 32]);
        let sk = generate_signing_key();
        assert_ne!(sk.to_bytes(), [0u8; 32]);
    }
}
