//! Level 2 of the chain: the hub's storage pseudonym. A keyed pseudorandom
//! permutation of the level-1 pseudonym (AES-256 on its single 16-byte
//! block): deterministic, so joins still work; invertible, so the hub can
//! move to a new level-2 key ([`Level2Key::rekey_hex`]) and derive project
//! pseudonyms from level 1 without ever seeing an identifier.

use aes::Aes256;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use zeroize::Zeroize;

use crate::level1::{Level1Pseudonym, os_random};
use crate::{PseudoError, keyfile};

/// Length in bytes of a level-2 key.
pub const KEY_LEN: usize = 32;
/// `kind` of a level-2 key file.
pub const KEY_FILE_KIND: &str = "level2";

/// A level-2 (storage) pseudonym.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Level2Pseudonym(pub [u8; 16]);

impl Level2Pseudonym {
    /// 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 32 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<Self, PseudoError> {
        crate::parse_pseudonym_hex(s).map(Level2Pseudonym)
    }
}

impl std::fmt::Debug for Level2Pseudonym {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level2Pseudonym({})", self.to_hex())
    }
}

/// The level-2 key: zeroised on drop (the AES key schedule too), redacted in
/// `Debug`.
pub struct Level2Key {
    id: String,
    key: [u8; KEY_LEN],
    cipher: Aes256,
}

impl Drop for Level2Key {
    fn drop(&mut self) {
        // `cipher` zeroises its own round keys (aes's `zeroize` feature).
        self.key.zeroize();
        self.id.zeroize();
    }
}

impl std::fmt::Debug for Level2Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level2Key({}, <redacted>)", self.id)
    }
}

impl Level2Key {
    fn new(id: String, key: [u8; KEY_LEN]) -> Level2Key {
        let cipher = match Aes256::new_from_slice(&key) {
            Ok(c) => c,
            Err(_) => unreachable!("an AES-256 key is 32 bytes"),
        };
        Level2Key { id, key, cipher }
    }

    /// A fresh key from the operating system's randomness. Panics if `id` is
    /// not a valid key id (`[A-Za-z0-9_-]{1,64}`): ids are chosen by code.
    pub fn generate(id: &str) -> Level2Key {
        if !keyfile::valid_id(id) {
            panic!("invalid level-2 key id (expected [A-Za-z0-9_-]{{1,64}})");
        }
        let mut key = [0u8; KEY_LEN];
        os_random(&mut key);
        let k = Level2Key::new(id.to_string(), key);
        key.zeroize();
        k
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(id: &str, bytes: &[u8]) -> Result<Level2Key, PseudoError> {
        keyfile::check_id(id)?;
        let mut key: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| PseudoError::BadKeyLength(bytes.len()))?;
        let k = Level2Key::new(id.to_string(), key);
        key.zeroize();
        Ok(k)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn encrypt(&self, p: &Level1Pseudonym) -> Level2Pseudonym {
        let mut block = aes::Block::from(p.0);
        self.cipher.encrypt_block(&mut block);
        Level2Pseudonym(block.into())
    }

    pub fn decrypt(&self, p: &Level2Pseudonym) -> Level1Pseudonym {
        let mut block = aes::Block::from(p.0);
        self.cipher.decrypt_block(&mut block);
        Level1Pseudonym(block.into())
    }

    /// The level-2 hex of a level-1 hex pseudonym.
    pub fn encrypt_hex(&self, level1_hex: &str) -> Result<String, PseudoError> {
        Ok(self
            .encrypt(&Level1Pseudonym::from_hex(level1_hex)?)
            .to_hex())
    }

    /// Moves a level-2 hex pseudonym from this key to `to` (decrypt with
    /// `self`, encrypt with `to`).
    pub fn rekey_hex(&self, to: &Level2Key, level2_hex: &str) -> Result<String, PseudoError> {
        let l1 = self.decrypt(&Level2Pseudonym::from_hex(level2_hex)?);
        Ok(to.encrypt(&l1).to_hex())
    }

    /// The key as a key file (`hdh-key v1`, kind `level2`). Holds the secret:
    /// write it to a file of mode 0600.
    pub fn to_key_file(&self) -> String {
        keyfile::encode(KEY_FILE_KIND, &self.id, &self.key)
    }

    pub fn from_key_file(text: &str) -> Result<Level2Key, PseudoError> {
        let (id, bytes) = keyfile::decode(text, KEY_FILE_KIND, KEY_LEN)?;
        Level2Key::from_bytes(&id, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level1::Level1Key;

    fn key(first: u8) -> Level2Key {
        let bytes: Vec<u8> = (first..first + 32).collect();
        Level2Key::from_bytes("l2-test", &bytes).unwrap()
    }

    // Independent values: pyca/cryptography AES-256 (see tests/vectors.json).
    #[test]
    fn known_answers() {
        let k = key(0x20);
        assert_eq!(
            k.encrypt_hex("0e987f216ea14a635cee9da8f03f4f3b").unwrap(),
            "448a0b1f2f6ffb76fa90523141dd7067"
        );
        assert_eq!(
            k.encrypt_hex("26a77df7836bce53108fc819c2278235").unwrap(),
            "37a76dbf4f155e514eabc4036f0c09e7"
        );
        // FIPS-197 appendix C.3 (AES-256): key 00..1f, plaintext 00112233…ff.
        let fips = key(0);
        assert_eq!(
            fips.encrypt_hex("00112233445566778899aabbccddeeff")
                .unwrap(),
            "8ea2b7ca516745bfeafc49904b496089"
        );
    }

    #[test]
    fn round_trip_rekey_and_files() {
        let l1k = Level1Key::from_bytes("l1", &[1u8; 32]).unwrap();
        let a = l1k.pseudonymise(&["A"]);
        let b = l1k.pseudonymise(&["B"]);
        let old = key(0x20);
        let new = key(0x40);
        for p in [a, b] {
            assert_eq!(old.decrypt(&old.encrypt(&p)), p);
        }
        let (oa, oa2, ob) = (
            old.encrypt(&a).to_hex(),
            old.encrypt(&a).to_hex(),
            old.encrypt(&b).to_hex(),
        );
        let (na, na2, nb) = (
            old.rekey_hex(&new, &oa).unwrap(),
            old.rekey_hex(&new, &oa2).unwrap(),
            old.rekey_hex(&new, &ob).unwrap(),
        );
        // Joins survive a rotation; values change.
        assert_eq!(na, na2);
        assert_ne!(na, nb);
        assert_ne!(na, oa);
        assert_eq!(na, new.encrypt(&a).to_hex());
        assert!(old.rekey_hex(&new, "xyz").is_err());

        let file = old.to_key_file();
        assert!(file.contains("kind: level2\n"));
        let back = Level2Key::from_key_file(&file).unwrap();
        assert_eq!(back.encrypt(&a).to_hex(), oa);
        assert!(Level2Key::from_key_file(&l1k.to_key_file()).is_err());
        assert_eq!(format!("{old:?}"), "Level2Key(l2-test, <redacted>)");
        let g = Level2Key::generate("l2-x");
        assert_eq!(g.decrypt(&g.encrypt(&a)), a);
        assert_ne!(g.encrypt(&a), old.encrypt(&a));
    }
}
