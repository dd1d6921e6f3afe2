//! Normalisation of the identifying fields before level 1: the same person
//! must give the same bytes whichever producer wrote them.
//!
//! Error messages never contain the input (it is an identifier): they say
//! what is wrong and where.

use chrono::NaiveDate;
use chrono::format::ParseErrorKind;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// A checked NIR (French social security number) without its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Nir {
    /// 13 characters, uppercase, key removed, `2A`/`2B` kept.
    pub normalised: String,
    /// A provisional or temporary number (first digit 7 or 8).
    pub provisional: bool,
}

/// Redacted: a NIR is an identifier and must not reach a log through `{:?}`.
impl std::fmt::Debug for Nir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nir")
            .field("normalised", &"<redacted>")
            .field("provisional", &self.provisional)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NormaliseError {
    #[error("the NIR is empty")]
    NirEmpty,
    #[error("13 digits + 2-digit key expected, found {0} characters")]
    NirLength(usize),
    #[error(
        "the NIR has a character that is not allowed at position {0} \
         (digits only, except 2A or 2B as the department at positions 6-7)"
    )]
    NirCharacter(usize),
    #[error("the NIR's first digit (sex) must be 1, 2, 3, 4, 7 or 8")]
    NirSex,
    #[error("the NIR's month (positions 4-5) must be 01 to 12, 20 to 42 or 50 to 99")]
    NirMonth,
    #[error("the NIR key does not match")]
    NirKey,
    #[error("the name has no letter or digit")]
    EmptyName,
    #[error("the date is empty")]
    EmptyDate,
    #[error("the date does not match the format {0}")]
    DateFormat(String),
    #[error("the date format {0} is not a valid strftime pattern")]
    BadDateFormat(String),
    #[error("the date is not a valid calendar date")]
    DateInvalid,
    #[error("the date's year must be between 1 and 9999")]
    DateYear,
    #[error("the sex must be 1, M or H (male), or 2 or F (female)")]
    Sex,
    #[error("the code is empty")]
    EmptyCode,
    #[error("the commune code must be 5 characters, found {0}")]
    CommuneLength(usize),
    #[error("the commune code must be 5 digits, or 2A or 2B followed by 3 digits")]
    CommuneCharacters,
}

/// The INSEE key of a 13-character NIR body (`2A` counts as 19, `2B` as 18).
fn nir_key(body: &[u8; 13]) -> u64 {
    let mut n: u64 = 0;
    for (i, &b) in body.iter().enumerate() {
        let digit = match (i, b) {
            (5, b'2') if matches!(body[6], b'A' | b'B') => 1,
            (6, b'A') => 9,
            (6, b'B') => 8,
            _ => u64::from(b - b'0'),
        };
        n = n * 10 + digit;
    }
    97 - n % 97
}

/// Checks and normalises a NIR: spaces, dots and hyphens removed, uppercase,
/// 13 characters + a 2-digit key that must match; returns the 13 characters.
pub fn nir(raw: &str) -> Result<Nir, NormaliseError> {
    let cleaned: Vec<char> = raw
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '.' || *c == '-'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if cleaned.is_empty() {
        return Err(NormaliseError::NirEmpty);
    }
    if cleaned.len() != 15 {
        return Err(NormaliseError::NirLength(cleaned.len()));
    }
    let corsica = matches!((cleaned[5], cleaned[6]), ('2', 'A' | 'B'));
    let mut bytes = [0u8; 15];
    for (i, &c) in cleaned.iter().enumerate() {
        let ok = c.is_ascii_digit() || (corsica && i == 6);
        if !ok {
            return Err(NormaliseError::NirCharacter(i + 1));
        }
        // ASCII, checked just above.
        bytes[i] = c as u8;
    }
    let two = |i: usize| u32::from(bytes[i] - b'0') * 10 + u32::from(bytes[i + 1] - b'0');
    let provisional = match bytes[0] {
        b'1' | b'2' | b'3' | b'4' => false,
        b'7' | b'8' => true,
        _ => return Err(NormaliseError::NirSex),
    };
    let month = two(3);
    if !matches!(month, 1..=12 | 20..=42 | 50..=99) {
        return Err(NormaliseError::NirMonth);
    }
    let mut body = [0u8; 13];
    body.copy_from_slice(&bytes[..13]);
    if u64::from(two(13)) != nir_key(&body) {
        return Err(NormaliseError::NirKey);
    }
    Ok(Nir {
        normalised: cleaned[..13].iter().collect(),
        provisional,
    })
}

/// Removes accents and other combining marks after a compatibility
/// decomposition (NFKD).
fn strip_marks(s: &str) -> impl Iterator<Item = char> + '_ {
    s.nfkd().filter(|c| !is_combining_mark(*c))
}

/// Normalises a name: NFKD without combining marks, ligatures spelled out
/// (Œ → OE, Æ → AE, ß → SS), uppercase, every character that is neither a
/// letter nor a digit replaced by a space, spaces collapsed and trimmed.
pub fn name(raw: &str) -> Result<String, NormaliseError> {
    let mut upper = String::with_capacity(raw.len());
    for c in strip_marks(raw) {
        match c {
            'œ' | 'Œ' => upper.push_str("OE"),
            'æ' | 'Æ' => upper.push_str("AE"),
            'ß' | 'ẞ' => upper.push_str("SS"),
            c => upper.extend(c.to_uppercase()),
        }
    }
    // Uppercasing may produce decomposable characters again (e.g. 'ǰ').
    let mut out = String::with_capacity(upper.len());
    let mut pending_space = false;
    for c in strip_marks(&upper) {
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else {
            pending_space = true;
        }
    }
    if out.is_empty() {
        return Err(NormaliseError::EmptyName);
    }
    Ok(out)
}

/// Parses a date written in `format` (a strftime pattern such as `%d%m%Y`;
/// `None` = ISO `%Y-%m-%d`) and returns it as ISO `YYYY-MM-DD`.
pub fn date(raw: &str, format: Option<&str>) -> Result<String, NormaliseError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(NormaliseError::EmptyDate);
    }
    let fmt = format.unwrap_or("%Y-%m-%d");
    let d = NaiveDate::parse_from_str(s, fmt).map_err(|e| match e.kind() {
        ParseErrorKind::OutOfRange | ParseErrorKind::Impossible => NormaliseError::DateInvalid,
        ParseErrorKind::BadFormat => NormaliseError::BadDateFormat(fmt.to_string()),
        _ => NormaliseError::DateFormat(fmt.to_string()),
    })?;
    let year = chrono::Datelike::year(&d);
    if !(1..=9999).contains(&year) {
        return Err(NormaliseError::DateYear);
    }
    Ok(d.format("%Y-%m-%d").to_string())
}

/// `1`, `M`, `H` (any case) → `"1"`; `2`, `F` (any case) → `"2"`.
pub fn sex(raw: &str) -> Result<String, NormaliseError> {
    match raw.trim() {
        "1" | "M" | "m" | "H" | "h" => Ok("1".to_string()),
        "2" | "F" | "f" => Ok("2".to_string()),
        _ => Err(NormaliseError::Sex),
    }
}

/// A code of a nomenclature: trimmed, uppercase, non-empty.
pub fn code(raw: &str) -> Result<String, NormaliseError> {
    let s = raw.trim().to_uppercase();
    if s.is_empty() {
        return Err(NormaliseError::EmptyCode);
    }
    Ok(s)
}

/// An INSEE commune code: 5 digits (overseas 97x/98x included), or `2A`/`2B`
/// followed by 3 digits; trimmed and uppercase.
pub fn commune(raw: &str) -> Result<String, NormaliseError> {
    let s = raw.trim().to_uppercase();
    let n = s.chars().count();
    if n != 5 {
        return Err(NormaliseError::CommuneLength(n));
    }
    let b = s.as_bytes();
    let corsica = b[0] == b'2' && matches!(b[1], b'A' | b'B');
    let ok = b
        .iter()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || (corsica && i == 1));
    if !ok {
        return Err(NormaliseError::CommuneCharacters);
    }
    Ok(s)
}

/// The department of a (normalised) commune code: `"2A004"` → `"2A"`,
/// `"97411"` → `"974"`, `"75056"` → `"75"`.
pub fn department(commune_code: &str) -> String {
    let s = commune_code.trim();
    let n = if s.starts_with("97") || s.starts_with("98") {
        3
    } else {
        2
    };
    s.chars().take(n).collect::<String>().to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Nir {
        nir(raw).unwrap()
    }

    // Keys checked by hand with 97 - (N mod 97) (and with Python's int).
    #[test]
    fn nir_known_answers() {
        // 1850578006048 mod 97 = 67 → key 30.
        let n = ok("1 85 05 78 006 048 30");
        assert_eq!(n.normalised, "1850578006048");
        assert!(!n.provisional);
        assert_eq!(ok("1.85.05.78.006.048.30"), n);
        assert_eq!(ok("185057800604830"), n);
        assert_eq!(ok(" 1-85-05-78-006-048-30 "), n);
        // The classic textbook example: 2 55 08 14 168 025, key 38.
        assert_eq!(ok("2 55 08 14 168 025 38").normalised, "2550814168025");
        // Corse-du-Sud: 2A counts as 19 → N = 2690519004012, key 28.
        let a = ok("2 69 05 2A 004 012 28");
        assert_eq!(a.normalised, "269052A004012");
        assert_eq!(ok("2 69 05 2a 004 012 28"), a);
        // Haute-Corse: 2B counts as 18 → N = 1521118033105, key 71.
        assert_eq!(ok("1 52 11 2B 033 105 71").normalised, "152112B033105");
        // Provisional (temporary) number, first digit 7: key 95.
        let p = ok("7 85 05 99 123 456 95");
        assert!(p.provisional);
        assert_eq!(p.normalised, "7850599123456");
        // Unknown month (30) of a person born abroad (99): key 19.
        assert_eq!(ok("1 85 30 99 123 456 19").normalised, "1853099123456");
        // Sex 2, born in March 1984 in 75: key 11.
        assert_eq!(ok("2 84 03 75 112 233 11").normalised, "2840375112233");
    }

    #[test]
    fn nir_faults() {
        assert_eq!(nir("1 85 05 78 006 048 31"), Err(NormaliseError::NirKey));
        // Same digits with 2A read as plain "20" would give another key.
        assert_eq!(nir("2 69 05 2B 004 012 28"), Err(NormaliseError::NirKey));
        assert_eq!(nir("1850578006048"), Err(NormaliseError::NirLength(13)));
        assert_eq!(nir("18505780060483"), Err(NormaliseError::NirLength(14)));
        assert_eq!(nir("1850578006048300"), Err(NormaliseError::NirLength(16)));
        assert_eq!(nir("   "), Err(NormaliseError::NirEmpty));
        assert_eq!(nir("18505780O604830"), Err(NormaliseError::NirCharacter(9)));
        assert_eq!(
            nir("1850578006048A0"),
            Err(NormaliseError::NirCharacter(14))
        );
        assert_eq!(nir("X85057800604830"), Err(NormaliseError::NirCharacter(1)));
        // A letter in the department other than 2A/2B.
        assert_eq!(nir("185057C00604830"), Err(NormaliseError::NirCharacter(7)));
        assert_eq!(nir("18505A780060483"), Err(NormaliseError::NirCharacter(6)));
        assert_eq!(nir("1850é7800604830"), Err(NormaliseError::NirCharacter(5)));
        assert_eq!(nir("585057800604830"), Err(NormaliseError::NirSex));
        assert_eq!(nir("185137800604830"), Err(NormaliseError::NirMonth));
        assert_eq!(nir("185007800604830"), Err(NormaliseError::NirMonth));
        assert_eq!(nir("185437800604830"), Err(NormaliseError::NirMonth));
        // Messages never quote the value.
        for raw in ["1 85 05 78 006 048 31", "18505780O604830", "1850578006048"] {
            let msg = nir(raw).unwrap_err().to_string();
            assert!(!msg.contains("185"), "{msg}");
        }
        assert_eq!(
            NormaliseError::NirLength(12).to_string(),
            "13 digits + 2-digit key expected, found 12 characters"
        );
        assert_eq!(
            NormaliseError::NirKey.to_string(),
            "the NIR key does not match"
        );
        let d = format!("{:?}", ok("185057800604830"));
        assert!(!d.contains("185"), "{d}");
    }

    #[test]
    fn names() {
        assert_eq!(name("  Jean-Pierre  d'Arc ").unwrap(), "JEAN PIERRE D ARC");
        assert_eq!(name("Œdipe Müller").unwrap(), "OEDIPE MULLER");
        assert_eq!(name("Ñúñez").unwrap(), "NUNEZ");
        assert_eq!(name("Lætitia Straße").unwrap(), "LAETITIA STRASSE");
        assert_eq!(name("ÉLODIE   Çé").unwrap(), "ELODIE CE");
        assert_eq!(name("ﬁlon").unwrap(), "FILON");
        assert_eq!(name("O’Brien\u{00a0}Smith").unwrap(), "O BRIEN SMITH");
        assert_eq!(name("Louis XIV 2").unwrap(), "LOUIS XIV 2");
        assert_eq!(name(" -' "), Err(NormaliseError::EmptyName));
        assert_eq!(name(""), Err(NormaliseError::EmptyName));
        for s in ["  Jean-Pierre  d'Arc ", "Œdipe Müller", "ǰ ŉ ᾲ ΐ"] {
            let once = name(s).unwrap();
            assert_eq!(name(&once).unwrap(), once, "idempotent on {s}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date("1985-05-12", None).unwrap(), "1985-05-12");
        assert_eq!(date(" 1985-05-12 ", None).unwrap(), "1985-05-12");
        assert_eq!(date("12051985", Some("%d%m%Y")).unwrap(), "1985-05-12");
        assert_eq!(date("12/05/1985", Some("%d/%m/%Y")).unwrap(), "1985-05-12");
        assert_eq!(
            date("12051985", None),
            Err(NormaliseError::DateFormat("%Y-%m-%d".into()))
        );
        assert_eq!(
            date("12/05/1985", Some("%d%m%Y")),
            Err(NormaliseError::DateFormat("%d%m%Y".into()))
        );
        assert_eq!(date("1985-02-30", None), Err(NormaliseError::DateInvalid));
        assert_eq!(date("1985-13-01", None), Err(NormaliseError::DateInvalid));
        assert_eq!(date("", None), Err(NormaliseError::EmptyDate));
        assert!(matches!(
            date("1985", Some("%Q")),
            Err(NormaliseError::BadDateFormat(_))
        ));
        let msg = date("31021985", Some("%d%m%Y")).unwrap_err().to_string();
        assert!(!msg.contains("1985"), "{msg}");
    }

    #[test]
    fn sexes_codes_communes() {
        for s in ["1", "M", "H", "m", "h", " 1 "] {
            assert_eq!(sex(s).unwrap(), "1");
        }
        for s in ["2", "F", "f"] {
            assert_eq!(sex(s).unwrap(), "2");
        }
        for s in ["", "0", "3", "X", "femme", "11"] {
            assert_eq!(sex(s), Err(NormaliseError::Sex));
        }
        assert_eq!(code(" i10 ").unwrap(), "I10");
        assert_eq!(code("  "), Err(NormaliseError::EmptyCode));
        assert_eq!(commune("75056").unwrap(), "75056");
        assert_eq!(commune(" 2a004").unwrap(), "2A004");
        assert_eq!(commune("2B033").unwrap(), "2B033");
        assert_eq!(commune("97411").unwrap(), "97411");
        assert_eq!(commune("98735").unwrap(), "98735");
        assert_eq!(commune("7505"), Err(NormaliseError::CommuneLength(4)));
        assert_eq!(commune("750560"), Err(NormaliseError::CommuneLength(6)));
        assert_eq!(commune("2C004"), Err(NormaliseError::CommuneCharacters));
        assert_eq!(commune("3A004"), Err(NormaliseError::CommuneCharacters));
        assert_eq!(commune("2A00X"), Err(NormaliseError::CommuneCharacters));
        assert_eq!(department("2A004"), "2A");
        assert_eq!(department("2B033"), "2B");
        assert_eq!(department("97411"), "974");
        assert_eq!(department("98735"), "987");
        assert_eq!(department("75056"), "75");
        assert_eq!(department("7"), "7");
        assert_eq!(department(""), "");
    }
}
