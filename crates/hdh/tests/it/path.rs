//! The hub's whole path, over HTTP: catalogue → request → approvals →
//! workspace → SQL → release with disclosure check → download → audit.

use crate::support::{Db, Hub, start};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashSet;

fn scope() -> Value {
    json!([
        { "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"] },
        { "dataset_id": "snds-demo", "table": "ER_PRS_F", "columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_NAT_REF", "PRS_PAI_MNT"] },
    ])
}

async fn whole_path(db: Db) {
    let hub = start(db).await;

    // 1–2. A producer generates the demo data and delivers it over HTTP: it
    // becomes version 2 of the dataset (the hub seeded version 1).
    let generated = tempfile::tempdir().unwrap();
    hdh_demo::generate(
        &hdh_demo::DemoOptions {
            persons: crate::support::PERSONS,
            seed: 7,
        },
        generated.path(),
        &mut |_| {},
    )
    .unwrap();
    let files: Vec<(String, Vec<u8>)> = std::fs::read_dir(generated.path())
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let producer = hub.login("producer").await;
    let delivered = hub
        .deliver(
            &producer,
            "snds-demo",
            files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect(),
        )
        .await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(delivered.body["delivery"]["version"], 2);

    // 3. Catalogue: the delivered dataset, its tables and a word search.
    let cat = hub.get(None, "/api/datasets/snds-demo").await;
    assert_eq!(cat.status, StatusCode::OK);
    let tables: Vec<&str> = cat.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table_name"].as_str().unwrap())
        .collect();
    for t in ["IR_BEN_R", "ER_PRS_F", "ER_PHA_F", "T_MCO23B", "T_MCO23C"] {
        assert!(tables.contains(&t), "{t} missing from {tables:?}");
    }
    let versions: Vec<i64> = cat.body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1], "version history, newest first");
    let ben = cat.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table_name"] == "IR_BEN_R")
        .unwrap();
    assert_eq!(
        ben["row_count"].as_i64().unwrap() as u64,
        crate::support::PERSONS,
        "one beneficiary row per person"
    );
    let hits = hub.get(None, "/api/search?q=BEN_SEX_COD").await;
    assert!(
        hits.body["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "variable"
                && h["key"] == "variable:snds-demo/IR_BEN_R/BEN_SEX_COD"),
        "{}",
        hits.body
    );
    let page = hub
        .http
        .get(hub.url("/catalogue/datasets/snds-demo/tables/ER_PRS_F"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("PRS_NAT_REF") && page.contains("IR_NAT_V"),
        "the table page lists variables and nomenclatures"
    );

    // 4. Access request, with the wrong roles refused along the way.
    let researcher = hub.login("researcher").await;
    let secretariat = hub.login("secretariat").await;
    let committee = hub.login("committee").await;
    let authority = hub.login("authority").await;
    let created = hub
        .post(
            Some(&researcher),
            "/api/requests",
            json!({
                "title": "Antidiabetic drugs and hospital stays",
                "purpose": "Describe dispensations by département.",
                "public_interest": "Better follow-up of diabetic patients.",
                "scope": scope(),
                "period_start": "2022-01-01",
                "period_end": "2022-12-31",
                "duration_months": 24,
                "details": crate::support::details(),
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let rid = created.body["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(created.body["request"]["state"], "draft");
    // A request naming a column that does not exist is refused with the field named.
    let bad = hub
        .post(Some(&researcher), "/api/requests", json!({ "title": "Bad columns", "purpose": "x", "public_interest": "y", "scope": [{ "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["NO_SUCH"] }], "period_start": "2022-01-01", "period_end": "2021-01-01", "duration_months": 12 }))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = bad.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("NO_SUCH") && msg.contains("period_end"),
        "{msg}"
    );
    // Only the applicant (a researcher) submits; nobody reviews a draft.
    assert_eq!(
        hub.act(&secretariat, &rid, "submit", None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.act(&secretariat, &rid, "approve", None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.act(&researcher, &rid, "submit", None).await.body["request"]["state"],
        "submitted"
    );
    // The committee cannot act before the secretariat; the applicant cannot approve.
    assert_eq!(
        hub.act_with(
            &committee,
            &rid,
            json!({ "action": "opinion", "opinion": "favourable", "reason": "ok" })
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.act(&researcher, &rid, "approve", None).await.status,
        StatusCode::FORBIDDEN
    );
    // Sent back needs a reason; then resubmitted.
    assert_eq!(
        hub.act(&secretariat, &rid, "send_back", None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        hub.act(&secretariat, &rid, "send_back", Some("Attach the protocol"))
            .await
            .body["request"]["state"],
        "sent_back"
    );
    assert_eq!(
        hub.act(&researcher, &rid, "submit", None).await.body["request"]["state"],
        "submitted"
    );
    assert_eq!(
        hub.act(&secretariat, &rid, "approve", None).await.body["request"]["state"],
        "ethics_review"
    );
    // "approve" is the secretariat's word; the committee is told its own.
    let wrong = hub.act(&committee, &rid, "approve", None).await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.body
    );
    assert!(
        wrong.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("opinion")
    );
    assert_eq!(
        hub.committee_opinion(&rid).await.body["request"]["state"],
        "authority_review"
    );
    // No authorisation without its decision number.
    assert_eq!(
        hub.act(&authority, &rid, "authorise", None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let authorised = hub.authorise(&rid).await;
    assert_eq!(authorised.status, StatusCode::OK, "{}", authorised.body);
    assert_eq!(authorised.body["request"]["state"], "active");
    let pid = authorised.body["project"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The applicant sees the state and the history.
    let seen = hub
        .get(Some(&researcher), &format!("/api/requests/{rid}"))
        .await;
    let history: Vec<&str> = seen.body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "submit",
            "send_back",
            "submit",
            "approve",
            "opinion",
            "authorise",
            "agree",
            "provisioned"
        ]
    );
    assert_eq!(seen.body["history"][1]["reason"], "Attach the protocol");
    // Another researcher cannot even see it.
    let other = hub.login("researcher2").await;
    assert_eq!(
        hub.get(Some(&other), &format!("/api/requests/{rid}"))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // 5. Workspace: exactly the approved tables, columns and period.
    let proj = hub
        .get(Some(&researcher), &format!("/api/projects/{pid}"))
        .await;
    assert_eq!(proj.status, StatusCode::OK);
    let ext: Vec<&str> = proj.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table_name"].as_str().unwrap())
        .collect();
    assert_eq!(ext, ["ER_PRS_F", "IR_BEN_R"]);
    let q = hub
        .query(
            &researcher,
            &pid,
            "SELECT min(EXE_SOI_DTD) AS lo, max(EXE_SOI_DTD) AS hi, count(*) AS n FROM ER_PRS_F",
        )
        .await;
    assert_eq!(q.status, StatusCode::OK, "{}", q.body);
    let row = &q.body["result"]["rows"][0];
    assert!(
        row[0].as_str().unwrap() >= "2022-01-01" && row[1].as_str().unwrap() <= "2022-12-31",
        "period respected: {row}"
    );
    assert!(row[2].as_str().unwrap().parse::<u64>().unwrap() > 0);
    let cols = hub
        .query(&researcher, &pid, "SELECT * FROM ER_PRS_F LIMIT 1")
        .await;
    assert_eq!(
        cols.body["result"]["columns"],
        json!(["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_NAT_REF", "PRS_PAI_MNT"])
    );
    // A column that was not approved does not exist here.
    assert_eq!(
        hub.query(&researcher, &pid, "SELECT BSE_REM_MNT FROM ER_PRS_F")
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // Person identifiers are project pseudonyms, not the delivered ones.
    let ids = hub
        .query(
            &researcher,
            &pid,
            "SELECT DISTINCT BEN_NIR_PSA FROM IR_BEN_R",
        )
        .await;
    let project_ids: HashSet<String> = ids.body["result"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    // Twins under one holder share the holder's NIR pseudonym (BEN_RNG_GEM tells them apart).
    let n = project_ids.len() as u64;
    assert!(
        n <= crate::support::PERSONS && n > crate::support::PERSONS * 95 / 100,
        "{n}"
    );
    assert!(
        project_ids.iter().all(|p| p.len() == 32),
        "32-hex pseudonyms"
    );
    // Out of scope: another table of the dataset, a file, DDL.
    for sql in [
        "SELECT * FROM ER_PHA_F",
        "SELECT * FROM snds_demo.ER_PHA_F",
        "SELECT * FROM '/etc/passwd'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "COPY IR_BEN_R TO '/tmp/out.csv'",
    ] {
        let r = hub.query(&researcher, &pid, sql).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{sql}: {}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().len() > 10);
    }
    assert!(!std::path::Path::new("/tmp/out.csv").exists());
    // A non-member is refused.
    assert_eq!(
        hub.query(&other, &pid, "SELECT count(*) FROM IR_BEN_R")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A second project (another researcher) sees other pseudonyms and not the first project's data.
    let (_, pid2) = hub.authorised_project("researcher2", json!([{ "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_SEX_COD"] }]), ("2021-01-01", "2023-12-31")).await;
    assert_ne!(pid, pid2);
    let ids2 = hub
        .query(&other, &pid2, "SELECT BEN_NIR_PSA FROM IR_BEN_R")
        .await;
    let project2_ids: HashSet<String> = ids2.body["result"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert_eq!(project2_ids.len(), project_ids.len());
    assert!(
        project_ids.is_disjoint(&project2_ids),
        "two projects' pseudonyms cannot be linked"
    );
    assert_eq!(
        hub.query(&other, &pid, "SELECT * FROM IR_BEN_R")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        hub.query(&researcher, &pid2, "SELECT * FROM IR_BEN_R")
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // 6. Release: the hub computes the table from the microdata and checks
    // each cell; two independent checkers review; members download.
    let checker = hub.login("checker").await;
    let checker2 = hub.login("checker2").await;
    let rel = hub
        .post(
            Some(&researcher),
            &format!("/api/projects/{pid}/releases"),
            json!({ "description": "Persons by département" }),
        )
        .await;
    assert_eq!(rel.status, StatusCode::CREATED, "{}", rel.body);
    assert_eq!(rel.body["release"]["state"], "draft");
    let rel_id = rel.body["release"]["id"].as_str().unwrap().to_string();
    let files = format!("/api/releases/{rel_id}/files");
    let table = |name: &str, sql: &str, agg: &str| {
        json!({ "kind": "table", "name": name, "description": "Persons by département of residence",
                "sql": sql, "rows": ["BEN_RES_DPT"], "agg": agg, "totals": true })
    };
    // Out of the project, row-level files and the maximum of a variable are refused.
    let escape = hub
        .post(
            Some(&researcher),
            &files,
            table("t.csv", "SELECT * FROM OTHER_T", "count"),
        )
        .await;
    assert_eq!(escape.status, StatusCode::FORBIDDEN, "{}", escape.body);
    let parquet = hub
        .post(
            Some(&researcher),
            &files,
            table("rows.parquet", "SELECT BEN_RES_DPT FROM IR_BEN_R", "count"),
        )
        .await;
    assert_eq!(
        parquet.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        parquet.body
    );
    let max = hub
        .post(
            Some(&researcher),
            &files,
            table("max.csv", "SELECT BEN_RES_DPT FROM IR_BEN_R", "max"),
        )
        .await;
    assert_eq!(max.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", max.body);
    let truth = hub
        .query(
            &researcher,
            &pid,
            "SELECT BEN_RES_DPT, count(DISTINCT BEN_NIR_PSA) FROM IR_BEN_R GROUP BY BEN_RES_DPT",
        )
        .await
        .body["result"]["rows"]
        .as_array()
        .unwrap()
        .clone();
    let small = truth
        .iter()
        .filter(|r| r[1].as_str().unwrap().parse::<u64>().unwrap() < 10)
        .count();
    assert!(
        small > 0 && small < truth.len(),
        "small and large cells: {truth:?}"
    );
    let added = hub
        .post(
            Some(&researcher),
            &files,
            table(
                "by_dpt.csv",
                "SELECT BEN_NIR_PSA, BEN_RES_DPT FROM IR_BEN_R",
                "count",
            ),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let cells = added.body["file"]["check"]["cells"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        cells.len(),
        truth.len() + 1,
        "a cell per département and the total"
    );
    let primary = cells.iter().filter(|c| c["outcome"] == "primary").count();
    let secondary = cells.iter().filter(|c| c["outcome"] == "secondary").count();
    assert_eq!(
        primary, small,
        "each département under 10 persons is suppressed"
    );
    assert!(
        secondary >= 1 || small > 1,
        "a lone suppressed cell is protected from the total"
    );
    for c in &cells {
        if c["outcome"] == "primary" {
            assert_eq!(c["rules"], json!(["threshold"]), "{c}");
            assert!(c["released"].is_null());
        }
    }
    // Before release: no download; the author cannot review; a draft is not reviewed.
    let file_url = format!("/api/releases/{rel_id}/files/by_dpt.csv");
    assert_eq!(
        hub.get(Some(&researcher), &file_url).await.status,
        StatusCode::FORBIDDEN
    );
    let approve = json!({ "files": [{ "file": "by_dpt.csv", "decision": "approve" }] });
    let reviews = format!("/api/releases/{rel_id}/reviews");
    assert_eq!(
        hub.post(Some(&checker), &reviews, approve.clone())
            .await
            .status,
        StatusCode::CONFLICT
    );
    let submitted = hub
        .post(
            Some(&researcher),
            &format!("/api/releases/{rel_id}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(
        submitted.body["release"]["state"], "submitted",
        "{}",
        submitted.body
    );
    assert_eq!(
        hub.post(Some(&researcher), &reviews, approve.clone())
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let no_comment = hub
        .post(
            Some(&checker),
            &reviews,
            json!({ "files": [{ "file": "by_dpt.csv", "decision": "return" }] }),
        )
        .await;
    assert_eq!(
        no_comment.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "returning needs a comment"
    );
    let first = hub.post(Some(&checker), &reviews, approve.clone()).await;
    assert_eq!(
        first.body["release"]["state"], "partially_reviewed",
        "{}",
        first.body
    );
    assert_eq!(
        hub.post(
            Some(&checker),
            &format!("/api/releases/{rel_id}/release"),
            json!({})
        )
        .await
        .status,
        StatusCode::CONFLICT,
        "one review is not enough"
    );
    let second = hub.post(Some(&checker2), &reviews, approve).await;
    assert_eq!(
        second.body["release"]["state"], "reviewed",
        "{}",
        second.body
    );
    let released = hub
        .post(
            Some(&checker2),
            &format!("/api/releases/{rel_id}/release"),
            json!({}),
        )
        .await;
    assert_eq!(
        released.body["release"]["state"], "released",
        "{}",
        released.body
    );
    // Only members download.
    assert_eq!(
        hub.get(Some(&other), &file_url).await.status,
        StatusCode::FORBIDDEN
    );
    let csv = hub
        .http
        .get(hub.url(&file_url))
        .bearer_auth(&researcher)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let csv = csv.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("BEN_RES_DPT,count"));
    let mut stars = 0;
    for l in lines {
        let n = l.rsplit(',').next().unwrap();
        if n == "*" {
            stars += 1;
        } else {
            assert!(
                n.parse::<u64>().unwrap() >= 10,
                "no released count under 10: {l}"
            );
        }
    }
    assert_eq!(stars, primary + secondary);

    // Every page of the path renders for the roles that use it.
    let sec = hub.login("security").await;
    for (token, path) in [
        (None, "/".to_string()),
        (None, "/catalogue?q=BEN_SEX_COD".to_string()),
        (None, "/catalogue/datasets/snds-demo".to_string()),
        (
            None,
            "/catalogue/datasets/snds-demo/tables/ER_PRS_F".to_string(),
        ),
        (
            None,
            "/catalogue/datasets/snds-demo/tables/IR_BEN_R/variables/BEN_SEX_COD".to_string(),
        ),
        (None, "/catalogue/diagram".to_string()),
        (None, "/catalogue/nomenclatures".to_string()),
        (Some(&producer), "/deliver".to_string()),
        (Some(&researcher), "/requests".to_string()),
        (Some(&researcher), "/requests/new".to_string()),
        (Some(&researcher), format!("/requests/{rid}")),
        (Some(&secretariat), format!("/requests/{rid}?lang=fr")),
        (Some(&researcher), format!("/projects/{pid}")),
        (Some(&researcher), format!("/releases/{rel_id}")),
        (Some(&checker), "/releases".to_string()),
        (Some(&sec), "/audit?action=release.".to_string()),
    ] {
        let (status, html) = hub.page(token.map(String::as_str), &path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("</html>"), "{path}");
    }
    // An error page says what went wrong without internal details.
    let (status, html) = hub.page(Some(&other), &format!("/projects/{pid}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        html.contains("not a member") && html.contains("</html>"),
        "{html}"
    );

    // 7. Audit: every step, in order, with refusals.
    let sec = hub.login("security").await;
    assert_eq!(
        hub.get(Some(&researcher), "/api/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let audit = hub.get(Some(&sec), "/api/audit?limit=10000").await;
    assert_eq!(audit.status, StatusCode::OK);
    let mut events: Vec<Value> = audit.body["events"].as_array().unwrap().clone();
    events.reverse(); // oldest first
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
    let actions: Vec<String> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_string())
        .collect();
    let expected = [
        "account.create",
        "delivery.publish",
        "auth.sign_in",
        "request.create",
        "request.submit",
        "request.send_back",
        "request.submit",
        "request.approve",
        "request.assign_reviewer",
        "request.declare_interests",
        "request.opinion",
        "request.authorise",
        "request.agree",
        "workspace.provision",
        "workspace.query",
        "release.create",
        "release.file.add",
        "release.submit",
        "release.review",
        "release.review",
        "release.release",
        "release.download",
    ];
    let mut at = 0;
    for e in expected {
        match actions[at..].iter().position(|a| a == e) {
            Some(i) => at += i + 1,
            None => panic!("audit event {e} missing (in order) from {actions:?}"),
        }
    }
    let denied: Vec<&Value> = events.iter().filter(|e| e["outcome"] == "denied").collect();
    assert!(
        denied
            .iter()
            .any(|e| e["action"] == "workspace.query" && e["project_id"] == pid.as_str()),
        "the out-of-scope query is audited as denied"
    );
    assert!(
        denied.iter().any(|e| e["action"] == "request.submit"),
        "the wrong-role submission is audited"
    );
    assert!(
        denied.iter().any(|e| e["action"] == "release.file.add"),
        "the out-of-scope microdata is audited"
    );
    // No secret and no delivered identifier in the audit trail.
    let text = audit.body.to_string();
    assert!(!text.contains(hdh_server::seed::DEMO_PASSWORD));
    let filtered = hub
        .get(
            Some(&sec),
            &format!("/api/audit?action=release.&project={pid}"),
        )
        .await;
    assert!(
        filtered.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["action"].as_str().unwrap().starts_with("release."))
    );

    // Closing the project closes its workspace; its page and releases stay readable.
    assert_eq!(
        hub.act_with(
            &researcher,
            &rid,
            json!({ "action": "close", "results": "Report deposited." })
        )
        .await
        .body["request"]["state"],
        "closed"
    );
    let after = hub
        .query(&researcher, &pid, "SELECT count(*) FROM IR_BEN_R")
        .await;
    assert_eq!(after.status, StatusCode::FORBIDDEN);
    assert!(
        after.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{}",
        after.body
    );
    assert_eq!(
        hub.get(Some(&researcher), &format!("/api/projects/{pid}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        hub.http
            .get(hub.url(&file_url))
            .bearer_auth(&researcher)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    // The hub secret is not in the database.
    let secret = std::fs::read_to_string(hub.dir.path().join("data/secrets/hub.key")).unwrap();
    if let Db::Sqlite = db {
        let db_bytes = std::fs::read(hub.dir.path().join("data/hdh.db")).unwrap();
        assert!(!String::from_utf8_lossy(&db_bytes).contains(secret.trim()));
    }
    let _: &Hub = &hub;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_path_sqlite() {
    whole_path(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_path_postgres() {
    whole_path(Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_endpoint() {
    let hub = start(Db::Sqlite).await;
    let doc = hub.get(None, "/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc.body["paths"].as_object().unwrap();
    for p in [
        "/api/login",
        "/api/datasets/{id}/deliveries",
        "/api/requests/{id}/actions",
        "/api/projects/{id}/query",
        "/api/projects/{id}/releases",
        "/api/releases/{id}/files",
        "/api/releases/{id}/files/{file}",
        "/api/releases/{id}/reviews",
        "/api/releases/{id}/release",
        "/api/audit",
    ] {
        assert!(
            paths.contains_key(p),
            "{p} missing from the OpenAPI document"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_over_its_time_limit_is_stopped_with_a_clear_error() {
    let hub = crate::support::start_with(Db::Sqlite, |c| {
        c.workspace_limits.timeout = std::time::Duration::from_nanos(1)
    })
    .await;
    let (_, pid) = hub.authorised_project("researcher", json!([{ "dataset_id": "snds-demo", "table": "ER_PRS_F", "columns": ["BEN_NIR_PSA", "PRS_PAI_MNT"] }]), ("2021-01-01", "2023-12-31")).await;
    let r = hub.login("researcher").await;
    let q = hub.query(&r, &pid, "SELECT BEN_NIR_PSA, sum(PRS_PAI_MNT) FROM ER_PRS_F GROUP BY BEN_NIR_PSA ORDER BY 2 DESC").await;
    assert_eq!(q.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", q.body);
    assert!(
        q.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than the workspace's limit"),
        "{}",
        q.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_provisioned_from_the_version_it_was_reviewed_on() {
    let hub = start(Db::Sqlite).await;
    let r = hub.login("researcher").await;
    let created = hub
        .post(
            Some(&r),
            "/api/requests",
            json!({ "title": "Pinned version", "purpose": "p", "public_interest": "q", "duration_months": 12, "details": crate::support::details(),
                    "period_start": "2021-01-01", "period_end": "2023-12-31",
                    "scope": [{ "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_SEX_COD"] }] }),
        )
        .await;
    assert_eq!(
        created.body["request"]["scope"][0]["version"], 1,
        "the scope is pinned to the version reviewed"
    );
    let id = created.body["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        hub.act(&r, &id, "submit", None).await.status,
        StatusCode::OK
    );
    let t = hub.login("secretariat").await;
    assert_eq!(
        hub.act(&t, &id, "approve", None).await.status,
        StatusCode::OK
    );
    assert_eq!(hub.committee_opinion(&id).await.status, StatusCode::OK);
    // Meanwhile the producer delivers a version 2 without IR_BEN_R.
    let producer = hub.login("producer").await;
    let ds = hub.get(None, "/api/datasets/snds-demo").await;
    let pha = ds.body["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table_name"] == "IR_PHA_R")
        .unwrap();
    let schema = serde_json::to_vec(&pha["schema"]).unwrap();
    let csv =
        b"PHA_CIP_C13,PHA_ATC_C07,PHA_ATC_L07,PHA_NOM_PA\n3400930000017,N02BE01,PARACETAMOL,X\n"
            .to_vec();
    let v2 = hub
        .deliver(
            &producer,
            "snds-demo",
            vec![("IR_PHA_R.schema.json", schema), ("IR_PHA_R.csv", csv)],
        )
        .await;
    assert_eq!(v2.body["delivery"]["version"], 2, "{}", v2.body);
    // The authorisation provisions from version 1.
    let done = hub.authorise(&id).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["request"]["state"], "active");
    let pid = done.body["project"]["id"].as_str().unwrap();
    let q = hub
        .query(&r, pid, "SELECT count(*) AS n FROM IR_BEN_R")
        .await;
    assert_eq!(
        q.body["result"]["rows"][0][0]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap(),
        crate::support::PERSONS
    );
    // Nothing left to provision: a retry is a conflict; a researcher may not retry.
    let a = hub.login("authority").await;
    assert_eq!(
        hub.act(&a, &id, "provision", None).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        hub.act(&r, &id, "provision", None).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_use_one_json_envelope() {
    let hub = start(Db::Sqlite).await;
    // Not JSON, wrong content type, wrong shape: each a JSON error with a code.
    let cases = [
        (hub.http.post(hub.url("/api/login")).body("username=x"), 415),
        (
            hub.http
                .post(hub.url("/api/login"))
                .header("content-type", "application/json")
                .body("{"),
            400,
        ),
        (
            hub.http
                .post(hub.url("/api/login"))
                .json(&json!({ "username": {} })),
            422,
        ),
    ];
    for (rq, status) in cases {
        let r = rq.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status);
        let body: Value = r.json().await.unwrap();
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
    let sec = hub.login("security").await;
    for q in ["limit=0", "limit=10001", "limit=abc"] {
        let r = hub.get(Some(&sec), &format!("/api/audit?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.body["error"]["message"].is_string());
    }
    let r = hub
        .post(
            Some(&sec),
            "/api/releases/x/reviews",
            json!({ "files": "maybe" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    // The document lists these answers.
    let doc = hub.get(None, "/api/openapi.json").await.body;
    let login = &doc["paths"]["/api/login"]["post"]["responses"];
    for code in ["400", "415", "422", "401"] {
        assert!(login.get(code).is_some(), "login documents {code}");
    }
    assert!(
        doc["paths"]["/api/releases/{id}/files/{file}"]["get"]["responses"]
            .get("404")
            .is_some()
    );
    assert!(
        doc["paths"]["/api/requests"]["get"]["responses"]
            .get("401")
            .is_some()
    );
}
