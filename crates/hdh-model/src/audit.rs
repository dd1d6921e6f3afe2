//! Audit events: who did what to which object, with which outcome.
//! The store writes each event in the same transaction as the change it records.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    /// Refused by an authorisation or scope rule.
    Denied,
    /// Rejected because the input was invalid.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// One audit event before it is written (the store assigns sequence and time).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Account id of the actor; `None` for the hub itself or an anonymous caller.
    pub actor_id: Option<String>,
    /// Username of the actor (never a direct identifier of a data subject).
    pub actor_name: Option<String>,
    /// Role under which the action was taken.
    pub role: Option<String>,
    /// Dotted action name, e.g. `request.submit`, `workspace.query`.
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub project_id: Option<String>,
    pub outcome: Outcome,
    pub client_addr: Option<String>,
    pub details: serde_json::Value,
}

impl AuditEvent {
    pub fn new(action: impl Into<String>, object_type: impl Into<String>) -> Self {
        AuditEvent {
            actor_id: None,
            actor_name: None,
            role: None,
            action: action.into(),
            object_type: object_type.into(),
            object_id: None,
            project_id: None,
            outcome: Outcome::Success,
            client_addr: None,
            details: serde_json::Value::Null,
        }
    }
    pub fn object(mut self, id: impl Into<String>) -> Self {
        self.object_id = Some(id.into());
        self
    }
    pub fn project(mut self, id: impl Into<String>) -> Self {
        self.project_id = Some(id.into());
        self
    }
    pub fn outcome(mut self, o: Outcome) -> Self {
        self.outcome = o;
        self
    }
    pub fn details(mut self, d: serde_json::Value) -> Self {
        self.details = d;
        self
    }
}
