//! The JSON API of producer packages: signing key, resumable upload,
//! ingestion status, quality report.

use crate::auth::Caller;
use crate::ingestion::{self, ChunkError, CreateUpload, IngestionStatus, UploadStatus};
use crate::{AppError, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/producer/key", put(register_key))
        .route("/api/deliveries/packages", post(create_upload))
        .route("/api/deliveries/packages/{id}", get(upload))
        .route("/api/deliveries/packages/{id}/files/{path}", put(put_chunk))
        .route("/api/deliveries/packages/{id}/complete", post(complete))
        .route("/api/ingestions/{id}", get(ingestion))
        .route("/api/ingestions/{id}/retry", post(retry))
        .route("/api/datasets/{id}/ingestions", get(dataset_ingestions))
        .route("/api/catalogue/datasets/{id}/quality", get(quality))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProducerKeyInput {
    /// The producer's Ed25519 public key, 64 hexadecimal characters (printed
    /// by `hdh producer keygen`).
    pub public_key: String,
}

fn json_body<T>(
    body: Result<Json<T>, axum::extract::rejection::JsonRejection>,
) -> Result<T, AppError> {
    body.map(|Json(b)| b)
        .map_err(|e| AppError::new(e.status(), "bad_request", e.body_text()))
}

/// Registers the Ed25519 public key the caller (a producer) signs its
/// packages with; packages signed with another key are refused.
#[utoipa::path(put, path = "/api/producer/key", request_body = ProducerKeyInput, responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn register_key(
    State(st): State<AppState>,
    c: Caller,
    body: Result<Json<ProducerKeyInput>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, AppError> {
    let b = json_body(body)?;
    ingestion::register_producer_key(&st, &c, &b.public_key).await?;
    Ok(Json(json!({ "registered": true })))
}

/// Starts a resumable upload of a delivery package (files announced with
/// their size and SHA-256; `manifest.json` and `manifest.sig` required).
#[utoipa::path(post, path = "/api/deliveries/packages", request_body = CreateUpload, responses((status = 201, body = UploadStatus), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn create_upload(
    State(st): State<AppState>,
    c: Caller,
    body: Result<Json<CreateUpload>, axum::extract::rejection::JsonRejection>,
) -> Result<impl IntoResponse, AppError> {
    let b = json_body(body)?;
    let s = ingestion::create_upload(&st, &c, &b).await?;
    Ok((StatusCode::CREATED, Json(s)))
}

/// What the hub has received of an upload (to resume it), and its ingestion.
#[utoipa::path(get, path = "/api/deliveries/packages/{id}", params(("id" = String, Path, description = "upload id")), responses((status = 200, body = UploadStatus), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn upload(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
) -> Result<impl IntoResponse, AppError> {
    Ok(Json(ingestion::get_upload(&st, &c, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OffsetQ {
    /// Where this chunk starts in the file: must equal the bytes the hub has.
    #[param(minimum = 0)]
    pub offset: u64,
}

/// Appends one chunk (at most `chunk_bytes`) to a file of the upload. A
/// chunk at the wrong offset is refused with 409 and the offset the hub
/// expects.
#[utoipa::path(put, path = "/api/deliveries/packages/{id}/files/{path}", params(("id" = String, Path, description = "upload id"), ("path" = String, Path, description = "file name"), OffsetQ), request_body(content_type = "application/octet-stream", content = Vec<u8>), responses((status = 200, body = Object), (status = 409, body = Object), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn put_chunk(
    State(st): State<AppState>,
    Path((id, path)): Path<(String, String)>,
    q: Result<Query<OffsetQ>, axum::extract::rejection::QueryRejection>,
    c: Caller,
    body: Body,
) -> Result<Response, AppError> {
    let Query(q) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let stream = body.into_data_stream();
    match ingestion::put_chunk(&st, &c, &id, &path, q.offset, stream).await {
        Ok(received) => Ok(Json(json!({ "received": received })).into_response()),
        Err(ChunkError::Conflict { received, message }) => Ok((
            StatusCode::CONFLICT,
            Json(json!({ "error": message, "code": "conflict", "received": received })),
        )
            .into_response()),
        Err(ChunkError::Other(e)) => Err(e),
    }
}

/// Checks that every file is complete and starts the ingestion (verify the
/// signature and checksums, validate, pseudonymise, publish) in the
/// background.
#[utoipa::path(post, path = "/api/deliveries/packages/{id}/complete", params(("id" = String, Path, description = "upload id")), responses((status = 202, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn complete(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
) -> Result<impl IntoResponse, AppError> {
    let ingestion = ingestion::complete_upload(&st, &c, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "ingestion": ingestion })),
    ))
}

/// State, progress and report of an ingestion.
#[utoipa::path(get, path = "/api/ingestions/{id}", params(("id" = String, Path, description = "ingestion id")), responses((status = 200, body = IngestionStatus), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn ingestion(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
) -> Result<impl IntoResponse, AppError> {
    Ok(Json(ingestion::get_ingestion(&st, &c, &id).await?))
}

/// Runs a failed ingestion (e.g. interrupted by a restart) again.
#[utoipa::path(post, path = "/api/ingestions/{id}/retry", params(("id" = String, Path, description = "ingestion id")), responses((status = 202, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn retry(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
) -> Result<impl IntoResponse, AppError> {
    let ingestion = ingestion::retry_ingestion(&st, &c, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "ingestion": ingestion })),
    ))
}

/// The caller's ingestions of a dataset, newest first.
#[utoipa::path(get, path = "/api/datasets/{id}/ingestions", params(("id" = String, Path, description = "dataset id")), responses((status = 200, body = Object)), security(("bearer" = [])))]
pub(crate) async fn dataset_ingestions(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
) -> Result<impl IntoResponse, AppError> {
    Ok(Json(
        json!({ "ingestions": ingestion::dataset_ingestions(&st, &c, &id).await? }),
    ))
}

/// The quality report of a dataset's latest version (public, like the
/// catalogue: counts only, small counts suppressed, no identifier).
#[utoipa::path(get, path = "/api/catalogue/datasets/{id}/quality", params(("id" = String, Path, description = "dataset id")), responses((status = 200, body = Object)))]
pub(crate) async fn quality(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let Some(v) = st.store.latest_version(&id).await? else {
        return Err(AppError::not_found(format!(
            "dataset {id} has no published version"
        )));
    };
    let q = st.store.quality(&id, v.version).await?;
    Ok(Json(
        json!({ "dataset_id": id, "version": v.version, "quality": q }),
    ))
}
