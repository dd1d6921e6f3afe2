//! The text format of key files, shared by every key of the chain:
//!
//! ```text
//! hdh-key v1
//! kind: level1
//! id: l1-20260101
//! key: <64 hex characters>
//! ```
//!
//! Parsing checks the header, the kind, the id (`[A-Za-z0-9_-]{1,64}`) and
//! the key's length. Errors say what is wrong and never quote a line, so no
//! key material reaches an error message or a log.

use zeroize::Zeroizing;

use crate::PseudoError;

/// First line of every key file.
pub const HEADER: &str = "hdh-key v1";

/// Whether `id` is a valid key or producer id: 1 to 64 characters among
/// `A-Z a-z 0-9 _ -`.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(crate) fn check_id(id: &str) -> Result<(), PseudoError> {
    if valid_id(id) {
        Ok(())
    } else {
        Err(PseudoError::BadKeyId)
    }
}

/// Renders a key file. The result holds the key: write it to a file of mode
/// 0600 and drop it.
pub fn encode(kind: &str, id: &str, key: &[u8]) -> String {
    let key_hex = Zeroizing::new(hex::encode(key));
    format!(
        "{HEADER}\nkind: {kind}\nid: {id}\nkey: {}\n",
        key_hex.as_str()
    )
}

/// Parses a key file of `kind` whose key is `len` bytes; returns the id and
/// the key bytes (zeroised on drop).
pub fn decode(
    text: &str,
    kind: &str,
    len: usize,
) -> Result<(String, Zeroizing<Vec<u8>>), PseudoError> {
    let bad = |what: &str| PseudoError::KeyFile(what.to_string());
    let mut lines = text
        .lines()
        .map(str::trim)
        .enumerate()
        .filter(|(_, l)| !l.is_empty());
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err(bad("the first line must be `hdh-key v1`")),
    }
    let (mut found_kind, mut id, mut key) = (None, None, None);
    for (n, line) in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(PseudoError::KeyFile(format!(
                "line {} is not `name: value`",
                n + 1
            )));
        };
        let slot = match name.trim() {
            "kind" => &mut found_kind,
            "id" => &mut id,
            "key" => &mut key,
            _ => {
                return Err(PseudoError::KeyFile(format!(
                    "line {} has an unknown field (kind, id and key expected)",
                    n + 1
                )));
            }
        };
        if slot.is_some() {
            return Err(PseudoError::KeyFile(format!(
                "line {} repeats a field",
                n + 1
            )));
        }
        *slot = Some(value.trim());
    }
    let found_kind = found_kind.ok_or_else(|| bad("the `kind` field is missing"))?;
    if found_kind != kind {
        return Err(PseudoError::KeyFile(format!(
            "this is not a key file of kind `{kind}`"
        )));
    }
    let id = id.ok_or_else(|| bad("the `id` field is missing"))?;
    check_id(id)?;
    let key_hex = key.ok_or_else(|| bad("the `key` field is missing"))?;
    if key_hex.len() != 2 * len {
        return Err(PseudoError::KeyFile(format!(
            "the key must be {} hex characters, found {}",
            2 * len,
            key_hex.chars().count()
        )));
    }
    let mut bytes = Zeroizing::new(vec![0u8; len]);
    hex::decode_to_slice(key_hex, bytes.as_mut_slice())
        .map_err(|_| bad("the key is not hexadecimal"))?;
    Ok((id.to_string(), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_faults() {
        let text = encode("level1", "l1-x", &[0xab; 32]);
        assert!(text.starts_with("hdh-key v1\nkind: level1\nid: l1-x\nkey: abab"));
        let (id, key) = decode(&text, "level1", 32).unwrap();
        assert_eq!(id, "l1-x");
        assert_eq!(key.as_slice(), &[0xab; 32]);
        // CRLF and surrounding blank lines are fine.
        let crlf = format!("\r\n{}", text.replace('\n', "\r\n"));
        assert!(decode(&crlf, "level1", 32).is_ok());

        let secret_hex = "ab".repeat(32);
        let cases = [
            ("nothing", String::new()),
            ("wrong header", text.replace("hdh-key v1", "hdh-key v2")),
            ("wrong kind", text.replace("level1", "level2")),
            ("bad id", text.replace("l1-x", "l1 x!")),
            ("short key", text.replace(&secret_hex, &"ab".repeat(31))),
            (
                "not hex",
                text.replace(&secret_hex, &format!("zz{}", &secret_hex[2..])),
            ),
            ("no colon", text.replace("key: ", "key ")),
            ("unknown", format!("{text}other: 1\n")),
            ("repeated", format!("{text}id: again\n")),
            (
                "missing key",
                text.replace(&format!("key: {secret_hex}\n"), ""),
            ),
        ];
        for (what, t) in cases {
            let e = decode(&t, "level1", 32).expect_err(what).to_string();
            assert!(!e.contains("abab"), "{what}: {e}");
        }
    }

    #[test]
    fn ids() {
        assert!(valid_id("l1-20260101"));
        assert!(valid_id(&"a".repeat(64)));
        assert!(!valid_id(&"a".repeat(65)));
        assert!(!valid_id(""));
        assert!(!valid_id("a b"));
        assert!(!valid_id("é"));
    }
}
