//! Alerts raised over the audit log, and their life cycle.

use crate::{Result, Store, StoreError, Tx, now, opt_str};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredAlert {
    pub id: String,
    pub rule: String,
    pub severity: String,
    pub subject: Option<String>,
    pub at: String,
    /// Sequence numbers of the audit events behind it.
    pub evidence: Vec<i64>,
    pub message: String,
    /// open, acknowledged, assigned, closed.
    pub state: String,
    pub assignee: Option<String>,
    pub note: Option<String>,
    pub updated_at: String,
    /// The project of the event that fired it.
    #[serde(default)]
    pub project_id: Option<String>,
    /// What the hub did by itself (`suspend_tokens: 2 tokens`, `lock_workspace: p-1`).
    #[serde(default)]
    pub responses: Vec<String>,
}

/// A project's workspace locked by an alert's response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkspaceLock {
    pub project_id: String,
    pub alert_id: String,
    pub locked_at: String,
    pub reason: String,
}

fn alert_from(row: &AnyRow) -> Result<StoredAlert> {
    let evidence: String = row.try_get("evidence_json")?;
    Ok(StoredAlert {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        severity: row.try_get("severity")?,
        subject: opt_str(row, "subject")?,
        at: row.try_get("at")?,
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| StoreError::Corrupt(format!("alert evidence: {e}")))?,
        message: row.try_get("message")?,
        state: row.try_get("state")?,
        assignee: opt_str(row, "assignee")?,
        note: opt_str(row, "note")?,
        updated_at: row.try_get("updated_at")?,
        project_id: opt_str(row, "project_id")?,
        responses: match opt_str(row, "responses_json")? {
            Some(r) => serde_json::from_str(&r)
                .map_err(|e| StoreError::Corrupt(format!("alert responses: {e}")))?,
            None => Vec::new(),
        },
    })
}

impl Tx {
    /// Records an alert unless one with its id exists (a replay finds the
    /// same ones); whether it is new.
    pub async fn insert_alert(&mut self, a: &StoredAlert) -> Result<bool> {
        let res = sqlx::query("INSERT INTO alerts (id, rule, severity, subject, at, evidence_json, message, state, assignee, note, updated_at, project_id, responses_json) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) ON CONFLICT (id) DO NOTHING")
            .bind(a.id.clone())
            .bind(a.rule.clone())
            .bind(a.severity.clone())
            .bind(a.subject.clone())
            .bind(a.at.clone())
            .bind(serde_json::to_string(&a.evidence).unwrap_or_else(|_| "[]".into()))
            .bind(a.message.clone())
            .bind(a.state.clone())
            .bind(a.assignee.clone())
            .bind(a.note.clone())
            .bind(a.updated_at.clone())
            .bind(a.project_id.clone())
            .bind(serde_json::to_string(&a.responses).unwrap_or_else(|_| "[]".into()))
            .execute(self.conn())
            .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Records what the hub did by itself for an alert.
    pub async fn set_alert_responses(&mut self, id: &str, responses: &[String]) -> Result<()> {
        sqlx::query("UPDATE alerts SET responses_json = $2 WHERE id = $1")
            .bind(id.to_string())
            .bind(serde_json::to_string(responses).unwrap_or_else(|_| "[]".into()))
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Locks a project's workspace for an alert; whether it was not already.
    pub async fn lock_workspace(&mut self, l: &WorkspaceLock) -> Result<bool> {
        let res = sqlx::query("INSERT INTO workspace_locks (project_id, alert_id, locked_at, reason) VALUES ($1,$2,$3,$4) ON CONFLICT (project_id, alert_id) DO NOTHING")
            .bind(l.project_id.clone())
            .bind(l.alert_id.clone())
            .bind(l.locked_at.clone())
            .bind(l.reason.clone())
            .execute(self.conn())
            .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Releases the locks an alert placed; the projects released.
    pub async fn release_locks(&mut self, alert_id: &str, by: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("UPDATE workspace_locks SET released_at = $2, released_by = $3 WHERE alert_id = $1 AND released_at IS NULL RETURNING project_id")
            .bind(alert_id.to_string())
            .bind(now())
            .bind(by.to_string())
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("project_id")?))
            .collect()
    }

    /// Live tokens of an account, revoked now; their ids.
    pub async fn revoke_tokens_of(&mut self, user_id: &str) -> Result<Vec<String>> {
        let at = now();
        let rows = sqlx::query("UPDATE access_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id")
            .bind(user_id.to_string())
            .bind(at)
            .fetch_all(self.conn())
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("id")?))
            .collect()
    }

    /// Moves an alert from `from` to `to` (a conflict if it moved meanwhile).
    pub async fn set_alert_state(
        &mut self,
        id: &str,
        from: &str,
        to: &str,
        assignee: Option<&str>,
        note: Option<&str>,
    ) -> Result<()> {
        let res = sqlx::query("UPDATE alerts SET state = $3, assignee = COALESCE($4, assignee), note = COALESCE($5, note), updated_at = $6 WHERE id = $1 AND state = $2")
            .bind(id.to_string())
            .bind(from.to_string())
            .bind(to.to_string())
            .bind(assignee.map(str::to_string))
            .bind(note.map(str::to_string))
            .bind(now())
            .execute(self.conn())
            .await?;
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "alert {id} is no longer {from}"
            )));
        }
        Ok(())
    }
}

impl Store {
    /// The locks on a project's workspace still in force.
    pub async fn workspace_locks(&self, project_id: &str) -> Result<Vec<WorkspaceLock>> {
        let rows = sqlx::query("SELECT * FROM workspace_locks WHERE project_id = $1 AND released_at IS NULL ORDER BY locked_at")
            .bind(project_id.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(WorkspaceLock {
                    project_id: r.try_get("project_id")?,
                    alert_id: r.try_get("alert_id")?,
                    locked_at: r.try_get("locked_at")?,
                    reason: r.try_get("reason")?,
                })
            })
            .collect()
    }

    /// How far an export of the log has gone (0: not started).
    pub async fn export_cursor(&self, name: &str) -> Result<i64> {
        let row = sqlx::query("SELECT seq FROM export_cursors WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => r.try_get("seq")?,
            None => 0,
        })
    }

    /// Moves an export's cursor (the export's own progress, not a change of
    /// the hub's records: not audited).
    pub async fn set_export_cursor(&self, name: &str, seq: i64) -> Result<()> {
        sqlx::query("INSERT INTO export_cursors (name, seq, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at")
            .bind(name.to_string())
            .bind(seq)
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn alert(&self, id: &str) -> Result<Option<StoredAlert>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(alert_from).transpose()
    }

    /// Alerts, newest first, optionally of one state and one severity.
    pub async fn alerts(
        &self,
        state: Option<&str>,
        severity: Option<&str>,
    ) -> Result<Vec<StoredAlert>> {
        let rows = sqlx::query("SELECT * FROM alerts WHERE (CAST($1 AS TEXT) IS NULL OR state = $1) AND (CAST($2 AS TEXT) IS NULL OR severity = $2) ORDER BY at DESC, id LIMIT 1000")
            .bind(state.map(str::to_string))
            .bind(severity.map(str::to_string))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(alert_from).collect()
    }
}
