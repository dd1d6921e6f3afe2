//! Provisioning across two datasets whose identifiers are encrypted under
//! two different level-2 keys (a cohort delivered before a key rotation, the
//! claims after it): the population criterion is evaluated in one dataset
//! and restricts the other, persons are linked on their level-2 pseudonym
//! brought to the active key, a per-dataset opposition removes a person from
//! that dataset only, and both tables carry the same project pseudonym for
//! the same person.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, Date32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use hdh_lake::Lake;
use hdh_model::PopulationCriterion;
use hdh_pseudo::level1::Level1Pseudonym;
use hdh_pseudo::level2::Level2Key;
use hdh_pseudo::{HubSecret, ProjectKey};
use hdh_workspace::pseudonyms::ProjectPseudonymiser;
use hdh_workspace::{
    ExtractionSpec, Linker, Oppositions, RegisterState, SourceTable, TableSpec, provision,
};

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn days(s: &str) -> i32 {
    (day(s) - day("1970-01-01")).num_days() as i32
}

fn level1(i: u32) -> Level1Pseudonym {
    Level1Pseudonym::from_hex(&format!("{:032x}", 0x5eed_0000 + i)).unwrap()
}

fn parquet(batch: &RecordBatch) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
    out
}

fn read(dir: &std::path::Path, path: &str) -> Vec<RecordBatch> {
    let f = std::fs::File::open(dir.join(path)).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let c = b.column(b.schema().index_of(column).unwrap()).clone();
            let s = c.as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..s.len()).map(move |i| s.value(i).to_string())
        })
        .collect()
}

struct World {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    lake: Lake,
    keys: HashMap<String, Level2Key>,
    spec: ExtractionSpec,
    project: ProjectKey,
}

impl World {
    /// The project's pseudonyms, from the level-2 keys of both datasets.
    fn pseudonymiser(&self) -> ProjectPseudonymiser<'_> {
        ProjectPseudonymiser {
            project: &self.project,
            level2: &self.keys,
            bridge: None,
        }
    }

    fn linker(&self) -> Linker<'_> {
        Linker {
            level2: &self.keys,
            active: self.keys.get("k-2024"),
            bridge: None,
        }
    }
}

/// Cohort (dataset `cohort`, key `k-2021`): persons 1–4 with a diagnosis.
/// Claims (dataset `claims`, key `k-2024`, the active one): persons 1–6, two
/// claims each, in 2022 and in 2025.
async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let lake = Lake::open_local(&root).unwrap();
    let old = Level2Key::from_bytes("k-2021", &[1u8; 32]).unwrap();
    let new = Level2Key::from_bytes("k-2024", &[2u8; 32]).unwrap();

    let cohort = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("PATIENT_ID", DataType::Utf8, false),
            Field::new("DIAG", DataType::Utf8, false),
            Field::new("INCL_DATE", DataType::Date32, false),
        ])),
        vec![
            Arc::new(StringArray::from(
                (1..=4)
                    .map(|i| old.encrypt(&level1(i)).to_hex())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(StringArray::from(vec!["E11.9", "E11.0", "I10", "E10"])),
            Arc::new(Date32Array::from(vec![days("2022-03-01"); 4])),
        ],
    )
    .unwrap();
    let claims_persons: Vec<u32> = (1..=6).flat_map(|i| [i, i]).collect();
    let claims = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("BEN_NIR_PSA", DataType::Utf8, false),
            Field::new("EXE_SOI_DTD", DataType::Date32, false),
            Field::new("PRS_NAT_REF", DataType::Int64, false),
            Field::new("PRS_PAI_MNT", DataType::Int64, false),
        ])),
        vec![
            Arc::new(StringArray::from(
                claims_persons
                    .iter()
                    .map(|&i| new.encrypt(&level1(i)).to_hex())
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Date32Array::from(
                claims_persons
                    .iter()
                    .enumerate()
                    .map(|(k, _)| {
                        days(if k % 2 == 0 {
                            "2022-06-01"
                        } else {
                            "2025-06-01"
                        })
                    })
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(
                claims_persons
                    .iter()
                    .map(|&i| 1100 + i64::from(i))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from(vec![25; claims_persons.len()])),
        ],
    )
    .unwrap();
    lake.put_bytes("datasets/cohort/v1/COHORT.parquet", parquet(&cohort))
        .await
        .unwrap();
    lake.put_bytes("datasets/claims/v3/ER_PRS_F.parquet", parquet(&claims))
        .await
        .unwrap();

    let sources = vec![
        SourceTable {
            dataset_id: "cohort".into(),
            dataset_version: 1,
            name: "COHORT".into(),
            path: "datasets/cohort/v1/COHORT.parquet".into(),
            sha256: String::new(),
            key_id: "k-2021".into(),
            person_columns: vec!["PATIENT_ID".into()],
            period_column: Some("INCL_DATE".into()),
            foreign_keys: vec![],
            columns: vec!["PATIENT_ID".into(), "DIAG".into(), "INCL_DATE".into()],
        },
        SourceTable {
            dataset_id: "claims".into(),
            dataset_version: 3,
            name: "ER_PRS_F".into(),
            path: "datasets/claims/v3/ER_PRS_F.parquet".into(),
            sha256: String::new(),
            key_id: "k-2024".into(),
            person_columns: vec!["BEN_NIR_PSA".into()],
            period_column: Some("EXE_SOI_DTD".into()),
            foreign_keys: vec![],
            columns: vec![
                "BEN_NIR_PSA".into(),
                "EXE_SOI_DTD".into(),
                "PRS_NAT_REF".into(),
                "PRS_PAI_MNT".into(),
            ],
        },
    ];
    let tables = vec![
        TableSpec {
            name: "COHORT".into(),
            dataset_id: "cohort".into(),
            dataset_version: 1,
            source_path: sources[0].path.clone(),
            columns: vec!["PATIENT_ID".into(), "DIAG".into()],
            person_columns: vec!["PATIENT_ID".into()],
            period_column: Some("INCL_DATE".into()),
            key_id: "k-2021".into(),
        },
        TableSpec {
            name: "ER_PRS_F".into(),
            dataset_id: "claims".into(),
            dataset_version: 3,
            source_path: sources[1].path.clone(),
            // PRS_PAI_MNT is not approved.
            columns: vec![
                "BEN_NIR_PSA".into(),
                "EXE_SOI_DTD".into(),
                "PRS_NAT_REF".into(),
            ],
            person_columns: vec!["BEN_NIR_PSA".into()],
            period_column: Some("EXE_SOI_DTD".into()),
            key_id: "k-2024".into(),
        },
    ];
    let criterion: PopulationCriterion = serde_json::from_value(serde_json::json!({
        "dataset": "cohort", "table": "COHORT", "column": "DIAG", "codes": ["E11"]
    }))
    .unwrap();
    let spec = ExtractionSpec {
        project_id: "p-linked".into(),
        period_start: day("2020-01-01"),
        period_end: day("2023-12-31"),
        tables,
        sources,
        criteria: vec![criterion],
        register: RegisterState::default(),
        link_tables: vec![],
    };
    let keys = HashMap::from([("k-2021".to_string(), old), ("k-2024".to_string(), new)]);
    World {
        _dir: dir,
        root,
        lake,
        keys,
        spec,
        project: HubSecret::from_bytes(&[9u8; 32])
            .unwrap()
            .project_key("p-linked"),
    }
}

#[tokio::test]
async fn a_criterion_in_one_dataset_restricts_another_linked_across_keys() {
    let w = world().await;
    let project = &w.project;
    let (key, linker) = (w.pseudonymiser(), w.linker());
    // Person 2 objected to the use of the claims only.
    let active_l2 = w.keys["k-2024"].encrypt(&level1(2)).to_hex();
    let oppositions = Oppositions {
        all: HashSet::new(),
        by_dataset: HashMap::from([(
            "claims".to_string(),
            HashSet::from([linker.link_active(&active_l2).unwrap()]),
        )]),
    };
    let x = provision(&w.lake, &w.spec, "b1", &key, &linker, &oppositions, &|_| {})
        .await
        .unwrap();

    let pseudonym = |i: u32| project.pseudonym_of(&level1(i));
    let path = |table: &str| {
        x.manifest
            .files
            .iter()
            .find(|f| f.table == table)
            .unwrap()
            .path
            .clone()
    };
    // The population: persons 1 and 2 (E11 in the cohort).
    assert_eq!(x.report.population, Some(2));
    let cohort = read(&w.root, &path("COHORT"));
    let in_cohort: BTreeSet<String> = strings(&cohort, "PATIENT_ID").into_iter().collect();
    assert_eq!(in_cohort, BTreeSet::from([pseudonym(1), pseudonym(2)]));
    // Only the approved columns.
    assert_eq!(
        cohort[0]
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>(),
        ["PATIENT_ID", "DIAG"]
    );

    // The claims: person 1 only (2 objected to this dataset), in the period.
    let claims = read(&w.root, &path("ER_PRS_F"));
    let mut per_person: BTreeMap<String, usize> = BTreeMap::new();
    for p in strings(&claims, "BEN_NIR_PSA") {
        *per_person.entry(p).or_default() += 1;
    }
    assert_eq!(per_person, BTreeMap::from([(pseudonym(1), 1)]));
    assert!(
        claims[0].schema().index_of("PRS_PAI_MNT").is_err(),
        "an unapproved column was written"
    );
    let report = |t: &str| x.report.tables.iter().find(|r| r.table == t).unwrap();
    assert_eq!(report("ER_PRS_F").rows, 1);
    assert_eq!(
        report("ER_PRS_F").opposed_rows,
        1,
        "{:?}",
        report("ER_PRS_F")
    );
    assert_eq!(report("COHORT").opposed_rows, 0);
    assert_eq!(report("ER_PRS_F").last_day, Some(day("2022-06-01")));
    // Distinct persons over both tables: 1 and 2.
    assert_eq!(x.report.persons, 2);

    // Without the level-2 key of the cohort, its pseudonyms link to no one:
    // provisioning fails rather than writing an unlinked extraction.
    let only_new = HashMap::from([(
        "k-2024".to_string(),
        Level2Key::from_bytes("k-2024", &[2u8; 32]).unwrap(),
    )]);
    let r = provision(
        &w.lake,
        &w.spec,
        "b2",
        &ProjectPseudonymiser {
            project,
            level2: &only_new,
            bridge: None,
        },
        &Linker {
            level2: &only_new,
            active: only_new.get("k-2024"),
            bridge: None,
        },
        &Oppositions::default(),
        &|_| {},
    )
    .await;
    let e = r
        .expect_err("provisioned without the cohort's key")
        .to_string();
    assert!(e.contains("k-2021") && e.contains("cohort"), "{e}");
    assert!(
        w.lake
            .list("projects/p-linked/extraction/b2")
            .await
            .unwrap()
            .is_empty(),
        "a failed build left files"
    );
}

#[tokio::test]
async fn a_table_with_its_period_column_is_laid_out_by_year() {
    let mut w = world().await;
    w.spec.period_end = day("2025-12-31");
    w.spec.criteria.clear();
    let project = &w.project;
    let (key, linker) = (w.pseudonymiser(), w.linker());
    let none = Oppositions::default();
    let quiet = |_: &hdh_workspace::extract::Progress| {};
    let build = |b: &'static str| provision(&w.lake, &w.spec, b, &key, &linker, &none, &quiet);
    let x = build("b1").await.unwrap();
    let file = |x: &hdh_workspace::Extraction, table: &str| {
        x.manifest
            .files
            .iter()
            .find(|f| f.table == table)
            .unwrap()
            .clone()
    };
    // The claims alternate 2022 and 2025 person by person; the extraction
    // holds one row group per year, persons in their delivered order in each.
    let claims = file(&x, "ER_PRS_F");
    let f = std::fs::File::open(w.root.join(&claims.path)).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    assert_eq!(builder.metadata().num_row_groups(), 2);
    let pseudonym = |i: u32| project.pseudonym_of(&level1(i));
    let persons: Vec<String> = (1..=6).map(pseudonym).collect();
    for (group, year) in [(0, "2022-06-01"), (1, "2025-06-01")] {
        let f = std::fs::File::open(w.root.join(&claims.path)).unwrap();
        let batches: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(f)
            .unwrap()
            .with_row_groups(vec![group])
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            strings(&batches, "BEN_NIR_PSA"),
            persons,
            "row group {group}"
        );
        for b in &batches {
            let d = b.column(b.schema().index_of("EXE_SOI_DTD").unwrap());
            let d = d.as_any().downcast_ref::<Date32Array>().unwrap();
            assert!(d.iter().all(|v| v == Some(days(year))), "row group {group}");
        }
    }
    // The cohort's period column is not approved: its rows keep their order.
    assert_eq!(file(&x, "COHORT").rows, 4);
    // Built again from the same inputs: the same bytes.
    let again = build("b2").await.unwrap();
    assert_eq!(file(&again, "ER_PRS_F").sha256, claims.sha256);
    assert_eq!(file(&again, "COHORT").sha256, file(&x, "COHORT").sha256);
}
