//! Records of the store and the queries that read and write them.

use crate::{Result, Store, StoreError, Tx, now, opt_str, outcome_from};
use hdh_model::role::{Role, format_roles, parse_roles};
use hdh_model::{AccessRequestState, Outcome, RequestDetails};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

// ---------------------------------------------------------------- accounts

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub organisation: String,
    pub roles: Vec<Role>,
    #[serde(skip)]
    pub password_hash: String,
    pub created_at: String,
    /// Where notifications are e-mailed (empty: in-app inbox only).
    #[serde(skip)]
    pub email: String,
    /// When the password was last set (`None`: at creation, before issue 11).
    #[serde(skip)]
    pub password_changed_at: Option<String>,
    /// The version of the terms of use accepted, and when.
    #[serde(skip)]
    pub terms_version: Option<String>,
    #[serde(skip)]
    pub terms_accepted_at: Option<String>,
    /// The last yearly review of the account and its roles.
    #[serde(skip)]
    pub reviewed_at: Option<String>,
    /// Set while the account is suspended (no sign-in, no session).
    #[serde(skip)]
    pub suspended_at: Option<String>,
    #[serde(skip)]
    pub suspended_reason: Option<String>,
}

impl User {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }

    /// When the account was last reviewed (its creation if never).
    pub fn review_due_from(&self) -> &str {
        self.reviewed_at.as_deref().unwrap_or(&self.created_at)
    }
}

fn user_from(row: &AnyRow) -> Result<User> {
    let roles: String = row.try_get("roles")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        organisation: row.try_get("organisation")?,
        roles: parse_roles(&roles).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
        email: row.try_get("email")?,
        password_changed_at: opt_str(row, "password_changed_at")?,
        terms_version: opt_str(row, "terms_version")?,
        terms_accepted_at: opt_str(row, "terms_accepted_at")?,
        reviewed_at: opt_str(row, "reviewed_at")?,
        suspended_at: opt_str(row, "suspended_at")?,
        suspended_reason: opt_str(row, "suspended_reason")?,
    })
}

/// Hashes a password with Argon2id (the crate's recommended parameters).
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Password(e.to_string()))
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub organisation: String,
    pub roles: Vec<Role>,
    pub password: String,
}

impl Tx {
    pub async fn insert_user(&mut self, u: &NewUser) -> Result<User> {
        let id = uuid::Uuid::now_v7().to_string();
        let hash = hash_password(&u.password)?;
        let exists = sqlx::query("SELECT id FROM users WHERE username = $1")
            .bind(u.username.clone())
            .fetch_optional(self.conn())
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "user {:?} already exists",
                u.username
            )));
        }
        let created = now();
        sqlx::query(
            "INSERT INTO users (id, username, display_name, organisation, roles, password_hash, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(id.clone())
        .bind(u.username.clone())
        .bind(u.display_name.clone())
        .bind(u.organisation.clone())
        .bind(format_roles(&u.roles))
        .bind(hash.clone())
        .bind(created.clone())
        .execute(self.conn())
        .await?;
        Ok(User {
            id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            organisation: u.organisation.clone(),
            roles: u.roles.clone(),
            password_hash: hash,
            created_at: created,
            email: String::new(),
            password_changed_at: None,
            terms_version: None,
            terms_accepted_at: None,
            reviewed_at: None,
            suspended_at: None,
            suspended_reason: None,
        })
    }

    pub async fn insert_session(&mut self, s: &SessionRecord) -> Result<()> {
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, id, last_seen_at, client_addr, user_agent) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
            .bind(s.token_hash.clone())
            .bind(s.user_id.clone())
            .bind(s.csrf_token.clone())
            .bind(s.created_at.clone())
            .bind(s.expires_at.clone())
            .bind(s.id.clone())
            .bind(s.last_seen_at.clone())
            .bind(s.client_addr.clone())
            .bind(s.user_agent.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Removes sessions past their expiry (called at each sign-in).
    pub async fn delete_expired_sessions(&mut self) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }

    pub async fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Ends one of a user's sessions by its public id; false if the user
    /// has no such session.
    pub async fn delete_user_session(&mut self, user_id: &str, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
            .bind(user_id.to_string())
            .bind(id.to_string())
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Ends every session of a user but `keep` (a token hash); returns how
    /// many ended.
    pub async fn delete_user_sessions(&mut self, user_id: &str, keep: Option<&str>) -> Result<u64> {
        let r = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2")
            .bind(user_id.to_string())
            .bind(keep.unwrap_or("").to_string())
            .execute(self.conn())
            .await?;
        Ok(r.rows_affected())
    }

    /// Records a failed sign-in (the name only as its hash).
    pub async fn insert_sign_in_failure(
        &mut self,
        name_hash: &str,
        client_addr: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO sign_in_failures (name_hash, client_addr, at) VALUES ($1,$2,$3)")
            .bind(name_hash.to_string())
            .bind(client_addr.to_string())
            .bind(now())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Forgets an account's failures (after a successful sign-in) and those
    /// older than `before`.
    pub async fn clear_sign_in_failures(&mut self, name_hash: &str, before: &str) -> Result<()> {
        sqlx::query("DELETE FROM sign_in_failures WHERE name_hash = $1 OR at < $2")
            .bind(name_hash.to_string())
            .bind(before.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Sets a user's password (already checked against the policy).
    pub async fn set_password(&mut self, user_id: &str, password: &str) -> Result<()> {
        let hash = hash_password(password)?;
        sqlx::query("UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(now())
            .bind(user_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records that a user accepted a version of the terms of use.
    pub async fn accept_terms(&mut self, user_id: &str, version: &str) -> Result<()> {
        sqlx::query("UPDATE users SET terms_version = $1, terms_accepted_at = $2 WHERE id = $3")
            .bind(version.to_string())
            .bind(now())
            .bind(user_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records the yearly review of an account (and lifts a suspension for
    /// an overdue review).
    pub async fn review_user(&mut self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE users SET reviewed_at = $1, suspended_at = NULL, suspended_reason = NULL WHERE id = $2")
            .bind(now())
            .bind(user_id.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Suspends an account and ends its sessions.
    pub async fn suspend_user(&mut self, user_id: &str, reason: &str) -> Result<()> {
        sqlx::query("UPDATE users SET suspended_at = $1, suspended_reason = $2 WHERE id = $3 AND suspended_at IS NULL")
            .bind(now())
            .bind(reason.to_string())
            .bind(user_id.to_string())
            .execute(self.conn())
            .await?;
        self.delete_user_sessions(user_id, None).await?;
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token: the token itself is never stored.
    pub token_hash: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: String,
    pub expires_at: String,
    /// A public handle (shown in the holder's list of sessions).
    pub id: String,
    pub last_seen_at: String,
    pub client_addr: String,
    pub user_agent: String,
}

fn session_from(row: &AnyRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        token_hash: row.try_get("token_hash")?,
        user_id: row.try_get("user_id")?,
        csrf_token: row.try_get("csrf_token")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        id: row.try_get("id")?,
        last_seen_at: row.try_get("last_seen_at")?,
        client_addr: row.try_get("client_addr")?,
        user_agent: row.try_get("user_agent")?,
    })
}

impl Store {
    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE username = $1")
            .bind(username.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn user(&self, id: &str) -> Result<Option<User>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(user_from).transpose()
    }

    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT * FROM users WHERE id <> 'system' ORDER BY username")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(user_from).collect()
    }

    /// The live session of a token hash, with its user.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(SessionRecord, User)>> {
        let row = sqlx::query("SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > $2")
            .bind(token_hash.to_string())
            .bind(now())
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let rec = session_from(&row)?;
        let Some(user) = self.user(&rec.user_id).await? else {
            return Ok(None);
        };
        Ok(Some((rec, user)))
    }

    /// A user's live sessions, the most recently used first.
    pub async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY last_seen_at DESC, created_at DESC",
        )
        .bind(user_id.to_string())
        .bind(now())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(session_from).collect()
    }

    /// Marks a session used now (at most once a minute per session: the
    /// caller compares with its `last_seen_at`).
    pub async fn touch_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now())
            .bind(token_hash.to_string())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Failed sign-ins since `since`: for a name (as its hash), and from an
    /// address.
    pub async fn sign_in_failures(
        &self,
        name_hash: &str,
        client_addr: &str,
        since: &str,
    ) -> Result<(i64, i64)> {
        let by_name: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_failures WHERE name_hash = $1 AND at >= $2",
        )
        .bind(name_hash.to_string())
        .bind(since.to_string())
        .fetch_one(self.pool())
        .await?;
        let by_addr: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sign_in_failures WHERE client_addr = $1 AND at >= $2",
        )
        .bind(client_addr.to_string())
        .bind(since.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok((by_name, by_addr))
    }

    /// The earliest failure counted since `since` (for a name or an
    /// address): the lock lifts a window after it.
    pub async fn first_sign_in_failure(
        &self,
        name_hash: &str,
        client_addr: &str,
        since: &str,
    ) -> Result<Option<String>> {
        let at: Option<String> = sqlx::query_scalar(
            "SELECT MIN(at) FROM sign_in_failures WHERE (name_hash = $1 OR client_addr = $2) AND at >= $3",
        )
        .bind(name_hash.to_string())
        .bind(client_addr.to_string())
        .bind(since.to_string())
        .fetch_one(self.pool())
        .await?;
        Ok(at)
    }
}

// ---------------------------------------------------------------- catalogue

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dataset {
    pub id: String,
    pub title_fr: String,
    pub title_en: String,
    pub description_fr: String,
    pub description_en: String,
    pub producer_name: String,
    pub owner_id: String,
    pub metadata: serde_json::Value,
    pub created_at: String,
}

fn dataset_from(row: &AnyRow) -> Result<Dataset> {
    let meta: String = row.try_get("metadata_json")?;
    Ok(Dataset {
        id: row.try_get("id")?,
        title_fr: row.try_get("title_fr")?,
        title_en: row.try_get("title_en")?,
        description_fr: row.try_get("description_fr")?,
        description_en: row.try_get("description_en")?,
        producer_name: row.try_get("producer_name")?,
        owner_id: row.try_get("owner_id")?,
        metadata: serde_json::from_str(&meta).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetVersion {
    pub dataset_id: String,
    pub version: i64,
    pub delivered_by: String,
    pub published_at: String,
    pub manifest_path: String,
    pub row_count: i64,
    /// The level-2 key that encrypted the version's person identifiers
    /// (`""` for a version without any).
    pub key_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetTable {
    pub dataset_id: String,
    pub version: i64,
    pub table_name: String,
    pub description: String,
    pub schema: hdh_model::schema::TableSchema,
    pub row_count: i64,
    pub object_path: String,
}

fn table_from(row: &AnyRow) -> Result<DatasetTable> {
    let schema: String = row.try_get("schema_json")?;
    Ok(DatasetTable {
        dataset_id: row.try_get("dataset_id")?,
        version: row.try_get("version")?,
        table_name: row.try_get("table_name")?,
        description: row.try_get("description")?,
        schema: hdh_model::schema::TableSchema::from_json(schema.as_bytes())
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        row_count: row.try_get("row_count")?,
        object_path: row.try_get("object_path")?,
    })
}

pub(crate) fn version_from(row: &AnyRow) -> Result<DatasetVersion> {
    Ok(DatasetVersion {
        dataset_id: row.try_get("dataset_id")?,
        version: row.try_get("version")?,
        delivered_by: row.try_get("delivered_by")?,
        published_at: row.try_get("published_at")?,
        manifest_path: row.try_get("manifest_path")?,
        row_count: row.try_get("row_count")?,
        key_id: row.try_get("key_id")?,
    })
}

impl Tx {
    pub async fn upsert_dataset(&mut self, d: &Dataset) -> Result<()> {
        let exists = sqlx::query("SELECT id FROM datasets WHERE id = $1")
            .bind(d.id.clone())
            .fetch_optional(self.conn())
            .await?
            .is_some();
        let q = if exists {
            "UPDATE datasets SET title_fr=$2, title_en=$3, description_fr=$4, description_en=$5, producer_name=$6, owner_id=$7, metadata_json=$8, created_at=$9 WHERE id=$1"
        } else {
            "INSERT INTO datasets (id, title_fr, title_en, description_fr, description_en, producer_name, owner_id, metadata_json, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
        };
        sqlx::query(q)
            .bind(d.id.clone())
            .bind(d.title_fr.clone())
            .bind(d.title_en.clone())
            .bind(d.description_fr.clone())
            .bind(d.description_en.clone())
            .bind(d.producer_name.clone())
            .bind(d.owner_id.clone())
            .bind(d.metadata.to_string())
            .bind(d.created_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn next_version(&mut self, dataset_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) AS v FROM dataset_versions WHERE dataset_id = $1",
        )
        .bind(dataset_id.to_string())
        .fetch_one(self.conn())
        .await?;
        let v: i64 = row.try_get("v")?;
        Ok(v + 1)
    }

    pub async fn insert_version(
        &mut self,
        v: &DatasetVersion,
        tables: &[DatasetTable],
    ) -> Result<()> {
        sqlx::query("INSERT INTO dataset_versions (dataset_id, version, delivered_by, published_at, manifest_path, row_count, key_id) VALUES ($1,$2,$3,$4,$5,$6,$7)")
            .bind(v.dataset_id.clone())
            .bind(v.version)
            .bind(v.delivered_by.clone())
            .bind(v.published_at.clone())
            .bind(v.manifest_path.clone())
            .bind(v.row_count)
            .bind(v.key_id.clone())
            .execute(self.conn())
            .await?;
        for t in tables {
            sqlx::query("INSERT INTO dataset_tables (dataset_id, version, table_name, description, schema_json, row_count, object_path) VALUES ($1,$2,$3,$4,$5,$6,$7)")
                .bind(t.dataset_id.clone())
                .bind(t.version)
                .bind(t.table_name.clone())
                .bind(t.description.clone())
                .bind(t.schema.to_json())
                .bind(t.row_count)
                .bind(t.object_path.clone())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }
}

impl Store {
    pub async fn datasets(&self) -> Result<Vec<Dataset>> {
        let rows = sqlx::query("SELECT * FROM datasets ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(dataset_from).collect()
    }

    pub async fn dataset(&self, id: &str) -> Result<Option<Dataset>> {
        let row = sqlx::query("SELECT * FROM datasets WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(dataset_from).transpose()
    }

    pub async fn versions(&self, dataset_id: &str) -> Result<Vec<DatasetVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM dataset_versions WHERE dataset_id = $1 ORDER BY version DESC",
        )
        .bind(dataset_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version_from).collect()
    }

    pub async fn latest_version(&self, dataset_id: &str) -> Result<Option<DatasetVersion>> {
        Ok(self.versions(dataset_id).await?.into_iter().next())
    }

    pub async fn tables(&self, dataset_id: &str, version: i64) -> Result<Vec<DatasetTable>> {
        let rows = sqlx::query("SELECT * FROM dataset_tables WHERE dataset_id = $1 AND version = $2 ORDER BY table_name")
            .bind(dataset_id.to_string())
            .bind(version)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(table_from).collect()
    }
}

// ---------------------------------------------------------------- access requests

/// What a request asks for: tables and exact columns of one dataset.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScopeItem {
    pub dataset_id: String,
    pub table: String,
    pub columns: Vec<String>,
    /// The dataset version the request is about. Pinned when the request is
    /// created, so that what is reviewed is what gets provisioned.
    #[serde(default)]
    pub version: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessRequest {
    pub id: String,
    pub applicant_id: String,
    pub title: String,
    pub purpose: String,
    pub public_interest: String,
    pub scope: Vec<ScopeItem>,
    pub period_start: String,
    pub period_end: String,
    pub duration_months: i64,
    pub state: AccessRequestState,
    pub created_at: String,
    pub updated_at: String,
    /// The rest of the form (public summary, team, methodology...).
    #[serde(default)]
    pub details: RequestDetails,
    /// The legal route it follows (a configured route's name).
    #[serde(default = "standard_route")]
    pub route: String,
    /// The active request this one amends, if it is an amendment.
    #[serde(default)]
    pub amends: Option<String>,
}

fn standard_route() -> String {
    "standard".into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestEvent {
    pub seq: i64,
    pub action: String,
    pub from_state: String,
    pub to_state: String,
    pub actor_id: Option<String>,
    pub role: String,
    pub reason: Option<String>,
    pub at: String,
    /// The authority's decision number.
    #[serde(default)]
    pub reference: Option<String>,
    /// Structured details: the committee's opinion, the dataset agreed to.
    #[serde(default)]
    pub details: Option<serde_json::Value>,
}

fn request_from(row: &AnyRow) -> Result<AccessRequest> {
    let scope: String = row.try_get("scope_json")?;
    let state: String = row.try_get("state")?;
    Ok(AccessRequest {
        id: row.try_get("id")?,
        applicant_id: row.try_get("applicant_id")?,
        title: row.try_get("title")?,
        purpose: row.try_get("purpose")?,
        public_interest: row.try_get("public_interest")?,
        scope: serde_json::from_str(&scope).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        period_start: row.try_get("period_start")?,
        period_end: row.try_get("period_end")?,
        duration_months: row.try_get("duration_months")?,
        state: state
            .parse()
            .map_err(|e: hdh_model::request::UnknownState| StoreError::Corrupt(e.to_string()))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        details: serde_json::from_str(&row.try_get::<String, _>("details_json")?)
            .map_err(|e| StoreError::Corrupt(format!("request details: {e}")))?,
        route: row.try_get("route")?,
        amends: opt_str(row, "amends")?,
    })
}

impl Tx {
    pub async fn save_request(&mut self, r: &AccessRequest) -> Result<()> {
        let exists = sqlx::query("SELECT id FROM access_requests WHERE id = $1")
            .bind(r.id.clone())
            .fetch_optional(self.conn())
            .await?
            .is_some();
        let q = if exists {
            "UPDATE access_requests SET applicant_id=$2, title=$3, purpose=$4, public_interest=$5, scope_json=$6, period_start=$7, period_end=$8, duration_months=$9, state=$10, created_at=$11, updated_at=$12, details_json=$13, route=$14, amends=$15 WHERE id=$1"
        } else {
            "INSERT INTO access_requests (id, applicant_id, title, purpose, public_interest, scope_json, period_start, period_end, duration_months, state, created_at, updated_at, details_json, route, amends) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15)"
        };
        sqlx::query(q)
            .bind(r.id.clone())
            .bind(r.applicant_id.clone())
            .bind(r.title.clone())
            .bind(r.purpose.clone())
            .bind(r.public_interest.clone())
            .bind(serde_json::to_string(&r.scope).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            .bind(r.period_start.clone())
            .bind(r.period_end.clone())
            .bind(r.duration_months)
            .bind(r.state.as_str())
            .bind(r.created_at.clone())
            .bind(r.updated_at.clone())
            .bind(
                serde_json::to_string(&r.details)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            )
            .bind(r.route.clone())
            .bind(r.amends.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn request_for_update(&mut self, id: &str) -> Result<AccessRequest> {
        let row = sqlx::query("SELECT * FROM access_requests WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.conn())
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("access request {id}")))?;
        request_from(&row)
    }

    pub async fn add_request_event(&mut self, request_id: &str, e: &RequestEvent) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COALESCE(MAX(seq), 0) AS s FROM request_events WHERE request_id = $1",
        )
        .bind(request_id.to_string())
        .fetch_one(self.conn())
        .await?;
        let seq: i64 = row.try_get::<i64, _>("s")? + 1;
        sqlx::query("INSERT INTO request_events (request_id, seq, action, from_state, to_state, actor_id, role, reason, at, reference, details_json) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)")
            .bind(request_id.to_string())
            .bind(seq)
            .bind(e.action.clone())
            .bind(e.from_state.clone())
            .bind(e.to_state.clone())
            .bind(e.actor_id.clone())
            .bind(e.role.clone())
            .bind(e.reason.clone())
            .bind(e.at.clone())
            .bind(e.reference.clone())
            .bind(e.details.as_ref().map(|d| d.to_string()))
            .execute(self.conn())
            .await?;
        Ok(seq)
    }
}

impl Store {
    pub async fn request(&self, id: &str) -> Result<Option<AccessRequest>> {
        let row = sqlx::query("SELECT * FROM access_requests WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(request_from).transpose()
    }

    pub async fn requests(&self) -> Result<Vec<AccessRequest>> {
        let rows = sqlx::query("SELECT * FROM access_requests ORDER BY created_at DESC")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(request_from).collect()
    }

    pub async fn request_events(&self, id: &str) -> Result<Vec<RequestEvent>> {
        let rows = sqlx::query("SELECT * FROM request_events WHERE request_id = $1 ORDER BY seq")
            .bind(id.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok(RequestEvent {
                    seq: row.try_get("seq")?,
                    action: row.try_get("action")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    actor_id: opt_str(row, "actor_id")?,
                    role: row.try_get("role")?,
                    reason: opt_str(row, "reason")?,
                    at: row.try_get("at")?,
                    reference: opt_str(row, "reference")?,
                    details: opt_str(row, "details_json")?
                        .and_then(|d| serde_json::from_str(&d).ok()),
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------- projects

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub request_id: String,
    pub title: String,
    pub created_at: String,
    /// The extraction build the workspace reads (`None` before the first).
    #[serde(default)]
    pub build_id: Option<String>,
    /// Set when an opposition registered after the build concerns it.
    #[serde(default)]
    pub stale_since: Option<String>,
    #[serde(default)]
    pub stale_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractionTable {
    pub project_id: String,
    pub table_name: String,
    pub dataset_id: String,
    pub dataset_version: i64,
    pub columns: Vec<String>,
    pub object_path: String,
    pub row_count: i64,
}

fn project_from(row: &AnyRow) -> Result<Project> {
    Ok(Project {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        title: row.try_get("title")?,
        created_at: row.try_get("created_at")?,
        build_id: opt_str(row, "build_id")?,
        stale_since: opt_str(row, "stale_since")?,
        stale_reason: opt_str(row, "stale_reason")?,
    })
}

impl Tx {
    pub async fn insert_project(
        &mut self,
        p: &Project,
        members: &[String],
        tables: &[ExtractionTable],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO projects (id, request_id, title, created_at) VALUES ($1,$2,$3,$4)",
        )
        .bind(p.id.clone())
        .bind(p.request_id.clone())
        .bind(p.title.clone())
        .bind(p.created_at.clone())
        .execute(self.conn())
        .await?;
        for m in members {
            sqlx::query("INSERT INTO project_members (project_id, user_id) VALUES ($1,$2)")
                .bind(p.id.clone())
                .bind(m.clone())
                .execute(self.conn())
                .await?;
        }
        self.insert_extraction_rows(tables).await
    }
}

impl Tx {
    async fn insert_extraction_rows(&mut self, tables: &[ExtractionTable]) -> Result<()> {
        for t in tables {
            sqlx::query("INSERT INTO extraction_tables (project_id, table_name, dataset_id, dataset_version, columns_json, object_path, row_count) VALUES ($1,$2,$3,$4,$5,$6,$7)")
                .bind(t.project_id.clone())
                .bind(t.table_name.clone())
                .bind(t.dataset_id.clone())
                .bind(t.dataset_version)
                .bind(serde_json::to_string(&t.columns).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                .bind(t.object_path.clone())
                .bind(t.row_count)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Replaces a project's extraction (an amendment) and adds members.
    pub async fn replace_extraction(
        &mut self,
        project_id: &str,
        members: &[String],
        tables: &[ExtractionTable],
    ) -> Result<()> {
        sqlx::query("DELETE FROM extraction_tables WHERE project_id = $1")
            .bind(project_id.to_string())
            .execute(self.conn())
            .await?;
        for m in members {
            let there = sqlx::query(
                "SELECT user_id FROM project_members WHERE project_id = $1 AND user_id = $2",
            )
            .bind(project_id.to_string())
            .bind(m.clone())
            .fetch_optional(self.conn())
            .await?
            .is_some();
            if !there {
                sqlx::query("INSERT INTO project_members (project_id, user_id) VALUES ($1,$2)")
                    .bind(project_id.to_string())
                    .bind(m.clone())
                    .execute(self.conn())
                    .await?;
            }
        }
        self.insert_extraction_rows(tables).await
    }
}

impl Store {
    pub async fn project(&self, id: &str) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(project_from).transpose()
    }

    pub async fn project_for_request(&self, request_id: &str) -> Result<Option<Project>> {
        let row = sqlx::query("SELECT * FROM projects WHERE request_id = $1")
            .bind(request_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(project_from).transpose()
    }

    pub async fn projects_of(&self, user_id: &str) -> Result<Vec<Project>> {
        let rows = sqlx::query("SELECT p.* FROM projects p JOIN project_members m ON m.project_id = p.id WHERE m.user_id = $1 ORDER BY p.created_at DESC")
            .bind(user_id.to_string())
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(project_from).collect()
    }

    pub async fn is_member(&self, project_id: &str, user_id: &str) -> Result<bool> {
        Ok(sqlx::query(
            "SELECT user_id FROM project_members WHERE project_id = $1 AND user_id = $2",
        )
        .bind(project_id.to_string())
        .bind(user_id.to_string())
        .fetch_optional(self.pool())
        .await?
        .is_some())
    }

    pub async fn extraction(&self, project_id: &str) -> Result<Vec<ExtractionTable>> {
        let rows = sqlx::query(
            "SELECT * FROM extraction_tables WHERE project_id = $1 ORDER BY table_name",
        )
        .bind(project_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let cols: String = row.try_get("columns_json")?;
                Ok(ExtractionTable {
                    project_id: row.try_get("project_id")?,
                    table_name: row.try_get("table_name")?,
                    dataset_id: row.try_get("dataset_id")?,
                    dataset_version: row.try_get("dataset_version")?,
                    columns: serde_json::from_str(&cols)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    object_path: row.try_get("object_path")?,
                    row_count: row.try_get("row_count")?,
                })
            })
            .collect()
    }
}

// ---------------------------------------------------------------- releases
// (the life cycle is hdh_model::release; files, reviews and the ledger: output.rs)

pub use hdh_model::release::ReleaseState;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub id: String,
    pub project_id: String,
    pub requester_id: String,
    pub description: String,
    pub state: ReleaseState,
    pub created_at: String,
    /// The checker who released or rejected it, when, and the reason given.
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

fn release_from(row: &AnyRow) -> Result<ReleaseRequest> {
    let state: String = row.try_get("state")?;
    Ok(ReleaseRequest {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        requester_id: row.try_get("requester_id")?,
        description: row.try_get("description")?,
        state: ReleaseState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("release state {state:?}")))?,
        created_at: row.try_get("created_at")?,
        decided_by: opt_str(row, "decided_by")?,
        decided_at: opt_str(row, "decided_at")?,
        decision_reason: opt_str(row, "decision_reason")?,
    })
}

impl Tx {
    pub async fn insert_release(&mut self, r: &ReleaseRequest) -> Result<()> {
        sqlx::query("INSERT INTO releases (id, project_id, requester_id, description, query_sql, state, check_json, object_path, created_at) VALUES ($1,$2,$3,$4,'',$5,'{}','',$6)")
            .bind(r.id.clone())
            .bind(r.project_id.clone())
            .bind(r.requester_id.clone())
            .bind(r.description.clone())
            .bind(r.state.as_str())
            .bind(r.created_at.clone())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Moves a release from `from` to `to` (a conflict if another request
    /// moved it first). `decided` records who released or rejected it and why.
    pub async fn set_release_state(
        &mut self,
        id: &str,
        from: ReleaseState,
        to: ReleaseState,
        decided: Option<(&str, Option<&str>)>,
    ) -> Result<()> {
        let res = match decided {
            Some((by, reason)) => sqlx::query("UPDATE releases SET state = $3, decided_by = $4, decided_at = $5, decision_reason = $6 WHERE id = $1 AND state = $2")
                .bind(id.to_string())
                .bind(from.as_str())
                .bind(to.as_str())
                .bind(by.to_string())
                .bind(now())
                .bind(reason.map(str::to_string))
                .execute(self.conn())
                .await?,
            None => sqlx::query("UPDATE releases SET state = $3 WHERE id = $1 AND state = $2")
                .bind(id.to_string())
                .bind(from.as_str())
                .bind(to.as_str())
                .execute(self.conn())
                .await?,
        };
        if res.rows_affected() != 1 {
            return Err(StoreError::Conflict(format!(
                "release {id} is no longer {}",
                from.as_str()
            )));
        }
        Ok(())
    }
}

impl Store {
    pub async fn release(&self, id: &str) -> Result<Option<ReleaseRequest>> {
        let row = sqlx::query("SELECT * FROM releases WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(release_from).transpose()
    }

    pub async fn releases_of_project(&self, project_id: &str) -> Result<Vec<ReleaseRequest>> {
        let rows =
            sqlx::query("SELECT * FROM releases WHERE project_id = $1 ORDER BY created_at DESC")
                .bind(project_id.to_string())
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(release_from).collect()
    }

    /// Every release past its draft (the output checkers' queue), newest first.
    pub async fn releases_for_checkers(&self) -> Result<Vec<ReleaseRequest>> {
        let rows = sqlx::query(
            "SELECT * FROM releases WHERE state NOT IN ('draft', 'withdrawn') ORDER BY created_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(release_from).collect()
    }
}

// ---------------------------------------------------------------- audit

#[derive(Debug, Clone, Serialize)]
pub struct StoredAuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub project_id: Option<String>,
    pub outcome: Outcome,
    pub client_addr: Option<String>,
    pub details: serde_json::Value,
}

impl Store {
    pub async fn audit_events(&self, f: &crate::AuditFilter) -> Result<Vec<StoredAuditEvent>> {
        let mut sql = String::from("SELECT * FROM audit_events WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        let mut add = |clause: &str, v: &Option<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.trim().is_empty()) {
                args.push(v.trim().to_string());
                sql.push_str(&clause.replace('?', &format!("${}", args.len())));
            }
        };
        add(" AND actor_name = ?", &f.actor);
        add(" AND action LIKE ? || '%'", &f.action);
        add(" AND project_id = ?", &f.project);
        add(" AND outcome = ?", &f.outcome);
        add(" AND at >= ?", &f.since);
        add(" AND at <= ?", &f.until);
        let limit = f.limit.unwrap_or(500).clamp(1, 10_000);
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        // Only fixed clauses are appended; every value is a bound parameter.
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for a in args {
            q = q.bind(a);
        }
        let rows = q.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                let details: String = row.try_get("details_json")?;
                Ok(StoredAuditEvent {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    actor_id: opt_str(row, "actor_id")?,
                    actor_name: opt_str(row, "actor_name")?,
                    role: opt_str(row, "role")?,
                    action: row.try_get("action")?,
                    object_type: row.try_get("object_type")?,
                    object_id: opt_str(row, "object_id")?,
                    project_id: opt_str(row, "project_id")?,
                    outcome: outcome_from(&outcome),
                    client_addr: opt_str(row, "client_addr")?,
                    details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect()
    }
}
