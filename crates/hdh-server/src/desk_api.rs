//! The desk's API beyond the request's life cycle: draft autosave,
//! amendments, attachments, committee reviewers and declarations of
//! interests, comments, and the in-app inbox.

use crate::api::{ApiJson, ErrorBody};
use crate::auth::Caller;
use crate::service::{self, RequestInput, request_or_404};
use crate::{AppError, AppState};
use axum::body::Body;
use axum::extract::{Multipart, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hdh_desk::attachment::{self, AttachmentKind};
use hdh_store::Attachment;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Digest;
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/requests/{id}/draft", axum::routing::put(save_draft))
        .route("/api/requests/{id}/amendments", post(amend))
        .route(
            "/api/requests/{id}/attachments",
            get(list_attachments).post(upload_attachment),
        )
        .route(
            "/api/requests/{id}/attachments/{aid}",
            get(download_attachment).delete(delete_attachment),
        )
        .route("/api/requests/{id}/reviewers", get(reviewers).post(assign))
        .route("/api/requests/{id}/interests", post(declare))
        .route("/api/requests/{id}/comments", get(comments).post(comment))
        .route("/api/inbox", get(inbox))
        .route("/api/inbox/read", post(read))
}

fn problems_json(p: &[(String, String)]) -> Value {
    Value::Array(
        p.iter()
            .map(|(f, m)| json!({ "field": f, "message": m }))
            .collect(),
    )
}

/// Saves a draft (or a request sent back) as it is being written: what is
/// given is kept even when incomplete; `problems` lists what must be fixed,
/// per field, before it can be submitted.
#[utoipa::path(put, path = "/api/requests/{id}/draft", params(("id" = String, Path)), request_body = RequestInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn save_draft(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<RequestInput>,
) -> Result<Json<Value>, AppError> {
    let (r, problems) = service::save_draft(&st, &c, &id, i).await?;
    Ok(Json(
        json!({ "request": r, "problems": problems_json(&problems) }),
    ))
}

/// Drafts an amendment of an active project (new variables, new members, an
/// extension): the body is the project's request as amended, with
/// `details.changes` saying what changes and why. It goes through the same
/// review; once authorised, the project's extraction is rebuilt.
#[utoipa::path(post, path = "/api/requests/{id}/amendments", params(("id" = String, Path)), request_body = RequestInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn amend(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<RequestInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let parent = request_or_404(&st, &id).await?;
    let r = service::create_request_for(&st, &c, i, Some(&parent)).await?;
    Ok((StatusCode::CREATED, Json(json!({ "request": r }))))
}

/// The attachments of a request (to whoever may read its file).
#[utoipa::path(get, path = "/api/requests/{id}/attachments", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn list_attachments(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_request(&st, &c, &id).await?;
    Ok(Json(
        json!({ "attachments": st.store.attachments(&id).await? }),
    ))
}

/// Runs the configured virus scanner on an attachment's bytes.
async fn scan(st: &AppState, bytes: &[u8]) -> Result<&'static str, AppError> {
    let Some(cmd) = &st.config.virus_scan else {
        return Ok("not_scanned");
    };
    let Some((prog, args)) = cmd.split_first() else {
        return Ok("not_scanned");
    };
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AppError::internal(format!("virus scanner {prog:?} cannot start: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A scanner that stops reading early (it found something) is fine.
        let _ = stdin.write_all(bytes).await;
        drop(stdin);
    }
    let status = tokio::time::timeout(std::time::Duration::from_secs(120), child.wait())
        .await
        .map_err(|_| AppError::internal("the virus scanner did not answer within 120 s"))?
        .map_err(|e| AppError::internal(format!("virus scanner: {e}")))?;
    match status.code() {
        Some(0) => Ok("clean"),
        Some(1) => Err(AppError::unprocessable(
            "the virus scanner found a threat in this file: it was not stored",
        )),
        other => Err(AppError::internal(format!(
            "the virus scanner failed (exit {other:?}): the file was not stored"
        ))),
    }
}

/// Attaches a document (multipart: `kind` = protocol, data_management_plan or
/// other; `file`). PDF or OpenDocument text only, decided by the content; a
/// file whose extension disagrees with its content is refused. Stored with
/// its SHA-256 after the virus scan.
#[utoipa::path(post, path = "/api/requests/{id}/attachments", params(("id" = String, Path)), request_body(content_type = "multipart/form-data", content = Object), responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn upload_attachment(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let mp = mp.map_err(|e| AppError::bad_request(e.body_text()))?;
    let (kind, name, bytes, _) = read_attachment_form(&st, mp).await?;
    let a = attach(&st, &c, &id, kind, name, bytes).await?;
    Ok((StatusCode::CREATED, Json(json!({ "attachment": a }))))
}

/// Reads an attachment form (multipart `kind`, `file`, and an optional `csrf`).
pub(crate) async fn read_attachment_form(
    st: &AppState,
    mut mp: Multipart,
) -> Result<(AttachmentKind, String, Vec<u8>, Option<String>), AppError> {
    let mut kind = None;
    let mut csrf = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    let limit = st.config.attachment_max_bytes;
    while let Some(mut field) = mp
        .next_field()
        .await
        .map_err(|e| AppError::bad_request(format!("multipart body: {e}")))?
    {
        match field.name() {
            Some("kind") => {
                kind = Some(
                    field
                        .text()
                        .await
                        .map_err(|e| AppError::bad_request(format!("field kind: {e}")))?,
                )
            }
            Some("csrf") => csrf = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().unwrap_or("").to_string();
                let mut bytes = Vec::new();
                while let Some(chunk) = field
                    .chunk()
                    .await
                    .map_err(|e| AppError::bad_request(format!("field file: {e}")))?
                {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > limit {
                        return Err(service::invalid_fields(vec![(
                            "file".into(),
                            format!("{name}: over the limit of {limit} bytes"),
                        )]));
                    }
                }
                file = Some((name, bytes));
            }
            _ => {}
        }
    }
    let kind = AttachmentKind::parse(kind.as_deref().unwrap_or("other"))
        .map_err(|e| service::invalid_fields(vec![("kind".into(), e.to_string())]))?;
    let Some((name, bytes)) = file.filter(|(n, b)| !n.is_empty() || !b.is_empty()) else {
        return Err(service::invalid_fields(vec![(
            "file".into(),
            "choose a file".into(),
        )]));
    };
    Ok((kind, name, bytes, csrf))
}

/// Checks, scans and stores an attachment of the caller's draft.
pub(crate) async fn attach(
    st: &AppState,
    c: &Caller,
    id: &str,
    kind: AttachmentKind,
    name: String,
    bytes: Vec<u8>,
) -> Result<Attachment, AppError> {
    let (st, c, id) = (st.clone(), c, id.to_string());
    let limit = st.config.attachment_max_bytes;
    let r = request_or_404(&st, &id).await?;
    if r.applicant_id != c.user.id {
        return Err(service::deny(
            &st,
            c,
            "request.attach",
            "access_request",
            Some(&id),
            "only the applicant attaches documents to a request".into(),
        )
        .await);
    }
    if !r.state.is_editable() {
        return Err(AppError::conflict(format!(
            "request {id} is {}: documents are attached to a draft or a request sent back",
            r.state
        )));
    }
    let safe_name: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|ch| !ch.is_control())
        .take(200)
        .collect();
    let doc = match attachment::check(&safe_name, &bytes, limit) {
        Ok(d) => d,
        Err(e) => {
            st.store
                .audit(
                    &c.event("request.attach", "access_request")
                        .object(&id)
                        .outcome(hdh_model::Outcome::Failed)
                        .details(json!({ "error": e.to_string() })),
                )
                .await?;
            return Err(service::invalid_fields(vec![(
                "file".into(),
                e.to_string(),
            )]));
        }
    };
    let scan = scan(&st, &bytes).await?;
    let aid = uuid::Uuid::now_v7().to_string();
    let object_path = format!("desk/{id}/{aid}.{}", doc.extension());
    let a = Attachment {
        id: aid,
        request_id: id.clone(),
        kind: kind.as_str().into(),
        filename: safe_name,
        media_type: doc.media_type().into(),
        size: bytes.len() as i64,
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        object_path: object_path.clone(),
        scan: scan.into(),
        uploaded_by: c.user.id.clone(),
        uploaded_at: hdh_store::now(),
    };
    st.lake.put_bytes(&object_path, bytes).await?;
    let saved = async {
        let mut tx = st.store.begin().await?;
        tx.insert_attachment(&a).await?;
        tx.audit(
            &c.event("request.attach", "access_request")
                .object(&id)
                .details(json!({ "attachment": a.id, "kind": a.kind, "sha256": a.sha256, "size": a.size, "scan": a.scan })),
        )
        .await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(e) = saved {
        let _ = st.lake.delete_prefix(&object_path).await;
        return Err(e);
    }
    Ok(a)
}

/// Downloads an attachment (whoever may read the request's file).
#[utoipa::path(get, path = "/api/requests/{id}/attachments/{aid}", params(("id" = String, Path), ("aid" = String, Path)), responses((status = 200, description = "the document"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn download_attachment(
    State(st): State<AppState>,
    c: Caller,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Response, AppError> {
    service::view_request(&st, &c, &id).await?;
    let a = st
        .store
        .attachment(&aid)
        .await?
        .filter(|a| a.request_id == id)
        .ok_or_else(|| AppError::not_found(format!("attachment {aid} of request {id}")))?;
    let bytes = st.lake.get_bytes(&a.object_path).await?;
    st.store
        .audit(
            &c.event("request.attachment.download", "access_request")
                .object(&id)
                .details(json!({ "attachment": a.id })),
        )
        .await?;
    let ascii: String = a
        .filename
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || "._-".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, a.media_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{ascii}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// Removes an attachment from a draft (the applicant).
#[utoipa::path(delete, path = "/api/requests/{id}/attachments/{aid}", params(("id" = String, Path), ("aid" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
pub async fn delete_attachment(
    State(st): State<AppState>,
    c: Caller,
    Path((id, aid)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    let r = request_or_404(&st, &id).await?;
    let a = st
        .store
        .attachment(&aid)
        .await?
        .filter(|a| a.request_id == id)
        .ok_or_else(|| AppError::not_found(format!("attachment {aid} of request {id}")))?;
    if r.applicant_id != c.user.id {
        return Err(service::deny(
            &st,
            &c,
            "request.detach",
            "access_request",
            Some(&id),
            "only the applicant removes documents".into(),
        )
        .await);
    }
    if !r.state.is_editable() {
        return Err(AppError::conflict(format!(
            "request {id} is {}: its documents are part of the reviewed file",
            r.state
        )));
    }
    let mut tx = st.store.begin().await?;
    tx.delete_attachment(&aid).await?;
    tx.audit(
        &c.event("request.detach", "access_request")
            .object(&id)
            .details(json!({ "attachment": aid })),
    )
    .await?;
    tx.commit().await?;
    let _ = st.lake.delete_prefix(&a.object_path).await;
    Ok(Json(json!({ "deleted": aid })))
}

/// The committee members assigned to a request and their declarations.
#[utoipa::path(get, path = "/api/requests/{id}/reviewers", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn reviewers(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_request(&st, &c, &id).await?;
    Ok(Json(json!({ "reviewers": reviewer_rows(&st, &id).await? })))
}

pub(crate) async fn reviewer_rows(st: &AppState, id: &str) -> Result<Vec<Value>, AppError> {
    let mut out = Vec::new();
    for x in st.store.reviewers(id).await? {
        let u = st.store.user(&x.user_id).await?;
        out.push(json!({
            "username": u.as_ref().map(|u| u.username.clone()),
            "name": u.as_ref().map(|u| u.display_name.clone()),
            "assigned_at": x.assigned_at,
            "declaration": x.declaration,
            "declared_at": x.declared_at,
        }));
    }
    Ok(out)
}

#[derive(Deserialize, ToSchema)]
pub struct AssignInput {
    /// A committee member's user name.
    pub username: String,
}

/// The secretariat assigns a committee member to review a request.
#[utoipa::path(post, path = "/api/requests/{id}/reviewers", params(("id" = String, Path)), request_body = AssignInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn assign(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<AssignInput>,
) -> Result<Json<Value>, AppError> {
    crate::desk::assign_reviewer(&st, &c, &id, i.username.trim()).await?;
    Ok(Json(json!({ "reviewers": reviewer_rows(&st, &id).await? })))
}

#[derive(Deserialize, ToSchema)]
pub struct InterestsInput {
    /// `true`: I have a conflict of interest (I am recused).
    pub conflict: bool,
    /// Required with a conflict: what it is.
    pub note: Option<String>,
}

/// An assigned reviewer declares their interests, before reading the file.
#[utoipa::path(post, path = "/api/requests/{id}/interests", params(("id" = String, Path)), request_body = InterestsInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn declare(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<InterestsInput>,
) -> Result<Json<Value>, AppError> {
    let x = crate::desk::declare_interests(&st, &c, &id, i.conflict, i.note).await?;
    Ok(Json(
        json!({ "declaration": x.declaration, "declared_at": x.declared_at }),
    ))
}

/// The comments on a request's file.
#[utoipa::path(get, path = "/api/requests/{id}/comments", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
pub async fn comments(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    service::view_request(&st, &c, &id).await?;
    Ok(Json(json!({ "comments": comment_rows(&st, &id).await? })))
}

pub(crate) async fn comment_rows(st: &AppState, id: &str) -> Result<Vec<Value>, AppError> {
    let mut out = Vec::new();
    for k in st.store.comments(id).await? {
        let u = st.store.user(&k.author_id).await?;
        out.push(json!({
            "author": u.map(|u| u.display_name),
            "role": k.role,
            "body": k.body,
            "at": k.at,
        }));
    }
    Ok(out)
}

#[derive(Deserialize, ToSchema)]
pub struct CommentInput {
    pub body: String,
}

/// Comments on a request's file (anyone who may read it).
#[utoipa::path(post, path = "/api/requests/{id}/comments", params(("id" = String, Path)), request_body = CommentInput, responses((status = 201, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
pub async fn comment(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<CommentInput>,
) -> Result<(StatusCode, Json<Value>), AppError> {
    let k = crate::desk::comment(&st, &c, &id, &i.body).await?;
    Ok((StatusCode::CREATED, Json(json!({ "comment": k }))))
}

/// The caller's inbox: every notification, newest first.
#[utoipa::path(get, path = "/api/inbox", responses((status = 200, body = Object), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn inbox(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({
        "notifications": st.store.notifications(&c.user.id).await?,
        "unread": st.store.unread_notifications(&c.user.id).await?,
    })))
}

#[derive(Deserialize, ToSchema)]
pub struct ReadInput {
    /// One notification; all of them when omitted.
    pub id: Option<String>,
}

/// Marks notifications read.
#[utoipa::path(post, path = "/api/inbox/read", request_body = ReadInput, responses((status = 200, body = Object), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
pub async fn read(
    State(st): State<AppState>,
    c: Caller,
    ApiJson(i): ApiJson<ReadInput>,
) -> Result<Json<Value>, AppError> {
    st.store.mark_read(&c.user.id, i.id.as_deref()).await?;
    Ok(Json(
        json!({ "unread": st.store.unread_notifications(&c.user.id).await? }),
    ))
}
