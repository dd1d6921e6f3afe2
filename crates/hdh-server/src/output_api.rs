//! Output control's API: release requests, their files, the checkers'
//! reviews, release, downloads (`crate::output` holds the rules).

use crate::api::{ApiJson, ErrorBody};
use crate::auth::Caller;
use crate::output::{self, FileDecisionInput, FileInput};
use crate::{AppError, AppState, service};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/projects/{id}/releases",
            get(project_releases).post(create_release),
        )
        .route("/api/releases", get(releases))
        .route("/api/releases/{id}", get(release))
        .route("/api/releases/{id}/files", post(add_file))
        .route(
            "/api/releases/{id}/files/{file}",
            get(download).delete(remove_file),
        )
        .route("/api/releases/{id}/files/{file}/preview", get(preview))
        .route("/api/releases/{id}/submit", post(submit))
        .route("/api/releases/{id}/reviews", post(review))
        .route("/api/releases/{id}/release", post(release_now))
        .route("/api/releases/{id}/reject", post(reject))
        .route("/api/releases/{id}/withdraw", post(withdraw))
}

#[derive(Deserialize, ToSchema)]
pub struct ReleaseInput {
    /// What the release is for: its outputs and the question they answer.
    pub description: String,
}

#[derive(Deserialize, ToSchema)]
pub struct ReviewInput {
    /// A decision on every file of the release.
    pub files: Vec<FileDecisionInput>,
}

#[derive(Deserialize, ToSchema)]
pub struct RejectInput {
    pub reason: String,
}

/// The project's release requests.
#[utoipa::path(get, path = "/api/projects/{id}/releases", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn project_releases(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_project(&st, &c, &id).await?;
    Ok(Json(
        json!({ "releases": st.store.releases_of_project(&id).await? }),
    ))
}

/// Starts a release request (a draft) in the project.
#[utoipa::path(post, path = "/api/projects/{id}/releases", params(("id" = String, Path)), request_body = ReleaseInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn create_release(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<ReleaseInput>,
) -> Result<impl IntoResponse, AppError> {
    let r = output::create(&st, &c, &id, &i.description).await?;
    Ok((StatusCode::CREATED, Json(json!({ "release": r }))))
}

/// The output checkers' queue: every release past its draft.
#[utoipa::path(get, path = "/api/releases", responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
pub async fn releases(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "releases": output::queue(&st, &c).await? })))
}

/// A release with its files, each file's automatic check (a verdict per
/// cell for a table), the reviews, and what the caller may do.
#[utoipa::path(get, path = "/api/releases/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn release(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let v = output::view(&st, &c, &id).await?;
    Ok(Json(json!(v)))
}

/// Adds a file (a table computed by the hub from a workspace query, a
/// model's coefficients, a figure, text), or replaces the file of that
/// name; every table of the release is checked again.
#[utoipa::path(post, path = "/api/releases/{id}/files", params(("id" = String, Path)), request_body = FileInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn add_file(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<FileInput>,
) -> Result<impl IntoResponse, AppError> {
    let f = output::add_file(&st, &c, &id, i).await?;
    Ok((StatusCode::CREATED, Json(json!({ "file": f }))))
}

/// Removes a file from a draft or returned release.
#[utoipa::path(delete, path = "/api/releases/{id}/files/{file}", params(("id" = String, Path), ("file" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn remove_file(
    State(st): State<AppState>,
    c: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    output::remove_file(&st, &c, &id, &file).await?;
    Ok(Json(json!({ "removed": file })))
}

/// Downloads a released file (the project's members; audited).
#[utoipa::path(get, path = "/api/releases/{id}/files/{file}", params(("id" = String, Path), ("file" = String, Path)), responses((status = 200, description = "The file, typed by what it is", content((String = "text/csv"), (String = "text/markdown"), (String = "text/plain"), (String = "image/png"), (String = "image/svg+xml"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download(
    State(st): State<AppState>,
    c: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let (f, bytes) = output::file(&st, &c, &id, &file, false).await?;
    Ok(output::file_response(f, bytes, true))
}

/// Reads a file before release, to prepare or review it (members and
/// output checkers; audited).
#[utoipa::path(get, path = "/api/releases/{id}/files/{file}/preview", params(("id" = String, Path), ("file" = String, Path)), responses((status = 200, description = "The file, typed by what it is", content((String = "text/csv"), (String = "text/markdown"), (String = "text/plain"), (String = "image/png"), (String = "image/svg+xml"))), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn preview(
    State(st): State<AppState>,
    c: Caller,
    Path((id, file)): Path<(String, String)>,
) -> Result<impl IntoResponse, AppError> {
    let (f, bytes) = output::file(&st, &c, &id, &file, true).await?;
    Ok(output::file_response(f, bytes, false))
}

/// The author submits the release to the output checkers.
#[utoipa::path(post, path = "/api/releases/{id}/submit", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn submit(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "release": output::submit(&st, &c, &id).await? }),
    ))
}

/// An output checker (independent of the project) approves or returns each file.
#[utoipa::path(post, path = "/api/releases/{id}/reviews", params(("id" = String, Path)), request_body = ReviewInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn review(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<ReviewInput>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "release": output::review(&st, &c, &id, &i.files).await? }),
    ))
}

/// An output checker lets a reviewed release leave.
#[utoipa::path(post, path = "/api/releases/{id}/release", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn release_now(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "release": output::release(&st, &c, &id).await? }),
    ))
}

/// An output checker rejects the release, with the reason.
#[utoipa::path(post, path = "/api/releases/{id}/reject", params(("id" = String, Path)), request_body = RejectInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn reject(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<RejectInput>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "release": output::reject(&st, &c, &id, &i.reason).await? }),
    ))
}

/// The author withdraws the release.
#[utoipa::path(post, path = "/api/releases/{id}/withdraw", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn withdraw(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "release": output::withdraw(&st, &c, &id).await? }),
    ))
}
