//! The access request's life cycle at the single desk, as a state machine.
//!
//! ```text
//! draft ─submit→ submitted ─approve (file complete)→ ethics_review ─opinion→ authority_review
//!   ─authorise (reference)→ producer_agreement ─agree (one per dataset)→ authorised
//!   ─provisioned→ active ─close (results)→ closed ─archive→ archived
//! ```
//! plus `send_back` (with reasons; the applicant resubmits), `refuse`, `withdraw`.
//! A [`Route`] may skip the committee (a reference methodology) or the
//! producers' agreement. An amendment of an active project is a request of its
//! own that goes through the same steps; once provisioned it is `closed`
//! (applied to its project). Every transition not listed in
//! [`AccessRequestState::apply`] is forbidden.

use crate::role::Role;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessRequestState {
    /// Being written by the applicant.
    Draft,
    /// Submitted; awaiting the secretariat's completeness check.
    Submitted,
    /// Complete; awaiting the ethics committee's opinion.
    EthicsReview,
    /// Opinion given (or no committee on this route); awaiting the authority's decision.
    AuthorityReview,
    /// Authorised by the authority; awaiting each producer's agreement.
    ProducerAgreement,
    /// Authorised and agreed; the extraction is being provisioned.
    Authorised,
    /// Workspace provisioned; the project is running.
    Active,
    /// Sent back to the applicant with reasons; can be resubmitted.
    SentBack,
    /// Refused (terminal until archived).
    Refused,
    /// Withdrawn by the applicant (terminal until archived).
    Withdrawn,
    /// Finished, results deposited (an amendment: applied to its project).
    Closed,
    /// Archived by the desk (terminal).
    Archived,
}

/// The committee's opinion on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opinion {
    Favourable,
    FavourableWithReservations,
    Unfavourable,
}

impl Opinion {
    pub const ALL: [Opinion; 3] = [
        Opinion::Favourable,
        Opinion::FavourableWithReservations,
        Opinion::Unfavourable,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Opinion::Favourable => "favourable",
            Opinion::FavourableWithReservations => "favourable_with_reservations",
            Opinion::Unfavourable => "unfavourable",
        }
    }
    pub fn parse(s: &str) -> Option<Opinion> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl fmt::Display for Opinion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A legal route through the desk: which steps a request on it goes through.
/// The standard route has them all; a simplified route (e.g. a reference
/// methodology the applicant declares conformity to) skips the committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Stable identifier (`standard`, `reference_methodology`).
    pub name: String,
    /// The ethics committee gives an opinion.
    pub committee: bool,
    /// Each producer of a requested dataset agrees before provisioning.
    pub producer_agreement: bool,
}

impl Route {
    pub fn standard() -> Route {
        Route {
            name: "standard".into(),
            committee: true,
            producer_agreement: true,
        }
    }
    /// A declared conformity to a reference methodology: no committee.
    pub fn reference_methodology() -> Route {
        Route {
            name: "reference_methodology".into(),
            committee: false,
            producer_agreement: true,
        }
    }
}

/// Who acts, and what the desk knows about the request, for one transition.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The role under which the caller acts.
    pub role: Role,
    /// The caller is the request's applicant.
    pub is_applicant: bool,
    pub route: &'a Route,
    /// Producers' agreements still missing before this action (one per dataset).
    pub pending_agreements: usize,
    /// The request amends an active project.
    pub is_amendment: bool,
}

impl<'a> Context<'a> {
    pub fn new(role: Role, is_applicant: bool, route: &'a Route) -> Context<'a> {
        Context {
            role,
            is_applicant,
            route,
            pending_agreements: 0,
            is_amendment: false,
        }
    }
}

impl AccessRequestState {
    pub const ALL: [AccessRequestState; 12] = [
        Self::Draft,
        Self::Submitted,
        Self::EthicsReview,
        Self::AuthorityReview,
        Self::ProducerAgreement,
        Self::Authorised,
        Self::Active,
        Self::SentBack,
        Self::Refused,
        Self::Withdrawn,
        Self::Closed,
        Self::Archived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::EthicsReview => "ethics_review",
            Self::AuthorityReview => "authority_review",
            Self::ProducerAgreement => "producer_agreement",
            Self::Authorised => "authorised",
            Self::Active => "active",
            Self::SentBack => "sent_back",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
            Self::Closed => "closed",
            Self::Archived => "archived",
        }
    }

    /// The role that must act next on a request in this state, if a reviewer must.
    pub fn reviewer(self) -> Option<Role> {
        match self {
            Self::Submitted => Some(Role::Secretariat),
            Self::EthicsReview => Some(Role::Committee),
            Self::AuthorityReview => Some(Role::Authority),
            Self::ProducerAgreement => Some(Role::Producer),
            _ => None,
        }
    }

    /// No review or project work can happen any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Refused | Self::Withdrawn | Self::Closed | Self::Archived
        )
    }

    /// The applicant may edit the file (form and attachments).
    pub fn is_editable(self) -> bool {
        matches!(self, Self::Draft | Self::SentBack)
    }

    /// Under review by the desk (a clock is running or stopped).
    pub fn in_review(self) -> bool {
        self.reviewer().is_some()
    }

    /// Applies `action` in `ctx`. Returns the new state.
    pub fn apply(
        self,
        action: &RequestAction,
        ctx: &Context<'_>,
    ) -> Result<AccessRequestState, TransitionError> {
        use AccessRequestState as S;
        use RequestAction as A;
        let role = ctx.role;
        let forbidden = || TransitionError::Forbidden {
            from: self,
            action: action.name(),
            role,
        };
        match action {
            A::SendBack { reason } | A::Refuse { reason, .. } if reason.trim().is_empty() => {
                return Err(TransitionError::ReasonRequired(action.name()));
            }
            A::Opinion { motivation, .. } if motivation.trim().is_empty() => {
                return Err(TransitionError::ReasonRequired(action.name()));
            }
            A::Authorise { reference } if reference.trim().is_empty() => {
                return Err(TransitionError::ReferenceRequired);
            }
            A::Refuse {
                reference: None, ..
            } if self == S::AuthorityReview && role == Role::Authority => {
                return Err(TransitionError::ReferenceRequired);
            }
            A::Close { results } if results.trim().is_empty() && !ctx.is_amendment => {
                return Err(TransitionError::ResultsRequired);
            }
            _ => {}
        }
        // Nobody reviews their own request, whatever roles they hold.
        if ctx.is_applicant && action.is_review() {
            return Err(forbidden());
        }
        let after_completeness = if ctx.route.committee {
            S::EthicsReview
        } else {
            S::AuthorityReview
        };
        let after_authority = if ctx.route.producer_agreement && ctx.pending_agreements > 0 {
            S::ProducerAgreement
        } else {
            S::Authorised
        };
        match (action, self) {
            (A::Submit, S::Draft | S::SentBack) if ctx.is_applicant && role == Role::Researcher => {
                Ok(S::Submitted)
            }
            (
                A::Withdraw,
                S::Draft
                | S::SentBack
                | S::Submitted
                | S::EthicsReview
                | S::AuthorityReview
                | S::ProducerAgreement,
            ) if ctx.is_applicant => Ok(S::Withdrawn),
            (A::Approve, S::Submitted) if role == Role::Secretariat => Ok(after_completeness),
            (A::Approve, S::EthicsReview | S::AuthorityReview) if self.reviewer() == Some(role) => {
                Err(TransitionError::UseInstead {
                    state: self,
                    action: if self == S::EthicsReview {
                        "opinion"
                    } else {
                        "authorise"
                    },
                })
            }
            (A::Opinion { .. }, S::EthicsReview) if role == Role::Committee => {
                Ok(S::AuthorityReview)
            }
            (A::Authorise { .. }, S::AuthorityReview) if role == Role::Authority => {
                Ok(after_authority)
            }
            (A::Agree { .. }, S::ProducerAgreement) if role == Role::Producer => {
                Ok(if ctx.pending_agreements > 1 {
                    S::ProducerAgreement
                } else {
                    S::Authorised
                })
            }
            (A::SendBack { .. }, S::Submitted | S::EthicsReview | S::AuthorityReview)
                if self.reviewer() == Some(role) =>
            {
                Ok(S::SentBack)
            }
            // The secretariat may find a request inadmissible; the authority
            // refuses; a producer may refuse its data. The committee gives an
            // (advisory) unfavourable opinion instead.
            (A::Refuse { .. }, S::Submitted | S::AuthorityReview | S::ProducerAgreement)
                if self.reviewer() == Some(role) =>
            {
                Ok(S::Refused)
            }
            (A::Provisioned, S::Authorised) => Ok(if ctx.is_amendment {
                S::Closed
            } else {
                S::Active
            }),
            (A::Close { .. }, S::Active) if ctx.is_applicant => Ok(S::Closed),
            (A::Archive, S::Closed | S::Refused | S::Withdrawn)
                if matches!(role, Role::Secretariat | Role::Admin) =>
            {
                Ok(S::Archived)
            }
            _ => Err(forbidden()),
        }
    }
}

impl fmt::Display for AccessRequestState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown request state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for AccessRequestState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RequestAction {
    /// The applicant submits (or resubmits after a send-back).
    Submit,
    Withdraw,
    /// The secretariat finds the file complete.
    Approve,
    SendBack {
        reason: String,
    },
    Refuse {
        reason: String,
        /// The authority's decision number (required when it refuses).
        reference: Option<String>,
    },
    /// The committee's opinion, with its motivation.
    Opinion {
        opinion: Opinion,
        motivation: String,
    },
    /// The authority's authorisation, with its decision number.
    Authorise {
        reference: String,
    },
    /// A producer agrees to provide one dataset.
    Agree {
        dataset: String,
    },
    /// Taken by the hub itself when the extraction is ready.
    Provisioned,
    /// The applicant closes the project and deposits its results.
    Close {
        results: String,
    },
    /// The desk archives a finished request.
    Archive,
}

impl RequestAction {
    pub const NAMES: [&'static str; 11] = [
        "submit",
        "withdraw",
        "approve",
        "send_back",
        "refuse",
        "opinion",
        "authorise",
        "agree",
        "provisioned",
        "close",
        "archive",
    ];

    pub fn name(&self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Withdraw => "withdraw",
            Self::Approve => "approve",
            Self::SendBack { .. } => "send_back",
            Self::Refuse { .. } => "refuse",
            Self::Opinion { .. } => "opinion",
            Self::Authorise { .. } => "authorise",
            Self::Agree { .. } => "agree",
            Self::Provisioned => "provisioned",
            Self::Close { .. } => "close",
            Self::Archive => "archive",
        }
    }

    /// A reviewer's action (never taken on one's own request).
    pub fn is_review(&self) -> bool {
        matches!(
            self,
            Self::Approve
                | Self::SendBack { .. }
                | Self::Refuse { .. }
                | Self::Opinion { .. }
                | Self::Authorise { .. }
                | Self::Agree { .. }
        )
    }

    /// The free text recorded with the transition (reasons, motivation, results).
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::SendBack { reason } | Self::Refuse { reason, .. } => Some(reason),
            Self::Opinion { motivation, .. } => Some(motivation),
            Self::Close { results } => Some(results),
            _ => None,
        }
    }

    /// The authority's decision number, if the action carries one.
    pub fn reference(&self) -> Option<&str> {
        match self {
            Self::Authorise { reference } => Some(reference),
            Self::Refuse { reference, .. } => reference.as_deref(),
            _ => None,
        }
    }
}

/// What a form or an API call sends with an action name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFields {
    pub reason: Option<String>,
    pub opinion: Option<String>,
    pub reference: Option<String>,
    pub dataset: Option<String>,
    pub results: Option<String>,
}

impl RequestAction {
    /// Parses an action name and its fields as sent by a form or the API.
    pub fn parse(name: &str, f: ActionFields) -> Result<Self, TransitionError> {
        let text = |o: Option<String>| o.unwrap_or_default();
        Ok(match name {
            "submit" => Self::Submit,
            "withdraw" => Self::Withdraw,
            "approve" => Self::Approve,
            "send_back" => Self::SendBack {
                reason: text(f.reason),
            },
            "refuse" => Self::Refuse {
                reason: text(f.reason),
                reference: f.reference.filter(|r| !r.trim().is_empty()),
            },
            "opinion" => {
                let given = text(f.opinion);
                Self::Opinion {
                    opinion: Opinion::parse(&given)
                        .ok_or(TransitionError::UnknownOpinion(given))?,
                    motivation: text(f.reason),
                }
            }
            "authorise" => Self::Authorise {
                reference: text(f.reference),
            },
            "agree" => Self::Agree {
                dataset: text(f.dataset),
            },
            "close" => Self::Close {
                results: text(f.results),
            },
            "archive" => Self::Archive,
            other => return Err(TransitionError::UnknownAction(other.to_string())),
        })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TransitionError {
    #[error("action {action:?} is not allowed on a request in state {from} for role {role}")]
    Forbidden {
        from: AccessRequestState,
        action: &'static str,
        role: Role,
    },
    #[error("in state {state} the reviewer takes the action {action:?}, not \"approve\"")]
    UseInstead {
        state: AccessRequestState,
        action: &'static str,
    },
    #[error("action {0:?} requires a reason (field \"reason\")")]
    ReasonRequired(&'static str),
    #[error("the authority's decision requires its reference number (field \"reference\")")]
    ReferenceRequired,
    #[error(
        "closing a project requires its results: publications, reports or links (field \"results\")"
    )]
    ResultsRequired,
    #[error(
        "unknown opinion {0:?} (field \"opinion\": favourable, favourable_with_reservations, unfavourable)"
    )]
    UnknownOpinion(String),
    #[error(
        "unknown action {0:?} (expected submit, withdraw, approve, send_back, refuse, opinion, authorise, agree, close, archive)"
    )]
    UnknownAction(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessRequestState as S;

    fn ctx(role: Role, is_applicant: bool, route: &Route) -> Context<'_> {
        Context::new(role, is_applicant, route)
    }

    fn opinion() -> RequestAction {
        RequestAction::Opinion {
            opinion: Opinion::FavourableWithReservations,
            motivation: "sound design; shorten the duration".into(),
        }
    }

    fn authorise() -> RequestAction {
        RequestAction::Authorise {
            reference: "DR-2026-123".into(),
        }
    }

    #[test]
    fn standard_route_all_steps() {
        let route = Route::standard();
        let s = S::Draft
            .apply(&RequestAction::Submit, &ctx(Role::Researcher, true, &route))
            .unwrap();
        assert_eq!(s, S::Submitted);
        let s = s
            .apply(
                &RequestAction::Approve,
                &ctx(Role::Secretariat, false, &route),
            )
            .unwrap();
        assert_eq!(s, S::EthicsReview);
        let s = s
            .apply(&opinion(), &ctx(Role::Committee, false, &route))
            .unwrap();
        assert_eq!(s, S::AuthorityReview);
        let mut c = ctx(Role::Authority, false, &route);
        c.pending_agreements = 2;
        let s = s.apply(&authorise(), &c).unwrap();
        assert_eq!(s, S::ProducerAgreement);
        let mut c = ctx(Role::Producer, false, &route);
        c.pending_agreements = 2;
        let agree = RequestAction::Agree {
            dataset: "a".into(),
        };
        assert_eq!(s.apply(&agree, &c).unwrap(), S::ProducerAgreement);
        c.pending_agreements = 1;
        let s = s.apply(&agree, &c).unwrap();
        assert_eq!(s, S::Authorised);
        let s = s
            .apply(
                &RequestAction::Provisioned,
                &ctx(Role::Admin, false, &route),
            )
            .unwrap();
        assert_eq!(s, S::Active);
        let close = RequestAction::Close {
            results: "doi:10.1000/xyz".into(),
        };
        let s = s
            .apply(&close, &ctx(Role::Researcher, true, &route))
            .unwrap();
        assert_eq!(s, S::Closed);
        assert!(
            s.apply(
                &RequestAction::Archive,
                &ctx(Role::Researcher, true, &route)
            )
            .is_err()
        );
        let s = s
            .apply(
                &RequestAction::Archive,
                &ctx(Role::Secretariat, false, &route),
            )
            .unwrap();
        assert_eq!(s, S::Archived);
        for a in [
            RequestAction::Submit,
            RequestAction::Withdraw,
            RequestAction::Archive,
        ] {
            for r in Role::ALL {
                assert!(s.apply(&a, &ctx(r, true, &route)).is_err());
                assert!(s.apply(&a, &ctx(r, false, &route)).is_err());
            }
        }
    }

    #[test]
    fn simplified_route_skips_committee_and_agreement() {
        let route = Route {
            name: "mr".into(),
            committee: false,
            producer_agreement: false,
        };
        let s = S::Submitted
            .apply(
                &RequestAction::Approve,
                &ctx(Role::Secretariat, false, &route),
            )
            .unwrap();
        assert_eq!(s, S::AuthorityReview);
        let mut c = ctx(Role::Authority, false, &route);
        c.pending_agreements = 3;
        assert_eq!(s.apply(&authorise(), &c).unwrap(), S::Authorised);
        // The committee has nothing to do on this route.
        assert!(
            s.apply(&opinion(), &ctx(Role::Committee, false, &route))
                .is_err()
        );
        // With nothing to agree, the standard route goes straight to provisioning.
        let std = Route::standard();
        assert_eq!(
            S::AuthorityReview
                .apply(&authorise(), &ctx(Role::Authority, false, &std))
                .unwrap(),
            S::Authorised
        );
    }

    #[test]
    fn an_amendment_is_applied_not_activated() {
        let route = Route::standard();
        let mut c = ctx(Role::Admin, false, &route);
        c.is_amendment = true;
        assert_eq!(
            S::Authorised
                .apply(&RequestAction::Provisioned, &c)
                .unwrap(),
            S::Closed
        );
    }

    #[test]
    fn wrong_role_or_order_is_forbidden() {
        let route = Route::standard();
        // The committee cannot act before the secretariat.
        assert!(
            S::Submitted
                .apply(&opinion(), &ctx(Role::Committee, false, &route))
                .is_err()
        );
        // A researcher cannot approve.
        assert!(
            S::Submitted
                .apply(
                    &RequestAction::Approve,
                    &ctx(Role::Researcher, true, &route)
                )
                .is_err()
        );
        // Someone else's draft cannot be submitted.
        assert!(
            S::Draft
                .apply(
                    &RequestAction::Submit,
                    &ctx(Role::Researcher, false, &route)
                )
                .is_err()
        );
        // An applicant who also sits on the committee cannot review their own request.
        assert!(matches!(
            S::EthicsReview.apply(&opinion(), &ctx(Role::Committee, true, &route)),
            Err(TransitionError::Forbidden { .. })
        ));
        assert!(
            S::AuthorityReview
                .apply(&authorise(), &ctx(Role::Authority, true, &route))
                .is_err()
        );
        // The authority cannot authorise before the committee's opinion.
        assert!(
            S::EthicsReview
                .apply(&authorise(), &ctx(Role::Authority, false, &route))
                .is_err()
        );
        // The committee does not refuse: it gives an unfavourable opinion.
        assert!(
            S::EthicsReview
                .apply(
                    &RequestAction::Refuse {
                        reason: "x".into(),
                        reference: None
                    },
                    &ctx(Role::Committee, false, &route)
                )
                .is_err()
        );
        // "approve" is the secretariat's word; the others are told theirs.
        assert_eq!(
            S::EthicsReview.apply(
                &RequestAction::Approve,
                &ctx(Role::Committee, false, &route)
            ),
            Err(TransitionError::UseInstead {
                state: S::EthicsReview,
                action: "opinion"
            })
        );
        // A producer agrees only once the authority has authorised.
        assert!(
            S::AuthorityReview
                .apply(
                    &RequestAction::Agree {
                        dataset: "a".into()
                    },
                    &ctx(Role::Producer, false, &route)
                )
                .is_err()
        );
        // Only the applicant closes, only an active project.
        let close = RequestAction::Close {
            results: "report".into(),
        };
        assert!(
            S::Active
                .apply(&close, &ctx(Role::Researcher, false, &route))
                .is_err()
        );
        assert!(
            S::Authorised
                .apply(&close, &ctx(Role::Researcher, true, &route))
                .is_err()
        );
        // Refused is terminal.
        for a in [
            RequestAction::Submit,
            RequestAction::Approve,
            close,
            opinion(),
            authorise(),
        ] {
            for r in Role::ALL {
                assert!(S::Refused.apply(&a, &ctx(r, true, &route)).is_err());
                assert!(S::Refused.apply(&a, &ctx(r, false, &route)).is_err());
            }
        }
    }

    #[test]
    fn texts_are_required() {
        let route = Route::standard();
        let empty = RequestAction::SendBack { reason: " ".into() };
        assert_eq!(
            S::EthicsReview.apply(&empty, &ctx(Role::Committee, false, &route)),
            Err(TransitionError::ReasonRequired("send_back"))
        );
        let no_motivation = RequestAction::Opinion {
            opinion: Opinion::Favourable,
            motivation: "".into(),
        };
        assert_eq!(
            S::EthicsReview.apply(&no_motivation, &ctx(Role::Committee, false, &route)),
            Err(TransitionError::ReasonRequired("opinion"))
        );
        assert_eq!(
            S::AuthorityReview.apply(
                &RequestAction::Authorise {
                    reference: "".into()
                },
                &ctx(Role::Authority, false, &route)
            ),
            Err(TransitionError::ReferenceRequired)
        );
        assert_eq!(
            S::AuthorityReview.apply(
                &RequestAction::Refuse {
                    reason: "disproportionate".into(),
                    reference: None
                },
                &ctx(Role::Authority, false, &route)
            ),
            Err(TransitionError::ReferenceRequired)
        );
        assert_eq!(
            S::Active.apply(
                &RequestAction::Close {
                    results: " ".into()
                },
                &ctx(Role::Researcher, true, &route)
            ),
            Err(TransitionError::ResultsRequired)
        );
        assert!(matches!(
            RequestAction::parse(
                "opinion",
                ActionFields {
                    opinion: Some("great".into()),
                    ..Default::default()
                }
            ),
            Err(TransitionError::UnknownOpinion(_))
        ));
    }

    #[test]
    fn send_back_allows_resubmission() {
        let route = Route::standard();
        let sb = RequestAction::SendBack {
            reason: "methodology unclear".into(),
        };
        let s = S::EthicsReview
            .apply(&sb, &ctx(Role::Committee, false, &route))
            .unwrap();
        assert_eq!(s, S::SentBack);
        assert_eq!(
            s.apply(&RequestAction::Submit, &ctx(Role::Researcher, true, &route))
                .unwrap(),
            S::Submitted
        );
    }

    #[test]
    fn every_state_and_action_round_trips() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>().unwrap(), s);
        }
        for o in Opinion::ALL {
            assert_eq!(Opinion::parse(o.as_str()), Some(o));
        }
        for n in RequestAction::NAMES {
            if n == "provisioned" {
                continue;
            }
            let fields = ActionFields {
                opinion: Some("favourable".into()),
                ..Default::default()
            };
            assert_eq!(RequestAction::parse(n, fields).unwrap().name(), n);
        }
    }
}

/// A member of a project's team as the applicant declares it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMember {
    pub name: String,
    /// Their role in the project (principal investigator, statistician...).
    pub role: String,
    pub organisation: String,
    /// Their hub account, if they will work in the workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// The parts of an access request beyond its scope and period: what the
/// public, the committee and the authority read. Every field may be empty
/// while the request is a draft; [`RequestDetails::missing_for_submission`]
/// says which must be filled before it is submitted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestDetails {
    /// Plain-language summary shown in the public registry.
    pub summary_public: String,
    /// The organisation responsible for the processing.
    pub organisation: String,
    pub team: Vec<TeamMember>,
    /// Population criteria (codes and dates) in words.
    pub population: String,
    /// The same criteria, structured: what provisioning applies.
    #[serde(default)]
    pub criteria: Vec<crate::population::PopulationCriterion>,
    /// Linkage needed with other sources (empty: none).
    pub linkage: String,
    pub methodology: String,
    pub expected_results: String,
    pub funding: String,
    /// Declared conflicts of interest ("none" is a declaration).
    pub conflicts_of_interest: String,
    /// For an amendment: what it changes and why.
    pub changes: String,
    /// Deposited at closing: publications, reports, links.
    pub results: String,
}

impl RequestDetails {
    /// Fields that must be filled before submission, with what to write.
    pub fn missing_for_submission(&self, is_amendment: bool) -> Vec<(&'static str, &'static str)> {
        let mut out = Vec::new();
        let mut need = |field: &'static str, value: &str, msg: &'static str| {
            if value.trim().is_empty() {
                out.push((field, msg));
            }
        };
        need(
            "summary_public",
            &self.summary_public,
            "write a summary for the public registry",
        );
        need(
            "organisation",
            &self.organisation,
            "name the organisation responsible for the processing",
        );
        need("methodology", &self.methodology, "describe the methodology");
        need(
            "expected_results",
            &self.expected_results,
            "describe the expected results",
        );
        need("funding", &self.funding, "state the funding (or \"none\")");
        need(
            "conflicts_of_interest",
            &self.conflicts_of_interest,
            "declare conflicts of interest (or \"none\")",
        );
        if is_amendment {
            need(
                "changes",
                &self.changes,
                "say what the amendment changes and why",
            );
        }
        for m in &self.team {
            if m.name.trim().is_empty() || m.role.trim().is_empty() {
                out.push(("team", "give each team member a name and a role"));
                break;
            }
        }
        out
    }
}
