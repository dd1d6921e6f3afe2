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
    })
}

impl Tx {
    /// Records an alert unless one with its id exists (a replay finds the
    /// same ones); whether it is new.
    pub async fn insert_alert(&mut self, a: &StoredAlert) -> Result<bool> {
        let res = sqlx::query("INSERT INTO alerts (id, rule, severity, subject, at, evidence_json, message, state, assignee, note, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (id) DO NOTHING")
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
            .execute(self.conn())
            .await?;
        Ok(res.rows_affected() == 1)
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
