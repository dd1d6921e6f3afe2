//! The HealthDCAT-AP export: graphs, serialisations that parse back to the same
//! graph, and (when `HDH_PYSHACL` names `tests/dcat/validate.sh`) validation
//! against the official DCAT-AP 3 SHACL shapes plus the HealthDCAT-AP checks.

use std::path::PathBuf;
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use hdh_catalog::dcat::{
    CatalogInfo, DatasetEntry, Page, RdfFormat, TableEntry, VersionEntry, catalog_graph,
    catalog_uri, dataset_graph, dataset_uri, serialize,
};
use hdh_catalog::metadata::{
    AccessRights, Agent, ContactPoint, DatasetMetadata, Frequency, Localized, Period,
};
use hdh_catalog::stats::VersionStatistics;
use oxjsonld::JsonLdParser;
use oxrdf::graph::CanonicalizationAlgorithm;
use oxrdf::{Graph, NamedNodeRef, Term, Triple};
use oxttl::TurtleParser;

const BASE: &str = "http://127.0.0.1:8080";
const DCT: &str = "http://purl.org/dc/terms/";
const HEALTH: &str = "http://healthdataportal.eu/ns/health#";

fn info() -> CatalogInfo {
    CatalogInfo {
        base_url: format!("{BASE}/"),
        title: Localized::new(
            "Catalogue du hub de données de santé",
            "Health data hub catalogue",
        ),
        description: Localized::new(
            "Jeux de données de santé accessibles sur demande.",
            "Health datasets available on request.",
        ),
        publisher: Agent {
            name: "Hub de données de santé".into(),
            homepage: Some(format!("{BASE}/")),
            email: Some("contact@hub.example".into()),
        },
        homepage: format!("{BASE}/"),
        modified: Some(Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()),
    }
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn dcir() -> DatasetEntry {
    let cnam = Agent {
        name: "Caisse nationale de l'Assurance Maladie (CNAM)".into(),
        homepage: Some("https://www.assurance-maladie.ameli.fr".into()),
        email: None,
    };
    DatasetEntry {
        id: "snds-dcir".into(),
        metadata: DatasetMetadata {
            title: Localized::new(
                "DCIR — Datamart de consommation inter-régimes",
                "DCIR — inter-scheme consumption datamart",
            ),
            description: Localized::new(
                "Remboursements de soins de ville \"tous régimes\".\nLignes < 10 supprimées ; données « pseudonymisées » \\ accentuées : é, è, ç.",
                "Outpatient care reimbursements \"all schemes\".\nCounts < 10 suppressed.",
            ),
            publisher: Agent {
                name: "Hub de données de santé".into(),
                homepage: None,
                email: Some("dpo@hub.example".into()),
            },
            producer: Some(cnam),
            contact_point: Some(ContactPoint {
                name: "Guichet \"accès aux données\"".into(),
                email: "acces@hub.example".into(),
                url: Some(format!("{BASE}/requests/new")),
            }),
            themes: vec!["HEAL".into(), "SOCI".into()],
            keywords: vec![
                "remboursement".into(),
                "médicament".into(),
                "\"soins\" <ville>".into(),
            ],
            temporal: Some(Period {
                start: date(2021, 1, 1),
                end: date(2023, 12, 31),
            }),
            spatial: vec!["FRA".into()],
            legal_basis: Localized::new(
                "Article L. 1461-3 du code de la santé publique (intérêt public)",
                "Article L. 1461-3 of the French public health code (public interest)",
            ),
            purpose: Localized::new(
                "Recherche, étude ou évaluation d'intérêt public",
                "Research in the public interest",
            ),
            access_rights: AccessRights::NonPublic,
            access_conditions: Localized::new(
                "Accès après avis du CESREES et autorisation de la CNIL.",
                "Access after CESREES opinion and CNIL authorisation.",
            ),
            update_frequency: Frequency::Monthly,
            population: Localized::new(
                "Bénéficiaires de l'Assurance maladie résidant en France",
                "Health insurance beneficiaries living in France",
            ),
            min_typical_age: Some(0),
            max_typical_age: Some(110),
            coding_systems: vec!["ICD-10".into(), "ATC".into(), "CCAM".into()],
            quality_annotations: vec![
                Localized::new(
                    "Délai de remontée : 6 mois ; \"exhaustif\" à 99 %",
                    "Six-month lag; 99 % complete",
                ),
                Localized::new("Données de 2021 en cours de consolidation", ""),
            ],
            product: Some("DCIR".into()),
            licence: None,
            synthetic: false,
            quality_rules: vec![],
            invalid_rows: Default::default(),
        },
        issued: Utc.with_ymd_and_hms(2024, 1, 15, 9, 30, 0).unwrap(),
        modified: Utc.with_ymd_and_hms(2025, 2, 20, 17, 45, 12).unwrap(),
        versions: vec![
            VersionEntry {
                version: 1,
                published_at: Utc.with_ymd_and_hms(2024, 1, 15, 9, 30, 0).unwrap(),
                records: 1_000,
            },
            VersionEntry {
                version: 2,
                published_at: Utc.with_ymd_and_hms(2025, 2, 20, 17, 45, 12).unwrap(),
                records: 1_234_567,
            },
        ],
        stats: Some(VersionStatistics {
            version: 2,
            records: 1_234_567,
            individuals: Some(98_765),
            period: Some(Period {
                start: date(2021, 1, 3),
                end: date(2023, 12, 30),
            }),
            threshold: 10,
            tables: vec![],
        }),
        tables: vec![
            TableEntry {
                name: "ER_PRS_F".into(),
                title: "Prestations".into(),
                variables: 42,
            },
            TableEntry {
                name: "ER_PHA_F".into(),
                title: "Pharmacie \"affinée\"".into(),
                variables: 12,
            },
        ],
    }
}

fn minimal() -> DatasetEntry {
    let mut metadata = DatasetMetadata::untitled("registre-l'ouest", "Registre \"Ouest\" <test>");
    metadata.synthetic = true;
    metadata.licence = Some("ETALAB_2_0".into());
    DatasetEntry {
        id: "registre-ouest".into(),
        metadata,
        issued: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
        modified: Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap(),
        versions: vec![],
        stats: None,
        tables: vec![],
    }
}

fn parse(text: &str, format: RdfFormat) -> Graph {
    let mut graph = Graph::new();
    match format {
        RdfFormat::Turtle => {
            for t in TurtleParser::new().for_slice(text.as_bytes()) {
                graph.insert(&t.expect("valid Turtle"));
            }
        }
        RdfFormat::JsonLd => {
            for q in JsonLdParser::new().for_slice(text.as_bytes()) {
                graph.insert(&Triple::from(q.expect("valid JSON-LD")));
            }
        }
    }
    graph
}

fn canonical(mut g: Graph) -> Graph {
    g.canonicalize(CanonicalizationAlgorithm::Unstable);
    g
}

fn objects(g: &Graph, s: &str, p: &str) -> Vec<Term> {
    g.objects_for_subject_predicate(NamedNodeRef::new(s).unwrap(), NamedNodeRef::new(p).unwrap())
        .map(|t| t.into_owned())
        .collect()
}

fn graphs() -> Vec<(&'static str, Graph)> {
    let info = info();
    let both = [dcir(), minimal()];
    vec![
        ("catalogue", catalog_graph(&info, &both, None)),
        (
            "catalogue-page-2",
            catalog_graph(
                &info,
                &both[1..],
                Some(&Page {
                    number: 2,
                    size: 1,
                    total_datasets: 3,
                }),
            ),
        ),
        ("snds-dcir", dataset_graph(&info, &both[0])),
        ("registre-ouest", dataset_graph(&info, &both[1])),
    ]
}

#[test]
fn serialisations_parse_back_to_the_same_graph() {
    for (name, graph) in graphs() {
        for format in [RdfFormat::Turtle, RdfFormat::JsonLd] {
            let text = serialize(&graph, format);
            assert_eq!(text, serialize(&graph, format), "{name}: deterministic");
            let back = parse(&text, format);
            assert_eq!(back.len(), graph.len(), "{name} {format:?}: triple count");
            assert_eq!(
                canonical(back),
                canonical(graph.clone()),
                "{name} {format:?}: same graph"
            );
        }
    }
}

#[test]
fn the_dataset_carries_healthdcat_ap_properties() {
    let info = info();
    let d = dcir();
    let g = dataset_graph(&info, &d);
    let ds = dataset_uri(BASE, "snds-dcir");
    assert_eq!(ds, "http://127.0.0.1:8080/catalogue/datasets/snds-dcir");
    assert_eq!(
        catalog_uri(&info.base_url),
        "http://127.0.0.1:8080/catalogue"
    );

    let lit = |p: &str| -> Vec<String> {
        let mut v: Vec<String> = objects(&g, &ds, p).iter().map(|t| t.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        lit(&format!("{HEALTH}numberOfRecords")),
        ["\"1234567\"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>"]
    );
    assert_eq!(
        lit(&format!("{HEALTH}numberOfUniqueIndividuals")),
        ["\"98765\"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>"]
    );
    assert_eq!(lit(&format!("{HEALTH}hasCodingSystem")).len(), 3);
    assert_eq!(
        lit(&format!("{DCT}accessRights")),
        ["<http://publications.europa.eu/resource/authority/access-right/NON_PUBLIC>"]
    );
    assert_eq!(
        lit("http://data.europa.eu/r5r/applicableLegislation"),
        ["<http://data.europa.eu/eli/reg/2025/327/oj>"]
    );
    // Declared period only (the computed one is not added).
    assert_eq!(lit(&format!("{DCT}temporal")).len(), 1);
    // Both languages, escaped by the serialiser.
    let descriptions = lit(&format!("{DCT}description"));
    assert_eq!(descriptions.len(), 2);
    let ttl = serialize(&g, RdfFormat::Turtle);
    assert!(ttl.contains("@prefix healthdcatap: <http://healthdataportal.eu/ns/health#>"));
    assert!(ttl.contains(r#"\"tous régimes\".\nLignes < 10"#), "{ttl}");
    // Tables are described at their page's URL.
    assert_eq!(lit(&format!("{DCT}relation")).len(), 2);
    assert!(ttl.contains("<http://127.0.0.1:8080/catalogue/datasets/snds-dcir/tables/ER_PRS_F>"));
    // Three distributions, each with an access URL.
    let dists = objects(&g, &ds, "http://www.w3.org/ns/dcat#distribution");
    assert_eq!(dists.len(), 3);
    for dist in dists {
        let Term::NamedNode(dist) = dist else {
            panic!("IRI distributions")
        };
        assert_eq!(
            objects(&g, dist.as_str(), "http://www.w3.org/ns/dcat#accessURL").len(),
            1
        );
    }
    assert!(ttl.contains("<http://127.0.0.1:8080/requests/new?dataset=snds-dcir>"));
}

#[test]
fn minimal_dataset_and_paging() {
    let info = info();
    let d = minimal();
    let g = dataset_graph(&info, &d);
    let ds = dataset_uri(BASE, "registre-ouest");
    assert!(objects(&g, &ds, &format!("{HEALTH}numberOfRecords")).is_empty());
    assert!(objects(&g, &ds, "http://www.w3.org/ns/dcat#version").is_empty());
    assert_eq!(
        objects(&g, &ds, &format!("{DCT}type"))[0].to_string(),
        "<http://publications.europa.eu/resource/authority/dataset-type/SYNTHETIC_DATA>"
    );
    // No declared period and no stats: no dct:temporal.
    assert!(objects(&g, &ds, &format!("{DCT}temporal")).is_empty());
    // The licence goes on the data distribution.
    let ttl = serialize(&g, RdfFormat::Turtle);
    assert!(ttl.contains("<http://publications.europa.eu/resource/authority/licence/ETALAB_2_0>"));

    let g = catalog_graph(
        &info,
        &[d],
        Some(&Page {
            number: 2,
            size: 1,
            total_datasets: 3,
        }),
    );
    let view = "http://127.0.0.1:8080/catalogue.ttl?page=2";
    let hydra = |p: &str| objects(&g, view, &format!("http://www.w3.org/ns/hydra/core#{p}"));
    assert_eq!(
        hydra("first")[0].to_string(),
        "<http://127.0.0.1:8080/catalogue.ttl?page=1>"
    );
    assert_eq!(
        hydra("previous")[0].to_string(),
        "<http://127.0.0.1:8080/catalogue.ttl?page=1>"
    );
    assert_eq!(
        hydra("next")[0].to_string(),
        "<http://127.0.0.1:8080/catalogue.ttl?page=3>"
    );
    assert_eq!(
        hydra("last")[0].to_string(),
        "<http://127.0.0.1:8080/catalogue.ttl?page=3>"
    );
    assert_eq!(
        hydra("totalItems")[0].to_string(),
        "\"3\"^^<http://www.w3.org/2001/XMLSchema#nonNegativeInteger>"
    );
    let datasets = objects(
        &g,
        "http://127.0.0.1:8080/catalogue",
        "http://www.w3.org/ns/dcat#dataset",
    );
    assert_eq!(datasets.len(), 1);

    let last = catalog_graph(
        &info,
        &[],
        Some(&Page {
            number: 3,
            size: 1,
            total_datasets: 3,
        }),
    );
    let view = "http://127.0.0.1:8080/catalogue.ttl?page=3";
    assert!(objects(&last, view, "http://www.w3.org/ns/hydra/core#next").is_empty());
}

#[test]
fn formats() {
    assert_eq!(RdfFormat::Turtle.media_type(), "text/turtle");
    assert_eq!(RdfFormat::JsonLd.media_type(), "application/ld+json");
    assert_eq!(
        RdfFormat::from_extension(RdfFormat::JsonLd.extension()),
        Some(RdfFormat::JsonLd)
    );
    assert_eq!(RdfFormat::from_extension("ttl"), Some(RdfFormat::Turtle));
}

/// With `HDH_PYSHACL=/path/to/tests/dcat/validate.sh`: writes every graph in
/// both formats (to `HDH_DCAT_OUT` if set, else a temporary folder) and runs the
/// script on them, which must report no violation.
#[test]
fn validates_against_dcat_ap_3_shapes() {
    let Some(script) = std::env::var_os("HDH_PYSHACL") else {
        eprintln!("HDH_PYSHACL not set: SHACL validation skipped");
        return;
    };
    let dir = match std::env::var_os("HDH_DCAT_OUT") {
        Some(d) => PathBuf::from(d),
        None => std::env::temp_dir().join(format!("hdh-dcat-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (name, graph) in graphs() {
        for format in [RdfFormat::Turtle, RdfFormat::JsonLd] {
            let path = dir.join(format!("{name}.{}", format.extension()));
            std::fs::write(&path, serialize(&graph, format)).unwrap();
            files.push(path);
        }
    }
    let out = Command::new("bash")
        .arg(&script)
        .args(&files)
        .env("HDH_DCAT_FULL", "snds-dcir")
        .output()
        .expect("runs validate.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "validate.sh failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("violations=0"), "{stdout}");
    if std::env::var_os("HDH_DCAT_OUT").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
