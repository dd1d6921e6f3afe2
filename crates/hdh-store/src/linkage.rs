//! Linkage jobs and the link tables they produce (a versioned artefact per
//! name), and the clerical review's labels.

use crate::{Result, Store, StoreError, Tx, opt_str};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

/// One linkage job and, once done, its link table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkageJob {
    pub id: String,
    /// The link table's name; each job of a name is a new version.
    pub name: String,
    pub version: i64,
    pub left_dataset: String,
    pub right_dataset: String,
    /// What it links: the two sides (dataset versions, tables, columns)
    /// and the model's settings.
    pub spec: serde_json::Value,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub progress: serde_json::Value,
    /// The quality report, the model, the review sample.
    pub report: serde_json::Value,
    /// Lake path of the links (Parquet) and its SHA-256.
    pub links_path: String,
    pub links_sha256: String,
    pub links: i64,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// When an administrator made it usable by provisioning.
    pub published_at: Option<String>,
    pub published_by: Option<String>,
}

/// A reviewer's verdict on a pair.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinkLabel {
    pub job_id: String,
    pub left_id: String,
    pub right_id: String,
    pub probability: f64,
    /// `match`, `non_match` or `unsure`.
    pub label: String,
    pub labelled_by: String,
    pub labelled_at: String,
}

fn json(row: &AnyRow, col: &str) -> Result<serde_json::Value> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn job_from(r: &AnyRow) -> Result<LinkageJob> {
    Ok(LinkageJob {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        left_dataset: r.try_get("left_dataset")?,
        right_dataset: r.try_get("right_dataset")?,
        spec: json(r, "spec_json")?,
        state: r.try_get("state")?,
        progress: json(r, "progress_json")?,
        report: json(r, "report_json")?,
        links_path: r.try_get("links_path")?,
        links_sha256: r.try_get("links_sha256")?,
        links: r.try_get("links")?,
        error: opt_str(r, "error")?,
        created_by: opt_str(r, "created_by")?,
        created_at: r.try_get("created_at")?,
        finished_at: opt_str(r, "finished_at")?,
        published_at: opt_str(r, "published_at")?,
        published_by: opt_str(r, "published_by")?,
    })
}

fn label_from(r: &AnyRow) -> Result<LinkLabel> {
    Ok(LinkLabel {
        job_id: r.try_get("job_id")?,
        left_id: r.try_get("left_id")?,
        right_id: r.try_get("right_id")?,
        probability: r.try_get("probability")?,
        label: r.try_get("label")?,
        labelled_by: r.try_get("labelled_by")?,
        labelled_at: r.try_get("labelled_at")?,
    })
}

impl Tx {
    /// Records a queued job as the next version of its name (the version
    /// is taken here, in the transaction).
    pub async fn insert_linkage_job(&mut self, j: &LinkageJob) -> Result<i64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(MAX(version), 0) + 1 AS BIGINT) AS v FROM linkage_jobs WHERE name = $1",
        )
        .bind(j.name.clone())
        .fetch_one(self.conn())
        .await?;
        let version: i64 = row.try_get("v")?;
        sqlx::query(
            "INSERT INTO linkage_jobs (id, name, version, left_dataset, right_dataset, spec_json, state, progress_json, report_json, links_path, links_sha256, links, error, created_by, created_at, finished_at, published_at, published_by)
             VALUES ($1,$2,$3,$4,$5,$6,$7,'{}','{}','','',0,NULL,$8,$9,NULL,NULL,NULL)",
        )
        .bind(j.id.clone())
        .bind(j.name.clone())
        .bind(version)
        .bind(j.left_dataset.clone())
        .bind(j.right_dataset.clone())
        .bind(j.spec.to_string())
        .bind(j.state.clone())
        .bind(j.created_by.clone())
        .bind(j.created_at.clone())
        .execute(self.conn())
        .await?;
        Ok(version)
    }

    /// Records a job's end (done or failed) with what it produced.
    pub async fn finish_linkage_job(&mut self, j: &LinkageJob) -> Result<()> {
        sqlx::query(
            "UPDATE linkage_jobs SET state = $2, progress_json = $3, report_json = $4, links_path = $5, links_sha256 = $6, links = $7, error = $8, finished_at = $9 WHERE id = $1",
        )
        .bind(j.id.clone())
        .bind(j.state.clone())
        .bind(j.progress.to_string())
        .bind(j.report.to_string())
        .bind(j.links_path.clone())
        .bind(j.links_sha256.clone())
        .bind(j.links)
        .bind(j.error.clone())
        .bind(j.finished_at.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Makes a done link table usable by provisioning; whether it changed.
    pub async fn publish_linkage_job(&mut self, id: &str, by: &str, at: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE linkage_jobs SET published_at = $3, published_by = $2 WHERE id = $1 AND state = 'done' AND published_at IS NULL",
        )
        .bind(id.to_string())
        .bind(by.to_string())
        .bind(at.to_string())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Records (or replaces) a reviewer's label of a pair.
    pub async fn put_link_label(&mut self, l: &LinkLabel) -> Result<()> {
        sqlx::query(
            "INSERT INTO linkage_labels (job_id, left_id, right_id, probability, label, labelled_by, labelled_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
             ON CONFLICT (job_id, left_id, right_id) DO UPDATE SET label = excluded.label, labelled_by = excluded.labelled_by, labelled_at = excluded.labelled_at",
        )
        .bind(l.job_id.clone())
        .bind(l.left_id.clone())
        .bind(l.right_id.clone())
        .bind(l.probability)
        .bind(l.label.clone())
        .bind(l.labelled_by.clone())
        .bind(l.labelled_at.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// A running job's progress (outside any transaction: it changes no
    /// record of the hub; its start and end are audited).
    pub async fn set_linkage_progress(&self, id: &str, progress: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE linkage_jobs SET progress_json = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(progress.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn set_linkage_state(&self, id: &str, state: &str) -> Result<()> {
        sqlx::query("UPDATE linkage_jobs SET state = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(state.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn linkage_job(&self, id: &str) -> Result<Option<LinkageJob>> {
        let row = sqlx::query("SELECT * FROM linkage_jobs WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(job_from).transpose()
    }

    /// Every job, newest first.
    pub async fn linkage_jobs(&self) -> Result<Vec<LinkageJob>> {
        let rows = sqlx::query("SELECT * FROM linkage_jobs ORDER BY created_at DESC, id DESC")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(job_from).collect()
    }

    /// Jobs queued or running (after a crash: to be marked failed).
    pub async fn unfinished_linkage_jobs(&self) -> Result<Vec<LinkageJob>> {
        let rows = sqlx::query(
            "SELECT * FROM linkage_jobs WHERE state IN ('queued', 'running') ORDER BY created_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(job_from).collect()
    }

    /// The published link tables whose two sides are among `datasets`,
    /// newest version of each name only.
    pub async fn published_link_tables(&self, datasets: &[String]) -> Result<Vec<LinkageJob>> {
        let rows = sqlx::query(
            "SELECT * FROM linkage_jobs WHERE published_at IS NOT NULL ORDER BY name, version DESC",
        )
        .fetch_all(self.pool())
        .await?;
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for r in &rows {
            let j = job_from(r)?;
            // Only the newest published version of a name is used.
            if !seen.insert(j.name.clone()) {
                continue;
            }
            if datasets.contains(&j.left_dataset) && datasets.contains(&j.right_dataset) {
                out.push(j);
            }
        }
        Ok(out)
    }

    pub async fn link_labels(&self, job_id: &str) -> Result<Vec<LinkLabel>> {
        let rows = sqlx::query(
            "SELECT * FROM linkage_labels WHERE job_id = $1 ORDER BY labelled_at, left_id, right_id",
        )
        .bind(job_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(label_from).collect()
    }
}
