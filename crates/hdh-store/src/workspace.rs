//! The workspace's records: extraction builds (the provisioning jobs with
//! their provenance and report), the opposition register, the query log,
//! scratch tables and Flight SQL access tokens.

use crate::{Result, Store, StoreError, Tx, opt_str};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

// ---------------------------------------------------------------- builds

/// One build of a project's extraction: a provisioning job.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExtractionBuild {
    pub id: String,
    pub project_id: String,
    pub request_id: String,
    /// `authorised`, `amendment` or `refresh`.
    pub reason: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    pub progress: serde_json::Value,
    /// What it was built from (dataset versions, criteria, register state).
    pub spec: serde_json::Value,
    /// Rows, persons and period per table.
    pub report: serde_json::Value,
    pub prefix: String,
    pub register_seq: i64,
    pub error: Option<String>,
    pub requested_by: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

fn build_from(r: &AnyRow) -> Result<ExtractionBuild> {
    Ok(ExtractionBuild {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        request_id: r.try_get("request_id")?,
        reason: r.try_get("reason")?,
        state: r.try_get("state")?,
        progress: json(r, "progress_json")?,
        spec: json(r, "spec_json")?,
        report: json(r, "report_json")?,
        prefix: r.try_get("prefix")?,
        register_seq: r.try_get("register_seq")?,
        error: opt_str(r, "error")?,
        requested_by: opt_str(r, "requested_by")?,
        created_at: r.try_get("created_at")?,
        finished_at: opt_str(r, "finished_at")?,
    })
}

impl Tx {
    pub async fn insert_build(&mut self, b: &ExtractionBuild) -> Result<()> {
        sqlx::query(
            "INSERT INTO extraction_builds (id, project_id, request_id, reason, state, progress_json, spec_json, report_json, prefix, register_seq, error, requested_by, created_at, finished_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14)",
        )
        .bind(b.id.clone())
        .bind(b.project_id.clone())
        .bind(b.request_id.clone())
        .bind(b.reason.clone())
        .bind(b.state.clone())
        .bind(to_json(&b.progress)?)
        .bind(to_json(&b.spec)?)
        .bind(to_json(&b.report)?)
        .bind(b.prefix.clone())
        .bind(b.register_seq)
        .bind(b.error.clone())
        .bind(b.requested_by.clone())
        .bind(b.created_at.clone())
        .bind(b.finished_at.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records a build's end (done or failed) with what it produced.
    pub async fn finish_build(&mut self, b: &ExtractionBuild) -> Result<()> {
        sqlx::query(
            "UPDATE extraction_builds SET state = $2, progress_json = $3, spec_json = $4, report_json = $5, prefix = $6, register_seq = $7, error = $8, finished_at = $9 WHERE id = $1",
        )
        .bind(b.id.clone())
        .bind(b.state.clone())
        .bind(to_json(&b.progress)?)
        .bind(to_json(&b.spec)?)
        .bind(to_json(&b.report)?)
        .bind(b.prefix.clone())
        .bind(b.register_seq)
        .bind(b.error.clone())
        .bind(b.finished_at.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Points a project at a finished build; clears its refresh flag.
    pub async fn set_project_build(&mut self, project_id: &str, build_id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE projects SET build_id = $2, stale_since = NULL, stale_reason = NULL WHERE id = $1",
        )
        .bind(project_id.to_string())
        .bind(build_id.to_string())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Flags a project's extraction for refresh (kept if already flagged).
    pub async fn flag_stale(&mut self, project_id: &str, at: &str, reason: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE projects SET stale_since = $2, stale_reason = $3 WHERE id = $1 AND stale_since IS NULL",
        )
        .bind(project_id.to_string())
        .bind(at.to_string())
        .bind(reason.to_string())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}

impl Store {
    /// A job's progress: written outside any transaction, as it changes
    /// no record of the hub (its start and end are audited).
    pub async fn set_build_progress(&self, id: &str, progress: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE extraction_builds SET progress_json = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(to_json(progress)?)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn build(&self, id: &str) -> Result<Option<ExtractionBuild>> {
        let row = sqlx::query("SELECT * FROM extraction_builds WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(build_from).transpose()
    }

    /// The builds of a request (newest first).
    pub async fn builds_of_request(&self, request_id: &str) -> Result<Vec<ExtractionBuild>> {
        let rows = sqlx::query(
            "SELECT * FROM extraction_builds WHERE request_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(request_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(build_from).collect()
    }

    /// The builds of a project (newest first).
    pub async fn builds_of_project(&self, project_id: &str) -> Result<Vec<ExtractionBuild>> {
        let rows = sqlx::query(
            "SELECT * FROM extraction_builds WHERE project_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(project_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(build_from).collect()
    }

    /// Builds queued or running (after a crash: to be marked failed).
    pub async fn unfinished_builds(&self) -> Result<Vec<ExtractionBuild>> {
        let rows = sqlx::query(
            "SELECT * FROM extraction_builds WHERE state IN ('queued', 'running') ORDER BY created_at",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(build_from).collect()
    }

    pub async fn set_build_state(&self, id: &str, state: &str) -> Result<()> {
        sqlx::query("UPDATE extraction_builds SET state = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(state.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------- oppositions

/// An entry of the opposition register. The person is known only by a
/// level-2 pseudonym.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Opposition {
    pub seq: i64,
    pub id: String,
    /// Level-2 pseudonym (hex) under `key_id`.
    #[serde(skip_serializing)]
    pub pseudonym: String,
    pub key_id: String,
    /// `all` (every research use) or a dataset id.
    pub scope: String,
    /// The day the person objected.
    pub objected_on: String,
    pub registered_at: String,
    /// Where it came from (`api`, `cli`, later the citizens' portal).
    pub source: String,
}

fn opposition_from(r: &AnyRow) -> Result<Opposition> {
    Ok(Opposition {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        pseudonym: r.try_get("pseudonym")?,
        key_id: r.try_get("key_id")?,
        scope: r.try_get("scope")?,
        objected_on: r.try_get("objected_on")?,
        registered_at: r.try_get("registered_at")?,
        source: r.try_get("source")?,
    })
}

impl Tx {
    /// Adds an entry; returns its sequence number. An entry for the same
    /// person and scope is not duplicated (`None`).
    pub async fn insert_opposition(&mut self, o: &Opposition) -> Result<Option<i64>> {
        let there = sqlx::query(
            "SELECT seq FROM oppositions WHERE pseudonym = $1 AND key_id = $2 AND scope = $3",
        )
        .bind(o.pseudonym.clone())
        .bind(o.key_id.clone())
        .bind(o.scope.clone())
        .fetch_optional(self.conn())
        .await?;
        if there.is_some() {
            return Ok(None);
        }
        sqlx::query(
            "INSERT INTO oppositions (id, pseudonym, key_id, scope, objected_on, registered_at, source) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(o.id.clone())
        .bind(o.pseudonym.clone())
        .bind(o.key_id.clone())
        .bind(o.scope.clone())
        .bind(o.objected_on.clone())
        .bind(o.registered_at.clone())
        .bind(o.source.clone())
        .execute(self.conn())
        .await?;
        let seq: i64 = sqlx::query("SELECT seq FROM oppositions WHERE id = $1")
            .bind(o.id.clone())
            .fetch_one(self.conn())
            .await?
            .try_get("seq")?;
        Ok(Some(seq))
    }

    /// Every entry, for a key rotation within its transaction.
    pub async fn oppositions_for_update(&mut self) -> Result<Vec<Opposition>> {
        let rows = sqlx::query("SELECT * FROM oppositions ORDER BY seq")
            .fetch_all(self.conn())
            .await?;
        rows.iter().map(opposition_from).collect()
    }

    /// Re-keys an entry (key rotation).
    pub async fn rekey_opposition(
        &mut self,
        seq: i64,
        pseudonym: &str,
        key_id: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE oppositions SET pseudonym = $2, key_id = $3 WHERE seq = $1")
            .bind(seq)
            .bind(pseudonym.to_string())
            .bind(key_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

impl Store {
    pub async fn oppositions(&self) -> Result<Vec<Opposition>> {
        let rows = sqlx::query("SELECT * FROM oppositions ORDER BY seq")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(opposition_from).collect()
    }
}

// ---------------------------------------------------------------- query log

/// One query run (or refused) in a workspace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueryLogEntry {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    /// `web`, `api` or `flight`.
    pub channel: String,
    pub sql: String,
    pub started_at: String,
    pub duration_ms: i64,
    pub rows_scanned: i64,
    pub bytes_scanned: i64,
    pub result_rows: i64,
    pub result_bytes: i64,
    /// `ok`, `refused`, `failed`, `timeout`, `memory`, `cancelled`.
    pub outcome: String,
    pub error: Option<String>,
}

fn query_from(r: &AnyRow) -> Result<QueryLogEntry> {
    Ok(QueryLogEntry {
        id: r.try_get("id")?,
        project_id: r.try_get("project_id")?,
        user_id: r.try_get("user_id")?,
        channel: r.try_get("channel")?,
        sql: r.try_get("sql_text")?,
        started_at: r.try_get("started_at")?,
        duration_ms: r.try_get("duration_ms")?,
        rows_scanned: r.try_get("rows_scanned")?,
        bytes_scanned: r.try_get("bytes_scanned")?,
        result_rows: r.try_get("result_rows")?,
        result_bytes: r.try_get("result_bytes")?,
        outcome: r.try_get("outcome")?,
        error: opt_str(r, "error")?,
    })
}

impl Tx {
    pub async fn log_query(&mut self, q: &QueryLogEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO workspace_queries (id, project_id, user_id, channel, sql_text, started_at, duration_ms, rows_scanned, bytes_scanned, result_rows, result_bytes, outcome, error)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        )
        .bind(q.id.clone())
        .bind(q.project_id.clone())
        .bind(q.user_id.clone())
        .bind(q.channel.clone())
        .bind(q.sql.clone())
        .bind(q.started_at.clone())
        .bind(q.duration_ms)
        .bind(q.rows_scanned)
        .bind(q.bytes_scanned)
        .bind(q.result_rows)
        .bind(q.result_bytes)
        .bind(q.outcome.clone())
        .bind(q.error.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }
}

impl Store {
    /// A project's queries, newest first; one user's only when `user` is given.
    pub async fn queries(
        &self,
        project_id: &str,
        user: Option<&str>,
        limit: i64,
    ) -> Result<Vec<QueryLogEntry>> {
        let rows = match user {
            Some(u) => sqlx::query("SELECT * FROM workspace_queries WHERE project_id = $1 AND user_id = $2 ORDER BY started_at DESC LIMIT $3")
                .bind(project_id.to_string())
                .bind(u.to_string())
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
            None => sqlx::query("SELECT * FROM workspace_queries WHERE project_id = $1 ORDER BY started_at DESC LIMIT $2")
                .bind(project_id.to_string())
                .bind(limit)
                .fetch_all(self.pool())
                .await?,
        };
        rows.iter().map(query_from).collect()
    }
}

// ---------------------------------------------------------------- scratch

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScratchTable {
    pub project_id: String,
    pub name: String,
    #[serde(skip)]
    pub object_path: String,
    pub rows: i64,
    pub bytes: i64,
    pub sql: String,
    pub created_by: String,
    pub created_at: String,
}

fn scratch_from(r: &AnyRow) -> Result<ScratchTable> {
    Ok(ScratchTable {
        project_id: r.try_get("project_id")?,
        name: r.try_get("name")?,
        object_path: r.try_get("object_path")?,
        rows: r.try_get("rows")?,
        bytes: r.try_get("bytes")?,
        sql: r.try_get("sql_text")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Tx {
    /// Records a scratch table, replacing one of the same name; returns the
    /// replaced one's object path.
    pub async fn put_scratch(&mut self, t: &ScratchTable) -> Result<Option<String>> {
        let old = self.delete_scratch(&t.project_id, &t.name).await?;
        sqlx::query(
            "INSERT INTO scratch_tables (project_id, name, object_path, rows, bytes, sql_text, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
        )
        .bind(t.project_id.clone())
        .bind(t.name.clone())
        .bind(t.object_path.clone())
        .bind(t.rows)
        .bind(t.bytes)
        .bind(t.sql.clone())
        .bind(t.created_by.clone())
        .bind(t.created_at.clone())
        .execute(self.conn())
        .await?;
        Ok(old)
    }

    /// Removes a scratch table's record; returns its object path.
    pub async fn delete_scratch(&mut self, project_id: &str, name: &str) -> Result<Option<String>> {
        let old = sqlx::query(
            "SELECT object_path FROM scratch_tables WHERE project_id = $1 AND name = $2",
        )
        .bind(project_id.to_string())
        .bind(name.to_string())
        .fetch_optional(self.conn())
        .await?
        .map(|r| r.try_get::<String, _>("object_path"))
        .transpose()?;
        sqlx::query("DELETE FROM scratch_tables WHERE project_id = $1 AND name = $2")
            .bind(project_id.to_string())
            .bind(name.to_string())
            .execute(self.conn())
            .await?;
        Ok(old)
    }
}

impl Store {
    pub async fn scratch_tables(&self, project_id: &str) -> Result<Vec<ScratchTable>> {
        let rows = sqlx::query("SELECT * FROM scratch_tables WHERE project_id = $1 ORDER BY name")
            .bind(project_id.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(scratch_from).collect()
    }
}

// ---------------------------------------------------------------- tokens

/// A Flight SQL access token: one user, one project, an expiry. Only its
/// SHA-256 is stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessToken {
    pub id: String,
    #[serde(skip)]
    pub token_hash: String,
    pub user_id: String,
    pub project_id: String,
    pub label: String,
    pub created_at: String,
    pub expires_at: String,
    pub revoked_at: Option<String>,
    pub last_used_at: Option<String>,
}

fn token_from(r: &AnyRow) -> Result<AccessToken> {
    Ok(AccessToken {
        id: r.try_get("id")?,
        token_hash: r.try_get("token_hash")?,
        user_id: r.try_get("user_id")?,
        project_id: r.try_get("project_id")?,
        label: r.try_get("label")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: opt_str(r, "revoked_at")?,
        last_used_at: opt_str(r, "last_used_at")?,
    })
}

impl Tx {
    pub async fn insert_token(&mut self, t: &AccessToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO access_tokens (id, token_hash, user_id, project_id, label, created_at, expires_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(t.id.clone())
        .bind(t.token_hash.clone())
        .bind(t.user_id.clone())
        .bind(t.project_id.clone())
        .bind(t.label.clone())
        .bind(t.created_at.clone())
        .bind(t.expires_at.clone())
        .execute(self.conn())
        .await?;
        Ok(())
    }

    pub async fn revoke_token(&mut self, id: &str, at: &str) -> Result<bool> {
        let n = sqlx::query(
            "UPDATE access_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        )
        .bind(id.to_string())
        .bind(at.to_string())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n > 0)
    }
}

impl Store {
    pub async fn token_by_hash(&self, hash: &str) -> Result<Option<AccessToken>> {
        let row = sqlx::query("SELECT * FROM access_tokens WHERE token_hash = $1")
            .bind(hash.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    pub async fn token(&self, id: &str) -> Result<Option<AccessToken>> {
        let row = sqlx::query("SELECT * FROM access_tokens WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    pub async fn tokens_of(&self, user_id: &str, project_id: &str) -> Result<Vec<AccessToken>> {
        let rows = sqlx::query(
            "SELECT * FROM access_tokens WHERE user_id = $1 AND project_id = $2 ORDER BY created_at DESC",
        )
        .bind(user_id.to_string())
        .bind(project_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(token_from).collect()
    }

    /// When a token was last used (not a change of the hub's records).
    pub async fn touch_token(&self, id: &str, at: &str) -> Result<()> {
        sqlx::query("UPDATE access_tokens SET last_used_at = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(at.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
