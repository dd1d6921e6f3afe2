//! The workspace's API beyond running a query: the extraction's build jobs
//! and report, refresh, the project's schema, query history and
//! cancellation, Flight SQL tokens, and the opposition register.

use crate::api::{ApiJson, ErrorBody};
use crate::auth::Caller;
use crate::provisioning::PersonRef;
use crate::service;
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hdh_model::Role;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/projects/{id}/extraction", get(extraction))
        .route("/api/projects/{id}/refresh", post(refresh))
        .route("/api/projects/{id}/schema", get(schema))
        .route("/api/projects/{id}/queries", get(queries))
        .route("/api/projects/{id}/queries/{qid}/cancel", post(cancel))
        .route("/api/projects/{id}/tokens", get(tokens).post(create_token))
        .route("/api/projects/{id}/tokens/{tid}", delete(revoke_token))
        .route("/api/oppositions", get(oppositions).post(add_opposition))
}

/// The project's extraction: the build its workspace reads (what it was
/// built from, rows, persons and period per table), whether a refresh is
/// due, and every build job with its progress.
#[utoipa::path(get, path = "/api/projects/{id}/extraction", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn extraction(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (p, _) = service::view_project(&st, &c, &id).await?;
    Ok(Json(extraction_json(&st, &p).await?))
}

pub async fn extraction_json(st: &AppState, p: &hdh_store::Project) -> Result<Value, AppError> {
    let builds = st.store.builds_of_project(&p.id).await?;
    // The project is read again after its jobs: a job seen done has its
    // project row already updated (both are written in one transaction), so
    // a caller never sees a finished refresh with the refresh still due.
    let fresh = st.store.project(&p.id).await?;
    let p = fresh.as_ref().unwrap_or(p);
    let current = builds
        .iter()
        .find(|b| Some(&b.id) == p.build_id.as_ref())
        .cloned();
    let jobs: Vec<Value> = builds
        .iter()
        .map(|b| {
            json!({
                "id": b.id, "reason": b.reason, "state": b.state, "progress": b.progress,
                "error": b.error, "created_at": b.created_at, "finished_at": b.finished_at,
            })
        })
        .collect();
    // The project sees its rows, persons and period; rows removed by
    // oppositions stay in the hub's records.
    let report = current.as_ref().map(|b| {
        let mut r = b.report.clone();
        if let Some(tables) = r.get_mut("tables").and_then(Value::as_array_mut) {
            for t in tables {
                if let Some(o) = t.as_object_mut() {
                    o.remove("opposed_rows");
                }
            }
        }
        r
    });
    let provenance = current.as_ref().map(|b| {
        json!({
            "build": b.id,
            "built_at": b.finished_at,
            "register_seq": b.register_seq,
            "register": b.spec.get("register"),
            "criteria": b.spec.get("criteria"),
            "period": [b.spec.get("period_start"), b.spec.get("period_end")],
            "sources": b.spec.get("sources").and_then(Value::as_array).map(|s| s.iter().map(|t| json!({
                "dataset": t.get("dataset_id"), "version": t.get("dataset_version"),
                "table": t.get("name"), "sha256": t.get("sha256"),
            })).collect::<Vec<_>>()),
            "link_tables": b.spec.get("link_tables").and_then(Value::as_array).map(|s| s.iter().map(|l| json!({
                "name": l.get("name"), "version": l.get("version"),
                "left_dataset": l.get("left_dataset"), "right_dataset": l.get("right_dataset"),
                "sha256": l.get("sha256"), "persons": l.get("persons"),
            })).collect::<Vec<_>>()).unwrap_or_default(),
        })
    });
    Ok(json!({
        "project": p.id,
        "build": p.build_id,
        "refresh_due": p.stale_since.is_some(),
        "stale_since": p.stale_since,
        "stale_reason": p.stale_reason,
        "report": report,
        "provenance": provenance,
        "jobs": jobs,
    }))
}

/// Rebuilds the extraction from the request's terms and the opposition
/// register as it is now (a member, the authority or an administrator).
#[utoipa::path(post, path = "/api/projects/{id}/refresh", params(("id" = String, Path)), responses((status = 202, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn refresh(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let b = crate::provisioning::refresh(&st, &c, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job": { "id": b.id, "state": b.state } })),
    ))
}

/// The project's tables and columns (types and descriptions from the
/// catalogue) and its scratch tables.
#[utoipa::path(get, path = "/api/projects/{id}/schema", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn schema(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (_, tables) = service::view_project(&st, &c, &id).await?;
    Ok(Json(schema_json(&st, &id, &tables).await?))
}

pub async fn schema_json(
    st: &AppState,
    project_id: &str,
    tables: &[hdh_store::ExtractionTable],
) -> Result<Value, AppError> {
    let mut out = Vec::new();
    for t in tables {
        let source = st
            .store
            .tables(&t.dataset_id, t.dataset_version)
            .await?
            .into_iter()
            .find(|s| s.table_name == t.table_name);
        let columns: Vec<Value> = t
            .columns
            .iter()
            .map(|c| {
                let f = source
                    .as_ref()
                    .and_then(|s| s.schema.fields.iter().find(|f| &f.name == c));
                json!({
                    "name": c,
                    "type": f.map(|f| serde_json::to_value(f.field_type).unwrap_or_default()),
                    "description": f.and_then(|f| f.description.clone().or(f.title.clone())),
                    "person": f.is_some_and(|f| f.is_person_identifier()),
                })
            })
            .collect();
        out.push(json!({
            "table": t.table_name,
            "dataset": t.dataset_id,
            "version": t.dataset_version,
            "description": source.as_ref().map(|s| s.description.clone()),
            "rows": t.row_count,
            "columns": columns,
        }));
    }
    let scratch = st.store.scratch_tables(project_id).await?;
    Ok(json!({ "tables": out, "scratch": scratch }))
}

/// The caller's queries in the project, newest first (the query log).
#[utoipa::path(get, path = "/api/projects/{id}/queries", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn queries(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_project(&st, &c, &id).await?;
    let q = st.store.queries(&id, Some(&c.user.id), 200).await?;
    Ok(Json(json!({ "queries": q })))
}

/// Cancels one of the caller's queries while it runs.
#[utoipa::path(post, path = "/api/projects/{id}/queries/{qid}/cancel", params(("id" = String, Path), ("qid" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn cancel(
    State(st): State<AppState>,
    c: Caller,
    Path((id, qid)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    if crate::sandbox::cancel(&st, &c, &id, &qid).await? {
        Ok(Json(json!({ "cancelled": qid })))
    } else {
        Err(AppError::not_found(format!(
            "no query {qid} of yours is running in project {id}"
        )))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct TokenInput {
    /// What the token is for ("laptop", "notebook").
    pub label: String,
    /// Days of validity (at most the hub's maximum, 90 by default).
    #[serde(default)]
    pub days: Option<i64>,
}

/// The caller's Flight SQL tokens for the project (never the secret).
#[utoipa::path(get, path = "/api/projects/{id}/tokens", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn tokens(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_project(&st, &c, &id).await?;
    Ok(Json(
        json!({ "tokens": st.store.tokens_of(&c.user.id, &id).await? }),
    ))
}

/// Creates a Flight SQL token for the caller in the project; the secret is
/// shown once.
#[utoipa::path(post, path = "/api/projects/{id}/tokens", params(("id" = String, Path)), request_body = TokenInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_token(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<TokenInput>,
) -> Result<impl IntoResponse, AppError> {
    let (t, secret) = crate::tokens::create(&st, &c, &id, &i.label, i.days).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "token": t, "secret": secret })),
    ))
}

/// Revokes one of the caller's tokens.
#[utoipa::path(delete, path = "/api/projects/{id}/tokens/{tid}", params(("id" = String, Path), ("tid" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn revoke_token(
    State(st): State<AppState>,
    c: Caller,
    Path((id, tid)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    crate::tokens::revoke(&st, &c, &id, &tid).await?;
    Ok(Json(json!({ "revoked": tid })))
}

#[derive(Deserialize, ToSchema)]
pub struct OppositionInput {
    /// The person's level-1 pseudonym (32 hex characters), turned into
    /// level 2 at once and never stored; or give `level2`.
    #[serde(default)]
    pub level1: Option<String>,
    /// The person's level-2 pseudonym under the hub's active key.
    #[serde(default)]
    pub level2: Option<String>,
    /// `all` (every research use, the default) or a dataset id.
    #[serde(default)]
    pub scope: Option<String>,
    /// The day the person objected (YYYY-MM-DD; default today).
    #[serde(default)]
    pub objected_on: Option<String>,
}

/// Adds an entry to the opposition register (administrator); extractions it
/// concerns are flagged for refresh.
#[utoipa::path(post, path = "/api/oppositions", request_body = OppositionInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_opposition(
    State(st): State<AppState>,
    c: Caller,
    ApiJson(i): ApiJson<OppositionInput>,
) -> Result<impl IntoResponse, AppError> {
    require_admin(&st, &c, "opposition.add").await?;
    let person = match (i.level1, i.level2) {
        (Some(l1), None) => PersonRef::Level1(l1),
        (None, Some(l2)) => PersonRef::Level2(l2),
        _ => {
            return Err(AppError::unprocessable(
                "give the person as exactly one of level1 or level2",
            ));
        }
    };
    let (o, flagged) = crate::provisioning::add_opposition(
        &st,
        c.event("opposition.add", "opposition"),
        person,
        i.scope.as_deref().unwrap_or("all"),
        i.objected_on.as_deref(),
        "api",
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "opposition": o, "flagged_projects": flagged })),
    ))
}

/// The opposition register (administrator): entries without their
/// pseudonyms.
#[utoipa::path(get, path = "/api/oppositions", responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn oppositions(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    require_admin(&st, &c, "opposition.list").await?;
    let entries = st.store.oppositions().await?;
    st.store
        .audit(&c.event("opposition.list", "opposition"))
        .await?;
    Ok(Json(
        json!({ "count": entries.len(), "oppositions": entries }),
    ))
}

async fn require_admin(st: &AppState, c: &Caller, action: &str) -> Result<(), AppError> {
    if c.has(Role::Admin) {
        return Ok(());
    }
    Err(service::deny(
        st,
        c,
        action,
        "opposition",
        None,
        "the opposition register is kept by administrators".into(),
    )
    .await)
}
