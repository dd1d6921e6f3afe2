//! Deterministic synthetic SNDS-shaped demonstration dataset.
//!
//! [`generate`] writes, for each table, `T.csv` and `T.schema.json` (Frictionless Table
//! Schema with the hdh extensions) and a `dataset.json` catalogue description
//! ([`dataset_metadata`]). Tables use the real SNDS names, columns and codes:
//! `IR_BEN_R` (beneficiaries), `ER_PRS_F` and `ER_PHA_F` (DCIR claims and pharmacy,
//! 2021–2023), `IR_PHA_R` (drug reference), `T_MCO23B/C/D/A` (PMSI MCO stays of 2023).
//!
//! Persons are generated one by one, each from its own random stream derived from
//! `(seed, person index)` (ChaCha8), and rows are streamed to buffered writers, so memory
//! stays bounded and the files are byte-identical for the same seed and person count,
//! whatever the number of threads.

mod cohort;
mod fmt;
mod refs;
mod schema;
mod sim;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};

use serde_json::{Value, json};

pub use cohort::{CohortSummary, cohort_metadata, generate_cohort};

/// Options of [`generate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoOptions {
    /// Number of persons (rows of `IR_BEN_R`).
    pub persons: u64,
    /// Seed of the random streams.
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            persons: 10_000,
            seed: 42,
        }
    }
}

/// Progress report, given about every 1 000 persons and at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub persons_done: u64,
    pub persons_total: u64,
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoSummary {
    /// `(table name, number of data rows)`, in output order.
    pub tables: Vec<(String, u64)>,
    pub persons: u64,
}

/// Errors of [`generate`].
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("invalid options: {0}")]
    InvalidOptions(String),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialise JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Names of the generated tables, in output order.
pub fn table_names() -> Vec<&'static str> {
    schema::TABLES.iter().map(|t| t.name).collect()
}

/// The Table Schema written to `T.schema.json` for table `name`.
pub fn table_schema(name: &str) -> Option<Value> {
    schema::TABLES
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.to_json())
}

/// The catalogue description of the dataset (also written to `dataset.json`).
pub fn dataset_metadata() -> Value {
    json!({
        "id": "snds-demo",
        "title": {
            "fr": "SNDS — jeu de démonstration synthétique",
            "en": "SNDS — synthetic demonstration dataset"
        },
        "description": {
            "fr": "Données entièrement synthétiques au format du Système National des Données \
                   de Santé (SNDS) : référentiel des bénéficiaires (IR_BEN_R), prestations de \
                   ville du DCIR 2021–2023 (ER_PRS_F) avec le détail des délivrances de \
                   médicaments (ER_PHA_F) et le référentiel des médicaments (IR_PHA_R), \
                   séjours hospitaliers du PMSI MCO 2023 (T_MCO23B, T_MCO23C, T_MCO23D, \
                   T_MCO23A). Noms de tables et de variables réels, codes issus des \
                   nomenclatures réelles (CIM-10, CCAM, ATC, IR_NAT_V, IR_SPE_V, IR_DPT_V). \
                   Épidémiologie plausible mais simulée : aucune personne réelle.",
            "en": "Fully synthetic data shaped like France's national health data system \
                   (SNDS): beneficiaries (IR_BEN_R), 2021–2023 outpatient claims from the \
                   DCIR (ER_PRS_F) with pharmacy dispensing details (ER_PHA_F) and a drug \
                   reference (IR_PHA_R), 2023 PMSI MCO hospital stays (T_MCO23B, T_MCO23C, \
                   T_MCO23D, T_MCO23A). Real table and column names, codes from the real \
                   nomenclatures (ICD-10, CCAM, ATC, IR_NAT_V, IR_SPE_V, IR_DPT_V). \
                   Plausible but simulated epidemiology: no real person."
        },
        "publisher": {
            "name": "Plateforme des données de santé (démo hdh)",
            "email": "catalogue@hdh.example"
        },
        "producer": {
            "name": "Caisse nationale de l'Assurance Maladie (démo)"
        },
        "contact_point": {
            "name": "Guichet unique (démo)",
            "email": "guichet@hdh.example"
        },
        "themes": ["HEAL"],
        "spatial": ["FRA"],
        "temporal": { "start": "2021-01-01", "end": "2023-12-31" },
        "legal_basis": {
            "fr": "Démonstration : données synthétiques, sans donnée à caractère \
                   personnel. Le SNDS réel relève des articles L.1461-1 et suivants du \
                   Code de la santé publique ; son accès suppose une autorisation de la \
                   CNIL (ou un accès permanent réglementaire) et le respect du \
                   référentiel de sécurité du SNDS.",
            "en": "Demonstration: synthetic data, no personal data. The real SNDS falls \
                   under articles L.1461-1 ff. of the French Public Health Code; access \
                   requires a CNIL authorisation (or permanent regulatory access) and \
                   compliance with the SNDS security framework."
        },
        "purpose": {
            "fr": "Démonstration et tests de la plateforme : parcours complet d'un projet \
                   de recherche sur des données au format du SNDS.",
            "en": "Demonstration and testing of the hub: the full path of a research \
                   project on SNDS-shaped data."
        },
        "population": {
            "fr": "Bénéficiaires synthétiques de l'Assurance Maladie, tous régimes, \
                   pyramide des âges et répartition départementale proches de celles \
                   de la France",
            "en": "Synthetic health insurance beneficiaries, all schemes, with an age \
                   pyramid and a geographic spread close to France's"
        },
        "min_typical_age": 0,
        "max_typical_age": 105,
        "update_frequency": "ANNUAL",
        "access_rights": "NON_PUBLIC",
        "access_conditions": {
            "fr": "Jeu de démonstration librement réutilisable (données synthétiques \
                   générées par hdh-demo). Les données réelles du SNDS ne sont \
                   accessibles qu'à des organismes habilités ou sur autorisation, dans \
                   un environnement sécurisé.",
            "en": "Freely reusable demonstration dataset (synthetic data generated by \
                   hdh-demo). Real SNDS data is only accessible to authorised bodies or \
                   upon authorisation, in a secure environment."
        },
        "coding_systems": ["ICD-10", "CCAM", "ATC", "COG"],
        "product": "SNDS démo",
        "licence": "ETALAB_2_0",
        "keywords": [
            "SNDS", "DCIR", "PMSI", "médicament", "hospitalisation", "diabète",
            "hypertension", "soins de ville", "données synthétiques", "démonstration"
        ],
        "synthetic": true,
        "tables": table_names(),
    })
}

struct Slot {
    next_claim: u64,
    next_write: u64,
    done: std::collections::BTreeMap<u64, sim::Bufs>,
    pool: Vec<sim::Bufs>,
    abort: bool,
}

const CHUNK: u64 = 1000;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |source| DemoError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Generate the dataset into `out_dir` (created if needed; existing files of the same
/// names are replaced). `progress` is called about every 1 000 persons and at the end.
pub fn generate(
    opts: &DemoOptions,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<DemoSummary, DemoError> {
    if opts.persons > sim::MAX_PERSONS {
        return Err(DemoError::InvalidOptions(format!(
            "at most {} persons",
            sim::MAX_PERSONS
        )));
    }
    std::fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    let meta_path = out_dir.join("dataset.json");
    let mut meta = serde_json::to_vec_pretty(&dataset_metadata())?;
    meta.push(b'\n');
    std::fs::write(&meta_path, meta).map_err(io_err(&meta_path))?;

    let mut paths = Vec::with_capacity(schema::TABLES.len());
    let mut writers = Vec::with_capacity(schema::TABLES.len());
    for t in schema::TABLES {
        let sp = out_dir.join(format!("{}.schema.json", t.name));
        let mut js = serde_json::to_vec_pretty(&t.to_json())?;
        js.push(b'\n');
        std::fs::write(&sp, js).map_err(io_err(&sp))?;
        let p = out_dir.join(format!("{}.csv", t.name));
        let f = File::create(&p).map_err(io_err(&p))?;
        let mut w = BufWriter::with_capacity(1 << 20, f);
        w.write_all(&t.header()).map_err(io_err(&p))?;
        writers.push(w);
        paths.push(p);
    }
    let mut rows = [0u64; 8];
    {
        let mut buf = Vec::new();
        rows[schema::PHAR] = sim::write_products(&mut buf);
        writers[schema::PHAR]
            .write_all(&buf)
            .map_err(io_err(&paths[schema::PHAR]))?;
    }

    let ctx = sim::Ctx::new(opts.seed);
    let total = opts.persons;
    let n_chunks = total.div_ceil(CHUNK);
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 32)
        .min(n_chunks.max(1) as usize);
    let ahead = (2 * workers + 2) as u64;
    let state = Mutex::new(Slot {
        next_claim: 0,
        next_write: 0,
        done: Default::default(),
        pool: Vec::new(),
        abort: false,
    });
    let cv = Condvar::new();

    let mut result: Result<(), DemoError> = Ok(());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut scratch = sim::Scratch::default();
                loop {
                    let (chunk, mut bufs) = {
                        let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
                        while !g.abort
                            && g.next_claim < n_chunks
                            && g.next_claim >= g.next_write + ahead
                        {
                            g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                        }
                        if g.abort || g.next_claim >= n_chunks {
                            return;
                        }
                        let c = g.next_claim;
                        g.next_claim += 1;
                        let b = g.pool.pop().unwrap_or_default();
                        (c, b)
                    };
                    bufs.clear();
                    let lo = chunk * CHUNK;
                    let hi = (lo + CHUNK).min(total);
                    for idx in lo..hi {
                        sim::person(&ctx, idx, &mut scratch, &mut bufs);
                    }
                    let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
                    g.done.insert(chunk, bufs);
                    cv.notify_all();
                }
            });
        }
        // Writer: this thread, in chunk order.
        let mut written = 0u64;
        while written < n_chunks {
            let bufs = {
                let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(b) = g.done.remove(&written) {
                        break b;
                    }
                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            };
            let mut failed = None;
            for (i, w) in writers.iter_mut().enumerate() {
                if let Err(e) = w.write_all(&bufs.data[i]) {
                    failed = Some(io_err(&paths[i])(e));
                    break;
                }
                rows[i] += bufs.rows[i];
            }
            written += 1;
            {
                let mut g = state.lock().unwrap_or_else(|e| e.into_inner());
                g.next_write = written;
                g.pool.push(bufs);
                if failed.is_some() {
                    g.abort = true;
                }
                cv.notify_all();
            }
            if let Some(e) = failed {
                result = Err(e);
                break;
            }
            let done = (written * CHUNK).min(total);
            if done < total {
                progress(Progress {
                    persons_done: done,
                    persons_total: total,
                });
            }
        }
    });
    result?;
    for (w, p) in writers.iter_mut().zip(&paths) {
        w.flush().map_err(io_err(p))?;
    }
    progress(Progress {
        persons_done: total,
        persons_total: total,
    });
    Ok(DemoSummary {
        tables: schema::TABLES
            .iter()
            .zip(rows)
            .map(|(t, n)| (t.name.to_owned(), n))
            .collect(),
        persons: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_shape() {
        let m = dataset_metadata();
        assert_eq!(m["id"], "snds-demo");
        assert_eq!(m["temporal"]["start"], "2021-01-01");
        assert!(m["title"]["fr"].is_string() && m["title"]["en"].is_string());
        assert_eq!(table_names().len(), 8);
        assert!(table_schema("ER_PRS_F").is_some() && table_schema("X").is_none());
    }

    #[test]
    fn too_many_persons() {
        let opts = DemoOptions {
            persons: sim::MAX_PERSONS + 1,
            seed: 1,
        };
        let dir = std::env::temp_dir().join("hdh-demo-never-created");
        let r = generate(&opts, &dir, &mut |_| {});
        assert!(matches!(r, Err(DemoError::InvalidOptions(_))));
    }

    #[test]
    fn reference_codes_are_real() {
        let cim = hdh_refdata::get("MS_CIM_V").expect("cim");
        let ccam = hdh_refdata::get("IR_CCAM_V63").expect("ccam");
        let atc = hdh_refdata::get("openmedic_ATC5").expect("atc");
        for d in refs::DRUGS {
            assert!(atc.contains(d.atc), "{}", d.atc);
            assert_eq!(d.atc.len(), 7);
        }
        for s in refs::STAYS {
            for (c, _, _) in s.dp {
                assert!(cim.contains(c), "{c}");
            }
            if let Some((c, _)) = s.dr {
                assert!(cim.contains(c), "{c}");
            }
            for (c, _) in s.das {
                assert!(cim.contains(c), "{c}");
            }
            for (c, _) in s.acts {
                assert!(ccam.contains(c), "{c}");
            }
        }
        let dpt = hdh_refdata::get("IR_DPT_V").expect("dpt");
        for (c, _, _) in refs::DEPARTEMENTS {
            assert!(dpt.contains(c), "{c}");
        }
        let total: u32 = refs::DEPARTEMENTS.iter().map(|d| d.1).sum();
        assert!((66_000..70_000).contains(&total), "{total}");
        // CIP-13 codes are unique, 13 digits, 34009 prefix, valid EAN-13.
        let products = refs::products();
        let mut seen = std::collections::HashSet::new();
        for p in &products {
            assert!(seen.insert(p.cip13));
            let s = p.cip13.to_string();
            assert!(s.len() == 13 && s.starts_with("34009"), "{s}");
            assert_eq!(refs::ean13_check(p.cip13 / 10), p.cip13 % 10);
        }
        assert!(products.len() >= 150);
    }

    /// `refs::drug` panics on an unknown ATC code: every ATC-looking literal of the
    /// simulation must be in the catalogue.
    #[test]
    fn atc_literals_in_catalogue() {
        let src = include_str!("sim.rs");
        let mut n = 0;
        for part in src.split('"').skip(1).step_by(2) {
            let b = part.as_bytes();
            let atc_like = b.len() == 7
                && b[0].is_ascii_uppercase()
                && b[1].is_ascii_digit()
                && b[2].is_ascii_digit()
                && b[3].is_ascii_uppercase()
                && b[4].is_ascii_uppercase()
                && b[5].is_ascii_digit()
                && b[6].is_ascii_digit();
            if atc_like && !part.starts_with('Z') {
                // CCAM codes have 4 letters; ATC codes 3 letters and 4 digits.
                assert!(
                    refs::DRUGS.iter().any(|d| d.atc == part),
                    "{part} used in sim.rs but not in refs::DRUGS"
                );
                n += 1;
            }
        }
        assert!(n > 40, "{n}");
        for d in refs::DRUGS {
            assert_eq!(refs::DRUGS[usize::from(refs::drug(d.atc))].atc, d.atc);
        }
        for s in refs::STAYS {
            assert_eq!(refs::STAYS[refs::stay(s.kind)].kind, s.kind);
        }
    }

    #[test]
    fn ean13() {
        // A known valid EAN-13: 4006381333931.
        assert_eq!(refs::ean13_check(400638133393), 1);
        // 3·1 + 4·3 + 9·1 + 3·3 + 1·3 = 36 → 4.
        assert_eq!(refs::ean13_check(340093000001), 4);
    }
}
