//! The signed-in person's own account: their sessions (listed, ended one by
//! one or all at once) and their password (changed with the current one,
//! checked against the policy). Pages and JSON API.

use crate::auth::Caller;
use crate::pages::{CsrfForm, Ctx, LangQ, PageCaller, PageResult, confirmed};
use crate::{AppError, AppState};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use axum_extra::extract::Form;
use axum_extra::extract::cookie::Cookie;
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(page))
        .route("/account/password", post(password_page))
        .route("/account/sessions/{sid}/end", post(end_page))
        .route("/account/sessions/end-all", post(end_all_page))
        .route("/api/me/sessions", get(api_sessions))
        .route("/api/me/sessions/{sid}", delete(api_end))
        .route("/api/me/sessions/end-all", post(api_end_all))
        .route("/api/me/password", post(api_password))
        .route("/admin/accounts", get(admin_page))
        .route("/admin/accounts/{uid}/review", post(admin_review_page))
        .route("/admin/accounts/{uid}/suspend", post(admin_suspend_page))
        .route("/api/admin/accounts", get(api_accounts))
        .route("/api/admin/accounts/{uid}/review", post(api_review))
        .route("/api/admin/accounts/{uid}/suspend", post(api_suspend))
}

/// A session as its holder sees it (never its token or the token's hash).
fn session_json(s: &hdh_store::SessionRecord, current: &str) -> Value {
    json!({
        "id": s.id,
        "created_at": s.created_at,
        "last_seen_at": s.last_seen_at,
        "expires_at": s.expires_at,
        "client_addr": s.client_addr,
        "user_agent": s.user_agent,
        "current": s.token_hash == current,
    })
}

async fn sessions(st: &AppState, c: &Caller) -> Result<Vec<Value>, AppError> {
    Ok(st
        .store
        .user_sessions(&c.user.id)
        .await?
        .iter()
        .map(|s| session_json(s, &c.token_hash))
        .collect())
}

async fn render(st: &AppState, ctx: Ctx, c: &Caller, extra: minijinja::Value) -> PageResult {
    let list = sessions(st, c).await?;
    let policy = &st.config.accounts;
    ctx.render(
        st,
        "account.html",
        context! {
            account => context! {
                username => c.user.username.clone(),
                display_name => c.user.display_name.clone(),
                organisation => c.user.organisation.clone(),
                roles => c.user.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                created_at => c.user.created_at.clone(),
                password_changed_at => c.user.password_changed_at.clone(),
                reviewed_at => c.user.reviewed_at.clone(),
                terms_version => c.user.terms_version.clone(),
                terms_accepted_at => c.user.terms_accepted_at.clone(),
            },
            sessions => list,
            idle_minutes => policy.session_idle_minutes,
            session_hours => st.config.session_hours,
            min_password_chars => policy.min_password_chars,
            ..extra
        },
    )
}

async fn page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    let ctx = Ctx::new(&headers, jar, &q, Some(c.clone()));
    render(&st, ctx, &c, context! {}).await
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: Option<String>,
    current_password: String,
    new_password: String,
    repeat_password: String,
}

async fn password_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    PageCaller(c): PageCaller,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    let result = if f.new_password != f.repeat_password {
        Err(AppError::unprocessable(
            "repeat_password: the two new passwords differ",
        ))
    } else {
        crate::auth::change_password(&st, &c, &f.current_password, &f.new_password).await
    };
    let ctx = Ctx::new(&headers, jar, &LangQ::default(), Some(c.clone()));
    match result {
        Ok(()) => render(&st, ctx, &c, context! { password_changed => true }).await,
        Err(e) if e.status == axum::http::StatusCode::UNPROCESSABLE_ENTITY => {
            let (field, message) = e
                .message
                .split_once(": ")
                .map_or(("new_password", e.message.as_str()), |(f, m)| (f, m));
            let mut r = render(
                &st,
                ctx,
                &c,
                context! { password_error => message, password_field => field },
            )
            .await?;
            *r.status_mut() = e.status;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

async fn end_page(
    State(st): State<AppState>,
    Path(sid): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    crate::auth::end_session(&st, &c, &sid).await?;
    Ok(Redirect::to("/account#sessions").into_response())
}

#[derive(Deserialize)]
struct EndAllForm {
    csrf: Option<String>,
    confirm: Option<String>,
    /// "yes": this browser's session ends too.
    this_one_too: Option<String>,
}

async fn end_all_page(
    State(st): State<AppState>,
    jar: CookieJar,
    PageCaller(c): PageCaller,
    Form(f): Form<EndAllForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    confirmed(f.confirm.as_deref())?;
    let all = matches!(f.this_one_too.as_deref(), Some("yes" | "on"));
    crate::auth::sign_out_everywhere(&st, &c, all).await?;
    Ok(if all {
        (
            jar.remove(Cookie::build(crate::auth::COOKIE).path("/").build()),
            Redirect::to("/login"),
        )
            .into_response()
    } else {
        Redirect::to("/account#sessions").into_response()
    })
}

/// The caller's live sessions (the one of this token marked `current`).
#[utoipa::path(get, path = "/api/me/sessions", responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn api_sessions(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    Ok(Json(json!({ "sessions": sessions(&st, &c).await? })))
}

/// Ends one of the caller's sessions.
#[utoipa::path(delete, path = "/api/me/sessions/{sid}", params(("sid" = String, Path)), responses((status = 200, body = Object), (status = 404, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_end(
    State(st): State<AppState>,
    c: Caller,
    Path(sid): Path<String>,
) -> Result<Json<Value>, AppError> {
    crate::auth::end_session(&st, &c, &sid).await?;
    Ok(Json(json!({ "ended": sid })))
}

#[derive(Deserialize, ToSchema)]
pub struct EndAllInput {
    /// The session of this token ends too.
    #[serde(default)]
    pub this_one_too: bool,
}

/// Ends every other session of the caller (and this one if asked).
#[utoipa::path(post, path = "/api/me/sessions/end-all", request_body = EndAllInput, responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn api_end_all(
    State(st): State<AppState>,
    c: Caller,
    crate::api::ApiJson(i): crate::api::ApiJson<EndAllInput>,
) -> Result<Json<Value>, AppError> {
    let n = crate::auth::sign_out_everywhere(&st, &c, i.this_one_too).await?;
    Ok(Json(json!({ "ended": n })))
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordInput {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password; the caller's other sessions end.
#[utoipa::path(post, path = "/api/me/password", request_body = PasswordInput, responses((status = 200, body = Object), (status = 422, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_password(
    State(st): State<AppState>,
    c: Caller,
    crate::api::ApiJson(i): crate::api::ApiJson<PasswordInput>,
) -> Result<Json<Value>, AppError> {
    crate::auth::change_password(&st, &c, &i.current_password, &i.new_password).await?;
    Ok(Json(json!({ "changed": true })))
}

// ------------------------------------------------------------ yearly review

/// When an account's yearly review falls due, and when it is suspended if
/// still not reviewed (due + grace).
fn review_dates(
    st: &AppState,
    u: &hdh_store::User,
    now: chrono::DateTime<chrono::Utc>,
) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let policy = &st.config.accounts;
    let from = chrono::DateTime::parse_from_rfc3339(u.review_due_from())
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(now);
    let due = from + chrono::Duration::days(policy.review_every_days);
    (due, due + chrono::Duration::days(policy.review_grace_days))
}

/// An account as the administrator's list shows it.
fn review_state(st: &AppState, u: &hdh_store::User, now: chrono::DateTime<chrono::Utc>) -> Value {
    let (due, suspend_at) = review_dates(st, u, now);
    json!({
        "id": u.id,
        "username": u.username,
        "display_name": u.display_name,
        "organisation": u.organisation,
        "roles": u.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "created_at": u.created_at,
        "reviewed_at": u.reviewed_at,
        "review_due_at": due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "suspension_at": suspend_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "overdue": now >= due,
        "suspended_at": u.suspended_at,
        "suspended_reason": u.suspended_reason,
        "terms_version": u.terms_version,
        "terms_accepted_at": u.terms_accepted_at,
    })
}

async fn require_admin(st: &AppState, c: &Caller, action: &str) -> Result<(), AppError> {
    if c.has(hdh_model::Role::Admin) {
        return Ok(());
    }
    Err(crate::service::deny(
        st,
        c,
        action,
        "user",
        None,
        "only an administrator reviews and suspends accounts".into(),
    )
    .await)
}

/// Every account with its review state, overdue ones first.
async fn accounts(st: &AppState) -> Result<Vec<Value>, AppError> {
    let now = chrono::Utc::now();
    let mut list: Vec<Value> = st
        .store
        .users()
        .await?
        .iter()
        .map(|u| review_state(st, u, now))
        .collect();
    list.sort_by_key(|a| {
        (
            !a["overdue"].as_bool().unwrap_or(false),
            a["review_due_at"].as_str().unwrap_or("").to_string(),
        )
    });
    Ok(list)
}

/// Records the review of an account (and lifts a suspension).
pub async fn review(st: &AppState, c: &Caller, uid: &str) -> Result<(), AppError> {
    require_admin(st, c, "account.review").await?;
    let Some(u) = st.store.user(uid).await? else {
        return Err(AppError::not_found(format!("no account {uid:?}")));
    };
    let mut tx = st.store.begin().await?;
    tx.review_user(&u.id).await?;
    let mut ev = c.event("account.review", "user");
    ev.object_id = Some(u.id.clone());
    ev.details = json!({
        "username": u.username,
        "roles": hdh_model::role::format_roles(&u.roles),
        "was_suspended": u.suspended_reason,
    });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(())
}

/// Suspends an account by hand (its sessions end).
pub async fn suspend(st: &AppState, c: &Caller, uid: &str, reason: &str) -> Result<(), AppError> {
    require_admin(st, c, "account.suspend").await?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(AppError::unprocessable(
            "reason: say why, in at most 200 characters",
        ));
    }
    let Some(u) = st.store.user(uid).await? else {
        return Err(AppError::not_found(format!("no account {uid:?}")));
    };
    if u.id == c.user.id {
        return Err(AppError::unprocessable(
            "uid: an administrator does not suspend their own account",
        ));
    }
    let mut tx = st.store.begin().await?;
    tx.suspend_user(&u.id, reason).await?;
    let mut ev = c.event("account.suspend", "user");
    ev.object_id = Some(u.id.clone());
    ev.details = json!({ "username": u.username, "reason": reason });
    tx.audit(&ev).await?;
    tx.commit().await?;
    Ok(())
}

/// Suspends the accounts whose yearly review is overdue past its grace;
/// returns their names. Run at start and every hour by the server.
pub async fn suspend_overdue(st: &AppState) -> Result<Vec<String>, AppError> {
    let now = chrono::Utc::now();
    let mut done = Vec::new();
    for u in st.store.users().await? {
        let (due, suspend_at) = review_dates(st, &u, now);
        if now < suspend_at || u.is_suspended() {
            continue;
        }
        let mut tx = st.store.begin().await?;
        tx.suspend_user(&u.id, "yearly review overdue").await?;
        let mut ev = hdh_model::AuditEvent::new("account.suspend", "user");
        ev.actor_id = Some("system".into());
        ev.actor_name = Some("hdh".into());
        ev.object_id = Some(u.id.clone());
        ev.details = json!({
            "username": u.username,
            "reason": "yearly review overdue",
            "review_due_at": due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
        tx.audit(&ev).await?;
        tx.commit().await?;
        done.push(u.username);
    }
    Ok(done)
}

/// Sweeps overdue accounts now and every hour.
pub fn spawn_review_sweep(st: AppState) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match suspend_overdue(&st).await {
                Ok(names) if !names.is_empty() => {
                    tracing::info!("{} accounts suspended: yearly review overdue", names.len())
                }
                Ok(_) => {}
                Err(e) => tracing::error!("sweeping overdue account reviews: {}", e.message),
            }
        }
    });
}

async fn admin_page(
    State(st): State<AppState>,
    headers: HeaderMap,
    jar: CookieJar,
    axum::extract::Query(q): axum::extract::Query<LangQ>,
    PageCaller(c): PageCaller,
) -> PageResult {
    require_admin(&st, &c, "account.list").await?;
    let list = accounts(&st).await?;
    let overdue = list.iter().filter(|a| a["overdue"] == true).count();
    let policy = &st.config.accounts;
    Ctx::new(&headers, jar, &q, Some(c)).render(
        &st,
        "admin_accounts.html",
        context! {
            accounts => list,
            overdue => overdue,
            review_every_days => policy.review_every_days,
            review_grace_days => policy.review_grace_days,
        },
    )
}

async fn admin_review_page(
    State(st): State<AppState>,
    Path(uid): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    review(&st, &c, &uid).await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

#[derive(Deserialize)]
struct SuspendForm {
    csrf: Option<String>,
    confirm: Option<String>,
    reason: String,
}

async fn admin_suspend_page(
    State(st): State<AppState>,
    Path(uid): Path<String>,
    PageCaller(c): PageCaller,
    Form(f): Form<SuspendForm>,
) -> PageResult {
    c.check_csrf(f.csrf.as_deref())?;
    confirmed(f.confirm.as_deref())?;
    suspend(&st, &c, &uid, &f.reason).await?;
    Ok(Redirect::to("/admin/accounts").into_response())
}

/// Every account with its yearly review's state (administrators).
#[utoipa::path(get, path = "/api/admin/accounts", responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_accounts(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    require_admin(&st, &c, "account.list").await?;
    Ok(Json(json!({ "accounts": accounts(&st).await? })))
}

/// Records the yearly review of an account and its roles (lifts a
/// suspension).
#[utoipa::path(post, path = "/api/admin/accounts/{uid}/review", params(("uid" = String, Path)), responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_review(
    State(st): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<Value>, AppError> {
    review(&st, &c, &uid).await?;
    Ok(Json(json!({ "reviewed": uid })))
}

#[derive(Deserialize, ToSchema)]
pub struct SuspendInput {
    /// Why (kept with the account and in the audit log).
    pub reason: String,
}

/// Suspends an account: no sign-in, its sessions end.
#[utoipa::path(post, path = "/api/admin/accounts/{uid}/suspend", params(("uid" = String, Path)), request_body = SuspendInput, responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_suspend(
    State(st): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    crate::api::ApiJson(i): crate::api::ApiJson<SuspendInput>,
) -> Result<Json<Value>, AppError> {
    suspend(&st, &c, &uid, &i.reason).await?;
    Ok(Json(json!({ "suspended": uid })))
}
