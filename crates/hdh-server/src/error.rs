//! One error type for the HTTP edge, rendered as JSON for the API and as a
//! page for browsers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct AppError {
    #[serde(skip)]
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Structured details (e.g. a delivery's validation report).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    pub fn with_details(mut self, d: serde_json::Value) -> Self {
        self.details = Some(d);
        self
    }
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", m)
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", m)
    }
    pub fn unprocessable(m: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", m)
    }
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", "sign in first")
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", m)
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", m)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for AppError {}

impl AppError {
    /// What may be shown to the caller: internal errors are logged with a
    /// reference and replaced by it, so no path, query or record leaks out.
    pub fn public(self) -> AppError {
        if !self.status.is_server_error() {
            return self;
        }
        let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        tracing::error!(code = self.code, reference = %reference, message = %self.message, "request failed");
        AppError {
            status: self.status,
            code: self.code,
            message: format!("internal error (reference {reference})"),
            details: None,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let e = self.public();
        (e.status, axum::Json(serde_json::json!({ "error": e }))).into_response()
    }
}

impl From<hdh_store::StoreError> for AppError {
    fn from(e: hdh_store::StoreError) -> Self {
        use hdh_store::StoreError as E;
        match e {
            E::NotFound(m) => AppError::not_found(m),
            E::Conflict(m) => AppError::conflict(m),
            other => AppError::internal(other.to_string()),
        }
    }
}

impl From<hdh_lake::LakeError> for AppError {
    fn from(e: hdh_lake::LakeError) -> Self {
        AppError::internal(e.to_string())
    }
}

impl From<hdh_workspace::WorkspaceError> for AppError {
    fn from(e: hdh_workspace::WorkspaceError) -> Self {
        AppError::internal(e.to_string())
    }
}

impl From<hdh_model::TransitionError> for AppError {
    fn from(e: hdh_model::TransitionError) -> Self {
        match e {
            hdh_model::TransitionError::Forbidden { .. } => AppError::forbidden(e.to_string()),
            _ => AppError::unprocessable(e.to_string()),
        }
    }
}
