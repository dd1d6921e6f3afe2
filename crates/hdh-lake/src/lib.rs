//! Dataset storage: immutable Parquet files behind the `object_store` crate
//! (a local directory by default; S3-compatible stores are configuration).
//!
//! Writes go to a private staging prefix first. [`Lake::publish`] moves the
//! files to their final place and writes the manifest last, so a version is
//! visible (has a manifest) only once complete; [`Lake::abort`] removes a
//! staging prefix, leaving no trace of a rejected delivery.

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray, UInt32Array};
use datafusion::arrow::compute::{DatePart, date_part, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Int32Type, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use futures::TryStreamExt;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// URL scheme under which the lake is registered in DataFusion sessions.
pub const LAKE_URL: &str = "hdh-lake://lake/";

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    #[error("I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("manifest {path}: {message}")]
    Manifest { path: String, message: String },
    #[error("table {table}: {message}")]
    Layout { table: String, message: String },
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error("invalid lake path {0:?}")]
    BadPath(String),
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub table: String,
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
    pub sha256: String,
}

/// What a published version holds. Written last: its presence means "complete".
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub kind: String,
    pub id: String,
    pub version: i64,
    pub created_at: String,
    pub files: Vec<FileEntry>,
    /// Free metadata (table schemas, provenance of an extraction, …).
    pub metadata: serde_json::Value,
}

#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    root: Option<PathBuf>,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Lake({:?})", self.root)
    }
}

/// A private prefix where files are written before publication.
#[derive(Debug)]
pub struct Staging {
    prefix: String,
    files: Vec<FileEntry>,
}

impl Staging {
    pub fn files(&self) -> &[FileEntry] {
        &self.files
    }
}

pub fn path(p: &str) -> Result<ObjPath> {
    ObjPath::parse(p).map_err(|_| LakeError::BadPath(p.to_string()))
}

impl Lake {
    /// A lake in a local directory (created if missing).
    pub fn open_local(root: &Path) -> Result<Lake> {
        std::fs::create_dir_all(root).map_err(|source| LakeError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let store = LocalFileSystem::new_with_prefix(root)?;
        Ok(Lake {
            store: Arc::new(store),
            root: Some(root.to_path_buf()),
        })
    }

    /// A lake over any object store (S3, memory, …).
    pub fn from_store(store: Arc<dyn ObjectStore>) -> Lake {
        Lake { store, root: None }
    }

    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The DataFusion URL of a lake object.
    pub fn url(&self, object_path: &str) -> String {
        format!("{LAKE_URL}{object_path}")
    }

    pub fn begin_staging(&self) -> Staging {
        Staging {
            prefix: format!("staging/{}", uuid::Uuid::new_v4()),
            files: Vec::new(),
        }
    }

    /// Starts writing table `name` as one Parquet file in `staging`, its rows
    /// in the order they are written.
    pub fn table_writer(
        &self,
        staging: &Staging,
        name: &str,
        schema: SchemaRef,
    ) -> Result<TableWriter> {
        self.table_writer_with(staging, name, schema, &Layout::AsWritten)
    }

    /// Starts writing table `name` as one Parquet file in `staging`, its rows
    /// laid out as `layout` says.
    pub fn table_writer_with(
        &self,
        staging: &Staging,
        name: &str,
        schema: SchemaRef,
        layout: &Layout,
    ) -> Result<TableWriter> {
        let by_year = match layout {
            Layout::AsWritten => None,
            Layout::ByYear(column) => Some(ByYear::new(name, &schema, column)?),
        };
        let p = path(&format!("{}/{name}.parquet", staging.prefix))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // Row groups of 256 Ki rows bound the writer's buffer (and so the
            // memory of an ingest) while keeping scans efficient.
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_created_by("hdh".to_string())
            .build();
        let w = BufWriter::new(self.store.clone(), p.clone());
        let writer = AsyncArrowWriter::try_new(w, schema, Some(props))?;
        Ok(TableWriter {
            writer,
            path: p,
            table: name.to_string(),
            rows: 0,
            by_year,
        })
    }

    /// Finishes a table writer and records its file in the staging area.
    pub async fn finish_table(&self, staging: &mut Staging, w: TableWriter) -> Result<FileEntry> {
        let TableWriter {
            mut writer,
            path,
            table,
            rows,
            by_year,
        } = w;
        if let Some(mut by_year) = by_year {
            by_year.finish(&mut writer).await?;
        }
        writer.close().await?;
        let (bytes, sha256) = self.digest(&path).await?;
        let entry = FileEntry {
            table,
            path: path.to_string(),
            rows,
            bytes,
            sha256,
        };
        staging.files.push(entry.clone());
        Ok(entry)
    }

    async fn digest(&self, p: &ObjPath) -> Result<(u64, String)> {
        let mut stream = self.store.get(p).await?.into_stream();
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(chunk) = stream.try_next().await? {
            n += chunk.len() as u64;
            h.update(&chunk);
        }
        Ok((n, hex::encode(h.finalize())))
    }

    /// Moves the staged files under `dest` and writes `dest/manifest.json`
    /// last. Returns the manifest with the final paths.
    pub async fn publish(
        &self,
        staging: Staging,
        dest: &str,
        mut manifest: Manifest,
    ) -> Result<Manifest> {
        let mut files = Vec::new();
        for f in &staging.files {
            let to = format!("{dest}/{}.parquet", f.table);
            self.store.rename(&path(&f.path)?, &path(&to)?).await?;
            files.push(FileEntry {
                path: to,
                ..f.clone()
            });
        }
        manifest.files = files;
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| LakeError::Manifest {
            path: dest.to_string(),
            message: e.to_string(),
        })?;
        self.store
            .put(
                &path(&format!("{dest}/manifest.json"))?,
                PutPayload::from(body),
            )
            .await?;
        self.abort(staging).await?;
        Ok(manifest)
    }

    /// Removes everything under a staging prefix.
    pub async fn abort(&self, staging: Staging) -> Result<()> {
        self.delete_prefix(&staging.prefix).await
    }

    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let prefix = path(prefix)?;
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        for o in objects {
            self.store.delete(&o.location).await?;
        }
        if let Some(root) = &self.root {
            // Remove emptied directories of the local store.
            let dir = root.join(prefix.as_ref());
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }

    /// Removes staging areas left by a crash (called at start-up).
    pub async fn clean_staging(&self) -> Result<()> {
        self.delete_prefix("staging").await
    }

    pub async fn manifest(&self, dest: &str) -> Result<Option<Manifest>> {
        let p = format!("{dest}/manifest.json");
        match self.store.get(&path(&p)?).await {
            Ok(r) => {
                let b = r.bytes().await?;
                serde_json::from_slice(&b)
                    .map(Some)
                    .map_err(|e| LakeError::Manifest {
                        path: p,
                        message: e.to_string(),
                    })
            }
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn put_bytes(&self, p: &str, bytes: Vec<u8>) -> Result<()> {
        self.store.put(&path(p)?, PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn get_bytes(&self, p: &str) -> Result<Bytes> {
        Ok(self.store.get(&path(p)?).await?.bytes().await?)
    }

    /// Every object path under a prefix (for tests and maintenance).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = path(prefix)?;
        let objects: Vec<_> = self.store.list(Some(&prefix)).try_collect().await?;
        Ok(objects
            .into_iter()
            .map(|o| o.location.to_string())
            .collect())
    }
}

/// Rows per row group of the files the lake writes.
pub const ROW_GROUP_ROWS: usize = 256 * 1024;

/// At most this many rows wait in a [`Layout::ByYear`] writer's buffers; past
/// it, the fullest year is written as a (smaller) row group.
const BY_YEAR_BUFFERED_ROWS: usize = 4 * ROW_GROUP_ROWS;

/// How the rows of a table are laid out in its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Layout {
    /// In the order they are written.
    #[default]
    AsWritten,
    /// Every row group holds the rows of one calendar year of the named date
    /// column (rows with no date together), in the order they are written
    /// within that year. A query on a period then reads only that period's
    /// row groups (their statistics say which), while the rows of one person,
    /// written together, stay together within a year. Row groups of different
    /// years are interleaved through the file as they fill, so the rows of
    /// any one year are spread over the whole file and a scan split in byte
    /// ranges keeps all cores busy.
    ByYear(String),
}

impl Layout {
    /// By year of `column` when `schema` has it as a date, else as written.
    pub fn by_year_if_dated(schema: &Schema, column: &str) -> Layout {
        match schema.field_with_name(column) {
            Ok(f) if is_date(f.data_type()) => Layout::ByYear(column.to_string()),
            _ => Layout::AsWritten,
        }
    }
}

fn is_date(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(..)
    )
}

/// Rows waiting to be written, per year.
struct ByYear {
    column: usize,
    buffers: BTreeMap<Option<i32>, YearBuffer>,
    buffered: usize,
}

#[derive(Default)]
struct YearBuffer {
    batches: Vec<RecordBatch>,
    rows: usize,
}

impl ByYear {
    fn new(table: &str, schema: &SchemaRef, column: &str) -> Result<ByYear> {
        let bad = |message: String| LakeError::Layout {
            table: table.to_string(),
            message,
        };
        let idx = schema
            .index_of(column)
            .map_err(|_| bad(format!("no column {column} to lay the rows out by year")))?;
        let dt = schema.field(idx).data_type();
        if !is_date(dt) {
            return Err(bad(format!(
                "column {column} is {dt}, not a date: rows cannot be laid out by year"
            )));
        }
        Ok(ByYear {
            column: idx,
            buffers: BTreeMap::new(),
            buffered: 0,
        })
    }

    /// Splits `batch` by year into the buffers, writing full row groups.
    async fn push(
        &mut self,
        writer: &mut AsyncArrowWriter<BufWriter>,
        batch: &RecordBatch,
    ) -> Result<()> {
        let years = date_part(batch.column(self.column).as_ref(), DatePart::Year)?;
        let years = years.as_primitive::<Int32Type>();
        // Row indices per year, in order (a handful of years per batch).
        let mut groups: Vec<(Option<i32>, Vec<u32>)> = Vec::new();
        let mut last = 0usize;
        for i in 0..batch.num_rows() {
            let year = years.is_valid(i).then(|| years.value(i));
            if groups.get(last).is_none_or(|g| g.0 != year) {
                last = match groups.iter().position(|g| g.0 == year) {
                    Some(p) => p,
                    None => {
                        groups.push((year, Vec::new()));
                        groups.len() - 1
                    }
                };
            }
            groups[last].1.push(i as u32);
        }
        let single = groups.len() == 1;
        for (year, rows) in groups {
            let part = if single {
                batch.clone()
            } else {
                take_record_batch(batch, &UInt32Array::from(rows))?
            };
            let buffer = self.buffers.entry(year).or_default();
            buffer.rows += part.num_rows();
            self.buffered += part.num_rows();
            buffer.batches.push(part);
            while buffer.rows >= ROW_GROUP_ROWS {
                let group = take_rows(buffer, ROW_GROUP_ROWS);
                self.buffered -= ROW_GROUP_ROWS;
                write_group(writer, &group).await?;
            }
        }
        while self.buffered > BY_YEAR_BUFFERED_ROWS {
            let Some(year) = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.rows)
                .map(|(y, _)| *y)
            else {
                break;
            };
            if let Some(buffer) = self.buffers.remove(&year) {
                self.buffered -= buffer.rows;
                write_group(writer, &buffer.batches).await?;
            }
        }
        Ok(())
    }

    /// Writes what is left, year by year.
    async fn finish(&mut self, writer: &mut AsyncArrowWriter<BufWriter>) -> Result<()> {
        for buffer in std::mem::take(&mut self.buffers).into_values() {
            write_group(writer, &buffer.batches).await?;
        }
        self.buffered = 0;
        Ok(())
    }
}

/// Removes the first `n` rows of a buffer.
fn take_rows(buffer: &mut YearBuffer, n: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut need = n;
    let mut rest = Vec::new();
    for b in buffer.batches.drain(..) {
        if need == 0 {
            rest.push(b);
        } else if b.num_rows() <= need {
            need -= b.num_rows();
            out.push(b);
        } else {
            out.push(b.slice(0, need));
            rest.push(b.slice(need, b.num_rows() - need));
            need = 0;
        }
    }
    buffer.batches = rest;
    buffer.rows -= n - need;
    out
}

/// Writes batches as one row group (at most [`ROW_GROUP_ROWS`] rows).
async fn write_group(
    writer: &mut AsyncArrowWriter<BufWriter>,
    batches: &[RecordBatch],
) -> Result<()> {
    for b in batches {
        writer.write(b).await?;
    }
    writer.flush().await?;
    Ok(())
}

pub struct TableWriter {
    writer: AsyncArrowWriter<BufWriter>,
    path: ObjPath,
    table: String,
    rows: u64,
    by_year: Option<ByYear>,
}

impl TableWriter {
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        match &mut self.by_year {
            Some(by_year) => by_year.push(&mut self.writer, batch).await,
            None => {
                self.writer.write(batch).await?;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("x"), None, Some("z")])),
            ],
        )
        .unwrap()
    }

    #[tokio::test]
    async fn publish_makes_a_version_visible_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        let mut st = lake.begin_staging();
        let b = batch();
        let mut w = lake.table_writer(&st, "T", b.schema()).unwrap();
        w.write(&b).await.unwrap();
        lake.finish_table(&mut st, w).await.unwrap();
        assert!(lake.manifest("datasets/d/v1").await.unwrap().is_none());
        let m = Manifest {
            kind: "dataset".into(),
            id: "d".into(),
            version: 1,
            created_at: "now".into(),
            files: vec![],
            metadata: serde_json::Value::Null,
        };
        let m = lake.publish(st, "datasets/d/v1", m).await.unwrap();
        assert_eq!(m.files.len(), 1);
        assert_eq!(m.files[0].rows, 3);
        assert_eq!(m.files[0].sha256.len(), 64);
        assert_eq!(lake.manifest("datasets/d/v1").await.unwrap().unwrap(), m);
        assert!(lake.list("staging").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn abort_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        let mut st = lake.begin_staging();
        let b = batch();
        let mut w = lake.table_writer(&st, "T", b.schema()).unwrap();
        w.write(&b).await.unwrap();
        lake.finish_table(&mut st, w).await.unwrap();
        assert_eq!(lake.list("staging").await.unwrap().len(), 1);
        lake.abort(st).await.unwrap();
        assert!(lake.list("").await.unwrap().is_empty());
    }

    /// Rows of (date, n) with dates cycling over `years` years.
    fn dated(n: usize, years: i32) -> RecordBatch {
        use datafusion::arrow::array::Date32Array;
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", DataType::Date32, true),
            Field::new("n", DataType::Int64, false),
        ]));
        // 2021-01-01 is day 18628; every 7th row has no date.
        let days: Date32Array = (0..n)
            .map(|i| (i % 7 != 6).then(|| 18628 + 365 * (i as i32 % years) + (i as i32 % 300)))
            .collect();
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(days),
                Arc::new(Int64Array::from_iter_values(0..n as i64)),
            ],
        )
        .unwrap()
    }

    async fn write_by_year(lake: &Lake, batch: &RecordBatch) -> FileEntry {
        let mut st = lake.begin_staging();
        let mut w = lake
            .table_writer_with(&st, "T", batch.schema(), &Layout::ByYear("d".into()))
            .unwrap();
        // In slices, as a stream of batches arrives.
        let mut at = 0;
        while at < batch.num_rows() {
            let len = 8192.min(batch.num_rows() - at);
            w.write(&batch.slice(at, len)).await.unwrap();
            at += len;
        }
        let entry = lake.finish_table(&mut st, w).await.unwrap();
        let m = Manifest {
            kind: "t".into(),
            id: "t".into(),
            version: 1,
            created_at: "now".into(),
            files: vec![],
            metadata: serde_json::Value::Null,
        };
        let dest = format!("t/{}", entry.sha256);
        let m = lake.publish(st, &dest, m).await.unwrap();
        m.files[0].clone()
    }

    /// Per row group: the years of its dates and its `n` values, in order.
    async fn row_groups(lake: &Lake, f: &FileEntry) -> Vec<(Vec<Option<i32>>, Vec<i64>)> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::Int64Type;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let bytes = lake.get_bytes(&f.path).await.unwrap();
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes.clone()).unwrap();
        let groups = builder.metadata().num_row_groups();
        let mut out = Vec::new();
        for g in 0..groups {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes.clone())
                .unwrap()
                .with_row_groups(vec![g])
                .build()
                .unwrap();
            let (mut years, mut ns) = (Vec::new(), Vec::new());
            for b in reader {
                let b = b.unwrap();
                let y = date_part(b.column(0).as_ref(), DatePart::Year).unwrap();
                let y = y.as_primitive::<Int32Type>();
                years.extend((0..y.len()).map(|i| y.is_valid(i).then(|| y.value(i))));
                ns.extend(b.column(1).as_primitive::<Int64Type>().values().iter());
            }
            out.push((years, ns));
        }
        out
    }

    #[tokio::test]
    async fn by_year_row_groups_hold_one_year_in_written_order() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        // Three years: each fills full row groups, the rest is written at the end.
        let n = 4 * ROW_GROUP_ROWS + 1000;
        let f = write_by_year(&lake, &dated(n, 3)).await;
        assert_eq!(f.rows, n as u64);
        let groups = row_groups(&lake, &f).await;
        let mut seen = Vec::new();
        let mut full_years = Vec::new();
        for (years, ns) in &groups {
            assert!(
                years.iter().all(|y| *y == years[0]),
                "a row group mixes years"
            );
            assert!(ns.windows(2).all(|w| w[0] < w[1]), "rows out of order");
            if years.len() == ROW_GROUP_ROWS {
                full_years.push(years[0]);
            }
            seen.extend(ns.iter().copied());
        }
        // Years interleave through the file (full groups of different years
        // follow each other), and no row is lost or repeated.
        assert!(
            full_years.windows(2).any(|w| w[0] != w[1]),
            "{full_years:?}"
        );
        assert!(
            groups.iter().any(|(y, _)| y[0].is_none()),
            "rows with no date"
        );
        seen.sort_unstable();
        assert_eq!(seen, (0..n as i64).collect::<Vec<_>>());
        // The same rows give the same bytes.
        let again = write_by_year(&lake, &dated(n, 3)).await;
        assert_eq!(again.sha256, f.sha256);
    }

    #[tokio::test]
    async fn by_year_bounds_what_it_buffers() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        // Eight years that never fill a row group each: past the buffer's
        // bound the fullest year is written early, as a smaller row group.
        let n = BY_YEAR_BUFFERED_ROWS + 200_000;
        let f = write_by_year(&lake, &dated(n, 8)).await;
        let groups = row_groups(&lake, &f).await;
        assert!(groups.len() > 9, "{} row groups", groups.len());
        for (years, _) in &groups {
            assert!(years.iter().all(|y| *y == years[0]));
        }
        let total: usize = groups.iter().map(|(y, _)| y.len()).sum();
        assert_eq!(total, n);
    }

    #[tokio::test]
    async fn by_year_needs_a_date_column() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open_local(dir.path()).unwrap();
        let st = lake.begin_staging();
        let b = batch();
        for (column, expected) in [("a", "column a is Int64, not a date"), ("x", "no column x")] {
            let err = lake
                .table_writer_with(&st, "T", b.schema(), &Layout::ByYear(column.into()))
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("table T") && err.contains(expected), "{err}");
        }
    }
}
