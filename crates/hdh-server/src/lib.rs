//! The hub's HTTP edge: server-rendered pages (French and English, usable
//! without JavaScript) and a JSON API described by an OpenAPI document. Both
//! call the same services in [`service`], which authorise every action on
//! the server and write its audit event in the same transaction as the change.

pub mod account;
pub mod alerts;
pub mod api;
pub mod audit_log;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod delivery_api;
pub mod desk;
pub mod desk_api;
pub mod error;
pub mod flight;
pub mod i18n;
pub mod ingestion;
pub mod keys;
pub mod linkage;
pub mod notify;
pub mod output;
pub mod output_api;
pub mod page_help;
pub mod pages;
pub mod password;
pub mod provisioning;
pub mod registry;
pub mod sandbox;
pub mod secret_file;
pub mod seed;
pub mod service;
pub mod siem;
pub mod terms;
pub mod tokens;
pub mod workspace_api;

pub use config::Config;
pub use error::AppError;

use axum::Router;
use hdh_lake::Lake;
use hdh_pseudo::HubSecret;
use hdh_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub lake: Lake,
    pub secret: Arc<HubSecret>,
    /// Signs the audit log's checkpoints (`audit_log`).
    pub audit_key: Arc<ed25519_dalek::SigningKey>,
    pub config: Arc<Config>,
    pub templates: Arc<minijinja::Environment<'static>>,
    /// Full-text index of the catalogue (derived from the store; see
    /// [`catalog::sync_search`]).
    pub search: hdh_search::SearchIndex,
    /// When this process last compared the index with the store.
    pub search_checked: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
    /// The level-2 key files (the level-1 key is never here: it stays with
    /// the trusted third party and the producers).
    pub keys: keys::Keyring,
    /// Running ingestions' progress and upload locks.
    pub jobs: Arc<ingestion::Jobs>,
    /// Workspace queries running now (limits and cancellation).
    pub queries: Arc<sandbox::Running>,
    /// When this process opened the state: jobs queued before it belong
    /// to an earlier run.
    pub started_at: String,
}

impl AppState {
    /// Opens the store and the lake under the configured data directory.
    pub async fn open(config: Config) -> anyhow_free::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            AppError::internal(format!(
                "cannot create data directory {}: {e}",
                config.data_dir.display()
            ))
        })?;
        let store = match &config.database_url {
            Some(url) => Store::connect(url).await?,
            None => Store::open_sqlite(&config.data_dir.join("hdh.db")).await?,
        };
        let lake = Lake::open_local(&config.data_dir.join("lake"))?;
        lake.clean_staging().await?;
        let secret = config::load_or_create_secret(&config.data_dir)?;
        let audit_key = audit_log::load_or_create_key(&config.data_dir)?;
        let templates =
            pages::templates().map_err(|e| AppError::internal(format!("page template: {e:#}")))?;
        let search = open_search_index(&config.data_dir.join("search"))?;
        let keys = keys::Keyring::new(&config.data_dir);
        let state = AppState {
            store,
            lake,
            secret: Arc::new(secret),
            audit_key: Arc::new(audit_key),
            config: Arc::new(config),
            templates: Arc::new(templates),
            search,
            search_checked: Arc::default(),
            keys,
            jobs: Arc::default(),
            queries: Arc::default(),
            started_at: hdh_store::now(),
        };
        ingestion::recover(&state).await?;
        keys::active_key(&state).await?;
        Ok(state)
    }
}

/// Opens the on-disk search index; when it cannot be opened (corrupt files),
/// it is recreated: the index is derived data, rebuilt from the store.
fn open_search_index(dir: &std::path::Path) -> anyhow_free::Result<hdh_search::SearchIndex> {
    match hdh_search::SearchIndex::open_or_create(dir) {
        Ok(i) => Ok(i),
        Err(e) => {
            tracing::warn!(
                "search index at {} unusable ({e}); recreating it",
                dir.display()
            );
            let _ = std::fs::remove_dir_all(dir);
            hdh_search::SearchIndex::open_or_create(dir)
                .map_err(|e| AppError::internal(format!("search index {}: {e}", dir.display())))
        }
    }
}

/// Library-side result alias (no `anyhow` in libraries).
pub mod anyhow_free {
    pub type Result<T> = std::result::Result<T, crate::AppError>;
}

/// Security headers on every response: no framing, no sniffing, no caching of
/// (possibly sensitive) pages, and a content security policy that allows no
/// script but the hub's own files (the pages work without them). Served over
/// HTTPS (`secure_cookies`), browsers are also told to use nothing else for a
/// year (HSTS).
fn security_headers(router: Router, https: bool) -> Router {
    use axum::http::{HeaderName, HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let headers: [(HeaderName, &'static str); 5] = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let router = headers.into_iter().fold(router, |r, (name, value)| {
        r.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ))
    });
    if https {
        router.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        ))
    } else {
        router
    }
}

/// The hub's own static files, compiled in: the pages' small scripts and
/// the vendored CodeMirror editor (MIT, `static/vendor/codemirror/`).
fn static_file(path: &str) -> axum::response::Response {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let (body, kind): (&'static str, &'static str) = match path {
        "request-form.js" => (
            include_str!("../static/request-form.js"),
            "text/javascript; charset=utf-8",
        ),
        "console.js" => (
            include_str!("../static/console.js"),
            "text/javascript; charset=utf-8",
        ),
        "vendor/codemirror/codemirror.js" => (
            include_str!("../static/vendor/codemirror/codemirror.js"),
            "text/javascript; charset=utf-8",
        ),
        "vendor/codemirror/sql.js" => (
            include_str!("../static/vendor/codemirror/sql.js"),
            "text/javascript; charset=utf-8",
        ),
        "hdh.css" => (include_str!("../static/hdh.css"), "text/css; charset=utf-8"),
        "vendor/codemirror/codemirror.css" => (
            include_str!("../static/vendor/codemirror/codemirror.css"),
            "text/css; charset=utf-8",
        ),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// The largest body a request may carry: deliveries (forms, packages'
/// chunks) up to `max_upload_bytes`, a request's attachments a little more
/// than `attachment_max_bytes` (the multipart envelope), everything else
/// `max_request_bytes`.
pub fn body_limit(config: &Config, path: &str) -> usize {
    if is_upload(path) {
        config.max_upload_bytes
    } else if path.ends_with("/attachments") {
        config.attachment_max_bytes.saturating_add(1 << 20)
    } else {
        config.max_request_bytes
    }
}

/// The routes that receive deliveries (forms, packages' chunks).
fn is_upload(path: &str) -> bool {
    path == "/deliver"
        || (path.starts_with("/api/datasets/") && path.ends_with("/deliveries"))
        || path.starts_with("/api/deliveries/packages/")
}

/// How long a request may take to be received and answered: deliveries have
/// no limit (their size is bounded; their speed is the producer's line), a
/// workspace query its own limit and a margin, everything else
/// `request_timeout` (a client sending slowly, or a request asking too much,
/// holds nothing for longer). A streamed answer (a download) is timed until
/// it starts.
pub fn time_limit(config: &Config, path: &str) -> Option<std::time::Duration> {
    if is_upload(path) {
        None
    } else if path.ends_with("/query")
        && (path.starts_with("/api/projects/") || path.starts_with("/projects/"))
    {
        Some(config.workspace_limits.timeout + std::time::Duration::from_secs(30))
    } else {
        Some(config.request_timeout)
    }
}

async fn limit_time(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(limit) = time_limit(&st.config, req.uri().path()) else {
        return next.run(req).await;
    };
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(r) => r,
        Err(_) => AppError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!(
                "the request was not received and answered within {} s (sent too slowly, or asking too much): try again",
                limit.as_secs()
            ),
        )
        .into_response(),
    }
}

/// Refuses a body larger than its route allows (413, before reading it when
/// its length is declared; as soon as it passes the limit otherwise).
async fn limit_bodies(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let limit = body_limit(&st.config, req.uri().path());
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > limit as u64
    {
        return AppError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request's body has {n} bytes; at most {limit} are accepted here"),
        )
        .into_response();
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::Body::new(http_body_util::Limited::new(body, limit));
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// The whole application: pages, API, health and OpenAPI document.
pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .route("/health", axum::routing::get(|| async { "ok" }))
        .route(
            "/static/{*path}",
            axum::routing::get(
                |axum::extract::Path(path): axum::extract::Path<String>| async move {
                    static_file(&path)
                },
            ),
        )
        // Bodies are bounded by `limit_bodies` (per route), not by axum's
        // single default.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_bodies,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_time,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::localise_errors,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    let https = state.config.secure_cookies;
    security_headers(app.with_state(state), https)
}

/// Serves until the listener is closed.
pub async fn serve(state: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    serve_until(state, listener, std::future::pending()).await
}

/// Serves until `shutdown` completes, then finishes the requests in flight.
pub async fn serve_until(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Extraction builds of a previous run of the server did not finish.
    if let Err(e) = provisioning::recover(&state).await {
        tracing::error!("recovering provisioning jobs: {}", e.message);
    }
    if let Err(e) = linkage::recover(&state).await {
        tracing::error!("recovering linkage jobs: {}", e.message);
    }
    audit_log::spawn_checkpoints(state.clone());
    account::spawn_review_sweep(state.clone());
    alerts::spawn(state.clone(), state.config.alert_every);
    siem::spawn(state.clone());
    let app = router(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
