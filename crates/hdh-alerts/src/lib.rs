//! Alert rules over the audit log, pure (no I/O): an [`Engine`] observes
//! entries as they are written (or replays history) and raises [`Alert`]s,
//! each with its rule, severity, the actor and the evidence (the sequence
//! numbers of the events behind it).
//!
//! Rules come from a TOML file (`[[rule]]` tables, see [`Rule`]); the
//! defaults ([`default_rules`]) watch query rates, probing by small results,
//! near-identical queries (the same query with other literals: the
//! differencing pattern), bulk row-level results, repeated refusals,
//! sign-in failures, access outside working hours or from a new address,
//! and every administrative or key operation.

use chrono::{DateTime, Datelike, Timelike, Utc};
use hdh_audit::Entry;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// More than `max` events of `action` (a prefix) by one actor within `window_s`.
    Rate {
        action: String,
        max: usize,
        window_s: i64,
    },
    /// More than `max` successful queries by one actor within `window_s`
    /// whose result had between 1 and `below - 1` rows: probing cells.
    SmallResults {
        max: usize,
        below: i64,
        window_s: i64,
    },
    /// More than `max` queries by one actor within `window_s` that are the
    /// same query with other literals (a population shifted a little each
    /// time: differencing).
    NearIdentical { max: usize, window_s: i64 },
    /// One query returning more than `above` rows (browsing row-level data).
    BulkRows { above: i64 },
    /// More than `max` refused actions by one actor within `window_s`.
    Refusals { max: usize, window_s: i64 },
    /// More than `max` failed sign-ins for one account or from one address
    /// within `window_s`.
    SignInFailures { max: usize, window_s: i64 },
    /// An action (prefix) outside `start_hour..end_hour` (UTC) or on a weekend.
    OffHours {
        actions: Vec<String>,
        start_hour: u32,
        end_hour: u32,
    },
    /// A successful sign-in from an address the account never used before
    /// (after its first sign-in).
    NewAddress,
    /// Every event of these actions (prefixes): administration, keys.
    Watch { actions: Vec<String> },
}

/// What the hub does by itself when a rule fires, before anyone reads the
/// alert (`respond = ["suspend_tokens", "lock_workspace"]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// Revokes every live access token (Flight SQL, API) of the account the
    /// alert is about.
    SuspendTokens,
    /// Locks the workspace of the project the alert's last event is in:
    /// nobody queries it until the security officer closes the alert.
    LockWorkspace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    /// Automatic responses (none by default).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub respond: Vec<Response>,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub severity: Severity,
    /// The account (or the address, for sign-in failures) it is about.
    pub subject: Option<String>,
    pub at: String,
    /// Sequence numbers of the events behind it.
    pub evidence: Vec<i64>,
    pub message: String,
    /// The project of the event that fired it, if any.
    pub project: Option<String>,
    /// The rule's automatic responses.
    pub respond: Vec<Response>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RulesError {
    #[error("{0}")]
    Toml(String),
    #[error("rule {0:?} is defined twice")]
    Duplicate(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// Parses `[[rule]]` tables (errors name the line and column).
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RulesError> {
    let file: RulesFile =
        toml::from_str(text).map_err(|e| RulesError::Toml(e.to_string().trim().to_string()))?;
    let mut seen = HashSet::new();
    for r in &file.rule {
        if !seen.insert(r.name.clone()) {
            return Err(RulesError::Duplicate(r.name.clone()));
        }
    }
    Ok(file.rule)
}

/// The rules a hub starts with (documented in `docs/audit.md`).
pub fn default_rules() -> Vec<Rule> {
    let r = |name: &str, severity, check| Rule {
        name: name.into(),
        severity,
        respond: Vec::new(),
        check,
    };
    vec![
        r(
            "query-rate",
            Severity::Medium,
            Check::Rate {
                action: "workspace.query".into(),
                max: 120,
                window_s: 600,
            },
        ),
        r(
            "probing-small-results",
            Severity::High,
            Check::SmallResults {
                max: 20,
                below: 10,
                window_s: 3600,
            },
        ),
        r(
            "near-identical-queries",
            Severity::High,
            Check::NearIdentical {
                max: 7,
                window_s: 86_400,
            },
        ),
        r(
            "bulk-rows",
            Severity::Medium,
            Check::BulkRows { above: 100_000 },
        ),
        r(
            "repeated-refusals",
            Severity::Medium,
            Check::Refusals {
                max: 5,
                window_s: 3600,
            },
        ),
        r(
            "sign-in-failures",
            Severity::High,
            Check::SignInFailures {
                max: 5,
                window_s: 900,
            },
        ),
        r(
            "off-hours",
            Severity::Low,
            Check::OffHours {
                actions: vec!["workspace.".into(), "release.".into()],
                start_hour: 6,
                end_hour: 21,
            },
        ),
        r("new-address", Severity::Low, Check::NewAddress),
        r(
            "admin-and-keys",
            Severity::Medium,
            Check::Watch {
                actions: vec!["account.".into(), "keys.".into(), "user.".into()],
            },
        ),
    ]
}

/// A query's shape: lower case, literals replaced by `?`, spaces collapsed.
pub fn query_shape(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut last_space = false;
    while let Some(c) = chars.next() {
        if c == '\'' {
            // A string literal ('' escapes a quote).
            while let Some(d) = chars.next() {
                if d == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            out.push('?');
            last_space = false;
        } else if c.is_ascii_digit()
            && !out
                .chars()
                .last()
                .is_some_and(|p| p.is_alphanumeric() || p == '_')
        {
            while chars
                .peek()
                .is_some_and(|d| d.is_ascii_digit() || *d == '.')
            {
                chars.next();
            }
            out.push('?');
            last_space = false;
        } else if c.is_whitespace() {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.extend(c.to_lowercase());
            last_space = false;
        }
    }
    out.trim_end().to_string()
}

fn starts(action: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| action.starts_with(p.as_str()))
}

fn time(e: &Entry) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&e.at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn details(e: &Entry) -> serde_json::Value {
    serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null)
}

/// Events in a sliding window, per rule and subject.
#[derive(Default)]
struct Window {
    events: VecDeque<(DateTime<Utc>, i64, String)>,
    /// After an alert, the same rule stays quiet for this subject until
    /// then (one alert per window, not one per event).
    quiet_until: Option<DateTime<Utc>>,
}

impl Window {
    /// Adds an event, drops those older than the window; fires (and
    /// empties) when more than `max` remain, unless it fired within the
    /// last window.
    fn push(
        &mut self,
        at: DateTime<Utc>,
        seq: i64,
        tag: String,
        window_s: i64,
        max: usize,
    ) -> Option<Vec<i64>> {
        self.events.push_back((at, seq, tag));
        while self
            .events
            .front()
            .is_some_and(|(t, _, _)| (at - *t).num_seconds() > window_s)
        {
            self.events.pop_front();
        }
        if self.events.len() <= max || self.quiet_until.is_some_and(|q| at < q) {
            return None;
        }
        self.quiet_until = Some(at + chrono::Duration::seconds(window_s));
        Some(self.events.drain(..).map(|(_, s, _)| s).collect())
    }
}

/// Evaluates rules over entries in order.
pub struct Engine {
    rules: Vec<Rule>,
    windows: HashMap<(usize, String), Window>,
    addresses: HashMap<String, HashSet<String>>,
}

impl Engine {
    pub fn new(rules: Vec<Rule>) -> Engine {
        Engine {
            rules,
            windows: HashMap::new(),
            addresses: HashMap::new(),
        }
    }

    /// The alerts this entry raises.
    pub fn observe(&mut self, e: &Entry) -> Vec<Alert> {
        let Some(at) = time(e) else {
            return Vec::new();
        };
        let actor = e.actor_name.clone();
        let mut out = Vec::new();
        let d = details(e);
        let rows = d.get("rows").and_then(|r| r.as_i64());
        for (i, rule) in self.rules.iter().enumerate() {
            let alert = |subject: Option<String>, evidence: Vec<i64>, message: String| Alert {
                rule: rule.name.clone(),
                severity: rule.severity,
                subject,
                at: e.at.clone(),
                evidence,
                message,
                project: e.project_id.clone(),
                respond: rule.respond.clone(),
            };
            let windows = &mut self.windows;
            let mut window = |key: String, tag: String, window_s: i64, max: usize| {
                windows
                    .entry((i, key))
                    .or_default()
                    .push(at, e.seq, tag, window_s, max)
            };
            match &rule.check {
                Check::Rate {
                    action,
                    max,
                    window_s,
                } => {
                    if e.action.starts_with(action.as_str())
                        && let Some(a) = &actor
                        && let Some(ev) = window(a.clone(), String::new(), *window_s, *max)
                    {
                        out.push(alert(
                            actor.clone(),
                            ev,
                            format!("more than {max} {action} in {window_s} s"),
                        ));
                    }
                }
                Check::SmallResults {
                    max,
                    below,
                    window_s,
                } => {
                    if e.action == "workspace.query"
                        && e.outcome == "success"
                        && rows.is_some_and(|r| r > 0 && r < *below)
                        && let Some(a) = &actor
                        && let Some(ev) = window(a.clone(), String::new(), *window_s, *max)
                    {
                        out.push(alert(actor.clone(), ev, format!("more than {max} queries with fewer than {below} rows in {window_s} s: probing small cells")));
                    }
                }
                Check::NearIdentical { max, window_s } => {
                    if e.action == "workspace.query"
                        && let (Some(a), Some(sql)) =
                            (&actor, d.get("sql").and_then(|s| s.as_str()))
                    {
                        let shape = query_shape(sql);
                        let key = format!("{a}\u{1f}{shape}");
                        let w = self.windows.entry((i, key)).or_default();
                        // Only a query with other literals counts: the same
                        // text again is a re-run.
                        if !w.events.iter().any(|(_, _, t)| t == sql)
                            && let Some(ev) = w.push(at, e.seq, sql.to_string(), *window_s, *max)
                        {
                            out.push(alert(actor.clone(), ev, format!("more than {max} variants of one query in {window_s} s (differencing?): {shape}")));
                        }
                    }
                }
                Check::BulkRows { above } => {
                    if e.action == "workspace.query" && rows.is_some_and(|r| r > *above) {
                        out.push(alert(
                            actor.clone(),
                            vec![e.seq],
                            format!(
                                "a query returned {} rows, more than {above}",
                                rows.unwrap_or(0)
                            ),
                        ));
                    }
                }
                Check::Refusals { max, window_s } => {
                    if e.outcome == "denied"
                        && e.action != "auth.sign_in"
                        && let Some(a) = &actor
                        && let Some(ev) = window(a.clone(), String::new(), *window_s, *max)
                    {
                        out.push(alert(
                            actor.clone(),
                            ev,
                            format!("more than {max} refused actions in {window_s} s"),
                        ));
                    }
                }
                Check::SignInFailures { max, window_s } => {
                    if e.action == "auth.sign_in" && e.outcome == "denied" {
                        for key in [
                            actor.clone().map(|a| format!("account {a}")),
                            e.client_addr.clone().map(|c| format!("address {c}")),
                        ]
                        .into_iter()
                        .flatten()
                        {
                            if let Some(ev) = window(key.clone(), String::new(), *window_s, *max) {
                                out.push(alert(
                                    Some(key.clone()),
                                    ev,
                                    format!(
                                        "more than {max} failed sign-ins for {key} in {window_s} s"
                                    ),
                                ));
                            }
                        }
                    }
                }
                Check::OffHours {
                    actions,
                    start_hour,
                    end_hour,
                } => {
                    let weekend = at.weekday().number_from_monday() >= 6;
                    if starts(&e.action, actions)
                        && (weekend || at.hour() < *start_hour || at.hour() >= *end_hour)
                    {
                        out.push(alert(
                            actor.clone(),
                            vec![e.seq],
                            format!(
                                "{} at {} UTC, outside working hours",
                                e.action,
                                at.format("%a %H:%M")
                            ),
                        ));
                    }
                }
                Check::NewAddress => {
                    if e.action == "auth.sign_in"
                        && e.outcome == "success"
                        && let (Some(a), Some(addr)) = (&actor, &e.client_addr)
                    {
                        let known = self.addresses.entry(a.clone()).or_default();
                        if !known.is_empty() && !known.contains(addr) {
                            out.push(alert(
                                actor.clone(),
                                vec![e.seq],
                                format!("sign-in from a new address {addr}"),
                            ));
                        }
                        known.insert(addr.clone());
                    }
                }
                Check::Watch { actions } => {
                    if starts(&e.action, actions) {
                        out.push(alert(
                            actor.clone(),
                            vec![e.seq],
                            format!("{} ({})", e.action, e.outcome),
                        ));
                    }
                }
            }
        }
        out
    }

    /// Every alert the rules raise over history, in order.
    pub fn replay<'a>(
        rules: Vec<Rule>,
        entries: impl IntoIterator<Item = &'a Entry>,
    ) -> Vec<Alert> {
        let mut engine = Engine::new(rules);
        entries
            .into_iter()
            .flat_map(|e| engine.observe(e))
            .collect()
    }
}

#[cfg(test)]
mod tests;
