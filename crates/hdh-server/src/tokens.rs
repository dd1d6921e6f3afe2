//! Flight SQL access tokens: one user, one project, an expiry, revocable.
//! The secret is shown once at creation; the store keeps its SHA-256.

use hdh_model::Outcome;
use hdh_store::{AccessToken, now};
use sha2::Digest;

use crate::auth::Caller;
use crate::{AppError, AppState};

/// Prefix of every token secret (so that a leaked one is recognisable).
pub const PREFIX: &str = "hdhf_";

pub fn hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// Creates a token; returns it and its secret.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    label: &str,
    days: Option<i64>,
) -> Result<(AccessToken, String), AppError> {
    crate::service::open_project(state, caller, project_id, "token.create").await?;
    let label = label.trim();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(AppError::unprocessable(
            "label: say what the token is for, in at most 80 characters",
        ));
    }
    let max = state.config.token_max_days;
    let days = days.unwrap_or(30);
    if !(1..=max).contains(&days) {
        return Err(AppError::unprocessable(format!(
            "days: between 1 and {max}"
        )));
    }
    let mut raw = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut raw);
    let secret = format!(
        "{PREFIX}{}",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
    );
    let t = AccessToken {
        id: format!("t-{}", uuid::Uuid::now_v7().simple()),
        token_hash: hash(&secret),
        user_id: caller.user.id.clone(),
        project_id: project_id.to_string(),
        label: label.to_string(),
        created_at: now(),
        expires_at: (chrono::Utc::now() + chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        revoked_at: None,
        last_used_at: None,
    };
    let mut tx = state.store.begin().await?;
    tx.insert_token(&t).await?;
    tx.audit(
        &caller
            .event("token.create", "access_token")
            .object(&t.id)
            .project(project_id)
            .details(serde_json::json!({ "label": t.label, "expires_at": t.expires_at })),
    )
    .await?;
    tx.commit().await?;
    Ok((t, secret))
}

pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    project_id: &str,
    token_id: &str,
) -> Result<(), AppError> {
    let t = state.store.token(token_id).await?;
    let Some(t) = t.filter(|t| t.project_id == project_id && t.user_id == caller.user.id) else {
        return Err(AppError::not_found(format!(
            "you have no token {token_id} in project {project_id}"
        )));
    };
    let mut tx = state.store.begin().await?;
    tx.revoke_token(&t.id, &now()).await?;
    tx.audit(
        &caller
            .event("token.revoke", "access_token")
            .object(&t.id)
            .project(project_id),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Resolves a presented secret to its token and a caller for the sandbox;
/// unknown, expired and revoked tokens are refused (and audited).
pub async fn authenticate(
    state: &AppState,
    secret: &str,
    client: Option<String>,
) -> Result<(AccessToken, Caller), AppError> {
    let refuse = |why: &str, token: Option<&AccessToken>| {
        let mut ev = hdh_model::AuditEvent::new("token.use", "access_token")
            .outcome(Outcome::Denied)
            .details(serde_json::json!({ "reason": why }));
        ev.client_addr = client.clone();
        if let Some(t) = token {
            ev = ev.object(&t.id).project(&t.project_id);
            ev.actor_id = Some(t.user_id.clone());
        }
        ev
    };
    let t = if secret.starts_with(PREFIX) {
        state.store.token_by_hash(&hash(secret)).await?
    } else {
        None
    };
    let Some(t) = t else {
        state.store.audit(&refuse("unknown token", None)).await?;
        return Err(AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "unknown token: create one on the project's page",
        ));
    };
    if t.revoked_at.is_some() {
        state.store.audit(&refuse("revoked", Some(&t))).await?;
        return Err(AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this token was revoked",
        ));
    }
    let expired = chrono::DateTime::parse_from_rfc3339(&t.expires_at)
        .map(|e| e < chrono::Utc::now())
        .unwrap_or(true);
    if expired {
        state.store.audit(&refuse("expired", Some(&t))).await?;
        return Err(AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            format!("this token expired on {}", t.expires_at),
        ));
    }
    let Some(user) = state.store.user(&t.user_id).await? else {
        return Err(AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the token's account no longer exists",
        ));
    };
    // The account must still be allowed in: not suspended, and behind on
    // no terms of use.
    let barred = if user.is_suspended() {
        Some(("account suspended", "the token's account is suspended"))
    } else if !state.config.terms.accepted_by(&user) {
        Some((
            "terms of use not accepted",
            "the terms of use changed: accept them on the hub's /terms page, then use this token again",
        ))
    } else {
        None
    };
    if let Some((why, message)) = barred {
        state.store.audit(&refuse(why, Some(&t))).await?;
        return Err(AppError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthenticated",
            message,
        ));
    }
    let _ = state.store.touch_token(&t.id, &now()).await;
    Ok((
        t,
        Caller {
            user,
            csrf: String::new(),
            token_hash: String::new(),
            via_cookie: false,
            client,
            unread: 0,
        },
    ))
}
