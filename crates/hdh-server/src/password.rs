//! The password policy: long enough, not a common password, not the
//! account's name. Checked wherever a password is set (the account page, the
//! API, `hdh user add`); the demo accounts seeded for tests are not.
//!
//! The list of common passwords is Django's (`common-passwords.txt`, 20 000
//! passwords from Royce Williams' list, BSD licence), vendored in
//! `data/common-passwords.txt`.

use std::collections::HashSet;
use std::sync::OnceLock;

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// Longest password accepted (Argon2 hashes any length; this bounds the
/// work an attacker can make the server do).
pub const MAX_CHARS: usize = 128;

fn common() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("at least {0} characters")]
    TooShort(usize),
    #[error("at most {MAX_CHARS} characters")]
    TooLong,
    #[error("this password is in the list of the 20 000 most common passwords: choose another")]
    Common,
    #[error("the password must not contain the account's name")]
    ContainsName,
    #[error("the password must not be one character repeated")]
    Repeated,
}

/// Checks a new password against the policy.
pub fn check(password: &str, username: &str, min_chars: usize) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if n < min_chars {
        return Err(PasswordError::TooShort(min_chars));
    }
    if n > MAX_CHARS {
        return Err(PasswordError::TooLong);
    }
    let lower = password.to_lowercase();
    if common().contains(lower.as_str()) || common().contains(lower.trim()) {
        return Err(PasswordError::Common);
    }
    let name = username.trim().to_lowercase();
    if name.chars().count() >= 3 && lower.contains(&name) {
        return Err(PasswordError::ContainsName);
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Err(PasswordError::Repeated);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_weak_passwords_and_says_why() {
        assert_eq!(
            check("short", "alice", 12),
            Err(PasswordError::TooShort(12))
        );
        // In the list (20 000 entries), whatever the case.
        assert!(common().len() > 19_000);
        assert_eq!(
            check("1qaz2wsx3edc", "alice", 12),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check("1QAZ2WSX3EDC", "alice", 12),
            Err(PasswordError::Common)
        );
        assert_eq!(
            check("my-name-is-Alice-2026", "alice", 12),
            Err(PasswordError::ContainsName)
        );
        assert_eq!(
            check("aaaaaaaaaaaaaa", "bob", 12),
            Err(PasswordError::Repeated)
        );
        assert_eq!(
            check(&"x".repeat(100).replace('x', "xy"), "bob", 12),
            Err(PasswordError::TooLong)
        );
        assert_eq!(check("correct horse battery staple", "alice", 12), Ok(()));
        // Characters, not bytes.
        assert_eq!(check("éééééééééééz", "bob", 12), Ok(()));
        assert_eq!(
            check("ééééééééééz", "bob", 12),
            Err(PasswordError::TooShort(12))
        );
    }
}
