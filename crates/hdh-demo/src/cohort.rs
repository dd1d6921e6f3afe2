//! A demo research cohort to link with the demo SNDS dataset: participants
//! followed by a (fictional) cohort, most of them among the demo's persons,
//! described as a cohort knows them — sex, year and month of birth,
//! département and commune of residence — with the errors such data have,
//! and without the SNDS identifier except for the participants who gave it.
//!
//! [`generate_cohort`] writes `COHORTE.csv`, `COHORTE.schema.json` and
//! `dataset.json` (dataset `cohort-demo`). Its ground truth is the
//! `BEN_NIR_PSA` column where present (the participants who consented to
//! give their NIR; the hub measures a linkage's precision and recall on
//! them) and, for tests, [`CohortSummary::truth`].

use std::io::Write;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::schema::{C, Field, Table, Ty, f, nom, person};
use crate::{DemoError, DemoOptions, io_err, sim};

const ID: &str = "Identifiant pseudonymisé du participant de la cohorte";
const NIR: &str = "Identifiant SNDS pseudonymisé du participant (s'il l'a donné : environ un \
    participant sur trois)";

const FIELDS: &[Field] = &[
    person(f(
        "ID_PARTICIPANT",
        Ty::Str,
        ID,
        &[C::Required, C::Len(32, 32)],
    )),
    person(f("BEN_NIR_PSA", Ty::Str, NIR, &[C::Len(32, 32)])),
    nom(
        f(
            "SEXE",
            Ty::Int,
            "Sexe déclaré à l'inclusion (1 homme, 2 femme)",
            &[C::EnumInt(&[1, 2])],
        ),
        "IR_SEX_V",
    ),
    f(
        "ANNEE_NAISSANCE",
        Ty::Str,
        "Année de naissance déclarée",
        &[C::Required, C::Len(4, 4), C::Pattern("^[0-9]{4}$")],
    ),
    f(
        "MOIS_NAISSANCE",
        Ty::Str,
        "Mois de naissance déclaré",
        &[C::Len(2, 2), C::Pattern("^(0[1-9]|1[0-2])$")],
    ),
    nom(
        f(
            "DPT_RESIDENCE",
            Ty::Str,
            "Département de résidence à l'inclusion",
            &[C::Required, C::Len(3, 3)],
        ),
        "IR_DPT_V",
    ),
    f(
        "COM_RESIDENCE",
        Ty::Str,
        "Commune de résidence à l'inclusion (code INSEE sans le département)",
        &[C::Len(3, 3)],
    ),
    f(
        "DATE_INCLUSION",
        Ty::Date,
        "Date d'inclusion dans la cohorte",
        &[C::Required],
    ),
];

pub(crate) const COHORTE: Table = Table {
    name: "COHORTE",
    title: "Participants de la cohorte",
    description: "Une ligne par participant : ce que la cohorte sait de lui (sexe, année et \
        mois de naissance, résidence à l'inclusion), avec les erreurs de saisie et les \
        déménagements d'une vraie cohorte. Données synthétiques de démonstration.",
    fields: FIELDS,
    primary_key: &["ID_PARTICIPANT"],
    foreign_keys: &[],
    period_field: Some("DATE_INCLUSION"),
};

/// The catalogue description of the cohort (also written to `dataset.json`).
pub fn cohort_metadata() -> Value {
    json!({
        "id": "cohort-demo",
        "title": {
            "fr": "Cohorte de démonstration (à apparier au SNDS)",
            "en": "Demonstration cohort (to link with the SNDS)"
        },
        "description": {
            "fr": "Participants synthétiques d'une cohorte de recherche : sexe, année et mois \
                   de naissance, département et commune de résidence, date d'inclusion. \
                   La plupart sont des bénéficiaires du jeu SNDS de démonstration ; un sur \
                   trois a donné son identifiant SNDS, les autres ne peuvent être retrouvés \
                   que par appariement probabiliste. Aucune personne réelle.",
            "en": "Synthetic participants of a research cohort: sex, year and month of \
                   birth, département and commune of residence, inclusion date. Most are \
                   beneficiaries of the demo SNDS dataset; one in three gave their SNDS \
                   identifier, the others can only be found by probabilistic linkage. \
                   No real person."
        },
        "publisher": { "name": "Plateforme des données de santé (démo hdh)", "email": "catalogue@hdh.example" },
        "producer": { "name": "Cohorte de démonstration (démo)" },
        "contact_point": { "name": "Guichet unique (démo)", "email": "guichet@hdh.example" },
        "themes": ["HEAL"],
        "spatial": ["FRA"],
        "temporal": { "start": "2021-01-01", "end": "2023-12-31" },
        "legal_basis": {
            "fr": "Démonstration : données synthétiques, sans donnée à caractère personnel.",
            "en": "Demonstration: synthetic data, no personal data."
        },
        "purpose": {
            "fr": "Démonstration de l'appariement d'une cohorte au SNDS.",
            "en": "Demonstration of linking a cohort with the SNDS."
        },
        "population": {
            "fr": "Participants synthétiques inclus de 2021 à 2023",
            "en": "Synthetic participants included from 2021 to 2023"
        },
        "min_typical_age": 0,
        "max_typical_age": 105,
        "update_frequency": "ANNUAL",
        "access_rights": "NON_PUBLIC",
        "access_conditions": {
            "fr": "Jeu de démonstration librement réutilisable (données synthétiques).",
            "en": "Freely reusable demonstration dataset (synthetic data)."
        },
        "coding_systems": ["COG"],
        "product": "Cohorte démo",
        "licence": "ETALAB_2_0",
        "keywords": ["cohorte", "appariement", "données synthétiques", "démonstration"],
        "synthetic": true,
        "tables": ["COHORTE"],
    })
}

/// What [`generate_cohort`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CohortSummary {
    pub participants: u64,
    /// Participants who are among the demo's persons.
    pub in_snds: u64,
    /// Of which gave their SNDS identifier.
    pub identifier_given: u64,
    /// Each participant's id and, when among the demo's persons, their
    /// `BEN_NIR_PSA` in the demo (before any pseudonymisation by the hub).
    pub truth: Vec<(String, Option<String>)>,
}

/// Share of participants outside the demo's persons.
const OUTSIDE: f64 = 0.15;
/// Share of participants (in the SNDS) who give their identifier.
const GIVE_NIR: f64 = 0.33;

fn hex32(r: &mut ChaCha8Rng) -> String {
    format!("{:016x}{:016x}", r.random::<u64>(), r.random::<u64>())
}

/// Generates `participants` cohort participants for the demo dataset of
/// `opts` (the same seed and persons) into `out_dir`.
pub fn generate_cohort(
    opts: &DemoOptions,
    participants: u64,
    out_dir: &Path,
) -> Result<CohortSummary, DemoError> {
    if participants == 0 || participants > opts.persons {
        return Err(DemoError::InvalidOptions(format!(
            "between 1 and {} participants (the demo's persons)",
            opts.persons
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let meta_path = out_dir.join("dataset.json");
    let mut meta = serde_json::to_vec_pretty(&cohort_metadata())?;
    meta.push(b'\n');
    std::fs::write(&meta_path, meta).map_err(io_err(&meta_path))?;
    let sp = out_dir.join("COHORTE.schema.json");
    let mut js = serde_json::to_vec_pretty(&COHORTE.to_json())?;
    js.push(b'\n');
    std::fs::write(&sp, js).map_err(io_err(&sp))?;

    let ctx = sim::Ctx::new(opts.seed);
    let mut r = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xC0_4027);
    let outside = ((participants as f64) * OUTSIDE).round() as u64;
    let inside = participants - outside;
    let mut chosen: Vec<u64> =
        rand::seq::index::sample(&mut r, opts.persons as usize, inside as usize)
            .into_iter()
            .map(|i| i as u64)
            .collect();
    chosen.sort_unstable();
    let mut rows: Vec<(Option<u64>, sim::Demographics)> = chosen
        .iter()
        .map(|&idx| (Some(idx), sim::demographics(&ctx, idx)))
        .collect();
    rows.extend((0..outside).map(|k| (None, sim::outsider(&ctx, k))));
    // Participants in inclusion order, not by source.
    for i in (1..rows.len()).rev() {
        rows.swap(i, r.random_range(0..=i));
    }

    let p = out_dir.join("COHORTE.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&p).map_err(io_err(&p))?);
    out.write_all(&COHORTE.header()).map_err(io_err(&p))?;
    let mut summary = CohortSummary {
        participants,
        in_snds: inside,
        identifier_given: 0,
        truth: Vec::with_capacity(rows.len()),
    };
    for (idx, d) in rows {
        let id = hex32(&mut r);
        let nir = idx.map(|_| String::from_utf8_lossy(&d.nir).into_owned());
        let given = nir.is_some() && r.random::<f64>() < GIVE_NIR;
        summary.identifier_given += u64::from(given);
        // What the cohort recorded, with its errors.
        let mut sex = Some(d.sex);
        let u: f64 = r.random();
        if u < 0.01 {
            sex = None;
        } else if u < 0.015 {
            sex = Some(3 - d.sex);
        }
        let mut year = d.year;
        if r.random::<f64>() < 0.02 {
            year = if r.random::<bool>() {
                year + 1
            } else {
                year - 1
            };
        }
        let mut month = Some(d.month);
        let u: f64 = r.random();
        if u < 0.03 {
            month = None;
        } else if u < 0.07 {
            // A slip of one month, or the day typed for the month.
            month = Some(if d.month < 12 {
                d.month + 1
            } else {
                d.month - 1
            });
        }
        let (mut dept, mut commune) = (d.dept, Some(d.commune));
        let u: f64 = r.random();
        if u < 0.04 {
            // Moved to another département since.
            let (od, oc, _) = sim::other_dept(&ctx, &mut r);
            dept = od;
            commune = Some(oc);
        } else if u < 0.16 {
            // Moved within the département.
            commune = Some(d.com_base + r.random_range(0..d.communes));
        } else if u < 0.19 {
            commune = None;
        }
        let inclusion = chrono::NaiveDate::from_ymd_opt(2021, 1, 1)
            .unwrap_or_default()
            .checked_add_days(chrono::Days::new(r.random_range(0..1095)))
            .unwrap_or_default();
        let line = format!(
            "{id},{},{},{year:04},{},{},{},{inclusion}\n",
            if given {
                nir.as_deref().unwrap_or("")
            } else {
                ""
            },
            sex.map(|s| s.to_string()).unwrap_or_default(),
            month.map(|m| format!("{m:02}")).unwrap_or_default(),
            String::from_utf8_lossy(&dept),
            commune.map(|c| format!("{c:03}")).unwrap_or_default(),
        );
        out.write_all(line.as_bytes()).map_err(io_err(&p))?;
        summary.truth.push((id, nir));
    }
    out.flush().map_err(io_err(&p))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cohort_is_reproducible_and_mostly_in_the_demo() {
        let opts = DemoOptions {
            persons: 2000,
            seed: 42,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let s = generate_cohort(&opts, 400, a.path()).unwrap();
        generate_cohort(&opts, 400, b.path()).unwrap();
        let csv = std::fs::read_to_string(a.path().join("COHORTE.csv")).unwrap();
        assert_eq!(
            csv,
            std::fs::read_to_string(b.path().join("COHORTE.csv")).unwrap()
        );
        assert_eq!(csv.lines().count(), 401);
        assert_eq!((s.participants, s.in_snds), (400, 340));
        assert!(
            (80..150).contains(&s.identifier_given),
            "{}",
            s.identifier_given
        );
        // The persons are the demo's: their NIRs are in IR_BEN_R.
        crate::generate(&opts, a.path(), &mut |_| {}).unwrap();
        let ben = std::fs::read_to_string(a.path().join("IR_BEN_R.csv")).unwrap();
        let nirs: std::collections::HashSet<&str> = ben
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert!(
            s.truth
                .iter()
                .filter_map(|(_, n)| n.as_deref())
                .all(|n| nirs.contains(n))
        );
        assert!(generate_cohort(&opts, 0, a.path()).is_err());
    }
}
