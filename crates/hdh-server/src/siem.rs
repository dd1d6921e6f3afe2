//! Export of the audit log and its alerts to a SIEM, as they are written:
//! Elastic Common Schema documents (`hdh_audit::siem`) appended to a JSON
//! Lines file, and sent as RFC 5424 messages over TCP (octet counting) to a
//! syslog receiver. Each destination keeps its cursor in the store: after a
//! restart or an outage it resumes where it stopped (at least once: a
//! document may be sent twice across a crash, never skipped; `event.id`
//! tells copies apart).

use crate::{AppError, AppState};
use hdh_audit::Entry;
use hdh_audit::siem::{self, AlertFacts, SyslogHeader};
use std::path::PathBuf;
use tokio::io::AsyncWriteExt;

/// Where the documents go.
#[derive(Debug, Clone, Default)]
pub struct SiemConfig {
    /// JSON Lines file the documents are appended to.
    pub file: Option<PathBuf>,
    /// `host:port` of a syslog receiver over TCP.
    pub syslog: Option<String>,
    /// Private enterprise number of the structured data.
    pub enterprise: u32,
    /// How often new audit events are exported.
    pub every: std::time::Duration,
}

impl SiemConfig {
    pub fn off() -> SiemConfig {
        SiemConfig {
            file: None,
            syslog: None,
            enterprise: siem::DEFAULT_ENTERPRISE,
            every: std::time::Duration::from_secs(1),
        }
    }
}

enum Sink {
    File(PathBuf),
    Syslog {
        addr: String,
        enterprise: u32,
        stream: Option<tokio::net::TcpStream>,
    },
}

impl Sink {
    fn name(&self) -> &'static str {
        match self {
            Sink::File(_) => "siem-file",
            Sink::Syslog { .. } => "siem-syslog",
        }
    }

    /// Writes a batch: every document reaches the file's disk, or the
    /// receiver's socket, or an error says it did not.
    async fn write(&mut self, docs: &[(Doc, serde_json::Value)]) -> Result<(), String> {
        match self {
            Sink::File(path) => {
                let mut text = String::new();
                for (_, d) in docs {
                    text.push_str(&d.to_string());
                    text.push('\n');
                }
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir)
                        .await
                        .map_err(|e| format!("{}: {e}", dir.display()))?;
                }
                let mut f = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&*path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                f.write_all(text.as_bytes())
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                f.sync_data()
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(())
            }
            Sink::Syslog {
                addr,
                enterprise,
                stream,
            } => {
                let host = hostname();
                let pid = std::process::id();
                let mut frames = String::new();
                for (doc, d) in docs {
                    let (severity, msgid, params) = match doc {
                        Doc::Entry {
                            seq,
                            action,
                            outcome,
                        } => (
                            siem::entry_severity(outcome),
                            "audit",
                            vec![
                                ("seq", seq.to_string()),
                                ("action", action.clone()),
                                ("outcome", outcome.clone()),
                            ],
                        ),
                        Doc::Alert { id, rule, severity } => (
                            siem::alert_severity(severity),
                            "alert",
                            vec![
                                ("id", id.clone()),
                                ("rule", rule.clone()),
                                ("severity", severity.clone()),
                            ],
                        ),
                    };
                    let at = d["@timestamp"].as_str().unwrap_or("-").to_string();
                    let m = siem::syslog_message(
                        &SyslogHeader {
                            severity,
                            timestamp: &at,
                            hostname: &host,
                            procid: pid,
                            msgid,
                            enterprise: *enterprise,
                            params,
                        },
                        d,
                    );
                    frames.push_str(&siem::octet_counted(&m));
                }
                // A receiver that closed the connection is seen here (a read
                // returns end of file) rather than by losing the next write.
                if let Some(s) = stream.as_ref() {
                    let mut probe = [0u8; 64];
                    match s.try_read(&mut probe) {
                        Ok(0) => *stream = None,
                        Ok(_) => {} // a receiver does not speak; ignore it
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => *stream = None,
                    }
                }
                if stream.is_none() {
                    let s = tokio::net::TcpStream::connect(addr.as_str())
                        .await
                        .map_err(|e| format!("syslog receiver {addr}: {e}"))?;
                    *stream = Some(s);
                }
                let Some(s) = stream.as_mut() else {
                    return Err(format!("syslog receiver {addr}: not connected"));
                };
                let sent = async {
                    s.write_all(frames.as_bytes()).await?;
                    s.flush().await
                }
                .await;
                if let Err(e) = sent {
                    // Reconnect next time; the cursor has not moved.
                    *stream = None;
                    return Err(format!("syslog receiver {addr}: {e}"));
                }
                Ok(())
            }
        }
    }
}

/// This machine's name for the syslog header (`-` when unknown).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// What a document is, for the syslog header.
enum Doc {
    Entry {
        seq: i64,
        action: String,
        outcome: String,
    },
    Alert {
        id: String,
        rule: String,
        severity: String,
    },
}

/// The documents of some entries: each entry, and after each `alert.raise`
/// the alert it records.
async fn documents(
    state: &AppState,
    entries: &[Entry],
) -> Result<Vec<(Doc, serde_json::Value)>, AppError> {
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        out.push((
            Doc::Entry {
                seq: e.seq,
                action: e.action.clone(),
                outcome: e.outcome.clone(),
            },
            siem::entry_document(e),
        ));
        if e.action == "alert.raise"
            && let Some(id) = &e.object_id
            && let Some(a) = state.store.alert(id).await?
        {
            let d = siem::alert_document(&AlertFacts {
                id: &a.id,
                rule: &a.rule,
                severity: &a.severity,
                subject: a.subject.as_deref(),
                at: &a.at,
                evidence: &a.evidence,
                message: &a.message,
                project: a.project_id.as_deref(),
                responses: &a.responses,
                state: &a.state,
            });
            out.push((
                Doc::Alert {
                    id: a.id.clone(),
                    rule: a.rule.clone(),
                    severity: a.severity.clone(),
                },
                d,
            ));
        }
    }
    Ok(out)
}

/// Starts one follower per configured destination.
pub fn spawn(state: AppState) {
    let cfg = state.config.siem.clone();
    let mut sinks = Vec::new();
    if let Some(f) = cfg.file {
        sinks.push(Sink::File(f));
    }
    if let Some(addr) = cfg.syslog {
        sinks.push(Sink::Syslog {
            addr,
            enterprise: cfg.enterprise,
            stream: None,
        });
    }
    for mut sink in sinks {
        let state = state.clone();
        let every = cfg.every;
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                match export(&state, &mut sink).await {
                    Ok(()) => {
                        if failing {
                            tracing::info!("{}: delivering again", sink.name());
                        }
                        failing = false;
                    }
                    Err(e) => {
                        // Said once per outage, not every second.
                        if !failing {
                            tracing::error!("{}: {e}", sink.name());
                        }
                        failing = true;
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
    }
}

/// Sends what the destination has not received yet.
async fn export(state: &AppState, sink: &mut Sink) -> Result<(), String> {
    let name = sink.name();
    let store = &state.store;
    let mut cursor = store.export_cursor(name).await.map_err(|e| e.to_string())?;
    let (head, _) = store.audit_head().await.map_err(|e| e.to_string())?;
    while cursor < head {
        let to = (cursor + 1000).min(head);
        let entries = store
            .audit_entries(cursor + 1, to)
            .await
            .map_err(|e| e.to_string())?;
        let docs = documents(state, &entries).await.map_err(|e| e.message)?;
        if !docs.is_empty() {
            sink.write(&docs).await?;
        }
        store
            .set_export_cursor(name, to)
            .await
            .map_err(|e| e.to_string())?;
        cursor = to;
    }
    Ok(())
}
