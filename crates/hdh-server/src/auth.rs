//! Sign-in, sessions and CSRF.
//!
//! A session is a random 256-bit token, sent as an `HttpOnly; SameSite=Strict`
//! cookie to browsers or as `Authorization: Bearer …` to API clients. Only its
//! SHA-256 is stored. Browser forms carry a per-session CSRF token that must
//! match; bearer clients are not exposed to CSRF (no ambient credential).

use crate::{AppError, AppState};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use base64::Engine;
use hdh_model::{AuditEvent, Outcome, Role};
use hdh_store::{SessionRecord, User};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::net::SocketAddr;

pub const COOKIE: &str = "hdh_session";

#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub csrf: String,
    pub token_hash: String,
    pub via_cookie: bool,
    pub client: Option<String>,
    /// Unread notifications (counted for pages only; 0 elsewhere).
    pub unread: i64,
}

impl Caller {
    pub fn has(&self, role: Role) -> bool {
        self.user.has(role)
    }

    /// An audit event attributed to this caller.
    pub fn event(&self, action: &str, object_type: &str) -> AuditEvent {
        let mut e = AuditEvent::new(action, object_type);
        e.actor_id = Some(self.user.id.clone());
        e.actor_name = Some(self.user.username.clone());
        e.role = Some(hdh_model::role::format_roles(&self.user.roles));
        e.client_addr = self.client.clone();
        e
    }

    /// Checks the CSRF token of a form submitted with the session cookie.
    pub fn check_csrf(&self, token: Option<&str>) -> Result<(), AppError> {
        if !self.via_cookie {
            return Ok(());
        }
        match token {
            Some(t) if constant_eq(t.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(AppError::forbidden(
                "the form's CSRF token is missing or wrong: reload the page and try again",
            )),
        }
    }
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn client_of(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
}

fn bearer(parts: &Parts) -> Option<String> {
    let h = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    h.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn cookie(parts: &Parts) -> Option<String> {
    let jar = axum_extra::extract::CookieJar::from_headers(&parts.headers);
    jar.get(COOKIE).map(|c| c.value().to_string())
}

pub async fn authenticate(state: &AppState, parts: &Parts) -> Result<Option<Caller>, AppError> {
    let (token, via_cookie) = match (bearer(parts), cookie(parts)) {
        (Some(t), _) => (t, false),
        (None, Some(c)) => (c, true),
        (None, None) => return Ok(None),
    };
    let hash = token_hash(&token);
    let Some((rec, user)) = state.store.session(&hash).await? else {
        return Ok(None);
    };
    Ok(Some(Caller {
        user,
        csrf: rec.csrf_token,
        token_hash: hash,
        via_cookie,
        client: client_of(parts),
        unread: 0,
    }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(state, parts)
            .await?
            .ok_or_else(AppError::unauthorized)
    }
}

/// The caller if signed in (pages that anyone may see).
pub struct MaybeCaller(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeCaller(authenticate(state, parts).await?))
    }
}

/// The client address of a request, for audit events of anonymous callers.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_of(parts)))
    }
}

pub struct NewSession {
    pub token: String,
    pub user: User,
    pub csrf: String,
}

/// Verifies a password and opens a session. Failures are audited and answer
/// the same whether the account exists or not.
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    client: Option<String>,
) -> Result<NewSession, AppError> {
    let user = state.store.user_by_name(username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || hdh_store::verify_password(&hash, &pw))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    let mut ev = AuditEvent::new("auth.sign_in", "session");
    ev.actor_name = Some(username.chars().take(64).collect());
    ev.client_addr = client;
    match user {
        Some(user) if ok => {
            let token = random_token(32);
            let csrf = random_token(24);
            let now = chrono::Utc::now();
            let rec = SessionRecord {
                token_hash: token_hash(&token),
                user_id: user.id.clone(),
                csrf_token: csrf.clone(),
                created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                expires_at: (now + chrono::Duration::hours(state.config.session_hours))
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            };
            ev.actor_id = Some(user.id.clone());
            ev.role = Some(hdh_model::role::format_roles(&user.roles));
            let mut tx = state.store.begin().await?;
            tx.delete_expired_sessions().await?;
            tx.insert_session(&rec).await?;
            tx.audit(&ev).await?;
            tx.commit().await?;
            Ok(NewSession { token, user, csrf })
        }
        _ => {
            state.store.audit(&ev.outcome(Outcome::Denied)).await?;
            Err(AppError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "unknown user or wrong password",
            ))
        }
    }
}

pub async fn sign_out(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    let mut tx = state.store.begin().await?;
    tx.delete_session(&caller.token_hash).await?;
    tx.audit(&caller.event("auth.sign_out", "session")).await?;
    tx.commit().await?;
    Ok(())
}

/// An Argon2id hash of a random password, verified against when the user does
/// not exist so that timing does not reveal which usernames exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3+2yx4pLhKBsz9aiV4LGC0S1Al9bsGcl16O8cR8aWmk";
