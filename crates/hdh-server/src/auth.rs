//! Sign-in, sessions and CSRF.
//!
//! A session is a random 256-bit token, sent as an `HttpOnly; SameSite=Strict`
//! cookie to browsers or as `Authorization: Bearer …` to API clients. Only its
//! SHA-256 is stored. Browser forms carry a per-session CSRF token that must
//! match: it is derived from the session's token (so stored nowhere, and
//! unknowable without the cookie); a JSON request authenticated by the
//! cookie alone must send it in `X-CSRF-Token`. Bearer clients are not
//! exposed to CSRF (no ambient credential).
//!
//! A session ends when unused for `session_idle_minutes`, at the latest
//! `session_hours` after sign-in, when its holder ends it (one, or all), when
//! the password changes (the others) and when the account is suspended.

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

pub(crate) fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The CSRF token of a session: a hash of its token under another label.
pub fn csrf_of(token: &str) -> String {
    let d = Sha256::digest(format!("hdh-csrf:{token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..24])
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub(crate) fn random_token(bytes: usize) -> String {
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
    let now = chrono::Utc::now();
    let last_seen = chrono::DateTime::parse_from_rfc3339(&rec.last_seen_at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    let idle = chrono::Duration::minutes(state.config.accounts.session_idle_minutes);
    if user.is_suspended() || now - last_seen > idle {
        // Unused too long (or the account suspended since): the session
        // ends here, and the caller is anonymous.
        let mut ev = AuditEvent::new("auth.session_end", "session");
        ev.actor_id = Some(user.id.clone());
        ev.actor_name = Some(user.username.clone());
        ev.client_addr = client_of(parts);
        ev.details = serde_json::json!({
            "session": rec.id,
            "reason": if user.is_suspended() { "account suspended" } else { "idle" },
        });
        let mut tx = state.store.begin().await?;
        tx.delete_session(&hash).await?;
        tx.audit(&ev).await?;
        tx.commit().await?;
        return Ok(None);
    }
    if now - last_seen > chrono::Duration::seconds(60) {
        state.store.touch_session(&hash).await?;
    }
    Ok(Some(Caller {
        user,
        csrf: csrf_of(&token),
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
        let caller = authenticate(state, parts)
            .await?
            .ok_or_else(AppError::unauthorized)?;
        // The JSON API called with the session cookie (a script of the
        // hub's pages): a state-changing call carries the CSRF token in a
        // header (the pages' forms carry it in a field, checked there).
        let unsafe_method = !matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD | axum::http::Method::OPTIONS
        );
        if caller.via_cookie && unsafe_method && parts.uri.path().starts_with("/api/") {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            caller.check_csrf(sent)?;
        }
        // Nothing but the terms (and signing out) before they are accepted.
        if !state.config.terms.accepted_by(&caller.user)
            && !crate::terms::allowed_before_acceptance(parts.uri.path())
        {
            return Err(crate::terms::not_accepted());
        }
        Ok(caller)
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

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin {
            addr: client_of(parts),
            user_agent: parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        })
    }
}

pub struct NewSession {
    pub token: String,
    pub user: User,
    pub csrf: String,
}

/// Where a sign-in comes from: the client's address and browser.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

/// The hash under which failed sign-ins of a name are counted (the name
/// typed is never kept in clear: it is sometimes a password).
fn name_hash(username: &str) -> String {
    token_hash(&format!("sign-in:{}", username.trim().to_lowercase()))
}

/// Verifies a password and opens a session. Failures are audited and answer
/// the same whether the account exists or not; after too many failures for
/// a name or from an address, further attempts are refused for a while
/// (existing names or not, so that the lock tells nothing either).
pub async fn sign_in(
    state: &AppState,
    username: &str,
    password: &str,
    origin: Origin,
) -> Result<NewSession, AppError> {
    let policy = &state.config.accounts;
    let client = origin.addr.clone();
    let addr = client.clone().unwrap_or_default();
    let name = name_hash(username);
    let window = chrono::Duration::minutes(policy.sign_in_window_minutes);
    let since = (chrono::Utc::now() - window).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let mut ev = AuditEvent::new("auth.sign_in", "session");
    ev.actor_name = Some(username.chars().take(64).collect());
    ev.client_addr = client.clone();
    let (by_name, by_addr) = state.store.sign_in_failures(&name, &addr, &since).await?;
    if by_name >= policy.max_failures_per_account || by_addr >= policy.max_failures_per_address {
        let first = state
            .store
            .first_sign_in_failure(&name, &addr, &since)
            .await?
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&chrono::Utc));
        let minutes = first
            .map(|f| ((f + window - chrono::Utc::now()).num_seconds() + 59) / 60)
            .unwrap_or(policy.sign_in_window_minutes)
            .max(1);
        ev.details = serde_json::json!({
            "reason": if by_name >= policy.max_failures_per_account { "too many failures for this name" } else { "too many failures from this address" },
        });
        state.store.audit(&ev.outcome(Outcome::Denied)).await?;
        return Err(AppError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed sign-ins: try again in {minutes} minutes"),
        ));
    }
    let user = state.store.user_by_name(username).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.to_string());
    let pw = password.to_string();
    let ok = tokio::task::spawn_blocking(move || hdh_store::verify_password(&hash, &pw))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    match user {
        Some(user) if ok && user.is_suspended() => {
            ev.actor_id = Some(user.id.clone());
            ev.details = serde_json::json!({ "reason": "account suspended" });
            state.store.audit(&ev.outcome(Outcome::Denied)).await?;
            Err(AppError::forbidden(format!(
                "this account is suspended ({}): ask the hub's administrator",
                user.suspended_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )))
        }
        Some(user) if ok => {
            let token = random_token(32);
            let csrf = csrf_of(&token);
            let now = chrono::Utc::now();
            let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let rec = SessionRecord {
                token_hash: token_hash(&token),
                user_id: user.id.clone(),
                // Derived from the token when needed, never stored.
                csrf_token: String::new(),
                created_at: stamp.clone(),
                expires_at: (now + chrono::Duration::hours(state.config.session_hours))
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                id: random_token(9),
                last_seen_at: stamp,
                client_addr: addr,
                user_agent: origin
                    .user_agent
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(160)
                    .collect(),
            };
            ev.actor_id = Some(user.id.clone());
            ev.role = Some(hdh_model::role::format_roles(&user.roles));
            ev.details = serde_json::json!({ "session": rec.id });
            let mut tx = state.store.begin().await?;
            tx.delete_expired_sessions().await?;
            tx.clear_sign_in_failures(&name, &since).await?;
            tx.insert_session(&rec).await?;
            tx.audit(&ev).await?;
            tx.commit().await?;
            Ok(NewSession { token, user, csrf })
        }
        _ => {
            let mut tx = state.store.begin().await?;
            tx.insert_sign_in_failure(&name, &addr).await?;
            tx.audit(&ev.outcome(Outcome::Denied)).await?;
            tx.commit().await?;
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

/// Ends the caller's other sessions (`all`: this one too); returns how many
/// ended.
pub async fn sign_out_everywhere(
    state: &AppState,
    caller: &Caller,
    all: bool,
) -> Result<u64, AppError> {
    let keep = (!all).then_some(caller.token_hash.as_str());
    let mut tx = state.store.begin().await?;
    let mut n = tx.delete_user_sessions(&caller.user.id, keep).await?;
    if all {
        tx.delete_session(&caller.token_hash).await?;
        n += 1;
    }
    let mut ev = caller.event("auth.sign_out_everywhere", "session");
    ev.details = serde_json::json!({ "ended": n, "this_one_too": all });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(n)
}

/// Ends one of the caller's sessions by its public id.
pub async fn end_session(state: &AppState, caller: &Caller, id: &str) -> Result<(), AppError> {
    let mut tx = state.store.begin().await?;
    if !tx.delete_user_session(&caller.user.id, id).await? {
        return Err(AppError::not_found(format!("you have no session {id:?}")));
    }
    let mut ev = caller.event("auth.session_end", "session");
    ev.object_id = Some(id.to_string());
    ev.details = serde_json::json!({ "session": id, "reason": "ended by its holder" });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(())
}

/// Changes the caller's password (the current one required, the new one
/// checked against the policy); ends the caller's other sessions.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    current: &str,
    new: &str,
) -> Result<(), AppError> {
    let hash = caller.user.password_hash.clone();
    let cur = current.to_string();
    let ok = tokio::task::spawn_blocking(move || hdh_store::verify_password(&hash, &cur))
        .await
        .map_err(|e| AppError::internal(e.to_string()))?;
    if !ok {
        state
            .store
            .audit(
                &caller
                    .event("auth.password_change", "user")
                    .outcome(Outcome::Denied),
            )
            .await?;
        return Err(AppError::unprocessable(
            "current_password: this is not your current password",
        ));
    }
    crate::password::check(
        new,
        &caller.user.username,
        state.config.accounts.min_password_chars,
    )
    .map_err(|e| AppError::unprocessable(format!("new_password: {e}")))?;
    let mut tx = state.store.begin().await?;
    tx.set_password(&caller.user.id, new).await?;
    let ended = tx
        .delete_user_sessions(&caller.user.id, Some(&caller.token_hash))
        .await?;
    let mut ev = caller.event("auth.password_change", "user");
    ev.object_id = Some(caller.user.id.clone());
    ev.details = serde_json::json!({ "other_sessions_ended": ended });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(())
}

/// An Argon2id hash of a random password, verified against when the user does
/// not exist so that timing does not reveal which usernames exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3+2yx4pLhKBsz9aiV4LGC0S1Al9bsGcl16O8cR8aWmk";
