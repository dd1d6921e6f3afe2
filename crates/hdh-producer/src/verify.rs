//! `verify`: checks a package as the hub will, before it is sent.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use ed25519_dalek::VerifyingKey;
use hdh_model::schema::TableSchema;
use hdh_package::{MANIFEST_FILE, Manifest, PackageError, SIGNATURE_FILE};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// Largest manifest or signature read.
const MAX_SMALL: u64 = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{MANIFEST_FILE}: {0}")]
    Manifest(#[source] PackageError),
    #[error("{SIGNATURE_FILE}: {0}")]
    Signature(#[source] PackageError),
    #[error("the package is signed with key {found}, not the expected {expected}")]
    WrongKey { expected: String, found: String },
    #[error("the package is damaged:\n  {}", .0.join("\n  "))]
    Problems(Vec<String>),
}

fn read_small(dir: &Path, name: &str) -> Result<Vec<u8>, VerifyError> {
    let path = dir.join(name);
    let io = |source| VerifyError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = File::open(&path).map_err(io)?;
    let mut bytes = Vec::new();
    f.take(MAX_SMALL + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_SMALL {
        return Err(VerifyError::Problems(vec![format!(
            "{name}: larger than {MAX_SMALL} bytes"
        )]));
    }
    Ok(bytes)
}

/// Checks a package directory: the manifest parses, its signature verifies
/// with the producer key it names (and that key is `expected` when given),
/// every listed file is there with its size and SHA-256, no other file is
/// (hidden files, such as the upload state, aside), every schema is a
/// published schema named like its table, and every Parquet file has that
/// schema's columns and the manifest's row count.
pub fn verify_package(
    dir: &Path,
    expected: Option<&VerifyingKey>,
) -> Result<Manifest, VerifyError> {
    let bytes = read_small(dir, MANIFEST_FILE)?;
    let manifest = Manifest::parse(&bytes).map_err(VerifyError::Manifest)?;
    let signature = read_small(dir, SIGNATURE_FILE)?;
    let key = manifest
        .producer_verifying_key()
        .map_err(VerifyError::Manifest)?;
    if let Some(expected) = expected
        && expected != &key
    {
        return Err(VerifyError::WrongKey {
            expected: hex::encode(expected.as_bytes()),
            found: manifest.producer_key.clone(),
        });
    }
    hdh_package::verify(&bytes, &String::from_utf8_lossy(&signature), &key)
        .map_err(VerifyError::Signature)?;

    let mut problems = Vec::new();
    for f in &manifest.files {
        let path = dir.join(&f.path);
        match File::open(&path) {
            Ok(file) => {
                if let Err(e) =
                    hdh_package::check_file(f, std::io::BufReader::with_capacity(1 << 20, file))
                {
                    problems.push(e.to_string());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                problems.push(format!("{}: listed in the manifest but missing", f.path));
            }
            Err(e) => problems.push(format!("{}: {e}", f.path)),
        }
    }
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || name == MANIFEST_FILE || name == SIGNATURE_FILE {
                    continue;
                }
                if manifest.file(&name).is_none() {
                    problems.push(format!("{name}: not listed in the manifest"));
                }
            }
        }
        Err(source) => {
            return Err(VerifyError::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    }
    if problems.is_empty() {
        for t in &manifest.tables {
            if let Err(p) = check_table(dir, t) {
                problems.push(p);
            }
        }
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(VerifyError::Problems(problems))
    }
}

fn check_table(dir: &Path, t: &hdh_package::ManifestTable) -> Result<(), String> {
    let bytes = std::fs::read(dir.join(&t.schema)).map_err(|e| format!("{}: {e}", t.schema))?;
    let schema = TableSchema::from_json(&bytes).map_err(|e| format!("{}: {e}", t.schema))?;
    if schema.name != t.name {
        return Err(format!(
            "{}: the schema is named {}, the manifest says {}",
            t.schema, schema.name, t.name
        ));
    }
    if schema.has_pseudonymisation() {
        return Err(format!(
            "{}: a delivered schema must not declare hdh:pseudonymisation",
            t.schema
        ));
    }
    let file = File::open(dir.join(&t.data)).map_err(|e| format!("{}: {e}", t.data))?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| format!("{}: not a readable Parquet file: {e}", t.data))?;
    let expected = hdh_ingest::arrow_schema(&schema);
    if reader.schema().fields() != expected.fields() {
        return Err(format!(
            "{}: its columns are not those of {}",
            t.data, t.schema
        ));
    }
    let rows = reader.metadata().file_metadata().num_rows();
    if u64::try_from(rows).ok() != Some(t.rows) {
        return Err(format!(
            "{}: {rows} rows, the manifest says {}",
            t.data, t.rows
        ));
    }
    Ok(())
}
