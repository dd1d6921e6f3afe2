//! Notifications: every transition that concerns someone leaves a message in
//! their in-app inbox (written in the same transaction as the change) and,
//! when the hub has a mail server and the account an address, an e-mail sent
//! through SMTP with `lettre` once the change is committed.
//!
//! Messages name the request and what happened, with a link; never a
//! person's data, never a secret.

use crate::{AppError, AppState};
use hdh_model::Role;
use hdh_model::request::AccessRequestState as S;
use hdh_store::{AccessRequest, Notification, RequestEvent, Tx, User};

/// What a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// The request moved to a new state.
    Transition(S),
    /// The reader was assigned to review it.
    Assigned,
    /// A reviewer declared a conflict of interest.
    Recused,
    /// Someone commented on it.
    Comment,
}

/// An e-mail to send once the transaction that queued it has committed.
#[derive(Debug, Clone)]
pub struct Mail {
    pub notification_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
}

fn wording(notice: Notice) -> (&'static str, &'static str) {
    match notice {
        Notice::Transition(s) => match s {
            S::Submitted => (
                "submitted: completeness check by the secretariat",
                "The request was submitted. The secretariat checks that the file is complete.",
            ),
            S::EthicsReview => (
                "complete: ethics committee review",
                "The file is complete. The ethics committee reviews it.",
            ),
            S::AuthorityReview => (
                "awaiting the authority's decision",
                "The request awaits the authority's decision.",
            ),
            S::ProducerAgreement => (
                "authorised: awaiting the producers' agreement",
                "The authority authorised the request. Each producer of a requested dataset is asked to agree to provide it.",
            ),
            S::Authorised => (
                "authorised: the workspace is being provisioned",
                "The request is authorised and agreed. The hub is building the project's workspace.",
            ),
            S::Active => (
                "workspace ready",
                "The project's workspace is ready: the approved data can be analysed.",
            ),
            S::SentBack => (
                "sent back to the applicant",
                "The request was sent back to its applicant with reasons. It can be corrected and resubmitted.",
            ),
            S::Refused => ("refused", "The request was refused."),
            S::Withdrawn => ("withdrawn", "The applicant withdrew the request."),
            S::Closed => (
                "closed",
                "The project is closed; its results are in the public registry.",
            ),
            S::Archived => ("archived", "The request was archived."),
            S::Draft => ("draft", "The request is a draft."),
        },
        Notice::Assigned => (
            "you are asked to review it",
            "The secretariat assigned you to review this request. Declare your interests before reading the file.",
        ),
        Notice::Recused => (
            "a reviewer declared a conflict of interest",
            "A reviewer declared a conflict of interest with this request: assign another one.",
        ),
        Notice::Comment => ("new comment", "A new comment was written on this request."),
    }
}

/// Writes one inbox message per recipient (in `tx`) and returns the e-mails
/// to send after commit.
pub async fn queue(
    state: &AppState,
    tx: &mut Tx,
    to: &[User],
    r: &AccessRequest,
    notice: Notice,
) -> Result<Vec<Mail>, AppError> {
    let (what, body) = wording(notice);
    let subject = format!("[hdh] {}: {what}", r.title);
    let link = format!("/requests/{}", r.id);
    let message = Message {
        request_id: Some(&r.id),
        subject: &subject,
        body,
        link: &link,
        about: &format!("Request: {}", r.title),
    };
    queue_message(state, tx, to, &message).await
}

/// A message to some accounts: inbox and, where they have an address, e-mail.
pub struct Message<'a> {
    pub request_id: Option<&'a str>,
    pub subject: &'a str,
    pub body: &'a str,
    /// Path of the page it is about.
    pub link: &'a str,
    /// One line naming what it is about, above the link in the e-mail.
    pub about: &'a str,
}

/// Writes one inbox message per recipient (in `tx`); the e-mails to send
/// after commit.
pub async fn queue_message(
    state: &AppState,
    tx: &mut Tx,
    to: &[User],
    m: &Message<'_>,
) -> Result<Vec<Mail>, AppError> {
    let base = state.config.public_url.clone().unwrap_or_default();
    let mut seen: Vec<&str> = Vec::new();
    let mut mails = Vec::new();
    for u in to {
        if seen.contains(&u.id.as_str()) {
            continue;
        }
        seen.push(&u.id);
        let emailed = state.config.mail.is_some() && u.email.contains('@');
        let n = Notification {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: u.id.clone(),
            request_id: m.request_id.map(str::to_string),
            subject: m.subject.to_string(),
            body: m.body.to_string(),
            link: m.link.to_string(),
            created_at: hdh_store::now(),
            read_at: None,
            email: if emailed { "queued" } else { "none" }.into(),
        };
        tx.insert_notification(&n).await?;
        if emailed {
            mails.push(Mail {
                notification_id: n.id.clone(),
                to: u.email.clone(),
                subject: m.subject.to_string(),
                body: format!(
                    "Hello {},\n\n{}\n\n{}\n{base}{}\n\n-- \nhdh, the health data hub's single desk. Your inbox on the hub keeps every message.\n",
                    u.display_name, m.body, m.about, m.link
                ),
            });
        }
    }
    Ok(mails)
}

/// The people a transition concerns, less the one who made it.
pub async fn on_transition(
    state: &AppState,
    tx: &mut Tx,
    r: &AccessRequest,
    event: &RequestEvent,
    actor: Option<&str>,
) -> Result<Vec<Mail>, AppError> {
    let store = &state.store;
    let mut to: Vec<User> = Vec::new();
    let applicant = store.user(&r.applicant_id).await?;
    if let Some(a) = &applicant {
        to.push(a.clone());
    }
    // An applied amendment means the project's rebuilt workspace is ready.
    let now = if r.amends.is_some() && r.state == S::Closed {
        S::Active
    } else {
        r.state
    };
    match now {
        S::Submitted => to.extend(store.users_with_role(Role::Secretariat).await?),
        S::EthicsReview => {
            to.extend(store.users_with_role(Role::Secretariat).await?);
            for x in store.reviewers(&r.id).await? {
                if x.cleared()
                    && let Some(u) = store.user(&x.user_id).await?
                {
                    to.push(u);
                }
            }
        }
        S::AuthorityReview => to.extend(store.users_with_role(Role::Authority).await?),
        S::ProducerAgreement => {
            let pending = crate::desk::pending_agreements(state, r).await?;
            for u in store.users_with_role(Role::Producer).await? {
                if pending
                    .iter()
                    .any(|d| crate::desk::speaks_for_producer(&u, d))
                {
                    to.push(u);
                }
            }
        }
        S::Active => {
            for m in &r.details.team {
                if let Some(name) = &m.username
                    && let Some(u) = store.user_by_name(name).await?
                {
                    to.push(u);
                }
            }
        }
        S::Withdrawn | S::Closed if event.from_state != S::Draft.as_str() => {
            to.extend(store.users_with_role(Role::Secretariat).await?);
        }
        _ => {}
    }
    // Nobody is told of their own action, except the applicant's receipt.
    to.retain(|u| Some(u.id.as_str()) != actor || r.state == S::Submitted);
    if r.state == S::Draft {
        return Ok(vec![]);
    }
    queue(state, tx, &to, r, Notice::Transition(now)).await
}

/// Sends e-mails in the background; each notification records whether its
/// e-mail was sent. Without a mail server, nothing is sent.
pub fn send(state: &AppState, mails: Vec<Mail>) {
    let Some(cfg) = state.config.mail.clone() else {
        return;
    };
    if mails.is_empty() {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
        let transport = match AsyncSmtpTransport::<Tokio1Executor>::from_url(&cfg.url) {
            Ok(b) => b.build(),
            Err(e) => {
                tracing::error!(error = %e, "mail server URL");
                for m in &mails {
                    let _ = store.set_email_status(&m.notification_id, "failed").await;
                }
                return;
            }
        };
        for m in mails {
            let msg = (|| {
                Message::builder()
                    .from(cfg.from.parse().map_err(|e| format!("from: {e}"))?)
                    .to(m.to.parse().map_err(|e| format!("to: {e}"))?)
                    .subject(m.subject.clone())
                    .header(lettre::message::header::ContentType::TEXT_PLAIN)
                    .body(m.body.clone())
                    .map_err(|e| e.to_string())
            })();
            let status = match msg {
                Ok(msg) => match transport.send(msg).await {
                    Ok(_) => "sent",
                    Err(e) => {
                        tracing::warn!(error = %e, notification = %m.notification_id, "e-mail not sent");
                        "failed"
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, notification = %m.notification_id, "e-mail not built");
                    "failed"
                }
            };
            let _ = store.set_email_status(&m.notification_id, status).await;
        }
    });
}
