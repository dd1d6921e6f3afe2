//! The audit log as a hash chain (`hdh_audit`): chaining events recorded
//! before the chain existed, reading segments and checkpoints for export.

use crate::{Result, Store};
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

    /// The hash the entry `seq` follows, as the log says ([`GENESIS`] for the first).
    pub async fn audit_hash_before(&self, seq: i64) -> Result<String> {
        let row =
            sqlx::query("SELECT hash FROM audit_events WHERE seq < $1 ORDER BY seq DESC LIMIT 1")
                .bind(seq)
                .fetch_optional(self.pool())
                .await?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>("hash")?.unwrap_or_default(),
            None => GENESIS.to_string(),
        })
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
