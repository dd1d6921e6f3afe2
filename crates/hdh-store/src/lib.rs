//! The hub's metadata store: accounts, sessions, catalogue entries, access
//! requests, projects, releases and the audit trail.
//!
//! One code path serves SQLite (the embedded default: a file in the data
//! directory) and PostgreSQL (`postgres://…`), through sqlx's `Any` driver with
//! one migration directory per backend. Times are stored as RFC 3339 text and
//! identifiers as text, which both backends map identically.
//!
//! Every change goes through a [`Tx`]; a `Tx` refuses to commit unless at
//! least one audit event was written in it, so that no change can be recorded
//! without its audit event (and the other way round).

mod audit_chain;
mod catalog;
mod delivery;
mod desk;
mod output;
mod records;
mod workspace;

pub use catalog::*;
pub use delivery::*;
pub use desk::*;
pub use output::*;
pub use records::*;
pub use workspace::*;

use hdh_model::{AuditEvent, Outcome};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: expected sqlite:… or postgres://…")]
    UnsupportedUrl(String),
    #[error("a change was about to be committed without an audit event")]
    UnauditedChange,
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("password hashing failed: {0}")]
    Password(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

impl Store {
    /// Connects to `url` and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        sqlx::query("PRAGMA journal_mode = WAL")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA busy_timeout = 10000")
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("PRAGMA foreign_keys = ON")
                            .execute(&mut *conn)
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Backend::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        let store = Store { pool, backend };
        store.chain_existing().await?;
        Ok(store)
    }

    /// The embedded default: a SQLite file.
    pub async fn open_sqlite(path: &std::path::Path) -> Result<Store> {
        Store::connect(&format!("sqlite://{}?mode=rwc", path.display())).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn begin(&self) -> Result<Tx> {
        let tx = match self.backend {
            // Take the write lock up front: two deferred SQLite transactions
            // that both upgrade to writers would fail instead of waiting.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(Tx {
            tx,
            pending: Vec::new(),
        })
    }

    /// Writes one audit event in a transaction of its own (for actions that
    /// change nothing else: a sign-in, a query, a view, a refusal).
    pub async fn audit(&self, event: &AuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.audit(event).await?;
        tx.commit().await
    }
}

/// A store transaction that must carry at least one audit event to commit.
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    /// Events to chain at commit.
    pending: Vec<AuditEvent>,
}

impl Tx {
    pub fn conn(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }

    /// Records an audit event of this transaction. Events are appended to
    /// the audit chain (`hdh_audit`) as the transaction's last statements,
    /// at commit: the chain's head row is locked last and for the shortest
    /// time, so transactions never wait on each other in another order.
    pub async fn audit(&mut self, e: &AuditEvent) -> Result<()> {
        self.pending.push(e.clone());
        Ok(())
    }

    /// Appends one event after the chain's head (whose row lock orders
    /// concurrent writers on PostgreSQL; SQLite's write lock does the same).
    async fn append(&mut self, e: &AuditEvent) -> Result<()> {
        let head =
            sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
                .fetch_one(&mut *self.tx)
                .await?;
        let seq: i64 = head.try_get("seq")?;
        let prev: String = head.try_get("hash")?;
        let entry = hdh_audit::Entry {
            seq,
            at: now(),
            actor_id: e.actor_id.clone(),
            actor_name: e.actor_name.clone(),
            role: e.role.clone(),
            action: e.action.clone(),
            object_type: e.object_type.clone(),
            object_id: e.object_id.clone(),
            project_id: e.project_id.clone(),
            outcome: e.outcome.as_str().to_string(),
            client_addr: e.client_addr.clone(),
            details: e.details.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        }
        .seal(&prev);
        insert_entry(&mut self.tx, &entry).await?;
        sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
            .bind(entry.hash.clone())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn commit(mut self) -> Result<()> {
        if self.pending.is_empty() {
            self.tx.rollback().await?;
            return Err(StoreError::UnauditedChange);
        }
        for e in std::mem::take(&mut self.pending) {
            self.append(&e).await?;
        }
        self.tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

async fn insert_entry(conn: &mut sqlx::AnyConnection, e: &hdh_audit::Entry) -> Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (seq, at, actor_id, actor_name, role, action, object_type, object_id, project_id, outcome, client_addr, details_json, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(e.seq)
    .bind(e.at.clone())
    .bind(e.actor_id.clone())
    .bind(e.actor_name.clone())
    .bind(e.role.clone())
    .bind(e.action.clone())
    .bind(e.object_type.clone())
    .bind(e.object_id.clone())
    .bind(e.project_id.clone())
    .bind(e.outcome.clone())
    .bind(e.client_addr.clone())
    .bind(e.details.clone())
    .bind(e.prev_hash.clone())
    .bind(e.hash.clone())
    .execute(conn)
    .await?;
    Ok(())
}

/// Filters of the audit page.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub project: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<i64>,
}

pub(crate) fn opt_str(row: &AnyRow, col: &str) -> Result<Option<String>> {
    Ok(row.try_get::<Option<String>, _>(col)?)
}

pub(crate) fn outcome_from(s: &str) -> Outcome {
    match s {
        "denied" => Outcome::Denied,
        "failed" => Outcome::Failed,
        _ => Outcome::Success,
    }
}
