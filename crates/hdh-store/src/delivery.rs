//! Delivery records: level-2 key ids, producers' signing keys, resumable
//! package uploads and ingestion jobs.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, Tx, now, opt_str};

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A level-2 key's record (its material is in a file, never here).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Level2KeyRecord {
    pub id: String,
    pub created_at: String,
    pub retired_at: Option<String>,
}

/// One file of a package upload: what the producer announced, checked at
/// completion.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct UploadFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackageUpload {
    pub id: String,
    pub dataset_id: String,
    pub owner_id: String,
    pub files: Vec<UploadFile>,
    /// `receiving`, `complete` (handed to an ingestion) or `abandoned`.
    pub state: String,
    pub ingestion_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

fn upload_from(row: &AnyRow) -> Result<PackageUpload> {
    let files: String = row.try_get("files_json")?;
    Ok(PackageUpload {
        id: row.try_get("id")?,
        dataset_id: row.try_get("dataset_id")?,
        owner_id: row.try_get("owner_id")?,
        files: serde_json::from_str(&files).map_err(corrupt)?,
        state: row.try_get("state")?,
        ingestion_id: opt_str(row, "ingestion_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// An ingestion job as stored: its state changes only through
/// [`Tx::set_ingestion_state`], each time with an audit event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestionRecord {
    pub id: String,
    pub dataset_id: String,
    pub upload_id: Option<String>,
    pub owner_id: String,
    /// `queued`, `verifying`, `validating`, `publishing`, `published`,
    /// `rejected`, `failed`.
    pub state: String,
    pub report: Option<serde_json::Value>,
    pub version: Option<i64>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl IngestionRecord {
    pub fn is_finished(&self) -> bool {
        matches!(self.state.as_str(), "published" | "rejected" | "failed")
    }
}

fn ingestion_from(row: &AnyRow) -> Result<IngestionRecord> {
    let report = opt_str(row, "report_json")?
        .map(|s| serde_json::from_str(&s).map_err(corrupt))
        .transpose()?;
    Ok(IngestionRecord {
        id: row.try_get("id")?,
        dataset_id: row.try_get("dataset_id")?,
        upload_id: opt_str(row, "upload_id")?,
        owner_id: row.try_get("owner_id")?,
        state: row.try_get("state")?,
        report,
        version: row.try_get::<Option<i64>, _>("version")?,
        error: opt_str(row, "error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Tx {
    pub async fn insert_level2_key(&mut self, id: &str) -> Result<()> {
        sqlx::query("INSERT INTO level2_keys (id, created_at, retired_at) VALUES ($1, $2, NULL)")
            .bind(id.to_string())
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn retire_level2_key(&mut self, id: &str) -> Result<()> {
        sqlx::query("UPDATE level2_keys SET retired_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Points a version at files re-keyed under another level-2 key.
    pub async fn rekey_version(
        &mut self,
        dataset_id: &str,
        version: i64,
        key_id: &str,
        manifest_path: &str,
        tables: &[(String, String)],
    ) -> Result<()> {
        sqlx::query("UPDATE dataset_versions SET key_id = $3, manifest_path = $4 WHERE dataset_id = $1 AND version = $2")
            .bind(dataset_id.to_string())
            .bind(version)
            .bind(key_id.to_string())
            .bind(manifest_path.to_string())
            .execute(self.conn())
            .await?;
        for (table, path) in tables {
            sqlx::query("UPDATE dataset_tables SET object_path = $4 WHERE dataset_id = $1 AND version = $2 AND table_name = $3")
                .bind(dataset_id.to_string())
                .bind(version)
                .bind(table.clone())
                .bind(path.clone())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    pub async fn save_quality(
        &mut self,
        dataset_id: &str,
        version: i64,
        report: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE dataset_versions SET quality_json = $3 WHERE dataset_id = $1 AND version = $2",
        )
        .bind(dataset_id.to_string())
        .bind(version)
        .bind(report.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn set_producer_key(&mut self, user_id: &str, public_key: &str) -> Result<()> {
        sqlx::query("DELETE FROM producer_keys WHERE user_id = $1")
            .bind(user_id.to_string())
            .execute(self.conn())
            .await?;
        sqlx::query(
            "INSERT INTO producer_keys (user_id, public_key, registered_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id.to_string())
        .bind(public_key.to_string())
        .bind(now())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_upload(&mut self, u: &PackageUpload) -> Result<()> {
        sqlx::query("INSERT INTO package_uploads (id, dataset_id, owner_id, files_json, state, ingestion_id, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)")
            .bind(u.id.clone())
            .bind(u.dataset_id.clone())
            .bind(u.owner_id.clone())
            .bind(serde_json::to_string(&u.files).map_err(corrupt)?)
            .bind(u.state.clone())
            .bind(u.ingestion_id.clone())
            .bind(u.created_at.clone())
            .bind(u.updated_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn set_upload_state(
        &mut self,
        id: &str,
        state: &str,
        ingestion_id: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE package_uploads SET state = $2, ingestion_id = $3, updated_at = $4 WHERE id = $1",
        )
        .bind(id.to_string())
        .bind(state.to_string())
        .bind(ingestion_id.map(str::to_string))
        .bind(now())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn insert_ingestion(&mut self, r: &IngestionRecord) -> Result<()> {
        sqlx::query("INSERT INTO ingestions (id, dataset_id, upload_id, owner_id, state, report_json, version, error, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
            .bind(r.id.clone())
            .bind(r.dataset_id.clone())
            .bind(r.upload_id.clone())
            .bind(r.owner_id.clone())
            .bind(r.state.clone())
            .bind(r.report.as_ref().map(|v| v.to_string()))
            .bind(r.version)
            .bind(r.error.clone())
            .bind(r.created_at.clone())
            .bind(r.updated_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn set_ingestion_state(
        &mut self,
        id: &str,
        state: &str,
        report: Option<&serde_json::Value>,
        version: Option<i64>,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE ingestions SET state = $2, report_json = COALESCE($3, report_json), version = COALESCE($4, version), error = $5, updated_at = $6 WHERE id = $1")
            .bind(id.to_string())
            .bind(state.to_string())
            .bind(report.map(|v| v.to_string()))
            .bind(version)
            .bind(error.map(str::to_string))
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn level2_keys(&self) -> Result<Vec<Level2KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM level2_keys ORDER BY created_at, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Level2KeyRecord {
                    id: r.try_get("id")?,
                    created_at: r.try_get("created_at")?,
                    retired_at: opt_str(r, "retired_at")?,
                })
            })
            .collect()
    }

    /// The key new deliveries are encrypted with: the newest not retired.
    pub async fn active_level2_key(&self) -> Result<Option<String>> {
        Ok(self
            .level2_keys()
            .await?
            .into_iter()
            .rfind(|k| k.retired_at.is_none())
            .map(|k| k.id))
    }

    /// Every version with its key id (for key rotation).
    pub async fn all_versions(&self) -> Result<Vec<crate::DatasetVersion>> {
        let rows = sqlx::query("SELECT * FROM dataset_versions ORDER BY dataset_id, version")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(crate::records::version_from).collect()
    }

    pub async fn quality(
        &self,
        dataset_id: &str,
        version: i64,
    ) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query(
            "SELECT quality_json FROM dataset_versions WHERE dataset_id = $1 AND version = $2",
        )
        .bind(dataset_id.to_string())
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        match row {
            None => Ok(None),
            Some(r) => opt_str(&r, "quality_json")?
                .map(|s| serde_json::from_str(&s).map_err(corrupt))
                .transpose(),
        }
    }

    pub async fn producer_key(&self, user_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT public_key FROM producer_keys WHERE user_id = $1")
            .bind(user_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| r.try_get::<String, _>("public_key"))
            .transpose()
            .map_err(Into::into)
    }

    pub async fn upload(&self, id: &str) -> Result<Option<PackageUpload>> {
        let row = sqlx::query("SELECT * FROM package_uploads WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(upload_from).transpose()
    }

    pub async fn ingestion(&self, id: &str) -> Result<Option<IngestionRecord>> {
        let row = sqlx::query("SELECT * FROM ingestions WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(ingestion_from).transpose()
    }

    pub async fn ingestions_of_dataset(&self, dataset_id: &str) -> Result<Vec<IngestionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM ingestions WHERE dataset_id = $1 ORDER BY created_at DESC, id",
        )
        .bind(dataset_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ingestion_from).collect()
    }

    /// Ingestions that were running (not finished), e.g. when the hub was
    /// killed: they are marked failed at start-up and can be retried.
    pub async fn unfinished_ingestions(&self) -> Result<Vec<IngestionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM ingestions WHERE state NOT IN ('published', 'rejected', 'failed') ORDER BY created_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(ingestion_from).collect()
    }
}
