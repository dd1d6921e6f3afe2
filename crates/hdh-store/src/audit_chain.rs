//! The audit log as a hash chain (`hdh_audit`): chaining events recorded
//! before the chain existed, reading segments and checkpoints for export.

use crate::{Result, Store, Tx};
use hdh_audit::{Checkpoint, Entry, GENESIS};
use sqlx::Row;
use sqlx::any::AnyRow;

fn entry_from(row: &AnyRow) -> Result<Entry> {
    Ok(Entry {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor_id: row.try_get("actor_id")?,
        actor_name: row.try_get("actor_name")?,
        role: row.try_get("role")?,
        action: row.try_get("action")?,
        object_type: row.try_get("object_type")?,
        object_id: row.try_get("object_id")?,
        project_id: row.try_get("project_id")?,
        outcome: row.try_get("outcome")?,
        client_addr: row.try_get("client_addr")?,
        details: row.try_get("details_json")?,
        prev_hash: row
            .try_get::<Option<String>, _>("prev_hash")?
            .unwrap_or_default(),
        hash: row
            .try_get::<Option<String>, _>("hash")?
            .unwrap_or_default(),
    })
}

/// A segment of the log moved out to an archive file (an export, still
/// verifiable: the chain goes on from `last_hash`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditArchive {
    pub first_seq: i64,
    pub last_seq: i64,
    pub last_hash: String,
    /// The file's name (where it is kept is the operator's business).
    pub file_name: String,
    pub sha256: String,
    pub archived_at: String,
}

impl Tx {
    /// Removes entries `..=archive.last_seq` from the database once they are
    /// safe in an archive file: records the archive and carries the
    /// registry's activity counts over, in this transaction.
    pub async fn archive_audit_segment(&mut self, archive: &AuditArchive) -> Result<u64> {
        let rows = sqlx::query(
            "SELECT project_id, COUNT(CASE WHEN action = 'workspace.query' AND outcome = 'success' THEN 1 END) AS queries, MAX(at) AS last FROM audit_events WHERE seq <= $1 AND project_id IS NOT NULL GROUP BY project_id",
        )
        .bind(archive.last_seq)
        .fetch_all(self.conn())
        .await?;
        for r in &rows {
            let project: String = r.try_get("project_id")?;
            let queries: i64 = r.try_get("queries")?;
            let last: Option<String> = r.try_get("last")?;
            let before =
                sqlx::query("SELECT queries, last_at FROM archived_activity WHERE project_id = $1")
                    .bind(project.clone())
                    .fetch_optional(self.conn())
                    .await?;
            match before {
                Some(b) => {
                    let q: i64 = b.try_get("queries")?;
                    let l: Option<String> = b.try_get("last_at")?;
                    sqlx::query("UPDATE archived_activity SET queries = $2, last_at = $3 WHERE project_id = $1")
                        .bind(project)
                        .bind(q + queries)
                        .bind(l.max(last))
                        .execute(self.conn())
                        .await?;
                }
                None => {
                    sqlx::query("INSERT INTO archived_activity (project_id, queries, last_at) VALUES ($1, $2, $3)")
                        .bind(project)
                        .bind(queries)
                        .bind(last)
                        .execute(self.conn())
                        .await?;
                }
            }
        }
        let deleted = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
            .bind(archive.last_seq)
            .execute(self.conn())
            .await?
            .rows_affected();
        sqlx::query("INSERT INTO audit_archives (last_seq, first_seq, last_hash, file_name, sha256, archived_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(archive.last_seq)
            .bind(archive.first_seq)
            .bind(archive.last_hash.clone())
            .bind(archive.file_name.clone())
            .bind(archive.sha256.clone())
            .bind(archive.archived_at.clone())
            .execute(self.conn())
            .await?;
        Ok(deleted)
    }
}

impl Store {
    /// At start-up: creates the chain's head, chaining every event recorded
    /// before the chain existed (one transaction; nothing to do afterwards).
    pub(crate) async fn chain_existing(&self) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let head = sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        if head.is_some() {
            return Ok(());
        }
        let rows = sqlx::query("SELECT * FROM audit_events ORDER BY seq")
            .fetch_all(&mut *tx)
            .await?;
        let mut prev = GENESIS.to_string();
        let mut last = 0i64;
        for row in &rows {
            let e = entry_from(row)?.seal(&prev);
            sqlx::query("UPDATE audit_events SET prev_hash = $1, hash = $2 WHERE seq = $3")
                .bind(e.prev_hash.clone())
                .bind(e.hash.clone())
                .bind(e.seq)
                .execute(&mut *tx)
                .await?;
            prev = e.hash;
            last = e.seq;
        }
        sqlx::query("INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)")
            .bind(last)
            .bind(prev)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The chain's last entry: its sequence number and hash.
    pub async fn audit_head(&self) -> Result<(i64, String)> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok((row.try_get("seq")?, row.try_get("hash")?))
    }

    /// Entries `from..=to` in order (as stored: a verifier checks them).
    pub async fn audit_entries(&self, from: i64, to: i64) -> Result<Vec<Entry>> {
        let rows =
            sqlx::query("SELECT * FROM audit_events WHERE seq >= $1 AND seq <= $2 ORDER BY seq")
                .bind(from)
                .bind(to)
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(entry_from).collect()
    }

    /// The hash the entry `seq` follows, as the log says ([`GENESIS`] for
    /// the first; an archived segment's last hash after archiving).
    pub async fn audit_hash_before(&self, seq: i64) -> Result<String> {
        let row =
            sqlx::query("SELECT hash FROM audit_events WHERE seq < $1 ORDER BY seq DESC LIMIT 1")
                .bind(seq)
                .fetch_optional(self.pool())
                .await?;
        if let Some(r) = row {
            return Ok(r.try_get::<Option<String>, _>("hash")?.unwrap_or_default());
        }
        let archived = sqlx::query(
            "SELECT last_hash FROM audit_archives WHERE last_seq < $1 ORDER BY last_seq DESC LIMIT 1",
        )
        .bind(seq)
        .fetch_optional(self.pool())
        .await?;
        Ok(match archived {
            Some(r) => r.try_get("last_hash")?,
            None => GENESIS.to_string(),
        })
    }

    /// The first entry still in the database (`None` when all are archived
    /// or the log is empty).
    pub async fn audit_first(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(seq) AS first FROM audit_events")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("first")?)
    }

    /// The last entry written at or before `at` (RFC 3339), if any.
    pub async fn audit_last_before(&self, at: &str) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MAX(seq) AS last FROM audit_events WHERE at <= $1")
            .bind(at.to_string())
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>("last")?)
    }

    /// The segments moved out to archive files, oldest first.
    pub async fn audit_archives(&self) -> Result<Vec<AuditArchive>> {
        let rows = sqlx::query("SELECT * FROM audit_archives ORDER BY last_seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditArchive {
                    first_seq: r.try_get("first_seq")?,
                    last_seq: r.try_get("last_seq")?,
                    last_hash: r.try_get("last_hash")?,
                    file_name: r.try_get("file_name")?,
                    sha256: r.try_get("sha256")?,
                    archived_at: r.try_get("archived_at")?,
                })
            })
            .collect()
    }

    /// Records a signed checkpoint (the hub's own act on the log, not an
    /// audited change: it is written outside `Tx`, once per sequence number).
    pub async fn add_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        sqlx::query("INSERT INTO audit_checkpoints (seq, hash, at, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING")
            .bind(c.seq)
            .bind(c.hash.clone())
            .bind(c.at.clone())
            .bind(c.signature.clone())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Checkpoints `from..=to`, in order.
    pub async fn audit_checkpoints(&self, from: i64, to: i64) -> Result<Vec<Checkpoint>> {
        let rows = sqlx::query(
            "SELECT * FROM audit_checkpoints WHERE seq >= $1 AND seq <= $2 ORDER BY seq",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: r.try_get("seq")?,
                    hash: r.try_get("hash")?,
                    at: r.try_get("at")?,
                    signature: r.try_get("signature")?,
                })
            })
            .collect()
    }
}
