//! The single desk's whole life cycle driven through the API by each role:
//! draft with autosave and attachments, send-back and resubmission, the
//! committee (assignment, declaration of interests, comments, opinion), the
//! authority's decision with its number, the producer's agreement, an
//! amendment that rebuilds the workspace, closing with results, archiving,
//! a refusal; every notification e-mailed through a real SMTP server
//! (aiosmtpd on loopback); the public registry at each step.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Db, Hub, Resp, mails, smtp_sink, start_with};

/// The smallest PDF a test needs (the content decides, not the name).
const PDF: &[u8] =
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n";

/// An OpenDocument text's signature: an uncompressed `mimetype` first entry.
fn odt() -> Vec<u8> {
    let mime = b"application/vnd.oasis.opendocument.text";
    let mut v = b"PK\x03\x04".to_vec();
    v.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(&(mime.len() as u32).to_le_bytes());
    v.extend_from_slice(&(mime.len() as u32).to_le_bytes());
    v.extend_from_slice(&8u16.to_le_bytes());
    v.extend_from_slice(&0u16.to_le_bytes());
    v.extend_from_slice(b"mimetype");
    v.extend_from_slice(mime);
    v
}

async fn attach(hub: &Hub, token: &str, id: &str, kind: &str, name: &str, bytes: Vec<u8>) -> Resp {
    let form = reqwest::multipart::Form::new()
        .text("kind", kind.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
        );
    let r = hub
        .http
        .post(hub.url(&format!("/api/requests/{id}/attachments")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Resp { status, body }
}

fn fields(r: &Resp) -> Vec<String> {
    r.body["error"]["details"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| f["field"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn request_body(title: &str, columns: &[&str]) -> Value {
    json!({
        "title": title,
        "purpose": "Describe antidiabetic treatment pathways.",
        "public_interest": "Better follow-up of diabetic patients.",
        "scope": [{ "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": columns }],
        "period_start": "2021-01-01",
        "period_end": "2023-12-31",
        "duration_months": 24,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_desk_by_each_role_with_e_mails_sqlite() {
    the_whole_desk(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_desk_by_each_role_with_e_mails_postgres() {
    the_whole_desk(Db::Postgres).await;
}

async fn the_whole_desk(db: Db) {
    let smtp = smtp_sink();
    let port = smtp.port;
    let hub = start_with(db, |cfg| {
        cfg.mail = Some(hdh_server::config::MailConfig {
            url: format!("smtp://127.0.0.1:{port}"),
            from: "hdh desk <desk@hdh.invalid>".into(),
        });
        cfg.required_attachments = vec!["protocol".into()];
    })
    .await;
    let researcher = hub.login("researcher").await;
    let secretariat = hub.login("secretariat").await;
    let committee = hub.login("committee").await;
    let authority = hub.login("authority").await;
    let producer = hub.login("producer").await;
    let other = hub.login("researcher2").await;

    // 1. Draft: created with the essentials, completed as the applicant
    // writes (autosave keeps what is given and lists what is missing).
    let created = hub
        .post(
            Some(&researcher),
            "/api/requests",
            request_body("Antidiabetic pathways", &["BEN_SEX_COD", "BEN_NAI_ANN"]),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["request"]["id"].as_str().unwrap().to_string();
    let early = hub.act(&researcher, &id, "submit", None).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = fields(&early);
    for f in [
        "summary_public",
        "methodology",
        "funding",
        "conflicts_of_interest",
        "attachments",
    ] {
        assert!(
            missing.contains(&f.to_string()),
            "{f} not named: {}",
            early.body
        );
    }
    let mut body = request_body("Antidiabetic pathways", &["BEN_SEX_COD", "BEN_NAI_ANN"]);
    body["details"] = json!({ "summary_public": "How are antidiabetic drugs used?", "team": [
        { "name": "Dr Bruno Petit", "role": "statistician", "organisation": "Inserm", "username": "researcher2" }
    ]});
    let saved = hub
        .put(
            Some(&researcher),
            &format!("/api/requests/{id}/draft"),
            body.clone(),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    assert_eq!(
        saved.body["request"]["details"]["summary_public"],
        "How are antidiabetic drugs used?"
    );
    let problems: Vec<&str> = saved.body["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(
        problems.contains(&"methodology") && !problems.contains(&"summary_public"),
        "{problems:?}"
    );
    // Only the applicant edits it.
    assert_eq!(
        hub.put(
            Some(&other),
            &format!("/api/requests/{id}/draft"),
            body.clone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    body["details"] = crate::support::details();
    body["details"]["team"] = json!([
        { "name": "Dr Bruno Petit", "role": "statistician", "organisation": "Inserm", "username": "researcher2" }
    ]);
    let saved = hub
        .put(
            Some(&researcher),
            &format!("/api/requests/{id}/draft"),
            body.clone(),
        )
        .await;
    assert_eq!(
        saved.body["problems"],
        json!([{ "field": "attachments", "message": "attach the protocol" }])
    );

    // 2. Attachments: type decided by content; a lying extension refused.
    let lying = attach(&hub, &researcher, &id, "protocol", "protocol.pdf", odt()).await;
    assert_eq!(
        lying.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        lying.body
    );
    assert!(
        lying.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocol.pdf")
    );
    let exe = attach(
        &hub,
        &researcher,
        &id,
        "protocol",
        "protocol.pdf",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00".to_vec(),
    )
    .await;
    assert_eq!(exe.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", exe.body);
    assert_eq!(
        attach(&hub, &other, &id, "protocol", "protocol.pdf", PDF.to_vec())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let ok = attach(
        &hub,
        &researcher,
        &id,
        "protocol",
        "protocol.pdf",
        PDF.to_vec(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    use sha2::Digest;
    assert_eq!(
        ok.body["attachment"]["sha256"],
        hex::encode(sha2::Sha256::digest(PDF))
    );
    assert_eq!(ok.body["attachment"]["media_type"], "application/pdf");
    let dmp = attach(
        &hub,
        &researcher,
        &id,
        "data_management_plan",
        "dmp.odt",
        odt(),
    )
    .await;
    assert_eq!(dmp.status, StatusCode::CREATED, "{}", dmp.body);
    let aid = ok.body["attachment"]["id"].as_str().unwrap();

    // 3. Submitted; the secretariat sends it back, the applicant resubmits.
    let sub = hub.act(&researcher, &id, "submit", None).await;
    assert_eq!(sub.body["request"]["state"], "submitted", "{}", sub.body);
    // Once submitted, the documents are part of the file.
    assert_eq!(
        attach(&hub, &researcher, &id, "other", "more.pdf", PDF.to_vec())
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        hub.act(
            &secretariat,
            &id,
            "send_back",
            Some("Give the data management plan's retention period.")
        )
        .await
        .body["request"]["state"],
        "sent_back"
    );
    assert_eq!(
        hub.act(&researcher, &id, "submit", None).await.body["request"]["state"],
        "submitted"
    );
    assert_eq!(
        hub.act(&secretariat, &id, "approve", None).await.body["request"]["state"],
        "ethics_review"
    );

    // The applicant's list says who must act now, with the step's deadline.
    let (_, html) = hub.page(Some(&researcher), "/requests").await;
    assert!(
        html.contains("id=\"mine\"") && html.contains("The ethics committee"),
        "who must act"
    );
    // The secretariat is reminded to assign a reviewer.
    let (_, html) = hub.page(Some(&secretariat), "/requests").await;
    assert!(html.contains("id=\"to-assign\""), "reviewers to assign");
    // The committee's queue holds only what it is assigned to.
    let q = hub.get(Some(&committee), "/api/requests").await;
    assert!(
        !q.body.to_string().contains(&id),
        "not assigned yet: {}",
        q.body
    );

    // 4. Committee: nothing before assignment; interests declared before reading.
    let opinion = json!({ "action": "opinion", "opinion": "favourable_with_reservations", "reason": "Proportionate; justify the duration." });
    let r = hub.act_with(&committee, &id, opinion.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(
        hub.get(Some(&committee), &format!("/api/requests/{id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.post(
            Some(&researcher),
            &format!("/api/requests/{id}/reviewers"),
            json!({ "username": "committee" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "the applicant does not choose their reviewers"
    );
    let bad = hub
        .post(
            Some(&secretariat),
            &format!("/api/requests/{id}/reviewers"),
            json!({ "username": "researcher2" }),
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not a committee member"
    );
    let assigned = hub
        .post(
            Some(&secretariat),
            &format!("/api/requests/{id}/reviewers"),
            json!({ "username": "committee" }),
        )
        .await;
    assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
    let blocked = hub
        .get(Some(&committee), &format!("/api/requests/{id}"))
        .await;
    assert_eq!(blocked.status, StatusCode::FORBIDDEN);
    assert!(
        blocked.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("declare your interests")
    );
    let (status, html) = hub.page(Some(&committee), &format!("/requests/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("id=\"declare-form\"") && !html.contains("Retrospective cohort"),
        "the declaration page shows no file"
    );
    assert_eq!(
        hub.act_with(&committee, &id, opinion.clone()).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.post(
            Some(&committee),
            &format!("/api/requests/{id}/interests"),
            json!({ "conflict": true })
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a conflict needs its description"
    );
    let d = hub
        .post(
            Some(&committee),
            &format!("/api/requests/{id}/interests"),
            json!({ "conflict": false }),
        )
        .await;
    assert_eq!(d.body["declaration"], "none", "{}", d.body);
    let file = hub
        .get(Some(&committee), &format!("/api/requests/{id}"))
        .await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.body["attachments"].as_array().unwrap().len(), 2);
    let pdf = hub
        .http
        .get(hub.url(&format!("/api/requests/{id}/attachments/{aid}")))
        .bearer_auth(&committee)
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), PDF);
    let c = hub
        .post(
            Some(&committee),
            &format!("/api/requests/{id}/comments"),
            json!({ "body": "Why 24 months?" }),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{}", c.body);
    let c = hub
        .post(
            Some(&researcher),
            &format!("/api/requests/{id}/comments"),
            json!({ "body": "Two years of follow-up after the first dispensation." }),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED);
    assert_eq!(
        hub.post(
            Some(&other),
            &format!("/api/requests/{id}/comments"),
            json!({ "body": "Agreed." })
        )
        .await
        .status,
        StatusCode::CREATED,
        "a team member may read and comment"
    );
    let no_motivation = hub
        .act_with(
            &committee,
            &id,
            json!({ "action": "opinion", "opinion": "favourable" }),
        )
        .await;
    assert_eq!(no_motivation.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = hub.act_with(&committee, &id, opinion).await;
    assert_eq!(
        done.body["request"]["state"], "authority_review",
        "{}",
        done.body
    );

    // 5. Authority: a decision needs its number; then the producer agrees.
    assert_eq!(
        hub.act_with(&authority, &id, json!({ "action": "authorise" }))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        hub.act_with(
            &authority,
            &id,
            json!({ "action": "refuse", "reason": "x" })
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let a = hub
        .act_with(
            &authority,
            &id,
            json!({ "action": "authorise", "reference": "DR-2026-117" }),
        )
        .await;
    assert_eq!(
        a.body["request"]["state"], "producer_agreement",
        "{}",
        a.body
    );
    assert_eq!(
        hub.act_with(
            &researcher,
            &id,
            json!({ "action": "agree", "dataset": "snds-demo" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.act_with(
            &producer,
            &id,
            json!({ "action": "agree", "dataset": "other-data" })
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let agreed = hub
        .act_with(
            &producer,
            &id,
            json!({ "action": "agree", "dataset": "snds-demo" }),
        )
        .await;
    // The last agreement authorises; the workspace is built in the
    // background, then the request is active.
    assert_eq!(
        agreed.body["request"]["state"], "authorised",
        "{}",
        agreed.body
    );
    let agreed = hub.provisioned(&producer, &id).await;
    assert_eq!(agreed.body["request"]["state"], "active", "{}", agreed.body);
    let pid = agreed.body["project"]["id"].as_str().unwrap().to_string();
    // The team member with an account works in the workspace too.
    let q = hub
        .query(&other, &pid, "SELECT count(*) AS n FROM IR_BEN_R")
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    // The public registry shows the opinion and the decision with its number.
    let reg = hub.get(None, "/registry.json").await;
    let e = reg.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id.as_str())
        .unwrap()
        .clone();
    assert_eq!(e["ethics_opinion"], "favourable_with_reservations");
    assert_eq!(e["authority_decision"], "authorised");
    assert_eq!(e["authority_reference"], "DR-2026-117");
    assert_eq!(
        e["summary"],
        "How are antidiabetic drugs used before hospital stays?"
    );
    let (status, html) = hub.page(None, &format!("/registry/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("DR-2026-117"));

    // 6. Amendment: a new variable, through the same review; the project's
    // extraction is rebuilt with it.
    let q = hub
        .query(
            &researcher,
            &pid,
            "SELECT BEN_RES_DPT FROM IR_BEN_R LIMIT 1",
        )
        .await;
    assert_ne!(q.status, StatusCode::OK, "not approved yet");
    let mut amended = request_body(
        "Antidiabetic pathways: département",
        &["BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"],
    );
    amended["details"] = crate::support::details();
    amended["details"]["changes"] =
        json!("Add the département of residence for a regional breakdown.");
    assert_eq!(
        hub.post(
            Some(&other),
            &format!("/api/requests/{id}/amendments"),
            amended.clone()
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let am = hub
        .post(
            Some(&researcher),
            &format!("/api/requests/{id}/amendments"),
            amended,
        )
        .await;
    assert_eq!(am.status, StatusCode::CREATED, "{}", am.body);
    let amid = am.body["request"]["id"].as_str().unwrap().to_string();
    let second = hub
        .post(
            Some(&researcher),
            &format!("/api/requests/{id}/amendments"),
            request_body("Second amendment", &["BEN_SEX_COD"]),
        )
        .await;
    assert_eq!(
        second.status,
        StatusCode::CONFLICT,
        "one amendment at a time: {}",
        second.body
    );
    assert_eq!(am.body["request"]["amends"], id.as_str());
    assert_eq!(
        attach(
            &hub,
            &researcher,
            &amid,
            "protocol",
            "protocol-v2.pdf",
            PDF.to_vec()
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_eq!(
        hub.act(&researcher, &amid, "submit", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        hub.act(&secretariat, &amid, "approve", None).await.status,
        StatusCode::OK
    );
    assert_eq!(hub.committee_opinion(&amid).await.status, StatusCode::OK);
    let applied = hub.authorise(&amid).await;
    assert_eq!(
        applied.body["request"]["state"], "closed",
        "an applied amendment: {}",
        applied.body
    );
    let q = hub
        .query(
            &researcher,
            &pid,
            "SELECT count(BEN_RES_DPT) AS n FROM IR_BEN_R",
        )
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let parent = hub
        .get(Some(&researcher), &format!("/api/requests/{id}"))
        .await;
    assert_eq!(parent.body["request"]["state"], "active");
    assert!(
        parent.body["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "amended")
    );

    // 7. Closing needs the results; then the registry shows them; archived.
    assert_eq!(
        hub.act_with(&researcher, &id, json!({ "action": "close" }))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        hub.act_with(&other, &id, json!({ "action": "close", "results": "x" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let closed = hub
        .act_with(
            &researcher,
            &id,
            json!({ "action": "close", "results": "Report: https://example.org/r1" }),
        )
        .await;
    assert_eq!(closed.body["request"]["state"], "closed", "{}", closed.body);
    assert_eq!(
        hub.act(&researcher, &id, "archive", None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.act(&secretariat, &id, "archive", None).await.body["request"]["state"],
        "archived"
    );
    let reg = hub.get(None, "/registry.json?status=archived").await;
    let e = &reg.body["projects"][0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["results"], "Report: https://example.org/r1");
    // Terminal: nothing moves an archived request.
    for a in ["submit", "withdraw", "approve", "archive"] {
        for t in [&researcher, &secretariat, &authority] {
            assert_ne!(
                hub.act(t, &id, a, Some("x")).await.status,
                StatusCode::OK,
                "{a}"
            );
        }
    }

    // 8. A refusal by the authority, with its number, stays public.
    let mut b = request_body("Prescriber ranking", &["BEN_SEX_COD"]);
    b["details"] = crate::support::details();
    b["route"] = json!("reference_methodology");
    let r = hub.post(Some(&other), "/api/requests", b).await;
    let rid = r.body["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        attach(&hub, &other, &rid, "protocol", "p.pdf", PDF.to_vec())
            .await
            .status,
        StatusCode::CREATED
    );
    hub.act(&other, &rid, "submit", None).await;
    // A reference methodology skips the committee.
    assert_eq!(
        hub.act(&secretariat, &rid, "approve", None).await.body["request"]["state"],
        "authority_review"
    );
    let refused = hub.act_with(&authority, &rid, json!({ "action": "refuse", "reason": "Outside public-interest purposes.", "reference": "DR-2026-118" })).await;
    assert_eq!(
        refused.body["request"]["state"], "refused",
        "{}",
        refused.body
    );
    let reg = hub.get(None, "/registry.json?status=refused").await;
    assert_eq!(
        reg.body["projects"][0]["authority_reference"],
        "DR-2026-118"
    );

    // 9. Everyone concerned was told: in the inbox and by e-mail.
    let inbox = hub.get(Some(&researcher), "/api/inbox").await;
    let subjects: Vec<&str> = inbox.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["subject"].as_str().unwrap())
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("sent back")),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.contains("workspace ready")),
        "{subjects:?}"
    );
    assert!(inbox.body["unread"].as_i64().unwrap() > 0);
    let (_, html) = hub.page(Some(&researcher), "/inbox").await;
    assert!(
        html.contains("id=\"unread\""),
        "the header counts unread messages"
    );
    assert!(html.contains("workspace ready"));
    let read = hub
        .post(Some(&researcher), "/api/inbox/read", json!({}))
        .await;
    assert_eq!(read.body["unread"], 0);
    let sent_to = |got: &[Value], who: &str, what: &str| {
        got.iter().any(|m| {
            m["to"][0] == format!("{who}@demo.hdh.invalid")
                && m["subject"].as_str().unwrap().contains(what)
        })
    };
    let got = mails(&smtp.out, |g| {
        sent_to(g, "researcher2", "refused") && sent_to(g, "researcher", "archived")
    })
    .await;
    let to = |who: &str, what: &str| sent_to(&got, who, what);
    assert!(to("secretariat", "submitted"), "{got:#?}");
    assert!(to("researcher", "sent back"));
    assert!(to("committee", "review"));
    assert!(to("authority", "awaiting the authority"));
    assert!(to("producer", "producers' agreement"));
    assert!(to("researcher", "workspace ready"));
    assert!(
        to("researcher2", "workspace ready"),
        "team members are told"
    );
    assert!(to("researcher2", "refused"));
    assert!(got.iter().all(|m| m["from"] == "desk@hdh.invalid"));
    let body = got
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("sent back"))
        .unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(body.contains(&format!("/requests/{id}")), "{body}");
    // Each message records that its e-mail went (after the SMTP answer).
    let mut inbox = hub.get(Some(&secretariat), "/api/inbox").await;
    for _ in 0..100 {
        if inbox.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["email"] == "sent")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        inbox = hub.get(Some(&secretariat), "/api/inbox").await;
    }
    assert!(
        inbox.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["email"] == "sent"),
        "{}",
        inbox.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virus_scanner_hook_refuses_an_infected_file_and_conflicts_recuse() {
    // The scanner is any command reading the file on stdin: exit 1 = infected.
    let dir = tempfile::tempdir().unwrap();
    let scanner = dir.path().join("scan.sh");
    std::fs::write(
        &scanner,
        "#!/bin/sh\nif grep -q EICAR-STANDARD-ANTIVIRUS-TEST-FILE; then exit 1; fi\nexit 0\n",
    )
    .unwrap();
    let scanner_path = scanner.to_string_lossy().to_string();
    let hub = start_with(Db::Sqlite, move |cfg| {
        cfg.virus_scan = Some(vec!["sh".into(), scanner_path]);
    })
    .await;
    let researcher = hub.login("researcher").await;
    let mut b = request_body("Scanned attachments", &["BEN_SEX_COD"]);
    b["details"] = crate::support::details();
    let r = hub.post(Some(&researcher), "/api/requests", b).await;
    let id = r.body["request"]["id"].as_str().unwrap().to_string();
    let mut infected = PDF.to_vec();
    infected.extend_from_slice(
        b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n",
    );
    let bad = attach(&hub, &researcher, &id, "protocol", "protocol.pdf", infected).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("virus")
    );
    let good = attach(
        &hub,
        &researcher,
        &id,
        "protocol",
        "protocol.pdf",
        PDF.to_vec(),
    )
    .await;
    assert_eq!(good.body["attachment"]["scan"], "clean", "{}", good.body);
    assert_eq!(
        hub.get(
            Some(&researcher),
            &format!("/api/requests/{id}/attachments")
        )
        .await
        .body["attachments"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the infected file left nothing behind"
    );

    // A reviewer who declares a conflict is recused: no file, no opinion.
    hub.act(&researcher, &id, "submit", None).await;
    let secretariat = hub.login("secretariat").await;
    hub.act(&secretariat, &id, "approve", None).await;
    let committee = hub.login("committee").await;
    hub.post(
        Some(&secretariat),
        &format!("/api/requests/{id}/reviewers"),
        json!({ "username": "committee" }),
    )
    .await;
    let d = hub
        .post(
            Some(&committee),
            &format!("/api/requests/{id}/interests"),
            json!({ "conflict": true, "note": "I co-authored with the applicant in 2025." }),
        )
        .await;
    assert_eq!(d.body["declaration"], "conflict", "{}", d.body);
    assert_eq!(
        hub.get(Some(&committee), &format!("/api/requests/{id}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = hub
        .act_with(
            &committee,
            &id,
            json!({ "action": "opinion", "opinion": "favourable", "reason": "ok" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("conflict")
    );
    // The secretariat is told.
    let inbox = hub.get(Some(&secretariat), "/api/inbox").await;
    assert!(
        inbox.body.to_string().contains("conflict of interest"),
        "{}",
        inbox.body
    );
    // The audit trail has every step, the refused ones included.
    let sec = hub.login("security").await;
    let audit = hub.get(Some(&sec), "/api/audit?limit=500").await;
    let s = audit.body.to_string();
    for a in [
        "request.attach",
        "request.assign_reviewer",
        "request.declare_interests",
    ] {
        assert!(s.contains(a), "{a} not audited");
    }
}
