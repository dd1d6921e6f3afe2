//! The TTP's HTTP API (JSON):
//!
//! * `GET /v1/health` → `ok`;
//! * `GET /v1/key` (bearer) → `{"key_id", "public_key"}`;
//! * `POST /v1/pseudonymise` (bearer) with `{"items": [["part", …], …]}` →
//!   `{"key_id", "pseudonyms": ["32 hex", …]}` in the same order.
//!
//! Errors answer `{"error": {"code", "message"}}`: 401 without a valid
//! token, 400 naming the item (never its value), 413 past the limits. Every
//! call of `/v1/key` and `/v1/pseudonymise` is audited before it answers.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hdh_pseudo::level1::Level1Key;
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::audit::{self, AuditRecord};
use crate::store;
use crate::{MAX_ITEMS, MAX_PART_BYTES, MAX_PARTS, TtpError, check_item};

/// Largest request body: every item at its largest, with room for JSON
/// escaping of non-ASCII text.
pub const MAX_BODY_BYTES: usize = MAX_ITEMS * MAX_PARTS * (2 * MAX_PART_BYTES + 4) + 64 * 1024;

/// Requests whose bodies are read and pseudonymised at the same time.
const CONCURRENT_BATCHES: usize = 4;

/// Where the TTP keeps its keys and listens.
#[derive(Debug, Clone)]
pub struct TtpConfig {
    /// The key store and audit log (see [`crate::store`]).
    pub dir: PathBuf,
    /// Address to listen on, e.g. `127.0.0.1:8443`.
    pub listen: String,
}

/// What the handlers share: the level-1 key, loaded once, zeroised on drop.
#[derive(Clone)]
pub struct TtpState {
    inner: Arc<Inner>,
}

struct Inner {
    key: Level1Key,
    public_key_hex: String,
    dir: PathBuf,
    audit: std::sync::Mutex<()>,
    batches: Semaphore,
}

impl std::fmt::Debug for TtpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TtpState")
            .field("key_id", &self.inner.key.id())
            .field("dir", &self.inner.dir)
            .finish_non_exhaustive()
    }
}

impl TtpState {
    /// Loads the keys of the store at `dir` (key files must be mode 0600).
    pub fn load(dir: &Path) -> Result<TtpState, TtpError> {
        let key = store::load_level1_key(dir)?;
        let public_key_hex = store::public_key_hex(dir)?;
        // Fails early if the producers file is unreadable.
        store::read_producers(dir)?;
        Ok(TtpState {
            inner: Arc::new(Inner {
                key,
                public_key_hex,
                dir: dir.to_path_buf(),
                audit: std::sync::Mutex::new(()),
                batches: Semaphore::new(CONCURRENT_BATCHES),
            }),
        })
    }

    pub fn key_id(&self) -> &str {
        self.inner.key.id()
    }

    /// Appends an audit record (blocking I/O off the async threads).
    async fn audit(&self, rec: AuditRecord) -> Result<(), ApiError> {
        let state = self.clone();
        let r = tokio::task::spawn_blocking(move || {
            let _guard = state
                .inner
                .audit
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            audit::append(&state.inner.dir, &rec)
        })
        .await;
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "TTP audit log write failed");
                Err(ApiError::internal())
            }
            Err(_) => Err(ApiError::internal()),
        }
    }

    /// The producer whose token `authorization` carries, if any. Every
    /// stored hash is compared in constant time.
    async fn authenticate(&self, authorization: Option<&str>) -> Result<Option<String>, ApiError> {
        let Some(token) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return Ok(None);
        };
        let presented = store::token_hash(token.trim());
        let dir = self.inner.dir.clone();
        let producers = tokio::task::spawn_blocking(move || store::read_producers(&dir))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|e| {
                tracing::error!(error = %e, "TTP producers file unreadable");
                ApiError::internal()
            })?;
        let mut found = None;
        for p in &producers.producers {
            let mut stored = [0u8; 32];
            if hex::decode_to_slice(&p.token_sha256, &mut stored).is_err() {
                continue;
            }
            if bool::from(stored.ct_eq(&presented)) {
                found = Some(p.name.clone());
            }
        }
        Ok(found)
    }
}

/// An API refusal: status, stable code, message without any value.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn internal() -> Self {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error of the trusted third party",
        )
    }

    fn unauthenticated() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a valid producer token is required (Authorization: Bearer …)",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut r = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

#[derive(Serialize)]
struct KeyAnswer<'a> {
    key_id: &'a str,
    public_key: &'a str,
}

#[derive(Serialize)]
struct PseudonymsAnswer<'a> {
    key_id: &'a str,
    pseudonyms: Vec<String>,
}

/// The API's routes (for `serve` and for tests).
pub fn router(state: TtpState) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok" }))
        .route("/v1/key", get(key))
        .route("/v1/pseudonymise", post(pseudonymise))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn client_of(req: &Request) -> Option<String> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
}

fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn key(State(state): State<TtpState>, req: Request) -> Response {
    let client = client_of(&req);
    let producer = match state.authenticate(bearer(&req).as_deref()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let outcome = if producer.is_some() {
        "ok"
    } else {
        "unauthenticated"
    };
    let rec = AuditRecord::new("key", outcome)
        .producer(producer.as_deref())
        .client(client);
    if let Err(e) = state.audit(rec).await {
        return e.into_response();
    }
    if producer.is_none() {
        tracing::warn!("TTP key request refused: no valid token");
        return ApiError::unauthenticated().into_response();
    }
    axum::Json(KeyAnswer {
        key_id: state.key_id(),
        public_key: &state.inner.public_key_hex,
    })
    .into_response()
}

async fn pseudonymise(State(state): State<TtpState>, req: Request) -> Response {
    let client = client_of(&req);
    let producer = match state.authenticate(bearer(&req).as_deref()).await {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(producer) = producer else {
        let rec = AuditRecord::new("pseudonymise", "unauthenticated").client(client);
        if let Err(e) = state.audit(rec).await {
            return e.into_response();
        }
        tracing::warn!("TTP pseudonymisation refused: no valid token");
        return ApiError::unauthenticated().into_response();
    };
    let (items, answer) = match run_batch(&state, req.into_body()).await {
        Ok((n, pseudonyms)) => (Some(n), Ok(pseudonyms)),
        Err((n, e)) => (n, Err(e)),
    };
    let outcome = match &answer {
        Ok(_) => "ok",
        Err(e) => e.code,
    };
    let mut rec = AuditRecord::new("pseudonymise", outcome)
        .producer(Some(&producer))
        .client(client);
    rec.items = items;
    if let Err(e) = state.audit(rec).await {
        return e.into_response();
    }
    tracing::info!(producer = %producer, items = items.unwrap_or(0), outcome, "TTP pseudonymisation");
    match answer {
        Ok(pseudonyms) => axum::Json(PseudonymsAnswer {
            key_id: state.key_id(),
            pseudonyms,
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

type BatchError = (Option<usize>, ApiError);

/// Reads, checks and pseudonymises one batch; on error, the item count when
/// known.
async fn run_batch(state: &TtpState, body: Body) -> Result<(usize, Vec<String>), BatchError> {
    let _permit = state
        .inner
        .batches
        .acquire()
        .await
        .map_err(|_| (None, ApiError::internal()))?;
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            (
                None,
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    format!("the body must be at most {MAX_BODY_BYTES} bytes"),
                ),
            )
        })?;
    let items = parse_items(&bytes)?;
    let n = items.len();
    let state2 = state.clone();
    let pseudonyms = tokio::task::spawn_blocking(move || {
        items
            .iter()
            .map(|parts| {
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                state2.inner.key.pseudonymise(&refs).to_hex()
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| (Some(n), ApiError::internal()))?;
    Ok((n, pseudonyms))
}

fn bad(n: Option<usize>, message: String) -> BatchError {
    (
        n,
        ApiError::new(StatusCode::BAD_REQUEST, "bad-request", message),
    )
}

/// Parses `{"items": [[string, …], …]}`. Messages name the item and part,
/// never a value (serde's messages may quote one, so they are not passed on).
fn parse_items(bytes: &[u8]) -> Result<Vec<Vec<String>>, BatchError> {
    let shape = "the body must be JSON of the form {\"items\": [[\"part\", …], …]}";
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        bad(
            None,
            format!(
                "{shape} (invalid JSON at line {}, column {})",
                e.line(),
                e.column()
            ),
        )
    })?;
    let Value::Object(mut obj) = v else {
        return Err(bad(None, shape.to_string()));
    };
    if obj.len() != 1 {
        return Err(bad(None, format!("{shape}: `items` is the only field")));
    }
    let Some(Value::Array(raw)) = obj.remove("items") else {
        return Err(bad(None, format!("{shape}: `items` must be an array")));
    };
    let n = raw.len();
    if n > MAX_ITEMS {
        return Err((
            Some(n),
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-many-items",
                format!("at most {MAX_ITEMS} items per request, found {n}"),
            ),
        ));
    }
    let mut items = Vec::with_capacity(n);
    for (i, item) in raw.into_iter().enumerate() {
        let Value::Array(parts) = item else {
            return Err(bad(Some(n), format!("item {i} is not an array of strings")));
        };
        let mut out = Vec::with_capacity(parts.len());
        for (j, p) in parts.into_iter().enumerate() {
            match p {
                Value::String(s) => out.push(s),
                _ => {
                    return Err(bad(Some(n), format!("item {i}: part {j} is not a string")));
                }
            }
        }
        check_item(&out).map_err(|m| bad(Some(n), format!("item {i} {m}")))?;
        items.push(out);
    }
    Ok(items)
}

/// Serves the API on `config.listen` until `shutdown` completes.
pub async fn serve(
    config: TtpConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TtpError> {
    let state = TtpState::load(&config.dir)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|e| TtpError::io(format!("cannot listen on {}", config.listen), e))?;
    serve_listener(listener, state, shutdown).await
}

/// Serves the API on an already bound listener (tests bind `127.0.0.1:0`).
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    state: TtpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TtpError> {
    let addr = listener
        .local_addr()
        .map_err(|e| TtpError::io("cannot read the listening address", e))?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the TTP speaks plain HTTP: put a TLS-terminating proxy in front of it");
    }
    state
        .audit(AuditRecord::new("serve", "started").client(Some(addr.to_string())))
        .await
        .map_err(|_| TtpError::Invalid("cannot write the audit log".into()))?;
    tracing::info!(%addr, key_id = state.key_id(), "TTP listening");
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(|e| TtpError::io("the TTP server failed", e))
}
