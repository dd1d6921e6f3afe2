//! Alerts in the hub: the rules (`hdh_alerts`) evaluated over the audit log
//! as it grows (a task that follows the chain; history replayed at start,
//! so windows are whole and no alert is raised twice), and the security
//! officer's life cycle of an alert: open → acknowledged → assigned →
//! closed with a note.

use crate::auth::Caller;
use crate::service::{deny, invalid_fields};
use crate::{AppError, AppState};
use hdh_alerts::{Engine, Response};
use hdh_model::{AuditEvent, Role};
use hdh_store::{StoredAlert, now};
use sha2::Digest;

/// Follows the audit log and records the alerts its rules raise. History
/// (the log up to its head at start) is replayed to rebuild the rules'
/// windows: alerts it raises are recorded, but automatic responses and
/// e-mails are only for events written while the hub runs.
pub fn spawn(state: AppState, every: std::time::Duration) {
    tokio::spawn(async move {
        let mut engine = Engine::new(state.config.alert_rules.clone());
        let live_after = match state.store.audit_head().await {
            Ok((seq, _)) => seq,
            Err(e) => {
                tracing::error!("alerts: {e}");
                0
            }
        };
        let mut cursor = 0i64;
        loop {
            match step(&state, &mut engine, cursor, live_after).await {
                Ok(next) => cursor = next,
                Err(e) => tracing::error!("alerts: {}", e.message),
            }
            tokio::time::sleep(every).await;
        }
    });
}

/// The id of an alert: rule, first event, subject (a replay finds the same).
fn alert_id(a: &hdh_alerts::Alert) -> String {
    format!(
        "{}-{}-{}",
        a.rule,
        a.evidence.first().copied().unwrap_or(0),
        &hex::encode(sha2::Sha256::digest(
            a.subject.as_deref().unwrap_or("").as_bytes()
        ))[..8]
    )
}

/// Feeds the entries after `cursor` to the engine; the new cursor.
async fn step(
    state: &AppState,
    engine: &mut Engine,
    cursor: i64,
    live_after: i64,
) -> Result<i64, AppError> {
    let (head, _) = state.store.audit_head().await?;
    let mut at = cursor;
    while at < head {
        let to = (at + 5000).min(head);
        let entries = state.store.audit_entries(at + 1, to).await?;
        let mut raised = Vec::new();
        for e in &entries {
            raised.extend(engine.observe(e).into_iter().map(|a| (e.seq, a)));
        }
        if !raised.is_empty() {
            let mut tx = state.store.begin().await?;
            let mut new = 0;
            let mut mails = Vec::new();
            for (seq, a) in &raised {
                let mut stored = StoredAlert {
                    id: alert_id(a),
                    rule: a.rule.clone(),
                    severity: format!("{:?}", a.severity).to_lowercase(),
                    subject: a.subject.clone(),
                    at: a.at.clone(),
                    evidence: a.evidence.clone(),
                    message: a.message.clone(),
                    state: "open".into(),
                    assignee: None,
                    note: None,
                    updated_at: now(),
                    project_id: a.project.clone(),
                    responses: Vec::new(),
                };
                if !tx.insert_alert(&stored).await? {
                    continue;
                }
                new += 1;
                let live = *seq > live_after;
                if live {
                    stored.responses = respond(state, &mut tx, a, &stored.id).await?;
                    if !stored.responses.is_empty() {
                        tx.set_alert_responses(&stored.id, &stored.responses)
                            .await?;
                    }
                }
                tx.audit(
                    &AuditEvent::new("alert.raise", "alert")
                        .object(&stored.id)
                        .details(serde_json::json!({
                            "rule": stored.rule,
                            "severity": stored.severity,
                            "subject": stored.subject,
                            "evidence": stored.evidence,
                            "project": stored.project_id,
                            "responses": stored.responses,
                        })),
                )
                .await?;
                if live && a.severity == hdh_alerts::Severity::High {
                    mails.extend(tell_officers(state, &mut tx, &stored).await?);
                }
            }
            if new > 0 {
                tx.commit().await?;
                crate::notify::send(state, mails);
            } else {
                tx.rollback().await?;
            }
        }
        at = to;
    }
    Ok(at)
}

/// The rule's automatic responses, in the alert's transaction; what was done.
async fn respond(
    state: &AppState,
    tx: &mut hdh_store::Tx,
    a: &hdh_alerts::Alert,
    alert_id: &str,
) -> Result<Vec<String>, AppError> {
    let mut done = Vec::new();
    for r in &a.respond {
        match r {
            Response::SuspendTokens => {
                // The account the alert is about (not an address).
                let Some(name) = a
                    .subject
                    .as_deref()
                    .filter(|s| !s.starts_with("address "))
                    .map(|s| s.strip_prefix("account ").unwrap_or(s))
                else {
                    continue;
                };
                let Some(user) = state.store.user_by_name(name).await? else {
                    continue;
                };
                let ids = tx.revoke_tokens_of(&user.id).await?;
                // The account's sessions (pages and API) end too.
                let sessions = tx.delete_user_sessions(&user.id, None).await?;
                if !ids.is_empty() || sessions > 0 {
                    tx.audit(
                        &AuditEvent::new("token.suspend", "user")
                            .object(&user.id)
                            .details(serde_json::json!({
                                "alert": alert_id,
                                "tokens": ids,
                                "sessions_ended": sessions,
                            })),
                    )
                    .await?;
                }
                done.push(format!(
                    "suspend_tokens: {} token(s) of {name} revoked, {sessions} session(s) ended",
                    ids.len()
                ));
            }
            Response::LockWorkspace => {
                let Some(p) = &a.project else { continue };
                let lock = hdh_store::WorkspaceLock {
                    project_id: p.clone(),
                    alert_id: alert_id.to_string(),
                    locked_at: now(),
                    reason: format!("{}: {}", a.rule, a.message),
                };
                if tx.lock_workspace(&lock).await? {
                    tx.audit(
                        &AuditEvent::new("workspace.lock", "project")
                            .object(p)
                            .project(p)
                            .details(serde_json::json!({ "alert": alert_id, "rule": a.rule })),
                    )
                    .await?;
                }
                done.push(format!("lock_workspace: project {p} locked"));
            }
        }
    }
    Ok(done)
}

/// Inbox message and e-mail to every security officer about a high alert.
async fn tell_officers(
    state: &AppState,
    tx: &mut hdh_store::Tx,
    a: &StoredAlert,
) -> Result<Vec<crate::notify::Mail>, AppError> {
    let officers = state.store.users_with_role(Role::SecurityOfficer).await?;
    let subject = format!("[hdh] high alert: {}", a.rule);
    let mut body = format!(
        "The rule {} raised a high-severity alert{}: {}.",
        a.rule,
        a.subject
            .as_deref()
            .map(|s| format!(" about {s}"))
            .unwrap_or_default(),
        a.message
    );
    if !a.responses.is_empty() {
        body.push_str(&format!(
            "\n\nThe hub already responded: {}.",
            a.responses.join("; ")
        ));
    }
    let link = format!("/alerts#{}", a.id);
    crate::notify::queue_message(
        state,
        tx,
        &officers,
        &crate::notify::Message {
            request_id: None,
            subject: &subject,
            body: &body,
            link: &link,
            about: &format!("Alert {}", a.id),
        },
    )
    .await
}

async fn officer(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: Option<&str>,
) -> Result<(), AppError> {
    if caller.has(Role::SecurityOfficer) {
        return Ok(());
    }
    Err(deny(
        state,
        caller,
        action,
        "alert",
        id,
        "alerts are for the security officer".into(),
    )
    .await)
}

/// Alerts, newest first (the security officer).
pub async fn list(
    state: &AppState,
    caller: &Caller,
    status: Option<&str>,
    severity: Option<&str>,
) -> Result<Vec<StoredAlert>, AppError> {
    officer(state, caller, "alert.list", None).await?;
    Ok(state.store.alerts(status, severity).await?)
}

/// Alerts per day, by severity, over the `days` days that end on `today`
/// (UTC): (day, high, medium, low), the oldest day first; the alerts page
/// draws it and shows it as a table.
pub fn per_day(
    alerts: &[StoredAlert],
    today: chrono::NaiveDate,
    days: u32,
) -> Vec<(String, [u64; 3])> {
    let first = today - chrono::Days::new(u64::from(days.saturating_sub(1)));
    let mut out: Vec<(String, [u64; 3])> = first
        .iter_days()
        .take(days as usize)
        .map(|d| (d.format("%Y-%m-%d").to_string(), [0; 3]))
        .collect();
    for a in alerts {
        let Some(day) =
            a.at.get(..10)
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        let Some(i) = usize::try_from((day - first).num_days())
            .ok()
            .filter(|i| *i < out.len())
        else {
            continue;
        };
        let k = match a.severity.as_str() {
            "high" => 0,
            "medium" => 1,
            _ => 2,
        };
        out[i].1[k] += 1;
    }
    out
}

/// Moves an alert along its life cycle.
pub async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &str,
    assignee: Option<&str>,
    note: Option<&str>,
) -> Result<StoredAlert, AppError> {
    let audit_action = format!("alert.{action}");
    officer(state, caller, &audit_action, Some(id)).await?;
    let a = state
        .store
        .alert(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("alert {id}")))?;
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let assignee = assignee.map(str::trim).filter(|n| !n.is_empty());
    let to = match (action, a.state.as_str()) {
        ("acknowledge", "open") => "acknowledged",
        ("assign", "open" | "acknowledged" | "assigned") => {
            let Some(who) = assignee else {
                return Err(invalid_fields(vec![(
                    "assignee".into(),
                    "name the account that investigates".into(),
                )]));
            };
            if state.store.user_by_name(who).await?.is_none() {
                return Err(invalid_fields(vec![(
                    "assignee".into(),
                    format!("no account {who:?}"),
                )]));
            }
            "assigned"
        }
        ("close", "open" | "acknowledged" | "assigned") => {
            if note.is_none() {
                return Err(invalid_fields(vec![(
                    "note".into(),
                    "say what was found and done".into(),
                )]));
            }
            "closed"
        }
        ("acknowledge" | "assign" | "close", from) => {
            return Err(AppError::conflict(format!(
                "alert {id} is {from}: {action} is not possible"
            )));
        }
        (other, _) => {
            return Err(invalid_fields(vec![(
                "action".into(),
                format!("{other:?}: acknowledge, assign or close"),
            )]));
        }
    };
    let mut tx = state.store.begin().await?;
    tx.set_alert_state(id, &a.state, to, assignee, note).await?;
    if to == "closed" {
        // The review is over: the workspaces this alert locked open again.
        for p in tx.release_locks(id, &caller.user.id).await? {
            let mut ev = caller
                .event("workspace.unlock", "project")
                .object(&p)
                .project(&p)
                .details(serde_json::json!({ "alert": id }));
            ev.role = Some(Role::SecurityOfficer.as_str().into());
            tx.audit(&ev).await?;
        }
    }
    let mut ev = caller.event(&audit_action, "alert").object(id).details(
        serde_json::json!({ "from": a.state, "to": to, "assignee": assignee, "note": note }),
    );
    ev.role = Some(Role::SecurityOfficer.as_str().into());
    tx.audit(&ev).await?;
    tx.commit().await?;
    state
        .store
        .alert(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("alert {id}")))
}

// ---------------------------------------------------------------- API

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertFilter {
    /// open, acknowledged, assigned or closed.
    pub state: Option<String>,
    /// low, medium or high.
    pub severity: Option<String>,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct AlertActionInput {
    /// acknowledge, assign or close.
    pub action: String,
    /// The account that investigates (to assign).
    #[serde(default)]
    pub assignee: Option<String>,
    /// What was found and done (to close).
    #[serde(default)]
    pub note: Option<String>,
}

/// The alerts raised over the audit log, newest first (security officer).
#[utoipa::path(get, path = "/api/alerts", params(AlertFilter), responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_list(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    q: Result<axum::extract::Query<AlertFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let axum::extract::Query(f) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let all = list(&st, &c, f.state.as_deref(), f.severity.as_deref()).await?;
    Ok(axum::Json(serde_json::json!({ "alerts": all })))
}

/// Acknowledges, assigns or closes (with a note) an alert.
#[utoipa::path(post, path = "/api/alerts/{id}/actions", params(("id" = String, Path)), request_body = AlertActionInput, responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_act(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::api::ApiJson(i): crate::api::ApiJson<AlertActionInput>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let a = act(
        &st,
        &c,
        &id,
        &i.action,
        i.assignee.as_deref(),
        i.note.as_deref(),
    )
    .await?;
    Ok(axum::Json(serde_json::json!({ "alert": a })))
}

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/alerts", axum::routing::get(api_list))
        .route("/api/alerts/{id}/actions", axum::routing::post(api_act))
}

#[cfg(test)]
mod per_day_tests {
    use super::*;

    fn alert(at: &str, severity: &str) -> StoredAlert {
        StoredAlert {
            id: "a".into(),
            rule: "r".into(),
            severity: severity.into(),
            subject: None,
            at: at.into(),
            evidence: vec![],
            message: String::new(),
            state: "open".into(),
            assignee: None,
            note: None,
            updated_at: at.into(),
            project_id: None,
            responses: vec![],
        }
    }

    #[test]
    fn counts_each_day_by_severity_and_leaves_out_older_alerts() {
        let today = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
        let alerts = [
            alert("2026-03-02T10:00:00Z", "high"),
            alert("2026-03-02T11:00:00Z", "low"),
            alert("2026-02-28T09:00:00Z", "medium"),
            alert("2026-01-01T09:00:00Z", "high"),
            alert("not a date", "high"),
        ];
        let days = per_day(&alerts, today, 3);
        assert_eq!(
            days,
            vec![
                ("2026-02-28".to_string(), [0, 1, 0]),
                ("2026-03-01".to_string(), [0, 0, 0]),
                ("2026-03-02".to_string(), [1, 0, 1]),
            ]
        );
    }
}
