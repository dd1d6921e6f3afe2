//! The JSON API. Every action of the pages is here too; the OpenAPI document
//! is served at `/api/openapi.json`.

use crate::auth::Caller;
use crate::service::{self, DeliveryFile, RequestInput};
use crate::{AppError, AppState};
use axum::extract::{Multipart, Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use hdh_model::RequestAction;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{OpenApi, ToSchema};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/openapi.json", get(openapi))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/datasets", get(datasets))
        .route("/api/datasets/{id}", get(dataset))
        .route("/api/datasets/{id}/deliveries", post(deliver))
        .route("/api/search", get(search))
        .route("/api/catalogue/datasets/{id}", get(catalogue_dataset))
        .route(
            "/api/catalogue/datasets/{id}/tables/{table}",
            get(catalogue_table),
        )
        .route(
            "/api/catalogue/datasets/{id}/tables/{table}/variables/{variable}",
            get(catalogue_variable),
        )
        .route("/api/catalogue/diagram", get(catalogue_diagram))
        .route("/api/catalogue/nomenclatures", get(catalogue_nomenclatures))
        .route(
            "/api/catalogue/nomenclatures/{name}",
            get(catalogue_nomenclature),
        )
        .route("/api/requests", get(list_requests).post(create_request))
        .route("/api/requests/{id}", get(get_request))
        .route("/api/requests/{id}/actions", post(act))
        .route("/api/projects", get(my_projects))
        .route("/api/projects/{id}", get(project))
        .route("/api/projects/{id}/query", post(query))
        .route("/api/audit", get(audit))
        .merge(crate::delivery_api::routes())
        .merge(crate::desk::routes())
        .merge(crate::desk_api::routes())
        .merge(crate::workspace_api::routes())
        .merge(crate::output_api::routes())
        .merge(crate::alerts::routes())
        .merge(crate::linkage::routes())
        .merge(crate::registry::routes())
        .merge(crate::account::routes())
        .merge(crate::terms::routes())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "hdh — health data hub API", description = "Every action of the hub's pages, as JSON. Authenticate with POST /api/login and send `Authorization: Bearer <token>`."),
    paths(login, logout, me, crate::terms::api_terms, crate::terms::api_accept, crate::account::api_sessions, crate::account::api_end, crate::account::api_end_all, crate::account::api_password, crate::account::api_accounts, crate::account::api_review, crate::account::api_suspend, datasets, dataset, deliver, crate::delivery_api::register_key, crate::delivery_api::create_upload, crate::delivery_api::upload, crate::delivery_api::put_chunk, crate::delivery_api::complete, crate::delivery_api::ingestion, crate::delivery_api::retry, crate::delivery_api::dataset_ingestions, crate::delivery_api::quality, search, catalogue_dataset, catalogue_table, catalogue_variable, catalogue_diagram, catalogue_nomenclatures, catalogue_nomenclature, list_requests, create_request, get_request, act, crate::desk_api::save_draft, crate::desk_api::amend, crate::desk_api::list_attachments, crate::desk_api::upload_attachment, crate::desk_api::download_attachment, crate::desk_api::delete_attachment, crate::desk_api::reviewers, crate::desk_api::assign, crate::desk_api::declare, crate::desk_api::comments, crate::desk_api::comment, crate::desk_api::inbox, crate::desk_api::read, crate::desk::queue, crate::desk::statistics_json, crate::registry::registry_json, crate::registry::registry_csv, crate::registry::registry_atom, my_projects, project, query, crate::workspace_api::extraction, crate::workspace_api::refresh, crate::workspace_api::schema, crate::workspace_api::queries, crate::workspace_api::cancel, crate::workspace_api::tokens, crate::workspace_api::create_token, crate::workspace_api::revoke_token, crate::workspace_api::oppositions, crate::workspace_api::add_opposition, crate::output_api::project_releases, crate::output_api::create_release, crate::output_api::releases, crate::output_api::release, crate::output_api::add_file, crate::output_api::remove_file, crate::output_api::download, crate::output_api::preview, crate::output_api::submit, crate::output_api::review, crate::output_api::release_now, crate::output_api::reject, crate::output_api::withdraw, crate::alerts::api_list, crate::alerts::api_act, crate::linkage::api_list, crate::linkage::api_create, crate::linkage::api_get, crate::linkage::api_label, crate::linkage::api_publish, audit),
    components(schemas(crate::terms::AcceptInput, crate::account::SuspendInput, crate::account::EndAllInput, crate::account::PasswordInput, crate::delivery_api::ProducerKeyInput, crate::ingestion::CreateUpload, crate::ingestion::UploadFileInput, crate::ingestion::UploadStatus, crate::ingestion::FileStatus, crate::ingestion::IngestionStatus, crate::ingestion::Progress, LoginInput, RequestInput, ScopeItemDoc, ActionInput, ActionName, QueryInput, crate::output_api::ReleaseInput, crate::output_api::ReviewInput, crate::output_api::RejectInput, crate::output::FileInput, crate::output::TableInput, crate::output::FileDecisionInput, crate::alerts::AlertActionInput, crate::linkage::LinkageInput, crate::linkage::LinkageSide, crate::linkage::LabelInput, ErrorBody)),
    modifiers(&BearerAuth, &CommonErrors)
)]
pub struct ApiDoc;

struct BearerAuth;
impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let comps = openapi.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds to every operation the error answers the API gives for it: 401 (and 403) where
/// a bearer token is needed, 400/415/422 where a body is parsed, 404 where the
/// path names an object. They all carry the same JSON error envelope.
struct CommonErrors;
impl utoipa::Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error = |what: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(what)
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                let responses = &mut op.responses.responses;
                let mut add = |code: &str, what: &str| {
                    responses
                        .entry(code.to_string())
                        .or_insert_with(|| error(what));
                };
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "no valid bearer token");
                    add(
                        "403",
                        "the caller may not do this, or has not accepted the terms of use yet (terms_not_accepted)",
                    );
                }
                if let Some(body) = &op.request_body {
                    add("400", "the body cannot be read");
                    add("422", "the body is not valid for this operation");
                    if body.content.contains_key("application/json") {
                        add("415", "the body is not sent as application/json");
                    }
                }
                let has = |place: ParameterIn| {
                    op.parameters
                        .as_ref()
                        .is_some_and(|ps| ps.iter().any(|p| p.parameter_in == place))
                };
                let (path_params, query_params) = (has(ParameterIn::Path), has(ParameterIn::Query));
                let responses = &mut op.responses.responses;
                if path_params {
                    responses
                        .entry("404".into())
                        .or_insert_with(|| error("no such object"));
                }
                if query_params {
                    responses
                        .entry("400".into())
                        .or_insert_with(|| error("a query parameter is not valid"));
                }
            }
        }
    }
}

/// A JSON body whose rejections (wrong content type, malformed JSON, missing
/// fields) are answered in the API's JSON error envelope.
pub struct ApiJson<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rej) => {
                let status = rej.status();
                let code = match status.as_u16() {
                    415 => "unsupported_media_type",
                    422 => "invalid",
                    _ => "bad_request",
                };
                Err(AppError::new(status, code, rej.body_text()))
            }
        }
    }
}

/// Query parameters whose rejections are answered in the JSON error envelope.
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(ApiQuery(v)),
            Err(rej) => Err(AppError::bad_request(rej.body_text())),
        }
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

/// `{"error": {"code": …, "message": …, "details": …}}`
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorBody {
    #[schema(value_type = Object)]
    error: Value,
}

/// One table of a request's scope: the exact columns needed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ScopeItemDoc {
    pub dataset_id: String,
    pub table: String,
    pub columns: Vec<String>,
    /// The dataset version; the latest when omitted (the request then pins it).
    pub version: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginInput {
    pub username: String,
    pub password: String,
}

/// Signs in; returns a bearer token.
#[utoipa::path(post, path = "/api/login", request_body = LoginInput, responses((status = 200, description = "token", body = Object), (status = 401, body = ErrorBody), (status = 403, description = "the account is suspended", body = ErrorBody), (status = 429, description = "too many failed sign-ins for this name or from this address: try again later", body = ErrorBody)))]
async fn login(
    State(st): State<AppState>,
    origin: crate::auth::Origin,
    ApiJson(i): ApiJson<LoginInput>,
) -> Result<Json<Value>, AppError> {
    let s = crate::auth::sign_in(&st, &i.username, &i.password, origin).await?;
    let terms = &st.config.terms;
    Ok(Json(json!({
        "token": s.token,
        "user": s.user,
        "terms": { "version": terms.version, "accepted": terms.accepted_by(&s.user) },
    })))
}

/// Ends the session of the token used.
#[utoipa::path(post, path = "/api/logout", responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn logout(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    crate::auth::sign_out(&st, &c).await?;
    Ok(Json(json!({ "signed_out": true })))
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/me", responses((status = 200, body = Object), (status = 401, body = ErrorBody)), security(("bearer" = [])))]
async fn me(c: Caller) -> Json<Value> {
    Json(json!({ "user": c.user }))
}

/// The catalogue: every dataset (public).
#[utoipa::path(get, path = "/api/datasets", responses((status = 200, body = Object)))]
async fn datasets(State(st): State<AppState>) -> Result<Json<Value>, AppError> {
    let mut out = Vec::new();
    for d in st.store.datasets().await? {
        let v = st.store.latest_version(&d.id).await?;
        out.push(json!({ "dataset": d, "latest_version": v }));
    }
    Ok(Json(json!({ "datasets": out })))
}

/// One dataset with its versions and the tables and variables of the latest.
#[utoipa::path(get, path = "/api/datasets/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
async fn dataset(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let d = st
        .store
        .dataset(&id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("dataset {id}")))?;
    let versions = st.store.versions(&id).await?;
    let tables = match versions.first() {
        Some(v) => st.store.tables(&id, v.version).await?,
        None => vec![],
    };
    Ok(Json(
        json!({ "dataset": d, "versions": versions, "tables": tables }),
    ))
}

/// Delivers a new version (multipart: `T.csv` + `T.schema.json` per table, optional `dataset.json`).
/// 200 with `accepted: true` and the version, or 422 with the validation report.
#[utoipa::path(post, path = "/api/datasets/{id}/deliveries", params(("id" = String, Path)), request_body(content_type = "multipart/form-data", content = Object), responses((status = 200, body = Object), (status = 422, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn deliver(
    State(st): State<AppState>,
    Path(id): Path<String>,
    c: Caller,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<impl IntoResponse, AppError> {
    let mp = mp.map_err(|e| AppError::bad_request(e.body_text()))?;
    let (upload, fields) = read_upload(&st, mp).await?;
    c.check_csrf(fields.get("csrf").map(String::as_str))?;
    let rep = service::deliver(&st, &c, &id, &upload.files).await?;
    let status = if rep.accepted {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Json(json!({ "delivery": rep }))))
}

/// Reads a multipart body: files are spooled to a temporary directory (bounded
/// memory whatever their size); small text fields are returned by name.
pub async fn read_upload(
    st: &AppState,
    mut mp: Multipart,
) -> Result<(service::Upload, std::collections::HashMap<String, String>), AppError> {
    use tokio::io::AsyncWriteExt;
    let mut upload = service::Upload::new(st)?;
    let mut fields = std::collections::HashMap::new();
    let bad = |e: axum::extract::multipart::MultipartError| {
        AppError::bad_request(format!("multipart body: {e}"))
    };
    while let Some(mut field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        match field.file_name().map(str::to_string) {
            Some(file_name) if !file_name.is_empty() => {
                let base = file_name
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let safe = base
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    && !base.starts_with('.');
                if !safe || base.len() > 128 {
                    return Err(AppError::unprocessable(format!(
                        "file name {file_name:?}: use letters, digits, '.', '_' or '-'"
                    )));
                }
                if upload.files.iter().any(|f| f.name == base) {
                    return Err(AppError::unprocessable(format!("file {base} sent twice")));
                }
                let path = upload.dir.join(&base);
                let mut out = tokio::fs::File::create(&path)
                    .await
                    .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
                while let Some(chunk) = field.chunk().await.map_err(bad)? {
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| AppError::internal(format!("{}: {e}", path.display())))?;
                }
                out.flush()
                    .await
                    .map_err(|e| AppError::internal(e.to_string()))?;
                upload.files.push(DeliveryFile { name: base, path });
            }
            _ => {
                let text = field.text().await.map_err(bad)?;
                if text.len() <= 4096 {
                    fields.insert(name, text);
                }
            }
        }
    }
    Ok((upload, fields))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQ {
    /// Words (French or English; accents, case and small typos do not matter).
    q: Option<String>,
    /// Only these kinds (comma-separated): dataset, table, variable, code.
    kind: Option<String>,
    /// Only these producers (comma-separated).
    producer: Option<String>,
    /// Only these products (comma-separated), e.g. `DCIR`.
    product: Option<String>,
    /// Only these EU data themes (comma-separated), e.g. `HEAL`.
    theme: Option<String>,
    /// Only these coding systems (comma-separated), e.g. `ICD-10`.
    coding_system: Option<String>,
    /// Only the codes of this nomenclature.
    nomenclature: Option<String>,
    /// Page size (1 to 100; default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Hits to skip (0 to 10 000).
    #[param(minimum = 0, maximum = 10000)]
    offset: Option<i64>,
}

/// Checks an optional bounded query parameter.
fn bounded(name: &str, v: Option<i64>, min: i64, max: i64, default: i64) -> Result<i64, AppError> {
    match v {
        None => Ok(default),
        Some(v) if (min..=max).contains(&v) => Ok(v),
        Some(v) => Err(AppError::bad_request(format!(
            "{name} {v}: between {min} and {max}"
        ))),
    }
}

/// Searches the catalogue (datasets, tables, variables, nomenclature codes):
/// hits with highlighted snippets, and facet counts over all matches.
#[utoipa::path(get, path = "/api/search", params(SearchQ), responses((status = 200, body = Object)))]
async fn search(
    State(st): State<AppState>,
    ApiQuery(q): ApiQuery<SearchQ>,
) -> Result<Json<Value>, AppError> {
    crate::catalog::sync_search_soon(&st).await?;
    let mut filters = Vec::new();
    for (name, v) in [
        ("kind", &q.kind),
        ("producer", &q.producer),
        ("product", &q.product),
        ("theme", &q.theme),
        ("coding_system", &q.coding_system),
        ("nomenclature", &q.nomenclature),
    ] {
        for value in v.iter().flat_map(|v| v.split(',')).map(str::trim) {
            if !value.is_empty() {
                filters.push((name.to_string(), value.to_string()));
            }
        }
    }
    let r = st
        .search
        .search(&hdh_search::SearchQuery {
            text: q.q.unwrap_or_default(),
            filters,
            limit: bounded("limit", q.limit, 1, 100, 20)? as usize,
            offset: bounded("offset", q.offset, 0, 10_000, 0)? as usize,
        })
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok(Json(json!(r)))
}

/// A dataset's catalogue entry: HealthDCAT-AP metadata, statistics computed
/// from its latest version, tables, versions.
#[utoipa::path(get, path = "/api/catalogue/datasets/{id}", params(("id" = String, Path, description = "dataset id")), responses((status = 200, body = Object)))]
async fn catalogue_dataset(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let d = st
        .store
        .dataset(&id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("dataset {id}")))?;
    let meta = hdh_catalog::DatasetMetadata::from_json_value(&d.metadata)
        .unwrap_or_else(|_| hdh_catalog::DatasetMetadata::untitled(&d.id, &d.producer_name));
    let stats = crate::catalog::latest_statistics(&st, &id).await?;
    let tables: Vec<Value> = st
        .store
        .catalog_tables_of(&id)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "name": t.table_name,
                "title": t.title,
                "product": t.product,
                "variables": t.variable_count,
                "records": stats.as_ref().and_then(|s| s.table(&t.table_name)).map(|s| s.records),
                "href": crate::catalog::table_url(&id, &t.table_name),
            })
        })
        .collect();
    Ok(Json(json!({
        "id": d.id,
        "metadata": meta,
        "statistics": stats,
        "tables": tables,
        "versions": st.store.versions(&id).await?,
        "rdf": { "turtle": format!("{}.ttl", crate::catalog::dataset_url(&id)), "jsonld": format!("{}.jsonld", crate::catalog::dataset_url(&id)) },
    })))
}

async fn described_table(
    st: &AppState,
    id: &str,
    table: &str,
) -> Result<crate::catalog::TableView, AppError> {
    let t = st
        .store
        .catalog_table(id, table)
        .await?
        .ok_or_else(|| AppError::not_found(format!("table {table} in dataset {id}")))?;
    let dir = crate::catalog::TableDirectory::load(st).await?;
    crate::catalog::table_view(st, &dir, &t).await
}

/// A table: its variables (type, description, nomenclature, keys,
/// completeness and distribution), primary and foreign keys, and the tables
/// that reference it.
#[utoipa::path(get, path = "/api/catalogue/datasets/{id}/tables/{table}", params(("id" = String, Path, description = "dataset id"), ("table" = String, Path, description = "table name")), responses((status = 200, body = Object)))]
async fn catalogue_table(
    State(st): State<AppState>,
    Path((id, table)): Path<(String, String)>,
) -> Result<Json<Value>, AppError> {
    Ok(Json(json!(described_table(&st, &id, &table).await?)))
}

/// One variable, with its statistics (small counts suppressed).
#[utoipa::path(get, path = "/api/catalogue/datasets/{id}/tables/{table}/variables/{variable}", params(("id" = String, Path, description = "dataset id"), ("table" = String, Path, description = "table name"), ("variable" = String, Path, description = "variable name")), responses((status = 200, body = Object)))]
async fn catalogue_variable(
    State(st): State<AppState>,
    Path((id, table, variable)): Path<(String, String, String)>,
) -> Result<Json<Value>, AppError> {
    let view = described_table(&st, &id, &table).await?;
    let v = view
        .variables
        .into_iter()
        .find(|v| v.name == variable)
        .ok_or_else(|| AppError::not_found(format!("variable {variable} in table {table}")))?;
    Ok(Json(json!(v)))
}

/// The tables of the catalogue and the foreign keys between them (what the
/// diagram page draws).
#[utoipa::path(get, path = "/api/catalogue/diagram", responses((status = 200, body = Object)))]
async fn catalogue_diagram(State(st): State<AppState>) -> Result<Json<Value>, AppError> {
    let dir = crate::catalog::TableDirectory::load(&st).await?;
    let tables: Vec<&hdh_store::CatalogTable> = dir.tables().iter().collect();
    Ok(Json(json!(dir.diagram(&tables))))
}

/// The nomenclatures (code tables) of the catalogue.
#[utoipa::path(get, path = "/api/catalogue/nomenclatures", responses((status = 200, body = Object)))]
async fn catalogue_nomenclatures(State(st): State<AppState>) -> Result<Json<Value>, AppError> {
    let list: Vec<Value> = st
        .store
        .nomenclatures()
        .await?
        .into_iter()
        .map(|n| {
            json!({
                "name": n.name, "title": n.title, "source": n.source, "codes": n.row_count,
                "code_column": n.code_column, "label_column": n.label_column,
                "coding_system": hdh_catalog::metadata::coding_system_of(&n.name).map(|c| c.code),
            })
        })
        .collect();
    Ok(Json(json!({ "nomenclatures": list })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CodesQ {
    /// The rows whose code is exactly this.
    code: Option<String>,
    /// Rows to skip (file order).
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<i64>,
    /// Rows to return (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// A page of a nomenclature's codes, or the rows of one code. For words
/// (labels), use /api/search with `nomenclature=`.
#[utoipa::path(get, path = "/api/catalogue/nomenclatures/{name}", params(("name" = String, Path, description = "nomenclature name"), CodesQ), responses((status = 200, body = Object)))]
async fn catalogue_nomenclature(
    State(st): State<AppState>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<CodesQ>,
) -> Result<Json<Value>, AppError> {
    let n = st
        .store
        .nomenclature(&name)
        .await?
        .ok_or_else(|| AppError::not_found(format!("nomenclature {name}")))?;
    let codes = match q.code.as_deref().filter(|c| !c.is_empty()) {
        Some(code) => st.store.nomenclature_code(&name, code).await?,
        None => {
            st.store
                .nomenclature_codes(
                    &name,
                    bounded("offset", q.offset, 0, 1_000_000, 0)?,
                    bounded("limit", q.limit, 1, 1000, 100)?,
                )
                .await?
        }
    };
    Ok(Json(json!({ "nomenclature": n, "codes": codes })))
}

/// Requests the caller may see (their own; all for the desk's staff).
#[utoipa::path(get, path = "/api/requests", responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn list_requests(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "requests": service::list_requests(&st, &c).await? }),
    ))
}

/// Creates a draft access request.
#[utoipa::path(post, path = "/api/requests", request_body = RequestInput, responses((status = 201, body = Object), (status = 422, body = ErrorBody), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn create_request(
    State(st): State<AppState>,
    c: Caller,
    ApiJson(i): ApiJson<RequestInput>,
) -> Result<impl IntoResponse, AppError> {
    let r = service::create_request(&st, &c, i).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "request": r })),
    ))
}

/// A request with its history, clocks, documents, reviewers, comments and
/// producers' agreements.
#[utoipa::path(get, path = "/api/requests/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_request(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (r, events) = service::view_request(&st, &c, &id).await?;
    Ok(Json(request_json(&st, &r, events).await?))
}

pub(crate) async fn request_json(
    st: &AppState,
    r: &hdh_store::AccessRequest,
    events: Vec<hdh_store::RequestEvent>,
) -> Result<Value, AppError> {
    let project = st.store.project_for_request(&r.id).await?;
    let clocks = crate::desk::clocks(st, r, &events, crate::desk::today());
    let pending: Vec<String> = crate::desk::pending_agreements(st, r)
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    let problems = if r.state.is_editable() {
        service::submission_problems(st, r)
            .await?
            .into_iter()
            .map(|(f, m)| json!({ "field": f, "message": m }))
            .collect()
    } else {
        vec![]
    };
    Ok(json!({
        "request": r,
        "history": events,
        "project": project,
        "clocks": clocks,
        "attachments": st.store.attachments(&r.id).await?,
        "reviewers": crate::desk_api::reviewer_rows(st, &r.id).await?,
        "comments": crate::desk_api::comment_rows(st, &r.id).await?,
        "agreements": st.store.agreements(&r.id).await?,
        "awaiting_agreement": pending,
        "problems": problems,
        "provisioning": crate::provisioning::latest_build(st, &r.id).await?,
    }))
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ActionName {
    Submit,
    Withdraw,
    /// The secretariat: the file is complete.
    Approve,
    SendBack,
    Refuse,
    /// The committee's opinion (`opinion` and its motivation in `reason`).
    Opinion,
    /// The authority's authorisation (`reference`: its decision number).
    Authorise,
    /// A producer agrees to provide `dataset`.
    Agree,
    /// The applicant closes the project (`results`).
    Close,
    /// The secretariat or an administrator archives a finished request.
    Archive,
    /// Retries building the workspace of an authorised request (authority or admin).
    Provision,
}

#[derive(Deserialize, ToSchema)]
pub struct ActionInput {
    pub action: ActionName,
    /// Required to send back or refuse; the motivation of an opinion.
    pub reason: Option<String>,
    /// favourable, favourable_with_reservations or unfavourable.
    pub opinion: Option<String>,
    /// The authority's decision number (authorise, and refuse by the authority).
    pub reference: Option<String>,
    /// The dataset a producer agrees to provide.
    pub dataset: Option<String>,
    /// Publications, reports, links deposited at closing.
    pub results: Option<String>,
}

/// Moves a request: the applicant submits (and closes with results); the secretariat approves completeness, the committee gives its opinion, the authority authorises with a reference number, each producer agrees; reviewers may send back or refuse.
#[utoipa::path(post, path = "/api/requests/{id}/actions", params(("id" = String, Path)), request_body = ActionInput, responses((status = 200, body = Object), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn act(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<ActionInput>,
) -> Result<Json<Value>, AppError> {
    let r = match i.action {
        ActionName::Provision => service::retry_provisioning(&st, &c, &id).await?,
        other => {
            let name = match other {
                ActionName::Submit => "submit",
                ActionName::Withdraw => "withdraw",
                ActionName::Approve => "approve",
                ActionName::SendBack => "send_back",
                ActionName::Refuse => "refuse",
                ActionName::Opinion => "opinion",
                ActionName::Authorise => "authorise",
                ActionName::Agree => "agree",
                ActionName::Close => "close",
                ActionName::Archive => "archive",
                ActionName::Provision => "provision",
            };
            let action = RequestAction::parse(
                name,
                hdh_model::request::ActionFields {
                    reason: i.reason,
                    opinion: i.opinion,
                    reference: i.reference,
                    dataset: i.dataset,
                    results: i.results,
                },
            )?;
            service::act_on_request(&st, &c, &id, action).await?
        }
    };
    let project = st.store.project_for_request(&id).await?;
    Ok(Json(json!({ "request": r, "project": project })))
}

/// The caller's projects.
#[utoipa::path(get, path = "/api/projects", responses((status = 200, body = Object)), security(("bearer" = [])))]
async fn my_projects(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "projects": st.store.projects_of(&c.user.id).await? }),
    ))
}

/// A project and the tables of its extraction (members only).
#[utoipa::path(get, path = "/api/projects/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn project(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, AppError> {
    let (p, tables) = service::view_project(&st, &c, &id).await?;
    Ok(Json(json!({ "project": p, "tables": tables })))
}

#[derive(Deserialize, ToSchema)]
pub struct QueryInput {
    pub sql: String,
    /// An id chosen by the client (letters, digits, dashes) to cancel the
    /// query with while it runs.
    #[serde(default)]
    pub query_id: Option<String>,
}

/// Runs a statement in the project's sandbox: a read-only query, or
/// `CREATE TABLE scratch.x AS SELECT …` / `DROP TABLE scratch.x`. Every
/// other statement, table, file or setting is refused before it runs.
#[utoipa::path(post, path = "/api/projects/{id}/query", params(("id" = String, Path)), request_body = QueryInput, responses((status = 200, body = Object), (status = 403, description = "not a member, or out of scope, or not allowed", body = ErrorBody), (status = 409, description = "cancelled", body = ErrorBody), (status = 422, description = "invalid, over a limit (time, memory, scratch quota)", body = ErrorBody), (status = 429, description = "the project already runs its maximum of queries", body = ErrorBody)), security(("bearer" = [])))]
async fn query(
    State(st): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(i): ApiJson<QueryInput>,
) -> Result<Json<Value>, AppError> {
    let out = service::query(
        &st,
        &c,
        &id,
        &i.sql,
        crate::sandbox::Channel::Api,
        i.query_id.clone(),
    )
    .await?;
    Ok(Json(crate::sandbox::output_json(&out)))
}

/// The audit trail, newest first (security officer).
#[utoipa::path(get, path = "/api/audit", params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("project" = Option<String>, Query), ("outcome" = Option<String>, Query), ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("limit" = Option<i64>, Query, minimum = 1, maximum = 10000)), responses((status = 200, body = Object), (status = 403, body = ErrorBody)), security(("bearer" = [])))]
async fn audit(
    State(st): State<AppState>,
    c: Caller,
    ApiQuery(f): ApiQuery<hdh_store::AuditFilter>,
) -> Result<Json<Value>, AppError> {
    if let Some(l) = f.limit
        && !(1..=10_000).contains(&l)
    {
        return Err(AppError::bad_request(format!(
            "limit {l}: between 1 and 10000"
        )));
    }
    Ok(Json(
        json!({ "events": service::audit_trail(&st, &c, &f).await? }),
    ))
}
