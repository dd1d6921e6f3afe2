//! Dataset storage: immutable Parquet files behind the `object_store` crate
//! (a local directory by default; S3-compatible stores are configuration).
//!
//! Writes go to a private staging prefix first. [`Lake::publish`] moves the
//! files to their final place and writes the manifest last, so a version is
//! visible (has a manifest) only once complete; [`Lake::abort`] removes a
//! staging prefix, leaving no trace of a rejected delivery.

use bytes::Bytes;
use datafusion::arrow::datatypes::SchemaRef;
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

    /// Starts writing table `name` as one Parquet file in `staging`.
    pub fn table_writer(
        &self,
        staging: &Staging,
        name: &str,
        schema: SchemaRef,
    ) -> Result<TableWriter> {
        let p = path(&format!("{}/{name}.parquet", staging.prefix))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // Row groups of 256 Ki rows bound the writer's buffer (and so the
            // memory of an ingest) while keeping scans efficient.
            .set_max_row_group_row_count(Some(256 * 1024))
            .set_created_by("hdh".to_string())
            .build();
        let w = BufWriter::new(self.store.clone(), p.clone());
        let writer = AsyncArrowWriter::try_new(w, schema, Some(props))?;
        Ok(TableWriter {
            writer,
            path: p,
            table: name.to_string(),
            rows: 0,
        })
    }

    /// Finishes a table writer and records its file in the staging area.
    pub async fn finish_table(&self, staging: &mut Staging, w: TableWriter) -> Result<FileEntry> {
        let TableWriter {
            writer,
            path,
            table,
            rows,
        } = w;
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

pub struct TableWriter {
    writer: AsyncArrowWriter<BufWriter>,
    path: ObjPath,
    table: String,
    rows: u64,
}

impl TableWriter {
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer.write(batch).await?;
        Ok(())
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
}
