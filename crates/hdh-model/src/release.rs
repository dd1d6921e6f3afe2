//! The life cycle of a release request: what leaves a workspace, reviewed by
//! independent output checkers.
//!
//! ```text
//! draft ──submit──▶ submitted ──review──▶ partially reviewed ──review──▶ reviewed ──release──▶ released
//!   ▲                  │  a file returned by a checker ──▶ returned ──edit──▶ draft
//!   └──────────────────┴── reject (checker) ──▶ rejected; withdraw (author) ──▶ withdrawn
//! ```
//!
//! After a submission the state follows from the reviews ([`review_state`]):
//! a review counts for the current version of a file only (a changed file
//! resets its reviews), and a checker counts once.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseState {
    Draft,
    Submitted,
    PartiallyReviewed,
    Reviewed,
    Released,
    Returned,
    Rejected,
    Withdrawn,
}

impl ReleaseState {
    pub const ALL: [ReleaseState; 8] = [
        ReleaseState::Draft,
        ReleaseState::Submitted,
        ReleaseState::PartiallyReviewed,
        ReleaseState::Reviewed,
        ReleaseState::Released,
        ReleaseState::Returned,
        ReleaseState::Rejected,
        ReleaseState::Withdrawn,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseState::Draft => "draft",
            ReleaseState::Submitted => "submitted",
            ReleaseState::PartiallyReviewed => "partially_reviewed",
            ReleaseState::Reviewed => "reviewed",
            ReleaseState::Released => "released",
            ReleaseState::Returned => "returned",
            ReleaseState::Rejected => "rejected",
            ReleaseState::Withdrawn => "withdrawn",
        }
    }
    pub fn parse(s: &str) -> Option<ReleaseState> {
        ReleaseState::ALL.into_iter().find(|x| x.as_str() == s)
    }
    /// Waiting for output checkers.
    pub fn awaits_review(self) -> bool {
        matches!(
            self,
            ReleaseState::Submitted | ReleaseState::PartiallyReviewed | ReleaseState::Reviewed
        )
    }
    /// The author may change its files.
    pub fn editable(self) -> bool {
        matches!(self, ReleaseState::Draft | ReleaseState::Returned)
    }
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReleaseState::Released | ReleaseState::Rejected | ReleaseState::Withdrawn
        )
    }
}

/// What may be released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A table the hub computed from the workspace's microdata.
    Table,
    /// A model's coefficients, with the query of the data it was fitted on.
    Model,
    /// A PNG or SVG figure, with the table it was drawn from.
    Figure,
    /// Free text: README, methods (Markdown or plain text).
    Text,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Table => "table",
            FileKind::Model => "model",
            FileKind::Figure => "figure",
            FileKind::Text => "text",
        }
    }
    pub fn parse(s: &str) -> Option<FileKind> {
        [
            FileKind::Table,
            FileKind::Model,
            FileKind::Figure,
            FileKind::Text,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileDecision {
    Approve,
    Return,
}

impl FileDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            FileDecision::Approve => "approve",
            FileDecision::Return => "return",
        }
    }
    pub fn parse(s: &str) -> Option<FileDecision> {
        match s {
            "approve" => Some(FileDecision::Approve),
            "return" => Some(FileDecision::Return),
            _ => None,
        }
    }
}

/// A file of a release as the rules see it: its id and the hash of its
/// current version (content and description).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileVersion {
    pub id: String,
    pub sha256: String,
}

/// One checker's decision on one version of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileReview {
    pub file_id: String,
    pub file_sha256: String,
    pub checker_id: String,
    pub decision: FileDecision,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseAction {
    /// Add, replace or remove a file.
    Edit,
    Submit,
    /// A checker's review of every file.
    Review,
    /// Let the reviewed files leave.
    Release,
    Reject,
    Withdraw,
}

impl ReleaseAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseAction::Edit => "edit",
            ReleaseAction::Submit => "submit",
            ReleaseAction::Review => "review",
            ReleaseAction::Release => "release",
            ReleaseAction::Reject => "reject",
            ReleaseAction::Withdraw => "withdraw",
        }
    }
}

/// Who acts, and on what.
#[derive(Debug, Clone)]
pub struct ReleaseContext<'a> {
    pub caller_id: &'a str,
    pub is_author: bool,
    /// A member of the release's project.
    pub is_member: bool,
    /// Holds the output checker role.
    pub is_checker: bool,
    pub files: &'a [FileVersion],
    /// Every review recorded, the new one included for a review.
    pub reviews: &'a [FileReview],
    /// Independent checkers needed.
    pub required_reviews: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReleaseError {
    #[error("{action}: not possible while the release is {state}")]
    NotNow {
        action: &'static str,
        state: &'static str,
    },
    #[error("only the author of the release can {0} it")]
    NotAuthor(&'static str),
    #[error("only an output checker can {0} a release")]
    NotChecker(&'static str),
    #[error(
        "an output checker cannot review a release of their own or of a project they are a member of"
    )]
    NotIndependent,
    #[error("a release needs at least one file")]
    NoFiles,
    #[error("a review decides on every file: {0} missing")]
    IncompleteReview(String),
}

/// The state of a submitted release, from the reviews of its files' current
/// versions.
pub fn review_state(
    files: &[FileVersion],
    reviews: &[FileReview],
    required: usize,
) -> ReleaseState {
    let current = |r: &&FileReview| {
        files
            .iter()
            .any(|f| f.id == r.file_id && f.sha256 == r.file_sha256)
    };
    let live: Vec<&FileReview> = reviews.iter().filter(current).collect();
    if live.iter().any(|r| r.decision == FileDecision::Return) {
        return ReleaseState::Returned;
    }
    let mut checkers: Vec<&str> = live.iter().map(|r| r.checker_id.as_str()).collect();
    checkers.sort_unstable();
    checkers.dedup();
    let approving = checkers
        .iter()
        .filter(|c| {
            files.iter().all(|f| {
                live.iter().any(|r| {
                    r.checker_id == **c && r.file_id == f.id && r.decision == FileDecision::Approve
                })
            })
        })
        .count();
    if approving >= required.max(1) {
        ReleaseState::Reviewed
    } else if live.is_empty() {
        ReleaseState::Submitted
    } else {
        ReleaseState::PartiallyReviewed
    }
}

impl ReleaseState {
    /// The state after `action`, or why it is refused.
    pub fn apply(
        self,
        action: ReleaseAction,
        ctx: &ReleaseContext,
    ) -> Result<ReleaseState, ReleaseError> {
        use ReleaseAction as A;
        use ReleaseState as S;
        let not_now = || ReleaseError::NotNow {
            action: action.as_str(),
            state: self.as_str(),
        };
        let checker = |what: &'static str| -> Result<(), ReleaseError> {
            if !ctx.is_checker {
                return Err(ReleaseError::NotChecker(what));
            }
            if ctx.is_author || ctx.is_member {
                return Err(ReleaseError::NotIndependent);
            }
            Ok(())
        };
        match action {
            A::Edit => {
                if !ctx.is_author {
                    return Err(ReleaseError::NotAuthor("change"));
                }
                if !self.editable() {
                    return Err(not_now());
                }
                Ok(S::Draft)
            }
            A::Submit => {
                if !ctx.is_author {
                    return Err(ReleaseError::NotAuthor("submit"));
                }
                if !self.editable() {
                    return Err(not_now());
                }
                if ctx.files.is_empty() {
                    return Err(ReleaseError::NoFiles);
                }
                Ok(review_state(ctx.files, ctx.reviews, ctx.required_reviews))
            }
            A::Review => {
                checker("review")?;
                if !matches!(self, S::Submitted | S::PartiallyReviewed) {
                    return Err(not_now());
                }
                let missing: Vec<&str> = ctx
                    .files
                    .iter()
                    .filter(|f| {
                        !ctx.reviews.iter().any(|r| {
                            r.checker_id == ctx.caller_id
                                && r.file_id == f.id
                                && r.file_sha256 == f.sha256
                        })
                    })
                    .map(|f| f.id.as_str())
                    .collect();
                if !missing.is_empty() {
                    return Err(ReleaseError::IncompleteReview(missing.join(", ")));
                }
                Ok(review_state(ctx.files, ctx.reviews, ctx.required_reviews))
            }
            A::Release => {
                checker("release")?;
                if self != S::Reviewed {
                    return Err(not_now());
                }
                Ok(S::Released)
            }
            A::Reject => {
                checker("reject")?;
                if !self.awaits_review() {
                    return Err(not_now());
                }
                Ok(S::Rejected)
            }
            A::Withdraw => {
                if !ctx.is_author {
                    return Err(ReleaseError::NotAuthor("withdraw"));
                }
                if self.is_final() {
                    return Err(not_now());
                }
                Ok(S::Withdrawn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReleaseAction as A;
    use ReleaseState as S;

    fn files(v: &[(&str, &str)]) -> Vec<FileVersion> {
        v.iter()
            .map(|(id, sha)| FileVersion {
                id: id.to_string(),
                sha256: sha.to_string(),
            })
            .collect()
    }

    fn review(file: &str, sha: &str, checker: &str, d: FileDecision) -> FileReview {
        FileReview {
            file_id: file.into(),
            file_sha256: sha.into(),
            checker_id: checker.into(),
            decision: d,
            comment: String::new(),
        }
    }

    fn ctx<'a>(
        caller: &'a str,
        files: &'a [FileVersion],
        reviews: &'a [FileReview],
    ) -> ReleaseContext<'a> {
        ReleaseContext {
            caller_id: caller,
            is_author: caller == "author",
            is_member: caller == "author" || caller == "colleague",
            is_checker: caller.starts_with("checker") || caller == "colleague",
            files,
            reviews,
            required_reviews: 2,
        }
    }

    #[test]
    fn two_independent_checkers_then_release() {
        use FileDecision::Approve;
        let f = files(&[("t1", "a"), ("readme", "b")]);
        let s = S::Draft.apply(A::Submit, &ctx("author", &f, &[])).unwrap();
        assert_eq!(s, S::Submitted);
        let mut reviews = vec![
            review("t1", "a", "checker1", Approve),
            review("readme", "b", "checker1", Approve),
        ];
        let s = s.apply(A::Review, &ctx("checker1", &f, &reviews)).unwrap();
        assert_eq!(s, S::PartiallyReviewed);
        // The same checker again does not count twice.
        assert_eq!(
            s.apply(A::Review, &ctx("checker1", &f, &reviews)).unwrap(),
            S::PartiallyReviewed
        );
        reviews.push(review("t1", "a", "checker2", Approve));
        assert_eq!(
            s.apply(A::Review, &ctx("checker2", &f, &reviews)),
            Err(ReleaseError::IncompleteReview("readme".into()))
        );
        reviews.push(review("readme", "b", "checker2", Approve));
        let s = s.apply(A::Review, &ctx("checker2", &f, &reviews)).unwrap();
        assert_eq!(s, S::Reviewed);
        assert_eq!(
            s.apply(A::Release, &ctx("author", &f, &reviews)),
            Err(ReleaseError::NotChecker("release"))
        );
        assert_eq!(
            s.apply(A::Release, &ctx("checker1", &f, &reviews)).unwrap(),
            S::Released
        );
    }

    #[test]
    fn self_review_and_member_review_are_refused() {
        let f = files(&[("t1", "a")]);
        let r = [review("t1", "a", "colleague", FileDecision::Approve)];
        assert_eq!(
            S::Submitted.apply(A::Review, &ctx("colleague", &f, &r)),
            Err(ReleaseError::NotIndependent)
        );
        let mut author_checker = ctx("author", &f, &r);
        author_checker.is_checker = true;
        assert_eq!(
            S::Submitted.apply(A::Review, &author_checker),
            Err(ReleaseError::NotIndependent)
        );
        assert_eq!(
            S::Submitted.apply(A::Review, &ctx("nobody", &f, &r)),
            Err(ReleaseError::NotChecker("review"))
        );
    }

    #[test]
    fn a_returned_file_returns_the_release_and_a_changed_file_resets_its_reviews() {
        use FileDecision::{Approve, Return};
        let f = files(&[("t1", "a"), ("t2", "b")]);
        let reviews = vec![
            review("t1", "a", "checker1", Approve),
            review("t2", "b", "checker1", Return),
        ];
        let s = S::Submitted
            .apply(A::Review, &ctx("checker1", &f, &reviews))
            .unwrap();
        assert_eq!(s, S::Returned);
        assert_eq!(
            s.apply(A::Review, &ctx("checker2", &f, &reviews)),
            Err(ReleaseError::NotNow {
                action: "review",
                state: "returned"
            })
        );
        let s = s.apply(A::Edit, &ctx("author", &f, &reviews)).unwrap();
        assert_eq!(s, S::Draft);
        // t2 changed: its return no longer counts, t1's approval still does.
        let f2 = files(&[("t1", "a"), ("t2", "c")]);
        let s = s.apply(A::Submit, &ctx("author", &f2, &reviews)).unwrap();
        assert_eq!(s, S::PartiallyReviewed);
        assert_eq!(review_state(&f2, &reviews, 2), S::PartiallyReviewed);
        // Submitting again without changing the returned file returns it again.
        assert_eq!(
            S::Draft
                .apply(A::Submit, &ctx("author", &f, &reviews))
                .unwrap(),
            S::Returned
        );
    }

    #[test]
    fn who_may_do_what_when() {
        let f = files(&[("t1", "a")]);
        assert_eq!(
            S::Draft.apply(A::Submit, &ctx("author", &[], &[])),
            Err(ReleaseError::NoFiles)
        );
        assert_eq!(
            S::Draft.apply(A::Submit, &ctx("colleague", &f, &[])),
            Err(ReleaseError::NotAuthor("submit"))
        );
        assert_eq!(
            S::Submitted.apply(A::Edit, &ctx("author", &f, &[])),
            Err(ReleaseError::NotNow {
                action: "edit",
                state: "submitted"
            })
        );
        assert_eq!(
            S::Submitted.apply(A::Release, &ctx("checker1", &f, &[])),
            Err(ReleaseError::NotNow {
                action: "release",
                state: "submitted"
            })
        );
        assert_eq!(
            S::PartiallyReviewed
                .apply(A::Reject, &ctx("checker1", &f, &[]))
                .unwrap(),
            S::Rejected
        );
        assert_eq!(
            S::Draft.apply(A::Reject, &ctx("checker1", &f, &[])),
            Err(ReleaseError::NotNow {
                action: "reject",
                state: "draft"
            })
        );
        for s in [
            S::Draft,
            S::Submitted,
            S::PartiallyReviewed,
            S::Reviewed,
            S::Returned,
        ] {
            assert_eq!(
                s.apply(A::Withdraw, &ctx("author", &f, &[])).unwrap(),
                S::Withdrawn
            );
        }
        for s in [S::Released, S::Rejected, S::Withdrawn] {
            assert!(s.apply(A::Withdraw, &ctx("author", &f, &[])).is_err());
            assert!(s.apply(A::Edit, &ctx("author", &f, &[])).is_err());
        }
        for s in ReleaseState::ALL {
            assert_eq!(ReleaseState::parse(s.as_str()), Some(s));
        }
    }
}
