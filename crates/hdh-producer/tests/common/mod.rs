//! Shared fixtures: an SNDS-shaped prestation table with identifiers.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hdh_model::schema::TableSchema;
use hdh_package::ProducerIdentity;
use hdh_pseudo::level1::Level1Key;

/// The input schema: NIR (identifier, with birth date and sex, provisional
/// flag), names (direct), birth date (year-month), sex, commune of residence
/// (department), care date, nature of service, amount.
pub const SCHEMA: &str = r#"{
  "name": "ER_PRS_F", "title": "Prestations",
  "fields": [
    {"name": "BEN_NIR_IDT", "type": "string", "description": "NIR of the beneficiary",
     "hdh:identifier": "person", "constraints": {"required": true},
     "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir",
        "with": ["BEN_NAI_DTE", "BEN_SEX_COD"], "provisionalFlag": "BEN_NIR_PROV"}},
    {"name": "BEN_NOM", "type": "string",
     "hdh:pseudonymisation": {"role": "direct", "normalise": "name"}},
    {"name": "BEN_PRN", "type": "string",
     "hdh:pseudonymisation": {"role": "direct", "normalise": "name"}},
    {"name": "BEN_NAI_DTE", "type": "date", "format": "%d%m%Y", "constraints": {"required": true},
     "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "year-month"}},
    {"name": "BEN_SEX_COD", "type": "integer", "constraints": {"required": true, "enum": [1, 2]}},
    {"name": "BEN_RES_COM", "type": "string",
     "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "department"}},
    {"name": "EXE_SOI_DTD", "type": "date", "format": "%d%m%Y", "constraints": {"required": true}},
    {"name": "PRS_NAT_REF", "type": "integer"},
    {"name": "PRS_PAI_MNT", "type": "number", "unit": "EUR"}
  ],
  "hdh:periodField": "EXE_SOI_DTD"
}"#;

pub fn schema() -> TableSchema {
    TableSchema::from_json(SCHEMA.as_bytes()).unwrap()
}

/// A NIR body (13 characters, `2A`/`2B` allowed at positions 6-7) with its key.
pub fn with_key(body: &str) -> String {
    let numeric = match &body[5..7] {
        "2A" => format!("{}19{}", &body[..5], &body[7..]),
        "2B" => format!("{}18{}", &body[..5], &body[7..]),
        _ => body.to_owned(),
    };
    let n: u64 = numeric.parse().unwrap();
    format!("{body}{:02}", 97 - n % 97)
}

/// One person of the fixtures.
pub struct Person {
    pub body: &'static str,
    pub nom: &'static str,
    pub prenom: &'static str,
    /// `%d%m%Y`.
    pub birth: &'static str,
    pub birth_iso: &'static str,
    pub sex: &'static str,
    pub commune: &'static str,
    pub department: &'static str,
}

pub const PEOPLE: [Person; 4] = [
    Person {
        body: "1850578006048",
        nom: "Lefèvre",
        prenom: "Éloïse-Ange",
        birth: "12051985",
        birth_iso: "1985-05-12",
        sex: "1",
        commune: "78646",
        department: "78",
    },
    Person {
        body: "269052A004012",
        nom: "Santoni",
        prenom: "Maëlle",
        birth: "03051969",
        birth_iso: "1969-05-03",
        sex: "2",
        commune: "2A004",
        department: "2A",
    },
    // A temporary NIR (first digit 7).
    Person {
        body: "7850599123456",
        nom: "Nguyễn",
        prenom: "Thị",
        birth: "28021985",
        birth_iso: "1985-02-28",
        sex: "1",
        commune: "97411",
        department: "974",
    },
    Person {
        body: "2550814168025",
        nom: "Müller",
        prenom: "Zoé",
        birth: "14081955",
        birth_iso: "1955-08-14",
        sex: "2",
        commune: "14118",
        department: "14",
    },
];

/// NIR as a producer may write it: spaced groups.
pub fn spaced(nir: &str) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        &nir[0..1],
        &nir[1..3],
        &nir[3..5],
        &nir[5..7],
        &nir[7..10],
        &nir[10..13],
        &nir[13..15]
    )
}

pub const HEADER: &str = "BEN_NIR_IDT;BEN_NOM;BEN_PRN;BEN_NAI_DTE;BEN_SEX_COD;BEN_RES_COM;EXE_SOI_DTD;PRS_NAT_REF;PRS_PAI_MNT";

/// One prestation row (`;`-separated).
pub fn row(p: &Person, nir: &str, care: &str, amount: &str) -> String {
    format!(
        "{nir};{};{};{};{};{};{care};1111;{amount}",
        p.nom, p.prenom, p.birth, p.sex, p.commune
    )
}

/// Encodes text as Latin-1 (every character must be in it; the fixtures'
/// Vietnamese name is not, so callers pick people).
pub fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

/// A Latin-1, `;`-separated CSV of people 0, 1, 3 (two prestations for the
/// first) and the provisional person 2 with an ASCII-only name.
pub fn latin1_csv() -> Vec<u8> {
    let mut lines = vec![HEADER.to_owned()];
    lines.push(row(
        &PEOPLE[0],
        &spaced(&with_key(PEOPLE[0].body)),
        "01032024",
        "12.5",
    ));
    lines.push(row(&PEOPLE[1], &with_key(PEOPLE[1].body), "02032024", "30"));
    lines.push(row(
        &PEOPLE[0],
        &with_key(PEOPLE[0].body),
        "15032024",
        "7.25",
    ));
    let p2 = &PEOPLE[2];
    lines.push(format!(
        "{};Nguyen;Thi;{};{};{};20032024;1111;",
        with_key(p2.body),
        p2.birth,
        p2.sex,
        p2.commune
    ));
    lines.push(row(&PEOPLE[3], &with_key(PEOPLE[3].body), "31032024", "0"));
    let mut text = lines.join("\n");
    text.push('\n');
    latin1(&text)
}

/// The level-1 key shared by the tests (as the TTP would hold it).
pub fn level1_key() -> Level1Key {
    Level1Key::from_bytes("l1-test", &[42u8; 32]).unwrap()
}

pub fn identity(name: &str, seed: u8) -> ProducerIdentity {
    ProducerIdentity::from_secrets(name, &[seed; 32], &[seed.wrapping_add(1); 32]).unwrap()
}

/// The level-1 pseudonym of a person, as computed by `hdh-pseudo` directly.
pub fn expected_pseudonym(key: &Level1Key, p: &Person) -> String {
    key.pseudonymise(&[p.body, p.birth_iso, p.sex]).to_hex()
}

/// Writes the schema and CSV of one table in `dir`; returns their paths.
pub fn write_table(dir: &Path, csv: &[u8]) -> (PathBuf, PathBuf) {
    let schema = dir.join("ER_PRS_F.schema.json");
    let input = dir.join("ER_PRS_F.csv");
    std::fs::write(&schema, SCHEMA).unwrap();
    std::fs::write(&input, csv).unwrap();
    (schema, input)
}

/// Every file of a directory, recursively: (path, bytes).
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, bytes));
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
