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

// ---------------------------------------------------------------- routes, agreements, committee

/// The legal route a request follows (an unknown name, e.g. a route removed
/// from the configuration since: the standard route, every step).
pub fn route_of(state: &AppState, r: &AccessRequest) -> hdh_model::request::Route {
    state
        .config
        .routes
        .iter()
        .find(|x| x.name == r.route)
        .cloned()
        .unwrap_or_else(hdh_model::request::Route::standard)
}

/// Whether the caller speaks for the producer of a dataset.
pub fn is_producer_of(caller: &Caller, d: &hdh_store::Dataset) -> bool {
    speaks_for_producer(&caller.user, d)
}

/// Whether an account speaks for the producer of a dataset: a producer who
/// owns it, or a producer of the same organisation.
pub fn speaks_for_producer(u: &hdh_store::User, d: &hdh_store::Dataset) -> bool {
    u.has(hdh_model::Role::Producer)
        && (d.owner_id == u.id || (!u.organisation.is_empty() && u.organisation == d.producer_name))
}

/// The datasets of a request whose producer has not yet agreed to provide
/// them. Datasets the hub itself administers (imported from a package by an
/// administrator, owned by the `system` account) need no agreement; neither
/// does any dataset on a route without the producers' agreement.
pub async fn pending_agreements(
    state: &AppState,
    r: &AccessRequest,
) -> Result<Vec<hdh_store::Dataset>, AppError> {
    if !route_of(state, r).producer_agreement {
        return Ok(vec![]);
    }
    let agreed = state.store.agreements(&r.id).await?;
    let mut out: Vec<hdh_store::Dataset> = Vec::new();
    for item in &r.scope {
        if out.iter().any(|d| d.id == item.dataset_id)
            || agreed.iter().any(|a| a.dataset_id == item.dataset_id)
        {
            continue;
        }
        if let Some(d) = state.store.dataset(&item.dataset_id).await?
            && d.owner_id != "system"
        {
            out.push(d);
        }
    }
    Ok(out)
}

/// Why a committee member may not give the opinion on `r` (`None`: they may).
pub async fn reviewer_clearance(
    state: &AppState,
    caller: &Caller,
    r: &AccessRequest,
) -> Result<Option<String>, AppError> {
    let reviewers = state.store.reviewers(&r.id).await?;
    Ok(
        match reviewers.iter().find(|x| x.user_id == caller.user.id) {
            None if reviewers.is_empty() => Some(
                "no reviewer is assigned to this request yet: the secretariat assigns them".into(),
            ),
            None => Some("you are not an assigned reviewer of this request".into()),
            Some(x) if x.declaration.is_none() => Some(
                "declare your interests in this request before reading it or giving an opinion"
                    .into(),
            ),
            Some(x) if !x.cleared() => {
                Some("you declared a conflict of interest with this request".into())
            }
            Some(_) => None,
        },
    )
}

/// Why the caller may not read the file of `r` beyond what the public
/// registry shows (`None`: they may). Applicant and desk staff are handled by
/// [`service::can_view_request`]; here: assigned committee members once
/// cleared, team members, and the producers whose agreement is awaited.
pub async fn file_access(
    state: &AppState,
    caller: &Caller,
    r: &AccessRequest,
) -> Result<Option<String>, AppError> {
    if caller.has(hdh_model::Role::Committee)
        && r.state != AccessRequestState::Draft
        && state
            .store
            .reviewers(&r.id)
            .await?
            .iter()
            .any(|x| x.user_id == caller.user.id)
    {
        return reviewer_clearance(state, caller, r).await;
    }
    if r.details
        .team
        .iter()
        .any(|m| m.username.as_deref() == Some(caller.user.username.as_str()))
    {
        return Ok(None);
    }
    if caller.has(hdh_model::Role::Producer) && r.state != AccessRequestState::Draft {
        for item in &r.scope {
            if let Some(d) = state.store.dataset(&item.dataset_id).await?
                && is_producer_of(caller, &d)
            {
                return Ok(None);
            }
        }
    }
    Ok(Some("this request is not yours".into()))
}

/// The secretariat assigns a committee member to review a request.
pub async fn assign_reviewer(
    state: &AppState,
    caller: &Caller,
    id: &str,
    username: &str,
) -> Result<hdh_store::Reviewer, AppError> {
    let r = service::request_or_404(state, id).await?;
    if !caller.has(hdh_model::Role::Secretariat) {
        return Err(service::deny(
            state,
            caller,
            "request.assign_reviewer",
            "access_request",
            Some(id),
            "assigning reviewers needs the secretariat role".into(),
        )
        .await);
    }
    if !matches!(
        r.state,
        AccessRequestState::Submitted | AccessRequestState::EthicsReview
    ) {
        return Err(AppError::conflict(format!(
            "request {id} is {}: reviewers are assigned while it is submitted or under ethics review",
            r.state
        )));
    }
    let user = state
        .store
        .user_by_name(username)
        .await?
        .filter(|u| u.has(hdh_model::Role::Committee))
        .ok_or_else(|| {
            service::invalid_fields(vec![(
                "username".into(),
                format!("{username:?} is not a member of the committee"),
            )])
        })?;
    if user.id == r.applicant_id {
        return Err(service::invalid_fields(vec![(
            "username".into(),
            format!("{username:?} is the applicant of this request"),
        )]));
    }
    let mut tx = state.store.begin().await?;
    let added = tx.assign_reviewer(id, &user.id, &caller.user.id).await?;
    tx.audit(
        &caller
            .event("request.assign_reviewer", "access_request")
            .object(id)
            .details(json!({ "reviewer": user.username, "new": added })),
    )
    .await?;
    let mail = if added {
        crate::notify::queue(
            state,
            &mut tx,
            std::slice::from_ref(&user),
            &r,
            crate::notify::Notice::Assigned,
        )
        .await?
    } else {
        vec![]
    };
    tx.commit().await?;
    crate::notify::send(state, mail);
    reviewer_of(state, id, &user.id)
        .await?
        .ok_or_else(|| AppError::internal("reviewer vanished"))
}

/// An assigned committee member declares their interests in a request,
/// before they may read it: none (then they may), or a conflict (then they
/// are recused).
pub async fn declare_interests(
    state: &AppState,
    caller: &Caller,
    id: &str,
    conflict: bool,
    note: Option<String>,
) -> Result<hdh_store::Reviewer, AppError> {
    let r = service::request_or_404(state, id).await?;
    let me = reviewer_of(state, id, &caller.user.id).await?;
    let Some(me) = me else {
        return Err(service::deny(
            state,
            caller,
            "request.declare_interests",
            "access_request",
            Some(id),
            "you are not an assigned reviewer of this request".into(),
        )
        .await);
    };
    if me.declaration.as_deref() == Some("conflict") {
        return Err(AppError::conflict(
            "you declared a conflict of interest: the secretariat assigns another reviewer",
        ));
    }
    if conflict && note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(service::invalid_fields(vec![(
            "note".into(),
            "say what the conflict of interest is".into(),
        )]));
    }
    let declaration = if conflict { "conflict" } else { "none" };
    let mut tx = state.store.begin().await?;
    tx.declare_interests(id, &caller.user.id, declaration, note.as_deref())
        .await?;
    tx.audit(
        &caller
            .event("request.declare_interests", "access_request")
            .object(id)
            .details(json!({ "declaration": declaration })),
    )
    .await?;
    let mail = if conflict {
        let sec = state
            .store
            .users_with_role(hdh_model::Role::Secretariat)
            .await?;
        crate::notify::queue(state, &mut tx, &sec, &r, crate::notify::Notice::Recused).await?
    } else {
        vec![]
    };
    tx.commit().await?;
    crate::notify::send(state, mail);
    reviewer_of(state, id, &caller.user.id)
        .await?
        .ok_or_else(|| AppError::internal("reviewer vanished"))
}

/// A comment on a request's file, by anyone who may read it.
pub async fn comment(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: &str,
) -> Result<hdh_store::Comment, AppError> {
    let (r, _) = service::view_request(state, caller, id).await?;
    if body.trim().is_empty() {
        return Err(service::invalid_fields(vec![(
            "body".into(),
            "write a comment".into(),
        )]));
    }
    if body.chars().count() > 10_000 {
        return Err(service::invalid_fields(vec![(
            "body".into(),
            "at most 10 000 characters".into(),
        )]));
    }
    let role = if r.applicant_id == caller.user.id {
        "applicant".to_string()
    } else {
        [
            hdh_model::Role::Secretariat,
            hdh_model::Role::Committee,
            hdh_model::Role::Authority,
            hdh_model::Role::Producer,
        ]
        .into_iter()
        .find(|x| caller.has(*x))
        .map_or("reader".to_string(), |x| x.as_str().to_string())
    };
    let c = hdh_store::Comment {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: id.to_string(),
        author_id: caller.user.id.clone(),
        role,
        body: body.trim().to_string(),
        at: hdh_store::now(),
    };
    let mut tx = state.store.begin().await?;
    tx.insert_comment(&c).await?;
    tx.audit(&caller.event("request.comment", "access_request").object(id))
        .await?;
    // The applicant hears of the desk's comments, the desk of the applicant's.
    let mut to = Vec::new();
    if r.applicant_id != caller.user.id {
        if let Some(u) = state.store.user(&r.applicant_id).await? {
            to.push(u);
        }
    } else {
        for x in state.store.reviewers(id).await? {
            if x.cleared()
                && let Some(u) = state.store.user(&x.user_id).await?
            {
                to.push(u);
            }
        }
        to.extend(
            state
                .store
                .users_with_role(hdh_model::Role::Secretariat)
                .await?,
        );
    }
    to.retain(|u| u.id != caller.user.id);
    let mail =
        crate::notify::queue(state, &mut tx, &to, &r, crate::notify::Notice::Comment).await?;
    tx.commit().await?;
    crate::notify::send(state, mail);
    Ok(c)
}

/// A reviewer's assignment to a request.
async fn reviewer_of(
    state: &AppState,
    id: &str,
    user_id: &str,
) -> Result<Option<hdh_store::Reviewer>, AppError> {
    Ok(state
        .store
        .reviewers(id)
        .await?
        .into_iter()
        .find(|x| x.user_id == user_id))
}
