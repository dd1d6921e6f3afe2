//! The hub's two levels of the pseudonymisation chain, applied to Arrow
//! batches (see `docs/threat-model.md`):
//!
//! * **level 2** (ingestion): person-identifier columns arrive as level-1
//!   pseudonyms (32 hex characters, keyed by the trusted third party) and are
//!   encrypted with the hub's level-2 key ([`encrypt_level1`]); a key
//!   rotation re-encrypts them under a new key ([`rekey`]) without any new
//!   delivery;
//! * **level 3** (provisioning): a project sees
//!   `HMAC(project key, level 1)`, where level 1 is recovered from level 2 by
//!   decryption ([`ProjectPseudonymiser`]), so a rotation of level 2 changes
//!   no project's pseudonyms and two projects share none.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use hdh_pseudo::ProjectKey;
use hdh_pseudo::level1::Level1Pseudonym;
use hdh_pseudo::level2::{Level2Key, Level2Pseudonym};

/// A value of a person-identifier column that is not a pseudonym of the
/// expected level. The value itself is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}, row {row}: {reason} (value withheld)")]
pub struct PseudonymError {
    pub column: String,
    /// 0-based row within the batch.
    pub row: usize,
    pub reason: String,
}

fn text_column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<(usize, Option<&'a StringArray>, Option<ArrayRef>), PseudonymError> {
    let idx = batch.schema().index_of(name).map_err(|_| PseudonymError {
        column: name.to_string(),
        row: 0,
        reason: "column missing".into(),
    })?;
    let col = batch.column(idx);
    if col.data_type() == &DataType::Utf8 {
        return Ok((idx, col.as_any().downcast_ref::<StringArray>(), None));
    }
    let cast = cast(col, &DataType::Utf8).map_err(|e| PseudonymError {
        column: name.to_string(),
        row: 0,
        reason: format!("not text: {e}"),
    })?;
    Ok((idx, None, Some(cast)))
}

/// Maps the given text columns value by value (nulls stay null).
fn map_columns(
    batch: &RecordBatch,
    columns: &[String],
    f: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<RecordBatch, PseudonymError> {
    let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
    for name in columns {
        let (idx, direct, owned) = text_column(batch, name)?;
        let strings: &StringArray = match (direct, owned.as_ref()) {
            (Some(s), _) => s,
            (None, Some(a)) => {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| PseudonymError {
                        column: name.clone(),
                        row: 0,
                        reason: "not text".into(),
                    })?
            }
            (None, None) => {
                return Err(PseudonymError {
                    column: name.clone(),
                    row: 0,
                    reason: "not text".into(),
                });
            }
        };
        let mut out = StringBuilder::with_capacity(strings.len(), strings.len() * 32);
        for row in 0..strings.len() {
            if strings.is_null(row) {
                out.append_null();
                continue;
            }
            let mapped = f(strings.value(row)).map_err(|reason| PseudonymError {
                column: name.clone(),
                row,
                reason,
            })?;
            out.append_value(mapped);
        }
        arrays[idx] = Arc::new(out.finish());
    }
    // Same fields and metadata; identifier columns become text.
    let in_schema = batch.schema();
    let schema = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
        in_schema
            .fields()
            .iter()
            .map(|f| {
                if columns.iter().any(|c| c == f.name()) {
                    f.as_ref().clone().with_data_type(DataType::Utf8)
                } else {
                    f.as_ref().clone()
                }
            })
            .collect::<Vec<_>>(),
        in_schema.metadata().clone(),
    ));
    RecordBatch::try_new(schema, arrays).map_err(|e| PseudonymError {
        column: columns.join(", "),
        row: 0,
        reason: e.to_string(),
    })
}

/// Level 2: replaces level-1 pseudonyms by their encryption under `key`.
pub fn encrypt_level1(
    batch: &RecordBatch,
    columns: &[String],
    key: &Level2Key,
) -> Result<RecordBatch, PseudonymError> {
    map_columns(batch, columns, &mut |v| {
        let l1 = Level1Pseudonym::from_hex(v).map_err(|_| {
            "not a level-1 pseudonym (32 lowercase hexadecimal characters): pseudonymise identifiers with `hdh producer prepare` before delivering".to_string()
        })?;
        Ok(key.encrypt(&l1).to_hex())
    })
}

/// Level 2 for quarantined rows: a value that is not a level-1 pseudonym
/// (which could be a raw identifier sent by mistake) becomes null instead of
/// being kept.
pub fn encrypt_level1_or_null(
    batch: &RecordBatch,
    columns: &[String],
    key: &Level2Key,
) -> Result<RecordBatch, PseudonymError> {
    let mut arrays: Vec<ArrayRef> = batch.columns().to_vec();
    for name in columns {
        let (idx, direct, owned) = text_column(batch, name)?;
        let Some(strings) = direct.or_else(|| {
            owned
                .as_ref()
                .and_then(|a| a.as_any().downcast_ref::<StringArray>())
        }) else {
            continue;
        };
        let mapped: StringArray = strings
            .iter()
            .map(|v| {
                v.and_then(|v| Level1Pseudonym::from_hex(v).ok())
                    .map(|l1| key.encrypt(&l1).to_hex())
            })
            .collect();
        arrays[idx] = Arc::new(mapped);
    }
    RecordBatch::try_new(batch.schema(), arrays).map_err(|e| PseudonymError {
        column: columns.join(", "),
        row: 0,
        reason: e.to_string(),
    })
}

/// Key rotation: decrypts level-2 pseudonyms with `from`, encrypts with `to`.
pub fn rekey(
    batch: &RecordBatch,
    columns: &[String],
    from: &Level2Key,
    to: &Level2Key,
) -> Result<RecordBatch, PseudonymError> {
    map_columns(batch, columns, &mut |v| {
        let l2 = Level2Pseudonym::from_hex(v).map_err(|_| "not a level-2 pseudonym".to_string())?;
        Ok(to.encrypt(&from.decrypt(&l2)).to_hex())
    })
}

/// Level 3: the pseudonyms of one project, from the level-2 pseudonyms of
/// the versions it reads (each version names the level-2 key it was
/// encrypted with; `""` = a version delivered before the chain existed,
/// whose identifiers are keyed directly).
pub struct ProjectPseudonymiser<'a> {
    pub project: &'a ProjectKey,
    pub level2: &'a HashMap<String, Level2Key>,
    /// Persons joined by link tables: they get the pseudonym of the person
    /// they are linked to.
    pub bridge: Option<&'a crate::Bridge>,
}

impl ProjectPseudonymiser<'_> {
    pub fn apply(
        &self,
        batch: &RecordBatch,
        columns: &[String],
        key_id: &str,
    ) -> Result<RecordBatch, PseudonymError> {
        if !key_id.is_empty() && !self.level2.contains_key(key_id) {
            return Err(PseudonymError {
                column: columns.join(", "),
                row: 0,
                reason: format!("level-2 key {key_id} is not available"),
            });
        }
        map_columns(batch, columns, &mut |v| {
            let (key_id, v) = self
                .bridge
                .and_then(|b| b.get(key_id, v))
                .unwrap_or((key_id, v));
            if key_id.is_empty() {
                return Ok(self.project.pseudonym(v));
            }
            let key = self
                .level2
                .get(key_id)
                .ok_or_else(|| format!("level-2 key {key_id} is not available"))?;
            let l2 =
                Level2Pseudonym::from_hex(v).map_err(|_| "not a level-2 pseudonym".to_string())?;
            Ok(self.project.pseudonym_of(&key.decrypt(&l2)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{Field, Schema};
    use hdh_pseudo::HubSecret;
    use hdh_pseudo::level1::Level1Key;

    fn batch(values: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("BEN_NIR_PSA", DataType::Utf8, true),
            Field::new("N", DataType::Int64, false),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(values.to_vec())),
                Arc::new(datafusion::arrow::array::Int64Array::from(
                    (0..values.len() as i64).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn col(b: &RecordBatch) -> Vec<Option<String>> {
        let a = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        a.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn the_chain_keeps_joins_through_rotation_and_separates_projects() {
        let l1 = Level1Key::from_bytes("l1", &[1u8; 32]).unwrap();
        let a = l1
            .pseudonymise(&["1850578006048", "1985-05-12", "1"])
            .to_hex();
        let b = l1
            .pseudonymise(&["2850578006048", "1985-05-12", "2"])
            .to_hex();
        let cols = vec!["BEN_NIR_PSA".to_string()];
        let k1 = Level2Key::from_bytes("k1", &[2u8; 32]).unwrap();
        let k2 = Level2Key::from_bytes("k2", &[3u8; 32]).unwrap();
        let input = batch(&[Some(&a), Some(&b), Some(&a), None]);
        let v1 = encrypt_level1(&input, &cols, &k1).unwrap();
        let l2 = col(&v1);
        assert_eq!(l2[0], l2[2]);
        assert_ne!(l2[0], l2[1]);
        assert_eq!(l2[3], None);
        assert_ne!(l2[0].as_deref(), Some(a.as_str()));
        let v2 = rekey(&v1, &cols, &k1, &k2).unwrap();
        let r = col(&v2);
        assert_eq!(r[0], r[2]);
        assert_ne!(r[0], l2[0]);

        let secret = HubSecret::from_bytes(&[7u8; 32]).unwrap();
        let keys: HashMap<String, Level2Key> = [
            (
                "k1".to_string(),
                Level2Key::from_bytes("k1", &[2u8; 32]).unwrap(),
            ),
            (
                "k2".to_string(),
                Level2Key::from_bytes("k2", &[3u8; 32]).unwrap(),
            ),
        ]
        .into();
        let pa = secret.project_key("p-a");
        let pb = secret.project_key("p-b");
        let before = ProjectPseudonymiser {
            project: &pa,
            level2: &keys,
            bridge: None,
        }
        .apply(&v1, &cols, "k1")
        .unwrap();
        let after = ProjectPseudonymiser {
            project: &pa,
            level2: &keys,
            bridge: None,
        }
        .apply(&v2, &cols, "k2")
        .unwrap();
        // A rotation changes no project pseudonym.
        assert_eq!(col(&before), col(&after));
        let other = ProjectPseudonymiser {
            project: &pb,
            level2: &keys,
            bridge: None,
        }
        .apply(&v1, &cols, "k1")
        .unwrap();
        assert_ne!(col(&before)[0], col(&other)[0]);

        // A bridge (a published link table) gives a participant of another
        // source, under k1, the project pseudonym and the linking value of
        // the person it is linked to (here `b`, under k2); others keep
        // their own.
        let participant = l1.pseudonymise(&["cohort-0042"]).to_hex();
        let cohort = encrypt_level1(&batch(&[Some(&participant), Some(&a)]), &cols, &k1).unwrap();
        let p_l2 = col(&cohort)[0].clone().unwrap();
        let b_k2 = r[1].clone().unwrap();
        let mut bridge = crate::Bridge::default();
        bridge.insert("k1", &p_l2, "k2", &b_k2);
        let bridged = ProjectPseudonymiser {
            project: &pa,
            level2: &keys,
            bridge: Some(&bridge),
        }
        .apply(&cohort, &cols, "k1")
        .unwrap();
        assert_eq!(
            col(&bridged)[0],
            col(&after)[1],
            "the linked person's pseudonym"
        );
        assert_eq!(col(&bridged)[1], col(&before)[0], "not bridged: unchanged");
        let linker = |bridge| crate::Linker {
            level2: &keys,
            active: keys.get("k2"),
            bridge,
        };
        assert_eq!(
            linker(Some(&bridge)).link("k1", &p_l2),
            linker(None).link("k2", &b_k2)
        );
        assert_ne!(
            linker(None).link("k1", &p_l2),
            linker(None).link("k2", &b_k2)
        );
    }

    #[test]
    fn a_raw_identifier_is_refused_without_being_quoted() {
        let k = Level2Key::from_bytes("k1", &[2u8; 32]).unwrap();
        let e = encrypt_level1(
            &batch(&[Some("185057800604812")]),
            &["BEN_NIR_PSA".to_string()],
            &k,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("1850578"), "{e}");
        assert!(e.to_string().contains("BEN_NIR_PSA, row 0"), "{e}");
    }
}
