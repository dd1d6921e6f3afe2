//! A researcher probes small cells: a rule with automatic responses fires;
//! the hub revokes the researcher's tokens and locks the project's
//! workspace until the security officer closes the alert; the security
//! officers get an e-mail through a real SMTP server; and every audit event
//! and the alert reach the SIEM, as ECS JSON Lines in a file and as RFC 5424
//! messages over TCP to a receiver on loopback (parsed by `syslog_loose`),
//! including after the receiver dropped the connection.

use crate::support::{Db, mails, smtp_sink, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use syslog_loose::{Protocol, SyslogFacility, SyslogSeverity, Variant};

/// A syslog receiver: octet-counted frames (RFC 6587) on TCP; it hangs up
/// on its first client after the first frames, to be reconnected to.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = Arc::new(Mutex::new(Vec::new()));
    let frames = got.clone();
    tokio::spawn(async move {
        let mut connection = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            connection += 1;
            let mut buf = Vec::new();
            loop {
                let mut chunk = [0u8; 65536];
                let n = socket.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                // Whole frames: LENGTH SP MESSAGE.
                let mut taken = 0;
                while let Some(sp) = buf[taken..].iter().position(|&b| b == b' ') {
                    let len: usize = std::str::from_utf8(&buf[taken..taken + sp])
                        .unwrap()
                        .parse()
                        .expect("octet count");
                    let start = taken + sp + 1;
                    if buf.len() < start + len {
                        break;
                    }
                    let m = String::from_utf8(buf[start..start + len].to_vec()).unwrap();
                    frames.lock().unwrap().push(m);
                    taken = start + len;
                }
                buf.drain(..taken);
                if connection == 1 && taken > 0 {
                    // Hang up after the first batch.
                    break;
                }
            }
        }
    });
    (addr, got)
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_locks_the_workspace_mails_the_officers_and_reaches_the_siem_sqlite() {
    probing(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probing_locks_the_workspace_mails_the_officers_and_reaches_the_siem_postgres() {
    probing(Db::Postgres).await;
}

async fn probing(db: Db) {
    let smtp = smtp_sink();
    let port = smtp.port;
    let (syslog, frames) = receiver().await;
    let siem_dir = tempfile::tempdir().unwrap();
    let siem_file = siem_dir.path().join("siem").join("hdh-ecs.jsonl");
    let file = siem_file.clone();
    let hub = start_with(db, move |cfg| {
        cfg.mail = Some(hdh_server::config::MailConfig {
            url: format!("smtp://127.0.0.1:{port}"),
            from: "hdh <hub@hdh.invalid>".into(),
        });
        cfg.alert_every = std::time::Duration::from_millis(200);
        cfg.alert_rules.push(
            hdh_alerts::parse_rules(
                r#"
[[rule]]
name = "probe"
severity = "high"
respond = ["suspend_tokens", "lock_workspace"]
kind = "small_results"
max = 3
below = 10
window_s = 3600
"#,
            )
            .unwrap()
            .remove(0),
        );
        cfg.siem.file = Some(file);
        cfg.siem.syslog = Some(syslog);
        cfg.siem.every = std::time::Duration::from_millis(200);
    })
    .await;
    let (_, project) = hub
        .authorised_project(
            "researcher",
            json!([{ "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_RES_DPT"] }]),
            ("2021-01-01", "2023-12-31"),
        )
        .await;
    let researcher = hub.login("researcher").await;
    let r = hub
        .post(
            Some(&researcher),
            &format!("/api/projects/{project}/tokens"),
            json!({ "label": "notebook", "days": 7 }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let token = r.body["token"]["id"].as_str().unwrap().to_string();

    // Small results, one department after the other.
    for dpt in ["01", "02", "03", "04"] {
        let r = hub
            .query(
                &researcher,
                &project,
                &format!("SELECT BEN_SEX_COD, count(*) AS n FROM IR_BEN_R WHERE BEN_RES_DPT <> '{dpt}' GROUP BY BEN_SEX_COD"),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    // The alert, with what the hub did.
    let sec = hub.login("security").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let alert = loop {
        let r = hub.get(Some(&sec), "/api/alerts?severity=high").await;
        if let Some(a) = r.body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "probe")
        {
            break a.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no alert: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let id = alert["id"].as_str().unwrap().to_string();
    assert_eq!(alert["project_id"], project.as_str());
    let responses: Vec<&str> = alert["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(responses.len(), 2, "{alert}");
    assert!(
        responses[0].starts_with("suspend_tokens: 1 token(s) of researcher revoked, ")
            && responses[0].ends_with(" session(s) ended")
            && !responses[0].contains(", 0 session"),
        "{alert}"
    );
    assert_eq!(
        responses[1],
        format!("lock_workspace: project {project} locked")
    );

    // The security officer's page says what the hub did.
    let (status, page) = hub.page(Some(&sec), "/alerts").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("lock_workspace: project") && page.contains(&format!("/projects/{project}")),
        "{page}"
    );

    // The researcher's sessions ended; signed in again, the workspace is
    // locked and the token revoked.
    assert_eq!(
        hub.get(Some(&researcher), "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let researcher = hub.login("researcher").await;
    let r = hub
        .query(&researcher, &project, "SELECT count(*) FROM IR_BEN_R")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(r.body.to_string().contains("locked pending"), "{}", r.body);
    let r = hub
        .get(
            Some(&researcher),
            &format!("/api/projects/{project}/tokens"),
        )
        .await;
    let t = r.body["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == token.as_str())
        .unwrap();
    assert!(t["revoked_at"].is_string(), "{t}");

    // The security officers are told by e-mail.
    let got = mails(&smtp.out, |g| {
        g.iter().any(|m| {
            m["subject"]
                .as_str()
                .unwrap_or("")
                .contains("high alert: probe")
        })
    })
    .await;
    let m = got
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .unwrap_or("")
                .contains("high alert: probe")
        })
        .unwrap();
    assert!(m["to"].to_string().contains("security@"), "{m}");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains("lock_workspace"), "{body}");
    assert!(
        !body.contains("BEN_RES_DPT"),
        "no query text in mails: {body}"
    );

    // Closing the alert opens the workspace again.
    let r = hub
        .post(
            Some(&sec),
            &format!("/api/alerts/{id}/actions"),
            json!({ "action": "close", "note": "a descriptive analysis by department; talked to the researcher" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = hub
        .query(&researcher, &project, "SELECT count(*) FROM IR_BEN_R")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The SIEM's file: every event of the log, in order, and the alert.
    let (head, _) = hub.state.store.audit_head().await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let docs = loop {
        let docs = lines(&siem_file);
        let last = docs
            .iter()
            .filter_map(|d| d["event"]["sequence"].as_i64())
            .max()
            .unwrap_or(0);
        if last >= head {
            break docs;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "file at {last} of {head}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let seqs: Vec<i64> = docs
        .iter()
        .filter_map(|d| d["event"]["sequence"].as_i64())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
    let a = docs
        .iter()
        .find(|d| d["event"]["kind"] == "alert" && d["rule"]["name"] == "probe")
        .expect("the alert in the file");
    assert_eq!(a["event"]["severity"], 73);
    assert_eq!(a["user"]["name"], "researcher");
    assert_eq!(a["hdh"]["project"]["id"], project.as_str());
    let lock = docs
        .iter()
        .find(|d| d["event"]["action"] == "workspace.lock")
        .expect("the lock in the file");
    assert_eq!(lock["hdh"]["details"]["alert"], id.as_str());
    for d in &docs {
        assert_eq!(d["ecs"]["version"], hdh_audit::siem::ECS_VERSION);
        assert!(d["@timestamp"].is_string());
    }
    // Never a password or a token's secret.
    let text = std::fs::read_to_string(&siem_file).unwrap();
    assert!(!text.contains("hdhf_"), "a token secret in the SIEM file");
    if let (Db::Sqlite, Ok(dir)) = (db, std::env::var("HDH_SIEM_OUT")) {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&siem_file, std::path::Path::new(&dir).join("hdh-ecs.jsonl")).unwrap();
    }

    // The syslog receiver: the same documents, as RFC 5424 messages, all of
    // them although it hung up once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let messages = loop {
        let got = frames.lock().unwrap().clone();
        if got.len() >= docs.len() {
            break got;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} messages of {}",
            got.len(),
            docs.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut alert_seen = false;
    for raw in &messages {
        let m = syslog_loose::parse_message(raw, Variant::RFC5424);
        assert_eq!(m.protocol, Protocol::RFC5424(1), "{raw}");
        assert_eq!(m.facility, Some(SyslogFacility::LOG_AUDIT), "{raw}");
        assert_eq!(m.appname, Some("hdh"), "{raw}");
        assert!(m.timestamp.is_some(), "{raw}");
        let sd = &m.structured_data[0];
        assert_eq!(sd.id, "hdh@32473");
        let doc: Value = serde_json::from_str(m.msg.trim_start_matches('\u{feff}'))
            .unwrap_or_else(|e| panic!("{e}: {raw}"));
        match m.msgid {
            Some("audit") => {
                let seq = doc["event"]["sequence"].as_i64().unwrap();
                assert!(sd.params.contains(&("seq", &*seq.to_string())), "{raw}");
                let expected = if doc["hdh"]["outcome"] == "success" {
                    SyslogSeverity::SEV_INFO
                } else {
                    SyslogSeverity::SEV_NOTICE
                };
                assert_eq!(m.severity, Some(expected), "{raw}");
                seen.insert(seq);
            }
            Some("alert") => {
                if doc["rule"]["name"] == "probe" {
                    assert_eq!(m.severity, Some(SyslogSeverity::SEV_CRIT), "{raw}");
                    assert_eq!(doc["event"]["id"], a["event"]["id"]);
                    alert_seen = true;
                }
            }
            other => panic!("msgid {other:?}: {raw}"),
        }
    }
    assert!(alert_seen, "the alert over syslog");
    let missing: Vec<i64> = seqs.iter().filter(|s| !seen.contains(s)).copied().collect();
    assert!(missing.is_empty(), "not over syslog: {missing:?}");
}
