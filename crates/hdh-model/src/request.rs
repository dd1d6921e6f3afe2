//! The access request's life cycle at the single desk, as a state machine.
//! Every transition not listed in [`AccessRequestState::apply`] is forbidden.

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
    /// Favourable opinion; awaiting the authority's decision.
    AuthorityReview,
    /// Authorised; the extraction is being provisioned.
    Authorised,
    /// Workspace provisioned; the project is running.
    Active,
    /// Sent back to the applicant with reasons; can be resubmitted.
    SentBack,
    /// Refused (terminal).
    Refused,
    /// Withdrawn by the applicant (terminal).
    Withdrawn,
    /// Finished (terminal for the spine).
    Closed,
}

impl AccessRequestState {
    pub const ALL: [AccessRequestState; 10] = [
        Self::Draft,
        Self::Submitted,
        Self::EthicsReview,
        Self::AuthorityReview,
        Self::Authorised,
        Self::Active,
        Self::SentBack,
        Self::Refused,
        Self::Withdrawn,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::EthicsReview => "ethics_review",
            Self::AuthorityReview => "authority_review",
            Self::Authorised => "authorised",
            Self::Active => "active",
            Self::SentBack => "sent_back",
            Self::Refused => "refused",
            Self::Withdrawn => "withdrawn",
            Self::Closed => "closed",
        }
    }

    /// The role that must act next on a request in this state, if a reviewer must.
    pub fn reviewer(self) -> Option<Role> {
        match self {
            Self::Submitted => Some(Role::Secretariat),
            Self::EthicsReview => Some(Role::Committee),
            Self::AuthorityReview => Some(Role::Authority),
            _ => None,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Refused | Self::Withdrawn | Self::Closed)
    }

    /// Applies `action`, taken by someone holding `role` (and, for applicant
    /// actions, being the applicant: `is_applicant`). Returns the new state.
    pub fn apply(
        self,
        action: &RequestAction,
        role: Role,
        is_applicant: bool,
    ) -> Result<AccessRequestState, TransitionError> {
        use AccessRequestState as S;
        use RequestAction as A;
        let forbidden = || TransitionError::Forbidden {
            from: self,
            action: action.name(),
            role,
        };
        if let A::SendBack { reason } | A::Refuse { reason } = action
            && reason.trim().is_empty()
        {
            return Err(TransitionError::ReasonRequired(action.name()));
        }
        match action {
            A::Submit => match self {
                S::Draft | S::SentBack if is_applicant && role == Role::Researcher => {
                    Ok(S::Submitted)
                }
                _ => Err(forbidden()),
            },
            A::Withdraw => match self {
                S::Draft | S::SentBack | S::Submitted | S::EthicsReview | S::AuthorityReview
                    if is_applicant =>
                {
                    Ok(S::Withdrawn)
                }
                _ => Err(forbidden()),
            },
            // Nobody reviews their own request, whatever roles they hold.
            A::Approve | A::SendBack { .. } | A::Refuse { .. } if is_applicant => Err(forbidden()),
            A::Approve => match (self, self.reviewer()) {
                (S::Submitted, Some(r)) if r == role => Ok(S::EthicsReview),
                (S::EthicsReview, Some(r)) if r == role => Ok(S::AuthorityReview),
                (S::AuthorityReview, Some(r)) if r == role => Ok(S::Authorised),
                _ => Err(forbidden()),
            },
            A::SendBack { .. } => match self.reviewer() {
                Some(r) if r == role => Ok(S::SentBack),
                _ => Err(forbidden()),
            },
            A::Refuse { .. } => match self.reviewer() {
                Some(r) if r == role => Ok(S::Refused),
                _ => Err(forbidden()),
            },
            A::Provisioned => match self {
                S::Authorised => Ok(S::Active),
                _ => Err(forbidden()),
            },
            A::Close => match self {
                S::Active if is_applicant => Ok(S::Closed),
                _ => Err(forbidden()),
            },
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
    Submit,
    Withdraw,
    Approve,
    SendBack {
        reason: String,
    },
    Refuse {
        reason: String,
    },
    /// Taken by the hub itself when the extraction is ready.
    Provisioned,
    Close,
}

impl RequestAction {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Withdraw => "withdraw",
            Self::Approve => "approve",
            Self::SendBack { .. } => "send_back",
            Self::Refuse { .. } => "refuse",
            Self::Provisioned => "provisioned",
            Self::Close => "close",
        }
    }
    pub fn reason(&self) -> Option<&str> {
        match self {
            Self::SendBack { reason } | Self::Refuse { reason } => Some(reason),
            _ => None,
        }
    }
    /// Parses an action name and optional reason as sent by a form or the API.
    pub fn parse(name: &str, reason: Option<String>) -> Result<Self, TransitionError> {
        let reason = reason.unwrap_or_default();
        Ok(match name {
            "submit" => Self::Submit,
            "withdraw" => Self::Withdraw,
            "approve" => Self::Approve,
            "send_back" => Self::SendBack { reason },
            "refuse" => Self::Refuse { reason },
            "close" => Self::Close,
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
    #[error("action {0:?} requires a reason")]
    ReasonRequired(&'static str),
    #[error("unknown action {0:?} (expected submit, withdraw, approve, send_back, refuse, close)")]
    UnknownAction(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use AccessRequestState as S;

    #[test]
    fn happy_path() {
        let s = S::Draft
            .apply(&RequestAction::Submit, Role::Researcher, true)
            .unwrap();
        assert_eq!(s, S::Submitted);
        let s = s
            .apply(&RequestAction::Approve, Role::Secretariat, false)
            .unwrap();
        let s = s
            .apply(&RequestAction::Approve, Role::Committee, false)
            .unwrap();
        let s = s
            .apply(&RequestAction::Approve, Role::Authority, false)
            .unwrap();
        assert_eq!(s, S::Authorised);
        let s = s
            .apply(&RequestAction::Provisioned, Role::Admin, false)
            .unwrap();
        assert_eq!(s, S::Active);
    }

    #[test]
    fn wrong_role_or_order_is_forbidden() {
        // The committee cannot act before the secretariat.
        assert!(
            S::Submitted
                .apply(&RequestAction::Approve, Role::Committee, false)
                .is_err()
        );
        // A researcher cannot approve.
        assert!(
            S::Submitted
                .apply(&RequestAction::Approve, Role::Researcher, true)
                .is_err()
        );
        // Someone else's draft cannot be submitted.
        assert!(
            S::Draft
                .apply(&RequestAction::Submit, Role::Researcher, false)
                .is_err()
        );
        // An applicant who also sits on the committee cannot review their own request.
        assert!(
            S::EthicsReview
                .apply(&RequestAction::Approve, Role::Committee, true)
                .is_err()
        );
        assert!(
            S::Submitted
                .apply(
                    &RequestAction::Refuse { reason: "x".into() },
                    Role::Secretariat,
                    true
                )
                .is_err()
        );
        // A secretariat member cannot submit a draft.
        assert!(
            S::Draft
                .apply(&RequestAction::Submit, Role::Secretariat, true)
                .is_err()
        );
        // Refused is terminal.
        for a in [
            RequestAction::Submit,
            RequestAction::Approve,
            RequestAction::Close,
        ] {
            for r in Role::ALL {
                assert!(S::Refused.apply(&a, r, true).is_err());
            }
        }
    }

    #[test]
    fn send_back_needs_reason_and_allows_resubmission() {
        let empty = RequestAction::SendBack { reason: " ".into() };
        assert_eq!(
            S::EthicsReview.apply(&empty, Role::Committee, false),
            Err(TransitionError::ReasonRequired("send_back"))
        );
        let sb = RequestAction::SendBack {
            reason: "methodology unclear".into(),
        };
        let s = S::EthicsReview.apply(&sb, Role::Committee, false).unwrap();
        assert_eq!(s, S::SentBack);
        assert_eq!(
            s.apply(&RequestAction::Submit, Role::Researcher, true)
                .unwrap(),
            S::Submitted
        );
    }

    #[test]
    fn every_state_round_trips() {
        for s in S::ALL {
            assert_eq!(s.as_str().parse::<S>().unwrap(), s);
        }
    }
}
