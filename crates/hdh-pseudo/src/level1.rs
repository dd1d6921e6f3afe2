//! Level 1 of the chain: the national pseudonym, computed from normalised
//! identifying fields with a key that only the trusted third party holds (or
//! a producer that received it in a sealed key package, for offline work).
//!
//! `pseudonym = HMAC-SHA-256(key, message(parts))[..16]`.

use hmac::{KeyInit, Mac};
use rand::TryRngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{HmacSha256, PseudoError, keyfile};

/// Length in bytes of a level-1 pseudonym.
pub const LEN: usize = 16;
/// Length in bytes of a level-1 key.
pub const KEY_LEN: usize = 32;
/// `kind` of a level-1 key file.
pub const KEY_FILE_KIND: &str = "level1";
/// Domain separation prefix of [`message`].
pub const MESSAGE_PREFIX: &[u8] = b"hdh-l1-v1";

/// A level-1 (national) pseudonym.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level1Pseudonym(pub [u8; LEN]);

impl Level1Pseudonym {
    /// 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 32 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<Self, PseudoError> {
        crate::parse_pseudonym_hex(s).map(Level1Pseudonym)
    }
}

impl std::fmt::Debug for Level1Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level1Pseudonym({})", self.to_hex())
    }
}

/// The framed message of `parts`: `b"hdh-l1-v1"`, then for each part its
/// length in bytes (u32, big-endian) and its bytes. The framing makes
/// `["AB", "C"]` and `["A", "BC"]` different messages.
pub fn message(parts: &[&str]) -> Vec<u8> {
    let len = MESSAGE_PREFIX.len() + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(MESSAGE_PREFIX);
    for p in parts {
        // Parts are identifiers of a few bytes; a part of 4 GiB or more
        // saturates its length field.
        let n = u32::try_from(p.len()).unwrap_or(u32::MAX);
        m.extend_from_slice(&n.to_be_bytes());
        m.extend_from_slice(p.as_bytes());
    }
    m
}

/// The level-1 key: zeroised on drop, redacted in `Debug`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Level1Key {
    id: String,
    key: [u8; KEY_LEN],
}

impl std::fmt::Debug for Level1Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level1Key({}, <redacted>)", self.id)
    }
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn os_random(buf: &mut [u8]) {
    // No fallback: without the OS's randomness no key may be made.
    if rand::rngs::OsRng.try_fill_bytes(buf).is_err() {
        panic!("the operating system's random source failed");
    }
}

impl Level1Key {
    /// A fresh key from the operating system's randomness. Panics if `id` is
    /// not a valid key id (`[A-Za-z0-9_-]{1,64}`): ids are chosen by code.
    pub fn generate(id: &str) -> Level1Key {
        if !keyfile::valid_id(id) {
            panic!("invalid level-1 key id (expected [A-Za-z0-9_-]{{1,64}})");
        }
        let mut key = Level1Key {
            id: id.to_string(),
            key: [0u8; KEY_LEN],
        };
        os_random(&mut key.key);
        key
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(id: &str, bytes: &[u8]) -> Result<Level1Key, PseudoError> {
        keyfile::check_id(id)?;
        let key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| PseudoError::BadKeyLength(bytes.len()))?;
        Ok(Level1Key {
            id: id.to_string(),
            key,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The level-1 pseudonym of already-normalised `parts` (see
    /// [`crate::normalise`]).
    pub fn pseudonymise(&self, parts: &[&str]) -> Level1Pseudonym {
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        let mut m = message(parts);
        mac.update(&m);
        m.zeroize();
        let out = mac.finalize().into_bytes();
        let mut p = [0u8; LEN];
        p.copy_from_slice(&out[..LEN]);
        Level1Pseudonym(p)
    }

    /// The key as a key file (`hdh-key v1`, kind `level1`). Holds the secret:
    /// write it to a file of mode 0600.
    pub fn to_key_file(&self) -> String {
        keyfile::encode(KEY_FILE_KIND, &self.id, &self.key)
    }

    pub fn from_key_file(text: &str) -> Result<Level1Key, PseudoError> {
        let (id, bytes) = keyfile::decode(text, KEY_FILE_KIND, KEY_LEN)?;
        Level1Key::from_bytes(&id, &bytes)
    }

    /// The raw key bytes, for sealing into a key package.
    pub(crate) fn secret_bytes(&self) -> &[u8; KEY_LEN] {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Level1Key {
        let bytes: Vec<u8> = (0u8..32).collect();
        Level1Key::from_bytes("l1-test", &bytes).unwrap()
    }

    #[test]
    fn message_framing() {
        assert_eq!(message(&[]), b"hdh-l1-v1");
        assert_eq!(
            message(&["AB", ""]),
            b"hdh-l1-v1\x00\x00\x00\x02AB\x00\x00\x00\x00".to_vec()
        );
        assert_ne!(message(&["AB", "C"]), message(&["A", "BC"]));
        let k = key();
        assert_ne!(k.pseudonymise(&["AB", "C"]), k.pseudonymise(&["A", "BC"]));
    }

    // Independent values: Python's hmac/hashlib (see tests/vectors.json).
    #[test]
    fn known_answers() {
        let k = key();
        assert_eq!(
            k.pseudonymise(&["1850578006048", "1985-05-12", "1"])
                .to_hex(),
            "0e987f216ea14a635cee9da8f03f4f3b"
        );
        assert_eq!(
            k.pseudonymise(&["JEAN PIERRE D ARC"]).to_hex(),
            "26a77df7836bce53108fc819c2278235"
        );
    }

    #[test]
    fn keys_hex_and_files() {
        let k = key();
        let p = k.pseudonymise(&["x"]);
        assert_eq!(Level1Pseudonym::from_hex(&p.to_hex()).unwrap(), p);
        assert_eq!(
            Level1Pseudonym::from_hex(&p.to_hex().to_uppercase()).unwrap(),
            p
        );
        assert!(Level1Pseudonym::from_hex("abc").is_err());
        assert!(Level1Pseudonym::from_hex(&"g".repeat(32)).is_err());

        let file = k.to_key_file();
        assert!(file.starts_with("hdh-key v1\nkind: level1\nid: l1-test\nkey: 000102"));
        let back = Level1Key::from_key_file(&file).unwrap();
        assert_eq!(back.id(), "l1-test");
        assert_eq!(back.pseudonymise(&["x"]), p);
        assert!(Level1Key::from_key_file(&file.replace("level1", "level2")).is_err());

        let g = Level1Key::generate("l1-20260101");
        let h = Level1Key::generate("l1-20260101");
        assert_ne!(g.pseudonymise(&["x"]), h.pseudonymise(&["x"]));
        assert_eq!(format!("{g:?}"), "Level1Key(l1-20260101, <redacted>)");
        assert!(matches!(
            Level1Key::from_bytes("l1", &[0u8; 31]),
            Err(PseudoError::BadKeyLength(31))
        ));
        assert!(matches!(
            Level1Key::from_bytes("bad id", &[0u8; 32]),
            Err(PseudoError::BadKeyId)
        ));
    }
}
