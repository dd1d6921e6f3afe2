//! Hostile deliveries: each is rejected whole with a report naming file, line,
//! column and reason, and leaves no trace in the lake or the catalogue.

use crate::support::{Db, Hub, files_under, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SCHEMA: &str = r#"{
  "name": "STAYS",
  "title": "Hospital stays (test)",
  "fields": [
    {"name": "STAY_ID", "type": "string", "constraints": {"required": true}},
    {"name": "PATIENT", "type": "string", "hdh:identifier": "person", "constraints": {"required": true}},
    {"name": "SEX", "type": "integer", "constraints": {"enum": [1, 2]}},
    {"name": "DGN_PAL", "type": "string", "nomenclature": "MS_CIM_V"},
    {"name": "ENTRY", "type": "date", "constraints": {"required": true}},
    {"name": "DAYS", "type": "integer"}
  ],
  "primaryKey": ["STAY_ID"],
  "hdh:periodField": "ENTRY"
}"#;

const GOOD: &str = "STAY_ID,PATIENT,SEX,DGN_PAL,ENTRY,DAYS\n\
S1,5ec2e700000000000000000000000001,1,E11,2022-03-01,4\n\
S2,5ec2e700000000000000000000000002,2,J189,2022-04-12,2\n\
S3,5ec2e700000000000000000000000003,1,,2022-05-30,\n";

async fn deliver_stays(hub: &Hub, token: &str, csv: Vec<u8>) -> (StatusCode, Value) {
    let r = hub
        .deliver(
            token,
            "stays",
            vec![
                ("STAYS.schema.json", SCHEMA.as_bytes().to_vec()),
                ("STAYS.csv", csv),
            ],
        )
        .await;
    (r.status, r.body)
}

/// The value of a form's hidden field `name` in a page.
fn hidden_field(html: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let at = html.find(&key).unwrap() + key.len();
    html[at..at + html[at..].find('"').unwrap()].to_string()
}

fn errors(body: &Value) -> Vec<Value> {
    body["delivery"]["tables"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["errors"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Asserts the delivery was rejected with an error at (line, column) whose
/// reason contains `reason`, and that nothing was written.
async fn assert_rejected(
    hub: &Hub,
    token: &str,
    csv: Vec<u8>,
    line: u64,
    column: Option<u64>,
    reason: &str,
) {
    let before = files_under(&hub.lake());
    let (status, body) = deliver_stays(hub, token, csv).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["delivery"]["accepted"], false);
    let errs = errors(&body);
    assert!(
        errs.iter().any(|e| e["file"] == "STAYS.csv"
            && e["line"].as_u64() == Some(line)
            && e["column"].as_u64() == column
            && e["reason"].as_str().unwrap_or("").contains(reason)),
        "expected an error at line {line}, column {column:?} containing {reason:?}; got {errs:?}"
    );
    assert!(
        !body.to_string().contains("5ec2e7000000"),
        "identifier values never appear in reports: {body}"
    );
    assert_eq!(files_under(&hub.lake()), before, "the lake is unchanged");
    assert_eq!(
        hub.get(None, "/api/datasets/stays").await.status,
        StatusCode::NOT_FOUND,
        "nothing reached the catalogue"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_deliveries_are_rejected_whole() {
    let hub = start(Db::Sqlite).await;
    let producer = hub.login("producer").await;
    let good = GOOD.to_string();

    // A code outside the declared domain.
    assert_rejected(
        &hub,
        &producer,
        good.replace(
            "S2,5ec2e700000000000000000000000002,2,",
            "S2,5ec2e700000000000000000000000002,7,",
        )
        .into_bytes(),
        3,
        Some(3),
        "7",
    )
    .await;
    // A code that is not in the nomenclature.
    assert_rejected(
        &hub,
        &producer,
        good.replace("J189", "ZZZ9").into_bytes(),
        3,
        Some(4),
        "MS_CIM_V",
    )
    .await;
    // A wrong type.
    assert_rejected(
        &hub,
        &producer,
        good.replace("2022-04-12,2", "2022-04-12,two").into_bytes(),
        3,
        Some(6),
        "integer",
    )
    .await;
    assert_rejected(
        &hub,
        &producer,
        good.replace("2022-05-30", "30/05/2022").into_bytes(),
        4,
        Some(5),
        "date",
    )
    .await;
    // A duplicate key.
    assert_rejected(
        &hub,
        &producer,
        good.replace("S3,", "S1,").into_bytes(),
        4,
        Some(1),
        "duplicate",
    )
    .await;
    // A truncated last line.
    assert_rejected(
        &hub,
        &producer,
        format!("{GOOD}S4,5ec2e700000000000000000000000004,1").into_bytes(),
        5,
        None,
        "",
    )
    .await;
    // A non-UTF-8 byte.
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("J189").unwrap();
    bytes[at + 1] = 0xff;
    assert_rejected(&hub, &producer, bytes, 3, Some(4), "UTF-8").await;
    // A missing required value.
    assert_rejected(
        &hub,
        &producer,
        good.replace("2022-03-01", "").into_bytes(),
        2,
        Some(5),
        "required",
    )
    .await;

    // A malformed schema is reported with where the fault is.
    let bad_schema = SCHEMA.replace("\"type\": \"date\"", "\"type\": \"dat\"");
    let r = hub
        .deliver(
            &producer,
            "stays",
            vec![
                ("STAYS.schema.json", bad_schema.into_bytes()),
                ("STAYS.csv", GOOD.as_bytes().to_vec()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = r.body["delivery"]["errors"][0].as_str().unwrap();
    assert!(
        msg.contains("STAYS.schema.json") && msg.contains("/fields/4"),
        "{msg}"
    );
    // A data file without its schema.
    let r = hub
        .deliver(
            &producer,
            "stays",
            vec![("STAYS.csv", GOOD.as_bytes().to_vec())],
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Only producers deliver; a producer cannot deliver into another's dataset.
    let researcher = hub.login("researcher").await;
    let (status, _) = deliver_stays(&hub, &researcher, GOOD.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Every rejection was audited, with no data value in the event.
    let sec = hub.login("security").await;
    let audit = hub
        .get(Some(&sec), "/api/audit?action=delivery.reject")
        .await;
    assert!(
        audit.body["events"].as_array().unwrap().len() >= 8,
        "{}",
        audit.body
    );
    assert!(!audit.body.to_string().contains("5ec2e7000000"));

    // The good file is accepted as version 1, then a second delivery is version 2.
    let (status, body) = deliver_stays(&hub, &producer, GOOD.as_bytes().to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivery"]["version"], 1);
    let (_, body) = deliver_stays(&hub, &producer, GOOD.as_bytes().to_vec()).await;
    assert_eq!(body["delivery"]["version"], 2);
    let ds = hub.get(None, "/api/datasets/stays").await;
    assert_eq!(ds.body["versions"].as_array().unwrap().len(), 2);
    let files = files_under(&hub.lake());
    assert!(
        files.contains(&"datasets/stays/v1/STAYS.parquet".to_string())
            && files.contains(&"datasets/stays/v1/manifest.json".to_string()),
        "{files:?}"
    );
    assert!(!files.iter().any(|f| f.starts_with("staging")));
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(hub.lake().join("datasets/stays/v1/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["files"][0]["rows"], 3);
    assert_eq!(manifest["files"][0]["sha256"].as_str().unwrap().len(), 64);
    let _ = json!({});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_require_sign_in_and_csrf() {
    let hub = start(Db::Sqlite).await;
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // The catalogue is public; requests are not.
    let cat = client.get(hub.url("/catalogue")).send().await.unwrap();
    assert_eq!(cat.status(), StatusCode::OK);
    let csp = cat
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self';")
            && csp.contains("style-src 'self';")
            && !csp.contains("unsafe-inline")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        cat.headers().get("x-content-type-options").unwrap(),
        "nosniff"
    );
    assert_eq!(cat.headers().get("cache-control").unwrap(), "no-store");
    // Hence no inline style in the pages: their style sheet is a file.
    let html = cat.text().await.unwrap();
    assert!(
        !html.contains("<style") && !html.contains(" style=\"") && html.contains("/static/hdh.css"),
        "{html}"
    );
    let css = client.get(hub.url("/static/hdh.css")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    assert!(css.text().await.unwrap().contains(".verdict-bar"));
    // The language links keep the page's other parameters.
    let html = client
        .get(hub.url("/catalogue?q=BEN_SEX_COD"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("catalogue?q=BEN_SEX_COD&amp;lang=fr\" hreflang=\"fr\""),
        "{html}"
    );
    let r = client.get(hub.url("/requests")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // The sign-in form carries a token that its POST must bring back (and a
    // cookie of the same value): posted without it, as another site would
    // (login CSRF), nothing is tried, even with the right password.
    let r = client
        .post(hub.url("/login"))
        .form(&[
            ("username", "researcher"),
            ("password", hdh_server::seed::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("hdh_session=")),
        "no session"
    );
    let signin_token = |html: &str| hidden_field(html, "signin_token");
    let form = client.get(hub.url("/login")).send().await.unwrap();
    let token = signin_token(&form.text().await.unwrap());
    let r = client
        .post(hub.url("/login"))
        .form(&[
            ("username", "researcher"),
            ("password", hdh_server::seed::DEMO_PASSWORD),
            ("signin_token", "forged-by-another-site"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a token of its own");
    // The page answered with a fresh form (and cookie).
    let token2 = signin_token(&r.text().await.unwrap());
    assert_ne!(token, token2);
    // Wrong password: 401 and no cookie.
    let r = client
        .post(hub.url("/login"))
        .form(&[
            ("username", "researcher"),
            ("password", "nope"),
            ("signin_token", &token2),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let token3 = signin_token(&r.text().await.unwrap());
    let r = client
        .post(hub.url("/login"))
        .form(&[
            ("username", "researcher"),
            ("password", hdh_server::seed::DEMO_PASSWORD),
            ("signin_token", &token3),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_string())
        .find(|c| c.starts_with("hdh_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    // First sign-in: every page leads to the terms of use until they are
    // accepted (with the form's CSRF token and the box ticked).
    let r = client.get(hub.url("/requests")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/terms");
    let html = client
        .get(hub.url("/terms"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("id=\"terms-form\""), "{html}");
    let (csrf, version) = (hidden_field(&html, "csrf"), hidden_field(&html, "version"));
    let r = client
        .post(hub.url("/terms"))
        .form(&[("version", version.as_str()), ("accept", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let r = client
        .post(hub.url("/terms"))
        .form(&[("csrf", csrf.as_str()), ("version", version.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "box not ticked"
    );
    let r = client
        .post(hub.url("/terms"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("accept", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/");
    assert_eq!(
        client
            .get(hub.url("/requests"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // A form posted with the cookie but without the CSRF token is refused.
    let r = client
        .post(hub.url("/requests/new"))
        .form(&[
            ("title", "Forged request"),
            ("purpose", "x"),
            ("public_interest", "y"),
            ("period_start", "2022-01-01"),
            ("period_end", "2022-12-31"),
            ("duration_months", "12"),
            ("cols", "snds-demo|IR_BEN_R|BEN_SEX_COD"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // With it, the draft is created; French pages are served on request.
    let page = client
        .get(hub.url("/requests/new?lang=fr"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Nouvelle demande d") && page.contains("Justification de l"),
        "French page"
    );
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = client
        .post(hub.url("/requests/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "A real request"),
            ("purpose", "x"),
            ("public_interest", "y"),
            ("period_start", "2022-01-01"),
            ("period_end", "2022-12-31"),
            ("duration_months", "12"),
            ("cols", "snds-demo|IR_BEN_R|BEN_SEX_COD"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    // Validation messages are shown next to the fields.
    let r = client
        .post(hub.url("/requests/new"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("title", "Bad"),
            ("purpose", ""),
            ("public_interest", "y"),
            ("period_start", "2022-01-01"),
            ("period_end", "2022-12-31"),
            ("duration_months", "12"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("field-error"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_deliver_reports_errors_and_exit_codes() {
    let hub = start(Db::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("STAYS.schema.json"), SCHEMA).unwrap();
    std::fs::write(dir.path().join("STAYS.csv"), GOOD.replace("J189", "ZZZ9")).unwrap();
    let run = |dir: std::path::PathBuf, base: String| {
        std::process::Command::new(env!("CARGO_BIN_EXE_hdh"))
            .args([
                "deliver",
                dir.to_str().unwrap(),
                "--dataset",
                "stays",
                "--hub",
                &base,
                "--user",
                "producer",
            ])
            .env("HDH_PASSWORD", hdh_server::seed::DEMO_PASSWORD)
            .output()
            .unwrap()
    };
    let deliver = || {
        let (d, b) = (dir.path().to_path_buf(), hub.base.clone());
        tokio::task::spawn_blocking(move || run(d, b))
    };
    // Not before the producer accepted the terms of use (on the hub).
    let out = deliver().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("has not accepted the hub's terms of use") && stderr.contains("/terms"),
        "{stderr}"
    );
    hub.login("producer").await;
    let out = deliver().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("STAYS.csv:3:4: DGN_PAL:") && stderr.contains("MS_CIM_V"),
        "{stderr}"
    );
    std::fs::write(dir.path().join("STAYS.csv"), GOOD).unwrap();
    let out = deliver().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted: stays v1"));
    // Wrong password: a clear error and a non-zero exit.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hdh"))
        .args([
            "deliver",
            dir.path().to_str().unwrap(),
            "--dataset",
            "stays",
            "--hub",
            &hub.base,
            "--user",
            "producer",
        ])
        .env("HDH_PASSWORD", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sign-in refused"));
}
