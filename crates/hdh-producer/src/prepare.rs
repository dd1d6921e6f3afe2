//! `prepare`: CSV tables + input schemas → a signed delivery package.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use chrono::Utc;
use hdh_ingest::{Encoding, IngestError, IngestOptions, NoNomenclatures, RowError};
use hdh_model::schema::{SchemaError, TableSchema};
use hdh_package::{
    FORMAT, HashingWriter, MANIFEST_FILE, METADATA_FILE, Manifest, ManifestFile, ManifestTable,
    PackageError, ProducerIdentity, SIGNATURE_FILE, Summary, TableSummary,
};
use hdh_pseudo::level1::Level1Key;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::transform::{Engine, Transformer};

/// How the CSV files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub has_header: bool,
    /// `None`: no quoting.
    pub quote: Option<u8>,
    pub encoding: Encoding,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            has_header: true,
            quote: Some(b'"'),
            encoding: Encoding::Utf8,
        }
    }
}

/// Where the level-1 pseudonyms come from.
pub enum Level1Source {
    /// The key itself, opened from a sealed key package (offline).
    Key(Level1Key),
    /// The trusted third party, online (identifying values are sent to it,
    /// normalised, in batches).
    Ttp(hdh_ttp::TtpClient),
}

impl Level1Source {
    fn kind(&self) -> &'static str {
        match self {
            Level1Source::Key(_) => "key-package",
            Level1Source::Ttp(_) => "ttp",
        }
    }
}

/// One table to prepare: its input schema (with `hdh:pseudonymisation`
/// properties) and its CSV file.
#[derive(Debug, Clone)]
pub struct TableInput {
    pub schema: TableSchema,
    pub path: PathBuf,
}

impl TableInput {
    /// Reads the schema file.
    pub fn from_files(schema: &Path, input: &Path) -> Result<TableInput, PrepareError> {
        let bytes = std::fs::read(schema).map_err(|e| PrepareError::io(schema, e))?;
        let schema_value =
            TableSchema::from_json(&bytes).map_err(|source| PrepareError::Schema {
                path: schema.display().to_string(),
                source,
            })?;
        Ok(TableInput {
            schema: schema_value,
            path: input.to_owned(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct PrepareOptions {
    pub dataset_id: String,
    /// Catalogue metadata (`dataset.json`) to include.
    pub metadata: Option<PathBuf>,
    pub dialect: Dialect,
    /// Rows per batch (memory is a few batches).
    pub batch_rows: usize,
    /// Errors reported in detail per table.
    pub max_errors: usize,
}

impl PrepareOptions {
    pub fn new(dataset_id: &str) -> PrepareOptions {
        PrepareOptions {
            dataset_id: dataset_id.to_owned(),
            metadata: None,
            dialect: Dialect::default(),
            batch_rows: 65_536,
            max_errors: 1000,
        }
    }
}

/// Progress of a preparation; called from two threads.
pub trait Progress: Sync {
    /// A table starts; its input has `input_bytes` bytes (0 if unknown).
    fn table_started(&self, _table: &str, _input_bytes: u64) {}
    /// `n` more bytes of input read.
    fn bytes_read(&self, _n: u64) {}
    /// `n` more rows converted.
    fn rows_done(&self, _n: u64) {}
    fn table_finished(&self, _table: &str, _rows: u64) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Schema {
        path: String,
        #[source]
        source: SchemaError,
    },
    #[error("{0}")]
    Usage(String),
    /// The input has errors; nothing was written.
    #[error("{}", show_invalid(file, errors, *error_count))]
    Invalid {
        file: String,
        errors: Vec<RowError>,
        error_count: u64,
    },
    #[error("{file}: {source}")]
    Ingest {
        file: String,
        #[source]
        source: IngestError,
    },
    #[error("level-1 pseudonyms: {0}")]
    Level1(String),
    #[error("writing {file}: {source}")]
    Parquet {
        file: String,
        #[source]
        source: ParquetError,
    },
    #[error("{0} already exists: choose another --out, or remove it")]
    OutExists(PathBuf),
    #[error(transparent)]
    Package(#[from] PackageError),
}

/// Errors shown in a message (all of them are in the value).
const SHOWN_ERRORS: usize = 20;

fn show_invalid(file: &str, errors: &[RowError], count: u64) -> String {
    let mut s = format!("{file}: {count} error(s); no package was written");
    for e in errors.iter().take(SHOWN_ERRORS) {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    if count > SHOWN_ERRORS.min(errors.len()) as u64 {
        s.push_str(&format!(
            "\n  … and {} more",
            count - SHOWN_ERRORS.min(errors.len()) as u64
        ));
    }
    s
}

impl PrepareError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> PrepareError {
        PrepareError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// The outcome of [`prepare`].
#[derive(Debug)]
pub struct Prepared {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Warnings of the validation (unknown nomenclatures, …), per table.
    pub warnings: Vec<String>,
}

/// What [`prepare_table`] gives back besides the writer.
#[derive(Debug)]
pub struct PreparedTable<W> {
    pub summary: TableSummary,
    pub warnings: Vec<String>,
    pub writer: W,
}

/// Counts the bytes read for the progress.
struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes_read(n as u64);
        Ok(n)
    }
}

/// Converts one table: reads `input` (a CSV named `file_name`) against
/// `schema` (the input schema), writes the published table as Parquet to
/// `output`. Parsing and validation run on a second thread; batches cross a
/// bounded channel, so memory is a few batches whatever the input's size.
///
/// On an invalid input, every error found is returned (file, line, column,
/// field, reason; never a value of an identifier) and `output` holds a
/// partial file that the caller discards.
#[allow(clippy::too_many_arguments)]
pub fn prepare_table<R, W>(
    schema: &TableSchema,
    file_name: &str,
    input: R,
    output: W,
    dialect: &Dialect,
    level1: &Level1Source,
    opts: &PrepareOptions,
    progress: &dyn Progress,
) -> Result<PreparedTable<W>, PrepareError>
where
    R: Read + Send,
    W: Write + Send,
{
    let engine = match level1 {
        Level1Source::Key(k) => Engine::offline(k),
        Level1Source::Ttp(c) => Engine::Ttp(c),
    };
    prepare_with_engine(
        schema, file_name, input, output, dialect, &engine, opts, progress,
    )
}

fn writer_properties(schema: &TableSchema) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_created_by(format!("hdh-producer {}", env!("CARGO_PKG_VERSION")));
    // Pseudonyms are (nearly) all distinct random hex: a dictionary,
    // compression or min/max statistics only cost time.
    for f in &schema.published().fields {
        if f.is_person_identifier() {
            let path = ColumnPath::from(f.name.as_str());
            props = props
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_statistics_enabled(path.clone(), EnabledStatistics::None)
                .set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    props.build()
}

#[allow(clippy::too_many_arguments)]
fn prepare_with_engine<R, W>(
    schema: &TableSchema,
    file_name: &str,
    input: R,
    output: W,
    dialect: &Dialect,
    engine: &Engine<'_>,
    opts: &PrepareOptions,
    progress: &dyn Progress,
) -> Result<PreparedTable<W>, PrepareError>
where
    R: Read + Send,
    W: Write + Send,
{
    let mut transformer = Transformer::new(schema, file_name, opts.max_errors)?;
    let ingest_opts = IngestOptions {
        batch_rows: opts.batch_rows.max(1),
        max_errors: opts.max_errors,
        delimiter: dialect.delimiter,
        has_header: dialect.has_header,
        quote: dialect.quote,
        encoding: dialect.encoding,
        check_unique: false,
        ..IngestOptions::default()
    };
    let parquet_err = |source| PrepareError::Parquet {
        file: format!("{}.parquet", schema.name),
        source,
    };
    let mut writer = ArrowWriter::try_new(
        output,
        transformer.output_schema().clone(),
        Some(writer_properties(schema)),
    )
    .map_err(parquet_err)?;

    let (report, failure, rows_written) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(RecordBatch, Vec<u64>)>(2);
        let spawned = std::thread::Builder::new()
            .name("hdh-csv-reader".to_owned())
            .spawn_scoped(s, move || {
                let counting = Counting {
                    inner: input,
                    progress,
                };
                hdh_ingest::ingest_csv_with_lines(
                    schema,
                    file_name,
                    counting,
                    &NoNomenclatures,
                    &ingest_opts,
                    &mut |batch, lines| {
                        tx.send((batch, lines.to_vec()))
                            .map_err(|_| IngestError::Sink("the converter stopped".into()))
                    },
                )
            });
        let parser = match spawned {
            Ok(p) => p,
            Err(e) => {
                return (
                    None,
                    Some(PrepareError::Usage(format!(
                        "cannot start the CSV reader thread: {e}"
                    ))),
                    0,
                );
            }
        };
        let mut failure: Option<PrepareError> = None;
        let mut rows_written = 0u64;
        for (batch, lines) in rx.iter() {
            let n = batch.num_rows() as u64;
            match transformer.transform(&batch, &lines, engine) {
                Ok(Some(out)) => {
                    if let Err(e) = writer.write(&out) {
                        failure = Some(parquet_err(e));
                        break;
                    }
                    rows_written += n;
                }
                Ok(None) => {
                    if transformer.errors.len() >= opts.max_errors {
                        break;
                    }
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
            progress.rows_done(n);
        }
        // Stops the parser if it is still sending.
        drop(rx);
        let report = parser.join().ok();
        (report, failure, rows_written)
    });
    if let Some(f) = failure {
        return Err(f);
    }
    let report = match report {
        Some(Ok(report)) => report,
        Some(Err(IngestError::Sink(_))) if transformer.error_count > 0 => {
            return Err(PrepareError::Invalid {
                file: file_name.to_owned(),
                errors: std::mem::take(&mut transformer.errors),
                error_count: transformer.error_count,
            });
        }
        Some(Err(source)) => {
            return Err(PrepareError::Ingest {
                file: file_name.to_owned(),
                source,
            });
        }
        None => {
            return Err(PrepareError::Usage(
                "internal error: the CSV reader stopped unexpectedly".to_owned(),
            ));
        }
    };
    if !report.is_valid() || transformer.error_count > 0 {
        let mut errors = report.errors;
        errors.extend(std::mem::take(&mut transformer.errors));
        errors.sort_by_key(|e| (e.line, e.column));
        errors.truncate(opts.max_errors);
        return Err(PrepareError::Invalid {
            file: file_name.to_owned(),
            errors,
            error_count: report.error_count + transformer.error_count,
        });
    }
    if rows_written != report.rows {
        return Err(PrepareError::Usage(format!(
            "internal error: {} rows read but {rows_written} written",
            report.rows
        )));
    }
    let writer = writer.into_inner().map_err(parquet_err)?;
    let provisional_nirs = transformer.counts.provisional.iter().cloned().collect();
    Ok(PreparedTable {
        summary: TableSummary {
            source: file_name.to_owned(),
            rows_read: report.rows,
            rows_written,
            invalid_rows: 0,
            provisional_nirs,
        },
        warnings: report.warnings,
        writer,
    })
}

/// The `<out>.partial` directory beside `out`.
fn partial_dir(out: &Path) -> Result<PathBuf, PrepareError> {
    let name = out
        .file_name()
        .ok_or_else(|| PrepareError::Usage(format!("{}: not a directory name", out.display())))?;
    let mut partial = name.to_os_string();
    partial.push(".partial");
    Ok(out.with_file_name(partial))
}

fn file_name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Writes `bytes` to `dir/name`, synced; its manifest entry.
fn write_small(dir: &Path, name: &str, bytes: &[u8]) -> Result<ManifestFile, PrepareError> {
    let path = dir.join(name);
    let mut f = File::create(&path).map_err(|e| PrepareError::io(&path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| PrepareError::io(&path, e))?;
    Ok(ManifestFile {
        path: name.to_owned(),
        bytes: bytes.len() as u64,
        sha256: hdh_package::sha256_hex(bytes),
    })
}

/// Prepares a package of `tables` in the directory `out` (which must not
/// exist): everything is written to `<out>.partial` first and renamed at
/// the end, so a failed preparation leaves no package (and removes its
/// partial directory).
pub fn prepare(
    tables: &[TableInput],
    out: &Path,
    opts: &PrepareOptions,
    identity: &ProducerIdentity,
    level1: &Level1Source,
    progress: &dyn Progress,
) -> Result<Prepared, PrepareError> {
    if !hdh_package::is_safe_id(&opts.dataset_id) {
        return Err(PrepareError::Usage(format!(
            "dataset id {:?}: use letters, digits, '-' or '_' (at most 64)",
            opts.dataset_id
        )));
    }
    if tables.is_empty() {
        return Err(PrepareError::Usage("no table to prepare".to_owned()));
    }
    for (i, t) in tables.iter().enumerate() {
        if tables[..i].iter().any(|u| u.schema.name == t.schema.name) {
            return Err(PrepareError::Usage(format!(
                "table {} is given twice",
                t.schema.name
            )));
        }
    }
    if out.exists() {
        return Err(PrepareError::OutExists(out.to_owned()));
    }
    let partial = partial_dir(out)?;
    if partial.exists() {
        // Left by an interrupted preparation.
        std::fs::remove_dir_all(&partial).map_err(|e| PrepareError::io(&partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| PrepareError::io(&partial, e))?;
    match prepare_into(tables, &partial, opts, identity, level1, progress) {
        Ok((manifest, warnings)) => {
            std::fs::rename(&partial, out).map_err(|e| {
                let _ = std::fs::remove_dir_all(&partial);
                PrepareError::io(out, e)
            })?;
            if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty())
                && let Ok(d) = File::open(parent)
            {
                let _ = d.sync_all();
            }
            Ok(Prepared {
                dir: out.to_owned(),
                manifest,
                warnings,
            })
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

fn prepare_into(
    tables: &[TableInput],
    dir: &Path,
    opts: &PrepareOptions,
    identity: &ProducerIdentity,
    level1: &Level1Source,
    progress: &dyn Progress,
) -> Result<(Manifest, Vec<String>), PrepareError> {
    let (engine, key_id) = match level1 {
        Level1Source::Key(k) => (Engine::offline(k), k.id().to_owned()),
        Level1Source::Ttp(c) => (
            Engine::Ttp(c),
            c.key_id()
                .map_err(|e| PrepareError::Level1(e.to_string()))?,
        ),
    };
    let mut files = Vec::new();
    let mut manifest_tables = Vec::new();
    let mut summary = Summary {
        level1_source: level1.kind().to_owned(),
        ..Summary::default()
    };
    let mut warnings = Vec::new();
    for t in tables {
        let name = &t.schema.name;
        let input = File::open(&t.path).map_err(|e| PrepareError::io(&t.path, e))?;
        let size = input.metadata().map(|m| m.len()).unwrap_or(0);
        progress.table_started(name, size);
        let data_name = format!("{name}.parquet");
        let data_path = dir.join(&data_name);
        let file = File::create(&data_path).map_err(|e| PrepareError::io(&data_path, e))?;
        let out = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
        let prepared = prepare_with_engine(
            &t.schema,
            &file_name_of(&t.path),
            input,
            out,
            &opts.dialect,
            &engine,
            opts,
            progress,
        )?;
        let (buffered, bytes, sha256) = prepared.writer.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| PrepareError::io(&data_path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| PrepareError::io(&data_path, e))?;
        progress.table_finished(name, prepared.summary.rows_written);
        files.push(ManifestFile {
            path: data_name.clone(),
            bytes,
            sha256,
        });
        let schema_name = format!("{name}.schema.json");
        let mut schema_json = t.schema.published().to_json();
        schema_json.push('\n');
        files.push(write_small(dir, &schema_name, schema_json.as_bytes())?);
        manifest_tables.push(ManifestTable {
            name: name.clone(),
            data: data_name,
            schema: schema_name,
            rows: prepared.summary.rows_written,
        });
        summary.rows_read += prepared.summary.rows_read;
        summary.rows_written += prepared.summary.rows_written;
        summary.provisional_nirs += prepared.summary.provisional_nirs.values().sum::<u64>();
        summary.tables.insert(name.clone(), prepared.summary);
        warnings.extend(
            prepared
                .warnings
                .into_iter()
                .map(|w| format!("{name}: {w}")),
        );
    }
    if let Some(meta) = &opts.metadata {
        let bytes = std::fs::read(meta).map_err(|e| PrepareError::io(meta, e))?;
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(_)) => {}
            Ok(_) => {
                return Err(PrepareError::Usage(format!(
                    "{}: catalogue metadata must be a JSON object",
                    meta.display()
                )));
            }
            Err(e) => {
                return Err(PrepareError::Usage(format!(
                    "{}: not JSON (line {}, column {})",
                    meta.display(),
                    e.line(),
                    e.column()
                )));
            }
        }
        files.push(write_small(dir, METADATA_FILE, &bytes)?);
    }
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        dataset_id: opts.dataset_id.clone(),
        producer: identity.name().to_owned(),
        producer_key: identity.ed25519_public_hex(),
        level1_key_id: key_id,
        created_at: Utc::now(),
        tables: manifest_tables,
        files,
        summary,
    };
    manifest.check()?;
    let bytes = manifest.to_bytes();
    let signature = hdh_package::sign(&bytes, identity.signing_key());
    write_small(dir, MANIFEST_FILE, &bytes)?;
    write_small(dir, SIGNATURE_FILE, format!("{signature}\n").as_bytes())?;
    Ok((manifest, warnings))
}
