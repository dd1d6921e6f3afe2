//! The public registry of projects: every access request from its
//! submission on (never a draft), with what it asks for, where it stands
//! and the dates of its opinion and decision. No sign-in; stable URLs:
//! `/registry` (page), `/registry.json`, `/registry.csv`, `/registry.atom`.
//!
//! What is public is chosen here, field by field ([`RegistryEntry`]): never
//! an account name, an e-mail address, a reason for sending back, or a
//! reviewer's identity.

use crate::{AppError, AppState};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hdh_model::request::AccessRequestState as S;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/registry.json", get(registry_json))
        .route(
            "/audit/checkpoints.json",
            get(crate::audit_log::checkpoints_json),
        )
        .route("/registry.csv", get(registry_csv))
        .route("/registry.atom", get(registry_atom))
}

/// One project as the public sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistryEntry {
    pub id: String,
    pub title: String,
    /// The summary written for the public (the statement of purpose when
    /// none was written).
    pub summary: String,
    pub public_interest: String,
    /// The lead applicant's name and organisation.
    pub lead: String,
    pub organisation: String,
    pub datasets: Vec<String>,
    /// `dataset/table.column`, every variable asked for.
    pub variables: Vec<String>,
    pub period_start: String,
    pub period_end: String,
    pub duration_months: i64,
    /// The request's state (`submitted`, `ethics_review`, …, `refused`,
    /// `withdrawn`, `closed`).
    pub status: String,
    pub submitted_on: Option<String>,
    /// When the ethics committee gave its opinion.
    pub ethics_opinion_on: Option<String>,
    /// When the authority decided.
    pub authority_decision_on: Option<String>,
    pub closed_on: Option<String>,
    pub updated_at: String,
    /// The legal route (`standard`, `reference_methodology`…).
    pub route: String,
    /// The team as declared: "name (role, organisation)".
    pub team: Vec<String>,
    /// The committee's opinion (favourable, favourable_with_reservations, unfavourable).
    pub ethics_opinion: Option<String>,
    /// The authority's decision (`authorised`, `refused`) and its reference number.
    pub authority_decision: Option<String>,
    pub authority_reference: Option<String>,
    /// Results deposited at closing: publications, reports, links.
    pub results: String,
    /// The project this request amends, if it is an amendment.
    pub amends: Option<String>,
    /// Outputs released from the project's workspace (release requests
    /// that passed output control).
    pub releases: i64,
    /// Queries run in the project's workspace (never their text or results).
    pub queries: i64,
    /// The day of the project's last recorded action.
    pub last_activity: Option<String>,
}

/// Filters of the registry (all optional).
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistryFilter {
    /// Words to find in the title, summary, organisation or lead.
    pub q: Option<String>,
    /// One status.
    pub status: Option<String>,
    /// Projects asking for this dataset.
    pub dataset: Option<String>,
}

impl RegistryFilter {
    pub fn keeps(&self, e: &RegistryEntry) -> bool {
        let words_ok = match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => true,
            Some(q) => {
                let hay = format!(
                    "{} {} {} {} {}",
                    e.title, e.summary, e.organisation, e.lead, e.id
                )
                .to_lowercase();
                q.to_lowercase().split_whitespace().all(|w| hay.contains(w))
            }
        };
        let status_ok = self
            .status
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|s| e.status == s);
        let dataset_ok = self
            .dataset
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_none_or(|d| e.datasets.iter().any(|x| x == d));
        words_ok && status_ok && dataset_ok
    }
}

fn day(at: &str) -> String {
    at.get(..10).unwrap_or(at).to_string()
}

/// Every request that was ever submitted, newest change first, filtered.
pub async fn entries(
    state: &AppState,
    filter: &RegistryFilter,
) -> Result<Vec<RegistryEntry>, AppError> {
    let mut out = Vec::new();
    for r in state.store.requests().await? {
        if let Some(entry) = entry_of(state, &r).await?
            && filter.keeps(&entry)
        {
            out.push(entry);
        }
    }
    out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// One project of the registry (`None`: not public, e.g. a draft).
pub async fn entry(state: &AppState, id: &str) -> Result<Option<RegistryEntry>, AppError> {
    match state.store.request(id).await? {
        Some(r) => entry_of(state, &r).await,
        None => Ok(None),
    }
}

async fn entry_of(
    state: &AppState,
    r: &hdh_store::AccessRequest,
) -> Result<Option<RegistryEntry>, AppError> {
    let events = state.store.request_events(&r.id).await?;
    let submitted_on = events
        .iter()
        .find(|e| e.to_state == S::Submitted.as_str())
        .map(|e| day(&e.at));
    // A draft (or a draft withdrawn before submission) is private.
    if submitted_on.is_none() {
        return Ok(None);
    }
    // The last opinion, the last decision (a sending back is neither).
    let opinion = events.iter().rev().find(|e| {
        e.action == "opinion" || (e.action == "approve" && e.from_state == S::EthicsReview.as_str())
    });
    let decision = events.iter().rev().find(|e| {
        e.from_state == S::AuthorityReview.as_str()
            && matches!(e.action.as_str(), "authorise" | "refuse" | "approve")
    });
    let closed_on = events
        .iter()
        .rev()
        .find(|e| e.to_state == S::Closed.as_str())
        .map(|e| day(&e.at));
    let applicant = state.store.user(&r.applicant_id).await?;
    let (releases, queries, last_activity) = match state.store.project_for_request(&r.id).await? {
        Some(p) => {
            let (queries, last) = state.store.project_activity(&p.id).await?;
            (
                state.store.released_count(&p.id).await?,
                queries,
                last.map(|at| day(&at)),
            )
        }
        None => (0, 0, None),
    };
    let datasets: BTreeSet<String> = r.scope.iter().map(|s| s.dataset_id.clone()).collect();
    let variables = r
        .scope
        .iter()
        .flat_map(|s| {
            s.columns
                .iter()
                .map(move |c| format!("{}/{}.{c}", s.dataset_id, s.table))
        })
        .collect();
    let d = &r.details;
    Ok(Some(RegistryEntry {
        id: r.id.clone(),
        title: r.title.clone(),
        summary: if d.summary_public.trim().is_empty() {
            r.purpose.clone()
        } else {
            d.summary_public.clone()
        },
        public_interest: r.public_interest.clone(),
        lead: applicant
            .as_ref()
            .map(|u| u.display_name.clone())
            .unwrap_or_default(),
        organisation: if d.organisation.trim().is_empty() {
            applicant
                .as_ref()
                .map(|u| u.organisation.clone())
                .unwrap_or_default()
        } else {
            d.organisation.clone()
        },
        datasets: datasets.into_iter().collect(),
        variables,
        period_start: r.period_start.clone(),
        period_end: r.period_end.clone(),
        duration_months: r.duration_months,
        status: r.state.as_str().to_string(),
        submitted_on,
        ethics_opinion_on: opinion.map(|e| day(&e.at)),
        authority_decision_on: decision.map(|e| day(&e.at)),
        closed_on,
        updated_at: r.updated_at.clone(),
        route: r.route.clone(),
        team: d
            .team
            .iter()
            .map(|m| {
                if m.organisation.is_empty() {
                    format!("{} ({})", m.name, m.role)
                } else {
                    format!("{} ({}, {})", m.name, m.role, m.organisation)
                }
            })
            .collect(),
        ethics_opinion: opinion.map(|e| {
            e.details
                .as_ref()
                .and_then(|d| d.get("opinion"))
                .and_then(|o| o.as_str())
                .unwrap_or("favourable")
                .to_string()
        }),
        authority_decision: decision.map(|e| {
            if e.to_state == S::Refused.as_str() {
                "refused".to_string()
            } else {
                "authorised".to_string()
            }
        }),
        authority_reference: decision.and_then(|e| e.reference.clone()),
        results: d.results.clone(),
        amends: r.amends.clone(),
        releases,
        queries,
        last_activity,
    }))
}

/// The registry as JSON.
#[utoipa::path(get, path = "/registry.json", params(RegistryFilter), responses((status = 200, body = Object)))]
pub(crate) async fn registry_json(
    State(st): State<AppState>,
    q: Result<Query<RegistryFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<impl IntoResponse, AppError> {
    let Query(f) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    Ok(Json(json!({ "projects": entries(&st, &f).await? })))
}

/// The registry as CSV (UTF-8, `,`, one row per project; lists joined by `; `).
#[utoipa::path(get, path = "/registry.csv", params(RegistryFilter), responses((status = 200, content_type = "text/csv", body = String)))]
pub(crate) async fn registry_csv(
    State(st): State<AppState>,
    q: Result<Query<RegistryFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    let Query(f) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let rows = entries(&st, &f).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "title",
        "summary",
        "public_interest",
        "lead",
        "organisation",
        "datasets",
        "variables",
        "period_start",
        "period_end",
        "duration_months",
        "status",
        "submitted_on",
        "ethics_opinion_on",
        "authority_decision_on",
        "closed_on",
        "updated_at",
        "route",
        "team",
        "ethics_opinion",
        "authority_decision",
        "authority_reference",
        "results",
        "amends",
        "releases",
        "queries",
        "last_activity",
    ];
    let csv_err = |e: csv::Error| AppError::internal(format!("registry CSV: {e}"));
    w.write_record(header).map_err(csv_err)?;
    for e in rows {
        let opt = |o: &Option<String>| o.clone().unwrap_or_default();
        w.write_record([
            e.id.clone(),
            e.title.clone(),
            e.summary.clone(),
            e.public_interest.clone(),
            e.lead.clone(),
            e.organisation.clone(),
            e.datasets.join("; "),
            e.variables.join("; "),
            e.period_start.clone(),
            e.period_end.clone(),
            e.duration_months.to_string(),
            e.status.clone(),
            opt(&e.submitted_on),
            opt(&e.ethics_opinion_on),
            opt(&e.authority_decision_on),
            opt(&e.closed_on),
            e.updated_at.clone(),
            e.route.clone(),
            e.team.join("; "),
            opt(&e.ethics_opinion),
            opt(&e.authority_decision),
            opt(&e.authority_reference),
            e.results.clone(),
            opt(&e.amends),
            e.releases.to_string(),
            e.queries.to_string(),
            opt(&e.last_activity),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| AppError::internal(format!("registry CSV: {e}")))?;
    let mut r = bytes.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    r.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"registry.csv\""),
    );
    Ok(r)
}

fn fixed_time(at: &str) -> atom_syndication::FixedDateTime {
    chrono::DateTime::parse_from_rfc3339(at)
        .unwrap_or_else(|_| chrono::DateTime::<chrono::Utc>::UNIX_EPOCH.fixed_offset())
}

/// New and changed projects as an Atom feed (newest first).
#[utoipa::path(get, path = "/registry.atom", params(RegistryFilter), responses((status = 200, content_type = "application/atom+xml", body = String)))]
pub(crate) async fn registry_atom(
    State(st): State<AppState>,
    headers: HeaderMap,
    q: Result<Query<RegistryFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AppError> {
    use atom_syndication::{Entry, Feed, Link, Person, Text};
    let Query(f) = q.map_err(|e| AppError::bad_request(e.body_text()))?;
    let rows = entries(&st, &f).await?;
    let base = crate::pages::public_base(&st, &headers);
    let entries: Vec<Entry> = rows
        .iter()
        .take(200)
        .map(|e| {
            let mut entry = Entry::default();
            entry.set_id(format!("{base}/registry/{}", e.id));
            entry.set_title(Text::plain(format!("{} ({})", e.title, e.status)));
            entry.set_updated(fixed_time(&e.updated_at));
            entry.set_authors(vec![Person {
                name: format!("{}, {}", e.lead, e.organisation),
                ..Person::default()
            }]);
            entry.set_summary(Some(Text::plain(format!(
                "{}\n\nDatasets: {}. Period {} to {}. Status: {}.",
                e.summary,
                e.datasets.join(", "),
                e.period_start,
                e.period_end,
                e.status
            ))));
            entry.set_links(vec![Link {
                href: format!("{base}/registry/{}", e.id),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Link::default()
            }]);
            entry
        })
        .collect();
    let mut feed = Feed::default();
    feed.set_id(format!("{base}/registry"));
    feed.set_title(Text::plain("Health data hub: registry of projects"));
    feed.set_updated(
        rows.first()
            .map(|e| fixed_time(&e.updated_at))
            .unwrap_or_else(|| chrono::Utc::now().fixed_offset()),
    );
    feed.set_links(vec![
        Link {
            href: format!("{base}/registry.atom"),
            rel: "self".into(),
            mime_type: Some("application/atom+xml".into()),
            ..Link::default()
        },
        Link {
            href: format!("{base}/registry"),
            rel: "alternate".into(),
            mime_type: Some("text/html".into()),
            ..Link::default()
        },
    ]);
    feed.set_entries(entries);
    let mut r = feed.to_string().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/atom+xml; charset=utf-8"),
    );
    Ok(r)
}
