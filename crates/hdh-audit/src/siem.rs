//! The audit log and its alerts as a SIEM reads them: documents with
//! Elastic Common Schema field names (ECS 8.11), one JSON object per line,
//! and the same documents as syslog messages (RFC 5424, framed by octet
//! counting for TCP, RFC 6587). Pure: the hub writes them to a file and a
//! socket.
//!
//! Fields outside ECS sit under the custom `hdh.*` namespace (the object,
//! the project, the chain's hashes, the details as recorded); ECS names are
//! checked against Elastic's own field list (`@elastic/ecs`) by
//! `tests/ecs`.

use crate::Entry;
use serde_json::{Map, Value, json};

/// The ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

/// Syslog facility 13: log audit (RFC 5424, table 1).
const FACILITY_LOG_AUDIT: u8 = 13;

/// Private enterprise number of the structured data (RFC 5424 §7.2.2):
/// 32473 is the one reserved for documentation (RFC 5612). A hub that
/// holds its own number sets it in the configuration.
pub const DEFAULT_ENTERPRISE: u32 = 32473;

/// ECS `event.category` and `event.type` of an audit action.
fn categorise(action: &str, outcome: &str) -> (&'static str, &'static str) {
    let denied = outcome == "denied";
    let verb = action.rsplit('.').next().unwrap_or("");
    let creation = matches!(verb, "create" | "add" | "register" | "submit" | "upload");
    let deletion = matches!(
        verb,
        "revoke" | "delete" | "remove" | "withdraw" | "suspend"
    );
    let reading = matches!(
        verb,
        "view" | "list" | "read" | "download" | "export" | "search"
    );
    if action.starts_with("auth.") || action.starts_with("session.") {
        let end = matches!(verb, "sign_out" | "logout" | "end");
        return ("authentication", if end { "end" } else { "start" });
    }
    if action.starts_with("workspace.query") || action.starts_with("flight.") {
        return ("database", "access");
    }
    if action.starts_with("token.")
        || action.starts_with("keys.")
        || action.starts_with("user.")
        || action.starts_with("account.")
    {
        let t = if creation {
            "creation"
        } else if deletion {
            "deletion"
        } else if action.starts_with("user.") || action.starts_with("account.") {
            "user"
        } else {
            "change"
        };
        return ("iam", t);
    }
    if action.starts_with("alert.") {
        return ("intrusion_detection", "info");
    }
    let t = if denied {
        "denied"
    } else if creation {
        "creation"
    } else if deletion {
        "deletion"
    } else if reading {
        "access"
    } else {
        "change"
    };
    ("api", t)
}

fn ecs_outcome(outcome: &str) -> &'static str {
    match outcome {
        "success" => "success",
        "denied" | "failed" => "failure",
        _ => "unknown",
    }
}

/// `source.ip` when the recorded address is one, `source.address` otherwise.
fn source(addr: &str) -> (&'static str, Value) {
    let host = addr
        .parse::<std::net::SocketAddr>()
        .map(|s| s.ip().to_string())
        .ok()
        .or_else(|| addr.parse::<std::net::IpAddr>().ok().map(|i| i.to_string()));
    match host {
        Some(ip) => ("ip", Value::String(ip)),
        None => ("address", Value::String(addr.to_string())),
    }
}

/// An audit entry as an ECS document.
pub fn entry_document(e: &Entry) -> Value {
    let (category, kind) = categorise(&e.action, &e.outcome);
    let mut doc = json!({
        "@timestamp": e.at,
        "ecs": { "version": ECS_VERSION },
        "message": format!(
            "{} {} {}{}: {}",
            e.actor_name.as_deref().unwrap_or("(anonymous)"),
            e.action,
            e.object_type,
            e.object_id.as_deref().map(|o| format!(" {o}")).unwrap_or_default(),
            e.outcome
        ),
        "event": {
            "kind": "event",
            "category": [category],
            "type": [kind],
            "action": e.action,
            "outcome": ecs_outcome(&e.outcome),
            "sequence": e.seq,
            "id": e.hash,
            "dataset": "hdh.audit",
            "module": "hdh",
            "provider": "hdh",
        },
        "hdh": {
            "outcome": e.outcome,
            "object": { "type": e.object_type },
            "chain": { "prev_hash": e.prev_hash, "hash": e.hash },
            // The details as recorded (JSON), or their text if they are not.
            "details": serde_json::from_str::<Value>(&e.details)
                .unwrap_or_else(|_| Value::String(e.details.clone())),
        },
        "related": { "hash": [e.hash] },
    });
    let mut user = Map::new();
    if let Some(id) = &e.actor_id {
        user.insert("id".into(), json!(id));
    }
    if let Some(name) = &e.actor_name {
        user.insert("name".into(), json!(name));
        doc["related"]["user"] = json!([name]);
    }
    if let Some(role) = &e.role {
        user.insert("roles".into(), json!([role]));
    }
    if !user.is_empty() {
        doc["user"] = Value::Object(user);
    }
    if let Some(addr) = &e.client_addr {
        let (field, value) = source(addr);
        if field == "ip" {
            doc["related"]["ip"] = json!([value.clone()]);
        }
        doc["source"] = json!({ field: value });
    }
    if let Some(o) = &e.object_id {
        doc["hdh"]["object"]["id"] = json!(o);
    }
    if let Some(p) = &e.project_id {
        doc["hdh"]["project"] = json!({ "id": p });
    }
    doc
}

/// An alert, as the SIEM sees it.
#[derive(Debug, Clone)]
pub struct AlertFacts<'a> {
    pub id: &'a str,
    pub rule: &'a str,
    /// low, medium, high.
    pub severity: &'a str,
    /// An account, or `account X` / `address Y` for sign-in failures.
    pub subject: Option<&'a str>,
    pub at: &'a str,
    pub evidence: &'a [i64],
    pub message: &'a str,
    pub project: Option<&'a str>,
    /// The automatic responses taken.
    pub responses: &'a [String],
    pub state: &'a str,
}

/// `event.severity` (and `event.risk_score`) of an alert's severity, on
/// the scale of Elastic's detection rules.
pub fn severity_score(severity: &str) -> i64 {
    match severity {
        "high" => 73,
        "medium" => 47,
        _ => 21,
    }
}

/// An alert as an ECS document (`event.kind: alert`).
pub fn alert_document(a: &AlertFacts<'_>) -> Value {
    let score = severity_score(a.severity);
    let mut doc = json!({
        "@timestamp": a.at,
        "ecs": { "version": ECS_VERSION },
        "message": a.message,
        "event": {
            "kind": "alert",
            "category": ["intrusion_detection"],
            "type": ["info"],
            "action": "alert.raise",
            "id": a.id,
            "severity": score,
            "risk_score": score as f64,
            "dataset": "hdh.alerts",
            "module": "hdh",
            "provider": "hdh",
        },
        "rule": { "name": a.rule, "ruleset": "hdh" },
        "hdh": {
            "alert": {
                "severity": a.severity,
                "state": a.state,
                "evidence": a.evidence,
                "responses": a.responses,
            },
        },
    });
    if let Some(s) = a.subject {
        doc["hdh"]["alert"]["subject"] = json!(s);
        if let Some(addr) = s.strip_prefix("address ") {
            let (field, value) = source(addr);
            doc["source"] = json!({ field: value });
        } else {
            let name = s.strip_prefix("account ").unwrap_or(s);
            doc["user"] = json!({ "name": name });
            doc["related"] = json!({ "user": [name] });
        }
    }
    if let Some(p) = a.project {
        doc["hdh"]["project"] = json!({ "id": p });
    }
    doc
}

/// Syslog severity (RFC 5424) of an audit entry's outcome.
pub fn entry_severity(outcome: &str) -> u8 {
    match outcome {
        "success" => 6, // informational
        _ => 5,         // notice
    }
}

/// Syslog severity of an alert.
pub fn alert_severity(severity: &str) -> u8 {
    match severity {
        "high" => 2,   // critical
        "medium" => 3, // error
        _ => 4,        // warning
    }
}

/// What one syslog message says beyond the document.
#[derive(Debug, Clone)]
pub struct SyslogHeader<'a> {
    /// 0 (emergency) to 7 (debug).
    pub severity: u8,
    /// RFC 3339 time of the event.
    pub timestamp: &'a str,
    /// This machine's name (`-` when unknown).
    pub hostname: &'a str,
    pub procid: u32,
    /// `audit` or `alert`.
    pub msgid: &'a str,
    pub enterprise: u32,
    /// Structured data parameters (`hdh@<enterprise>`): name, value.
    pub params: Vec<(&'a str, String)>,
}

/// An SD-PARAM value with `"`, `\` and `]` escaped (RFC 5424 §6.3.3).
fn sd_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII, at most `max` characters, `-` if empty.
fn header_field(v: &str, max: usize) -> String {
    let clean: String = v
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() { "-".into() } else { clean }
}

/// One RFC 5424 message: `<PRI>1 TIMESTAMP HOST hdh PROCID MSGID [SD] BOM MSG`,
/// the message being the document's JSON (UTF-8, marked by the BOM).
pub fn syslog_message(h: &SyslogHeader<'_>, document: &Value) -> String {
    let pri = u16::from(FACILITY_LOG_AUDIT) * 8 + u16::from(h.severity.min(7));
    let mut sd = format!("[hdh@{}", h.enterprise);
    for (name, value) in &h.params {
        sd.push_str(&format!(
            " {}=\"{}\"",
            header_field(name, 32),
            sd_escape(value)
        ));
    }
    sd.push(']');
    format!(
        "<{pri}>1 {} {} hdh {} {} {sd} \u{feff}{}",
        header_field(h.timestamp, 64),
        header_field(h.hostname, 255),
        h.procid,
        header_field(h.msgid, 32),
        document
    )
}

/// A message framed for TCP by octet counting (RFC 6587 §3.4.1):
/// `LENGTH SP MESSAGE`, the length in bytes.
pub fn octet_counted(message: &str) -> String {
    format!("{} {message}", message.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            seq: 7,
            at: "2026-11-24T10:00:00.123456Z".into(),
            actor_id: Some("u-1".into()),
            actor_name: Some("alice".into()),
            role: Some("researcher".into()),
            action: "workspace.query".into(),
            object_type: "project".into(),
            object_id: Some("p-1".into()),
            project_id: Some("p-1".into()),
            outcome: "denied".into(),
            client_addr: Some("127.0.0.1:5050".into()),
            details: r#"{"rows":3}"#.into(),
            prev_hash: crate::GENESIS.into(),
            hash: String::new(),
        }
        .seal(crate::GENESIS)
    }

    #[test]
    fn an_entry_in_ecs() {
        let e = entry();
        let d = entry_document(&e);
        assert_eq!(d["event"]["category"], json!(["database"]));
        assert_eq!(d["event"]["outcome"], "failure");
        assert_eq!(d["hdh"]["outcome"], "denied");
        assert_eq!(d["event"]["sequence"], 7);
        assert_eq!(d["source"]["ip"], "127.0.0.1");
        assert_eq!(d["user"]["roles"], json!(["researcher"]));
        assert_eq!(d["hdh"]["details"]["rows"], 3);
        let mut other = e.clone();
        other.client_addr = Some("not an address".into());
        assert_eq!(
            entry_document(&other)["source"]["address"],
            "not an address"
        );
        assert_eq!(categorise("token.revoke", "success"), ("iam", "deletion"));
        assert_eq!(categorise("release.submit", "denied"), ("api", "denied"));
        assert_eq!(
            categorise("auth.sign_in", "denied"),
            ("authentication", "start")
        );
    }

    #[test]
    fn a_syslog_message() {
        let e = entry();
        let m = syslog_message(
            &SyslogHeader {
                severity: entry_severity(&e.outcome),
                timestamp: &e.at,
                hostname: "hub one",
                procid: 42,
                msgid: "audit",
                enterprise: DEFAULT_ENTERPRISE,
                params: vec![("seq", "7".into()), ("note", "a \"b\" ]c\\".into())],
            },
            &json!({ "x": 1 }),
        );
        assert_eq!(
            m,
            "<109>1 2026-11-24T10:00:00.123456Z hubone hdh 42 audit [hdh@32473 seq=\"7\" note=\"a \\\"b\\\" \\]c\\\\\"] \u{feff}{\"x\":1}"
        );
        let framed = octet_counted(&m);
        let (len, rest) = framed.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rest.len());
    }
}
