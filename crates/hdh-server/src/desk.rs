//! The desk's clocks: each review step's working days, deadline and state
//! (computed from the request's transitions with `hdh-desk`), and the
//! reviewers' queue sorted by deadline.

use crate::auth::Caller;
use crate::service;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::NaiveDate;
use hdh_desk::{StepClock, Transition};
use hdh_model::request::AccessRequestState;
use hdh_store::{AccessRequest, RequestEvent};
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/desk/queue", get(queue))
        .route("/api/desk/statistics", get(statistics_json))
}

/// The day of an event's time stamp (RFC 3339; UTC).
fn day_of(at: &str) -> Option<NaiveDate> {
    chrono::DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.naive_utc().date())
        .or_else(|| at.get(..10).and_then(|d| d.parse().ok()))
}

/// Today, as the desk's clocks count it (UTC).
pub fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

/// The clocks of a request's review steps as of `today`.
pub fn clocks(
    state: &AppState,
    request: &AccessRequest,
    events: &[RequestEvent],
    today: NaiveDate,
) -> Vec<StepClock> {
    let transitions: Vec<Transition> = events
        .iter()
        .filter_map(|e| {
            Some(Transition {
                from: e.from_state.parse::<AccessRequestState>().ok()?,
                to: e.to_state.parse::<AccessRequestState>().ok()?,
                on: day_of(&e.at)?,
            })
        })
        .collect();
    hdh_desk::clocks(
        &transitions,
        request.state,
        today,
        &state.config.calendar,
        &state.config.deadlines,
    )
}

/// The requests awaiting one of the caller's review roles, the most urgent
/// first (fewest working days left), each with its running clock.
#[utoipa::path(get, path = "/api/desk/queue", responses((status = 200, body = Object), (status = 401, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub(crate) async fn queue(State(st): State<AppState>, c: Caller) -> Result<Json<Value>, AppError> {
    let today = today();
    let mut items: Vec<(i64, Value)> = Vec::new();
    for r in service::list_requests(&st, &c).await? {
        let Some(reviewer) = r.state.reviewer() else {
            continue;
        };
        // Nobody reviews their own request.
        if !c.has(reviewer) || r.applicant_id == c.user.id {
            continue;
        }
        let events = st.store.request_events(&r.id).await?;
        let clock = clocks(&st, &r, &events, today)
            .into_iter()
            .find(|k| k.step == r.state);
        let left = clock.as_ref().map_or(i64::MAX, |k| k.days_left);
        items.push((left, json!({ "request": r, "clock": clock })));
    }
    items.sort_by_key(|(left, _)| *left);
    Ok(Json(json!({
        "today": today,
        "queue": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>(),
    })))
}

/// The desk's delay statistics over every request, as of today.
pub async fn statistics(state: &AppState) -> Result<hdh_desk::DelayStats, AppError> {
    let today = today();
    let mut all = Vec::new();
    for r in state.store.requests().await? {
        let events = state.store.request_events(&r.id).await?;
        let submitted = events
            .iter()
            .find(|e| e.to_state == AccessRequestState::Submitted.as_str())
            .and_then(|e| day_of(&e.at));
        all.push((clocks(state, &r, &events, today), submitted));
    }
    Ok(hdh_desk::delay_stats(&all))
}

/// Delay statistics of the desk (public: counts and working days only):
/// per review step, the median and 90th percentile of the working days
/// taken, the share done on time, what runs and is overdue now; requests
/// submitted per month.
#[utoipa::path(get, path = "/api/desk/statistics", responses((status = 200, body = Object)))]
pub(crate) async fn statistics_json(State(st): State<AppState>) -> Result<Json<Value>, AppError> {
    Ok(Json(
        json!({ "today": today(), "statistics": statistics(&st).await? }),
    ))
}
