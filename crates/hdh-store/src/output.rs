//! Output control's records: a release's files with their automatic check,
//! the checkers' reviews of each file version, and the release ledger.

use crate::{Result, Store, StoreError, Tx};
use hdh_model::release::{FileDecision, FileKind, FileReview};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseFile {
    pub release_id: String,
    pub id: String,
    pub kind: FileKind,
    pub name: String,
    pub description: String,
    /// How the hub computed it.
    pub spec: serde_json::Value,
    /// The automatic check.
    pub check: serde_json::Value,
    pub sha256: String,
    #[serde(skip)]
    pub object_path: String,
    pub media_type: String,
    pub size: i64,
    pub created_at: String,
}

fn file_from(row: &AnyRow) -> Result<ReleaseFile> {
    let kind: String = row.try_get("kind")?;
    let json = |col: &str| -> Result<serde_json::Value> {
        let s: String = row.try_get(col)?;
        serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
    };
    Ok(ReleaseFile {
        release_id: row.try_get("release_id")?,
        id: row.try_get("id")?,
        kind: FileKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("release file kind {kind:?}")))?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        spec: json("spec_json")?,
        check: json("check_json")?,
        sha256: row.try_get("sha256")?,
        object_path: row.try_get("object_path")?,
        media_type: row.try_get("media_type")?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
    })
}

/// A checker's review of one file version, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredReview {
    #[serde(flatten)]
    pub review: FileReview,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub release_id: String,
    pub project_id: String,
    pub object_path: String,
    pub cells: i64,
    pub released_at: String,
}

impl Tx {
    /// Adds a file, or replaces the file with the same id.
    pub async fn put_release_file(&mut self, f: &ReleaseFile) -> Result<()> {
        self.delete_release_file(&f.release_id, &f.id).await?;
        sqlx::query("INSERT INTO release_files (release_id, id, kind, name, description, spec_json, check_json, sha256, object_path, media_type, size, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)")
            .bind(f.release_id.clone())
            .bind(f.id.clone())
            .bind(f.kind.as_str())
            .bind(f.name.clone())
            .bind(f.description.clone())
            .bind(f.spec.to_string())
            .bind(f.check.to_string())
            .bind(f.sha256.clone())
            .bind(f.object_path.clone())
            .bind(f.media_type.clone())
            .bind(f.size)
            .bind(f.created_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Removes a file; whether there was one.
    pub async fn delete_release_file(&mut self, release_id: &str, file_id: &str) -> Result<bool> {
        let res = sqlx::query("DELETE FROM release_files WHERE release_id = $1 AND id = $2")
            .bind(release_id.to_string())
            .bind(file_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// Records a checker's decision on a file version (replacing their earlier one on that file).
    pub async fn put_review(&mut self, release_id: &str, r: &FileReview, at: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM release_reviews WHERE release_id = $1 AND file_id = $2 AND checker_id = $3",
        )
        .bind(release_id.to_string())
        .bind(r.file_id.clone())
        .bind(r.checker_id.clone())
        .execute(self.conn())
        .await?;
        sqlx::query("INSERT INTO release_reviews (release_id, file_id, file_sha256, checker_id, decision, comment, at) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(release_id.to_string())
            .bind(r.file_id.clone())
            .bind(r.file_sha256.clone())
            .bind(r.checker_id.clone())
            .bind(r.decision.as_str())
            .bind(r.comment.clone())
            .bind(at.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn insert_ledger(&mut self, e: &LedgerEntry) -> Result<()> {
        sqlx::query("INSERT INTO release_ledger (release_id, project_id, object_path, cells, released_at) VALUES ($1,$2,$3,$4,$5)")
            .bind(e.release_id.clone())
            .bind(e.project_id.clone())
            .bind(e.object_path.clone())
            .bind(e.cells)
            .bind(e.released_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn release_files(&self, release_id: &str) -> Result<Vec<ReleaseFile>> {
        let rows = sqlx::query(
            "SELECT * FROM release_files WHERE release_id = $1 ORDER BY created_at, id",
        )
        .bind(release_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(file_from).collect()
    }

    pub async fn release_reviews(&self, release_id: &str) -> Result<Vec<StoredReview>> {
        let rows = sqlx::query(
            "SELECT * FROM release_reviews WHERE release_id = $1 ORDER BY at, checker_id, file_id",
        )
        .bind(release_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let d: String = row.try_get("decision")?;
                Ok(StoredReview {
                    review: FileReview {
                        file_id: row.try_get("file_id")?,
                        file_sha256: row.try_get("file_sha256")?,
                        checker_id: row.try_get("checker_id")?,
                        decision: FileDecision::parse(&d)
                            .ok_or_else(|| StoreError::Corrupt(format!("decision {d:?}")))?,
                        comment: row.try_get("comment")?,
                    },
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// What already left the project, oldest first.
    pub async fn ledger_of_project(&self, project_id: &str) -> Result<Vec<LedgerEntry>> {
        let rows = sqlx::query(
            "SELECT * FROM release_ledger WHERE project_id = $1 ORDER BY released_at, release_id",
        )
        .bind(project_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LedgerEntry {
                    release_id: row.try_get("release_id")?,
                    project_id: row.try_get("project_id")?,
                    object_path: row.try_get("object_path")?,
                    cells: row.try_get("cells")?,
                    released_at: row.try_get("released_at")?,
                })
            })
            .collect()
    }

    /// Releases that left a project (the public registry shows the count).
    pub async fn released_count(&self, project_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM releases WHERE project_id = $1 AND state = 'released'",
        )
        .bind(project_id.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("n")?)
    }

    /// A project's public activity: the queries run in its workspace and
    /// the time of its last audited action (never what the queries were).
    pub async fn project_activity(&self, project_id: &str) -> Result<(i64, Option<String>)> {
        let row = sqlx::query(
            "SELECT COUNT(CASE WHEN action = 'workspace.query' AND outcome = 'success' THEN 1 END) AS queries, MAX(at) AS last FROM audit_events WHERE project_id = $1",
        )
        .bind(project_id.to_string())
        .fetch_one(self.pool())
        .await?;
        let (mut queries, mut last): (i64, Option<String>) =
            (row.try_get("queries")?, row.try_get("last")?);
        // Segments of the log moved to archive files left their counts.
        if let Some(a) =
            sqlx::query("SELECT queries, last_at FROM archived_activity WHERE project_id = $1")
                .bind(project_id.to_string())
                .fetch_optional(self.pool())
                .await?
        {
            queries += a.try_get::<i64, _>("queries")?;
            let archived: Option<String> = a.try_get("last_at")?;
            if last.is_none() {
                last = archived;
            }
        }
        Ok((queries, last))
    }
}
