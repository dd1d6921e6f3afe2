//! The project workspace (issue 6): provisioning from an authorised request
//! (approved columns, period, population criteria, the opposition register,
//! reproducible files, the quality report), and the sandbox (every escape
//! refused and audited, scratch tables and their quota, limits per query and
//! per project, the query log).

use crate::support::{Db, Hub, Resp, start, start_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn scope_all() -> Value {
    json!([
        { "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"] },
        { "dataset_id": "snds-demo", "table": "ER_PRS_F", "columns": ["BEN_NIR_PSA", "BEN_RNG_GEM", "EXE_SOI_DTD", "PRS_NAT_REF", "PSE_SPE_COD", "DCT_ORD_NUM", "FLX_DIS_DTD", "FLX_EMT_NUM", "FLX_EMT_ORD", "FLX_EMT_TYP", "FLX_TRT_DTD", "ORG_CLE_NUM", "PRS_ORD_NUM", "REM_TYP_AFF"] },
        { "dataset_id": "snds-demo", "table": "ER_PHA_F", "columns": ["DCT_ORD_NUM", "FLX_DIS_DTD", "FLX_EMT_NUM", "FLX_EMT_ORD", "FLX_EMT_TYP", "FLX_TRT_DTD", "ORG_CLE_NUM", "PRS_ORD_NUM", "REM_TYP_AFF", "PHA_PRS_C13", "PHA_ACT_QSN"] },
        { "dataset_id": "snds-demo", "table": "IR_PHA_R", "columns": ["PHA_CIP_C13", "PHA_ATC_C07"] },
        { "dataset_id": "snds-demo", "table": "T_MCO23B", "columns": ["ETA_NUM", "RSA_NUM", "DGN_PAL", "SEJ_NBJ"] },
    ])
}

const PERIOD: (&str, &str) = ("2021-01-01", "2023-12-31");

/// The nine keys joining a dispensation to its claim.
const NINE: &str = "f.DCT_ORD_NUM = p.DCT_ORD_NUM AND f.FLX_DIS_DTD = p.FLX_DIS_DTD AND f.FLX_EMT_NUM = p.FLX_EMT_NUM AND f.FLX_EMT_ORD = p.FLX_EMT_ORD AND f.FLX_EMT_TYP = p.FLX_EMT_TYP AND f.FLX_TRT_DTD = p.FLX_TRT_DTD AND f.ORG_CLE_NUM = p.ORG_CLE_NUM AND f.PRS_ORD_NUM = p.PRS_ORD_NUM AND f.REM_TYP_AFF = p.REM_TYP_AFF";

impl Hub {
    /// Creates and gets authorised a request with `details` merged into the
    /// complete form; returns (request, project).
    pub(crate) async fn project_with(
        &self,
        researcher: &str,
        scope: Value,
        extra: Value,
    ) -> (String, String) {
        let r = self.login(researcher).await;
        let mut details = crate::support::details();
        if let (Some(d), Value::Object(x)) = (details.as_object_mut(), extra) {
            d.extend(x);
        }
        let created = self
            .post(
                Some(&r),
                "/api/requests",
                json!({
                    "title": "Antidiabetics and hospital stays",
                    "purpose": "Describe antidiabetic drug use before hospital stays.",
                    "public_interest": "Better follow-up of diabetic patients.",
                    "scope": scope,
                    "period_start": PERIOD.0,
                    "period_end": PERIOD.1,
                    "duration_months": 24,
                    "details": details,
                }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["request"]["id"].as_str().unwrap().to_string();
        assert_eq!(
            self.act(&r, &id, "submit", None).await.status,
            StatusCode::OK
        );
        let t = self.login("secretariat").await;
        assert_eq!(
            self.act(&t, &id, "approve", None).await.status,
            StatusCode::OK
        );
        assert_eq!(self.committee_opinion(&id).await.status, StatusCode::OK);
        let done = self.authorise(&id).await;
        assert_eq!(done.body["request"]["state"], "active", "{}", done.body);
        let project = done.body["project"]["id"].as_str().unwrap().to_string();
        (id, project)
    }

    async fn sql(&self, token: &str, project: &str, sql: &str) -> Resp {
        self.post(
            Some(token),
            &format!("/api/projects/{project}/query"),
            json!({ "sql": sql }),
        )
        .await
    }

    /// A one-value query's value.
    async fn value(&self, token: &str, project: &str, sql: &str) -> String {
        let r = self.sql(token, project, sql).await;
        assert_eq!(r.status, StatusCode::OK, "{sql}: {}", r.body);
        r.body["result"]["rows"][0][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    async fn extraction(&self, token: &str, project: &str) -> Value {
        let r = self
            .get(Some(token), &format!("/api/projects/{project}/extraction"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// Refreshes a project's extraction and waits for the job.
    async fn refreshed(&self, token: &str, project: &str) -> Value {
        let r = self
            .post(
                Some(token),
                &format!("/api/projects/{project}/refresh"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let job = r.body["job"]["id"].as_str().unwrap().to_string();
        for _ in 0..1200 {
            let x = self.extraction(token, project).await;
            let state = x["jobs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|j| j["id"] == job.as_str())
                .map(|j| j["state"].as_str().unwrap_or("").to_string())
                .unwrap_or_default();
            match state.as_str() {
                "done" => return x,
                "failed" => panic!("refresh failed: {x}"),
                _ => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            }
        }
        panic!("refresh did not end");
    }
}

fn hashes(x: &Value) -> BTreeMap<String, String> {
    x["report"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The level-1 pseudonyms of the seeded demo dataset's persons (the hub
/// seeds it with the default seed).
fn demo_level1() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    hdh_demo::generate(
        &hdh_demo::DemoOptions {
            persons: crate::support::PERSONS,
            ..Default::default()
        },
        dir.path(),
        &mut |_| {},
    )
    .unwrap();
    let mut rd = csv::Reader::from_path(dir.path().join("IR_BEN_R.csv")).unwrap();
    let idx = rd
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "BEN_NIR_PSA")
        .unwrap();
    rd.records()
        .map(|r| r.unwrap().get(idx).unwrap().to_string())
        .collect()
}

/// A person's pseudonym in a project, computed as the hub does (the test
/// reads the hub secret from the data directory).
fn project_pseudonym(hub: &Hub, project: &str, level1: &str) -> String {
    let secret = hdh_server::config::load_or_create_secret(&hub.dir.path().join("data")).unwrap();
    let l1 = hdh_pseudo::level1::Level1Pseudonym::from_hex(level1).unwrap();
    secret.project_key(project).pseudonym_of(&l1)
}

#[tokio::test]
async fn provisioning_applies_population_oppositions_and_is_reproducible() {
    let hub = start(Db::Sqlite).await;
    let researcher = hub.login("researcher").await;

    // A: persons with at least one dispensation of ATC A10 in 2021–2022.
    let criteria = json!({ "criteria": [{
        "dataset": "snds-demo", "table": "IR_PHA_R", "column": "PHA_ATC_C07",
        "codes": ["a10"], "from": "2021-01-01", "to": "2022-12-31"
    }]});
    let (_, a) = hub.project_with("researcher", scope_all(), criteria).await;
    // B: the same tables, everyone.
    let (_, b) = hub.project_with("researcher", scope_all(), json!({})).await;

    // In B, the population computed by hand.
    let expected = hub
        .value(
            &researcher,
            &b,
            &format!(
                "SELECT CAST(COUNT(DISTINCT p.BEN_NIR_PSA) AS VARCHAR) FROM ER_PHA_F f JOIN ER_PRS_F p ON {NINE} \
                 JOIN IR_PHA_R r ON f.PHA_PRS_C13 = r.PHA_CIP_C13 \
                 WHERE r.PHA_ATC_C07 LIKE 'A10%' AND f.FLX_DIS_DTD BETWEEN DATE '2021-01-01' AND DATE '2022-12-31'"
            ),
        )
        .await;
    let expected: u64 = expected.parse().unwrap();
    assert!(expected > 0 && expected < crate::support::PERSONS);
    let xa = hub.extraction(&researcher, &a).await;
    assert_eq!(xa["report"]["population"], expected, "{xa}");
    let in_a: u64 = hub
        .value(
            &researcher,
            &a,
            "SELECT CAST(COUNT(DISTINCT BEN_NIR_PSA) AS VARCHAR) FROM IR_BEN_R",
        )
        .await
        .parse()
        .unwrap();
    assert_eq!(in_a, expected);
    // Every claim and dispensation of A belongs to the population: in A,
    // every dispensation joins a claim of a person of IR_BEN_R.
    let orphans = hub
        .value(
            &researcher,
            &a,
            &format!(
                "SELECT CAST(COUNT(*) AS VARCHAR) FROM ER_PHA_F f LEFT JOIN ER_PRS_F p ON {NINE} \
                 LEFT JOIN IR_BEN_R b ON p.BEN_NIR_PSA = b.BEN_NIR_PSA WHERE b.BEN_NIR_PSA IS NULL"
            ),
        )
        .await;
    assert_eq!(orphans, "0");
    // All their claims over the whole period, not only the A10 window.
    let last = hub
        .value(
            &researcher,
            &a,
            "SELECT CAST(MAX(EXE_SOI_DTD) AS VARCHAR) FROM ER_PRS_F",
        )
        .await;
    assert!(last.as_str() > "2023-01-01", "{last}");
    // The reference table is whole; the report says how each table was cut.
    let tables = xa["report"]["tables"].as_array().unwrap();
    let restriction = |t: &str| {
        tables.iter().find(|x| x["table"] == t).unwrap()["restriction"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(restriction("IR_BEN_R"), "person");
    assert_eq!(restriction("ER_PHA_F"), "linked to ER_PRS_F");
    assert_eq!(restriction("IR_PHA_R"), "not restricted");
    // The report's numbers are the data's.
    for t in tables {
        let name = t["table"].as_str().unwrap();
        let rows = hub
            .value(
                &researcher,
                &a,
                &format!("SELECT CAST(COUNT(*) AS VARCHAR) FROM {name}"),
            )
            .await;
        assert_eq!(rows, t["rows"].as_u64().unwrap().to_string(), "{name}");
        assert!(t.get("opposed_rows").is_none(), "{t}");
    }
    assert!(xa["report"]["first_day"].as_str().unwrap() >= PERIOD.0);
    assert!(xa["report"]["last_day"].as_str().unwrap() <= PERIOD.1);
    assert_eq!(xa["provenance"]["criteria"][0]["codes"], json!(["A10"]));
    assert_eq!(xa["refresh_due"], false);

    // A column outside the approval is absent.
    let r = hub
        .sql(&researcher, &a, "SELECT PRS_PAI_MNT FROM ER_PRS_F")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let schema = hub
        .get(Some(&researcher), &format!("/api/projects/{a}/schema"))
        .await;
    assert!(!schema.body.to_string().contains("PRS_PAI_MNT"));
    assert!(schema.body.to_string().contains("EXE_SOI_DTD"));

    // An opposition: a person of B, by level-1 pseudonym, for all research.
    let level1 = demo_level1();
    let mut victim = None;
    for l1 in &level1 {
        let p = project_pseudonym(&hub, &b, l1);
        let claims = hub
            .value(
                &researcher,
                &b,
                &format!(
                    "SELECT CAST(COUNT(*) AS VARCHAR) FROM ER_PRS_F WHERE BEN_NIR_PSA = '{p}'"
                ),
            )
            .await;
        if claims != "0" {
            victim = Some((l1.clone(), p));
            break;
        }
    }
    let (l1, p) = victim.expect("a person with claims");
    let count = |table: &'static str, p: &str| {
        format!("SELECT CAST(COUNT(*) AS VARCHAR) FROM {table} WHERE BEN_NIR_PSA = '{p}'")
    };
    let dispensations_sql = format!(
        "SELECT CAST(COUNT(*) AS VARCHAR) FROM ER_PHA_F f JOIN ER_PRS_F p ON {NINE} WHERE p.BEN_NIR_PSA = '{p}'"
    );
    let pha_before: u64 = hub
        .value(
            &researcher,
            &b,
            "SELECT CAST(COUNT(*) AS VARCHAR) FROM ER_PHA_F",
        )
        .await
        .parse()
        .unwrap();
    let theirs: u64 = hub
        .value(&researcher, &b, &dispensations_sql)
        .await
        .parse()
        .unwrap();
    let before = hashes(&hub.extraction(&researcher, &b).await);

    let admin = hub.login("admin").await;
    let denied = hub
        .post(
            Some(&researcher),
            "/api/oppositions",
            json!({ "level1": l1 }),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    let bad = hub
        .post(
            Some(&admin),
            "/api/oppositions",
            json!({ "level1": "1850578006048" }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!bad.body.to_string().contains("1850578006048"));
    let added = hub
        .post(
            Some(&admin),
            "/api/oppositions",
            json!({ "level1": l1, "scope": "all", "objected_on": "2026-11-01" }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let flagged: Vec<&str> = added.body["flagged_projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(flagged.contains(&a.as_str()) && flagged.contains(&b.as_str()));
    // Neither the level-1 value nor its level-2 form is shown or stored in clear.
    assert!(!added.body.to_string().contains(&l1));
    let again = hub
        .post(Some(&admin), "/api/oppositions", json!({ "level1": l1 }))
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);

    // The extraction is flagged; the refresh removes the person everywhere.
    let xb = hub.extraction(&researcher, &b).await;
    assert_eq!(xb["refresh_due"], true, "{xb}");
    let xb = hub.refreshed(&researcher, &b).await;
    assert_eq!(xb["refresh_due"], false);
    assert_eq!(xb["provenance"]["register"]["entries"], 1);
    for table in ["IR_BEN_R", "ER_PRS_F"] {
        assert_eq!(
            hub.value(&researcher, &b, &count(table, &p)).await,
            "0",
            "{table}"
        );
    }
    let pha_after: u64 = hub
        .value(
            &researcher,
            &b,
            "SELECT CAST(COUNT(*) AS VARCHAR) FROM ER_PHA_F",
        )
        .await
        .parse()
        .unwrap();
    assert_eq!(pha_after, pha_before - theirs);
    let after = hashes(&xb);
    assert_ne!(before["ER_PRS_F"], after["ER_PRS_F"]);
    assert_eq!(before["IR_PHA_R"], after["IR_PHA_R"]);

    // Byte-identical when rebuilt from the same inputs.
    let again = hashes(&hub.refreshed(&researcher, &b).await);
    assert_eq!(after, again);

    // A key rotation re-keys the register: the person stays out and the
    // files do not change.
    let mut actor = hdh_model::AuditEvent::new("keys.rotate", "level2_key");
    actor.actor_id = Some("system".into());
    let rotated = hdh_server::keys::rotate(&hub.state, actor, &|_, _| {})
        .await
        .unwrap();
    assert_eq!(rotated.oppositions, 1);
    let rekeyed = hashes(&hub.refreshed(&researcher, &b).await);
    assert_eq!(after, rekeyed);

    // The register is never shown with its pseudonyms.
    let list = hub.get(Some(&admin), "/api/oppositions").await;
    assert_eq!(list.body["count"], 1);
    assert!(list.body["oppositions"][0].get("pseudonym").is_none());
}

/// Every escape of the adversarial suite is refused through the API, and
/// each refusal is in the audit trail and the query log.
async fn escapes_are_refused_and_audited(db: Db) {
    let hub = start(db).await;
    let researcher = hub.login("researcher").await;
    let (_, other) = hub
        .project_with("researcher2", scope_all(), json!({}))
        .await;
    let (_, p) = hub.project_with("researcher", scope_all(), json!({})).await;
    let made = hub
        .sql(
            &researcher,
            &p,
            "CREATE TABLE scratch.cohort AS SELECT BEN_NIR_PSA, BEN_SEX_COD FROM IR_BEN_R",
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let cases = parse_cases(include_str!(
        "../../../hdh-workspace/tests/data/escapes.sql"
    ));
    assert!(cases.len() >= 40, "{}", cases.len());
    for (name, kind, sql) in &cases {
        let sql = sql.replace("{other_project}", &other);
        let r = hub.sql(&researcher, &p, &sql).await;
        let expected = if kind == "invalid" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(r.status, expected, "{name}: {sql}\n{}", r.body);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}"
        );
    }
    // Each attempt is in the query log and the audit trail.
    let log = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/queries"))
        .await;
    let refused = log.body["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["outcome"] == "refused" || q["outcome"] == "failed")
        .count();
    assert!(refused >= cases.len(), "{refused} < {}", cases.len());
    let sec = hub.login("security").await;
    let audit = hub
        .get(
            Some(&sec),
            &format!("/api/audit?action=workspace.query&project={p}&limit=10000"),
        )
        .await;
    let denied = audit.body["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["outcome"] == "denied").count())
        .unwrap_or(0);
    let expected_denied = cases.iter().filter(|c| c.1 != "invalid").count();
    assert!(
        denied >= expected_denied,
        "{denied} < {expected_denied}: {}",
        audit.body
    );

    // The legitimate queries of the suite run.
    for (name, _, sql) in parse_cases(include_str!(
        "../../../hdh-workspace/tests/data/allowed.sql"
    )) {
        if name.starts_with("drop-scratch") {
            continue;
        }
        // The gate lets them through; a column the demo does not have is
        // the engine's error (422), never a refusal.
        let r = hub.sql(&researcher, &p, &sql).await;
        assert_ne!(r.status, StatusCode::FORBIDDEN, "{name}: {sql}\n{}", r.body);
        assert!(
            r.status == StatusCode::OK || r.body["error"]["code"] == "query_error",
            "{name}: {sql}\n{}",
            r.body
        );
    }
    // Another member's project is not reachable with one's own session.
    let r = hub
        .sql(&researcher, &other, "SELECT COUNT(*) FROM IR_BEN_R")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

fn parse_cases(text: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("-- case:") {
            let mut parts = rest.split_whitespace();
            let name = parts.next().unwrap_or("").to_string();
            let kind = parts
                .next()
                .unwrap_or("")
                .trim_matches(|c| c == '[' || c == ']')
                .to_string();
            out.push((name, kind, String::new()));
        } else if let Some(last) = out.last_mut() {
            last.2.push_str(line);
            last.2.push('\n');
        }
    }
    out.into_iter()
        .map(|(n, k, s)| (n, k, s.trim().to_string()))
        .filter(|c| !c.2.is_empty())
        .collect()
}

#[tokio::test]
async fn escapes_are_refused_and_audited_postgres() {
    escapes_are_refused_and_audited(Db::Postgres).await;
}

#[tokio::test]
async fn scratch_tables_limits_and_cancellation() {
    let hub = start_with(Db::Sqlite, |c| {
        c.scratch_quota_bytes = 256 * 1024;
        c.project_concurrent_queries = 1;
        c.workspace_limits.memory_bytes = 64 * 1024 * 1024;
        c.workspace_limits.timeout = std::time::Duration::from_secs(20);
    })
    .await;
    let researcher = hub.login("researcher").await;
    let (_, p) = hub.project_with("researcher", scope_all(), json!({})).await;

    // A derived table in the scratch schema, usable in later queries.
    let made = hub
        .sql(
            &researcher,
            &p,
            "CREATE TABLE scratch.women AS SELECT BEN_NIR_PSA, BEN_NAI_ANN FROM IR_BEN_R WHERE BEN_SEX_COD = 2",
        )
        .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let n = hub
        .value(
            &researcher,
            &p,
            "SELECT CAST(COUNT(*) AS VARCHAR) FROM scratch.women",
        )
        .await;
    let direct = hub
        .value(
            &researcher,
            &p,
            "SELECT CAST(COUNT(*) AS VARCHAR) FROM IR_BEN_R WHERE BEN_SEX_COD = 2",
        )
        .await;
    assert_eq!(n, direct);
    let exists = hub
        .sql(
            &researcher,
            &p,
            "CREATE TABLE scratch.women AS SELECT 1 AS x",
        )
        .await;
    assert_eq!(
        exists.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        exists.body
    );
    let schema = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/schema"))
        .await;
    assert_eq!(schema.body["scratch"][0]["name"], "women");
    // The console page shows the schema, the scratch table and the editor.
    let (status, html) = hub.page(Some(&researcher), &format!("/projects/{p}")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("scratch.women") && html.contains("schema-hints"));
    assert!(html.contains("/static/vendor/codemirror/codemirror.js"));
    assert!(schema.body["scratch"][0]["bytes"].as_i64().unwrap() > 0);
    // Over the quota: refused, nothing kept.
    let big = hub
        .sql(
            &researcher,
            &p,
            "CREATE TABLE scratch.big AS SELECT v, v * 2 AS w, CAST(v AS VARCHAR) AS s FROM generate_series(1, 3000000) AS t(v)",
        )
        .await;
    assert_eq!(big.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", big.body);
    assert_eq!(big.body["error"]["code"], "scratch_quota");
    let schema = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/schema"))
        .await;
    assert_eq!(schema.body["scratch"].as_array().unwrap().len(), 1);
    let dropped = hub.sql(&researcher, &p, "DROP TABLE scratch.women").await;
    assert_eq!(dropped.status, StatusCode::OK, "{}", dropped.body);

    // A memory-hungry query is stopped with a clear reason; the next runs.
    let hungry = hub
        .sql(
            &researcher,
            &p,
            "SELECT array_agg(CAST(v AS VARCHAR)) FROM generate_series(1, 20000000) AS t(v)",
        )
        .await;
    assert_eq!(
        hungry.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        hungry.body
    );
    assert_eq!(
        hungry.body["error"]["code"], "query_memory",
        "{}",
        hungry.body
    );
    let fine = hub
        .sql(&researcher, &p, "SELECT COUNT(*) FROM IR_BEN_R")
        .await;
    assert_eq!(fine.status, StatusCode::OK);

    // One query at a time in this project: a second is refused while the
    // first runs; the first is cancelled by its id.
    let slow_sql = "SELECT COUNT(*) FROM generate_series(1, 5000000000) AS t(v) WHERE v % 7 = 3";
    let h2 = hub.http.clone();
    let url = hub.url(&format!("/api/projects/{p}/query"));
    let tok = researcher.clone();
    let slow = tokio::spawn(async move {
        let r = h2
            .post(url)
            .bearer_auth(tok)
            .json(&json!({ "sql": slow_sql, "query_id": "slow-1" }))
            .send()
            .await
            .unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    });
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let second = hub
        .sql(&researcher, &p, "SELECT COUNT(*) FROM IR_BEN_R")
        .await;
    assert_eq!(
        second.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        second.body
    );
    let cancel = hub
        .post(
            Some(&researcher),
            &format!("/api/projects/{p}/queries/slow-1/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "query_cancelled");
    // Every query is logged with its outcome and what it read.
    let log = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/queries"))
        .await;
    let q = log.body["queries"].as_array().unwrap();
    let outcomes: Vec<&str> = q.iter().map(|x| x["outcome"].as_str().unwrap()).collect();
    for o in ["ok", "quota", "memory", "refused", "cancelled"] {
        assert!(outcomes.contains(&o), "{o} missing in {outcomes:?}");
    }
    let grouped = "SELECT BEN_SEX_COD, COUNT(*) AS n FROM IR_BEN_R GROUP BY BEN_SEX_COD";
    assert_eq!(
        hub.sql(&researcher, &p, grouped).await.status,
        StatusCode::OK
    );
    let log = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/queries"))
        .await;
    let ok = log.body["queries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["outcome"] == "ok" && x["sql"] == grouped)
        .unwrap();
    assert!(ok["rows_scanned"].as_i64().unwrap() > 0, "{ok}");
    assert!(ok["bytes_scanned"].as_i64().unwrap() > 0, "{ok}");
    assert_eq!(ok["result_rows"], 2);
}

/// The real Python client (ADBC Flight SQL driver, pandas) against the
/// hub's Flight SQL endpoint: tables listed, a query into a DataFrame,
/// another project's table refused, expired, revoked and other projects'
/// tokens refused, metadata and queries audited.
#[tokio::test]
async fn flight_sql_from_python() {
    let hub = start(Db::Sqlite).await;
    let researcher = hub.login("researcher").await;
    let (_, other) = hub
        .project_with("researcher2", scope_all(), json!({}))
        .await;
    let (_, p) = hub.project_with("researcher", scope_all(), json!({})).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hdh_server::flight::serve(
        hub.state.clone(),
        listener,
        std::future::pending(),
    ));
    let made = hub
        .post(
            Some(&researcher),
            &format!("/api/projects/{p}/tokens"),
            json!({ "label": "notebook", "days": 7 }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let secret = made.body["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("hdhf_"));
    // Never stored or listed in clear.
    let listed = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/tokens"))
        .await;
    assert!(!listed.body.to_string().contains(&secret));
    // A token of researcher2 for their own project: valid there only.
    let r2 = hub.login("researcher2").await;
    let other_secret = hub
        .post(
            Some(&r2),
            &format!("/api/projects/{other}/tokens"),
            json!({ "label": "theirs" }),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    // A token past its expiry.
    let expired = hub
        .post(
            Some(&researcher),
            &format!("/api/projects/{p}/tokens"),
            json!({ "label": "old", "days": 1 }),
        )
        .await;
    let expired_secret = expired.body["secret"].as_str().unwrap().to_string();
    sqlx::query("UPDATE access_tokens SET expires_at = '2020-01-01T00:00:00Z' WHERE label = 'old'")
        .execute(hub.state.store.pool())
        .await
        .unwrap();
    let n: u64 = hub
        .value(
            &researcher,
            &p,
            "SELECT CAST(COUNT(*) AS VARCHAR) FROM IR_BEN_R",
        )
        .await
        .parse()
        .unwrap();
    let checks = json!([
        { "op": "connect" },
        { "op": "tables", "expect": ["ER_PHA_F", "ER_PRS_F", "IR_BEN_R", "IR_PHA_R", "T_MCO23B"] },
        { "op": "query", "sql": "SELECT BEN_SEX_COD, COUNT(*) AS n FROM IR_BEN_R GROUP BY BEN_SEX_COD ORDER BY BEN_SEX_COD", "expect_rows": 2, "expect_columns": ["BEN_SEX_COD", "n"] },
        { "op": "query", "sql": "SELECT COUNT(*) AS n FROM IR_BEN_R", "expect_values": { "n": [n] } },
        { "op": "query", "auth": "basic", "sql": "SELECT COUNT(*) AS n FROM ER_PRS_F", "expect_rows": 1 },
        { "op": "refused", "sql": format!("SELECT * FROM datafusion.\"{other}\".IR_BEN_R"), "expect_error": "out of scope" },
        { "op": "refused", "sql": "SELECT * FROM 'lake:///datasets/snds-demo/v1/IR_BEN_R.parquet'", "expect_error": "" },
        { "op": "refused", "sql": "COPY (SELECT * FROM IR_BEN_R) TO '/tmp/x.csv'", "expect_error": "" },
        { "op": "update_refused", "sql": "CREATE TABLE scratch.x AS SELECT 1", "expect_error": "" },
        { "op": "bad_token", "token": "hdhf_not-a-token", "expect_error": "" },
        { "op": "bad_token", "token": expired_secret, "expect_error": "expired" },
        { "op": "bad_token", "token": "", "expect_error": "" },
    ]);
    let out = run_client(addr, &secret, &checks).await;
    assert_eq!(out["ok"], true, "{out:#}");
    // researcher2's token sees researcher2's project, not researcher's.
    let theirs = run_client(
        addr,
        &other_secret,
        &json!([{ "op": "query", "sql": "SELECT COUNT(*) AS n FROM IR_BEN_R", "expect_rows": 1 }]),
    )
    .await;
    assert_eq!(theirs["ok"], true, "{theirs:#}");
    // Once the terms of use change, a token works again only after its
    // holder accepted them.
    sqlx::query("UPDATE users SET terms_version = 'older' WHERE username = 'researcher2'")
        .execute(hub.state.store.pool())
        .await
        .unwrap();
    let stale = run_client(
        addr,
        &other_secret,
        &json!([{ "op": "bad_token", "token": other_secret, "expect_error": "terms of use" }]),
    )
    .await;
    assert_eq!(stale["ok"], true, "{stale:#}");
    // Revoked: refused at once.
    let tid = made.body["token"]["id"].as_str().unwrap();
    let rev = hub
        .delete(
            Some(&researcher),
            &format!("/api/projects/{p}/tokens/{tid}"),
        )
        .await;
    assert_eq!(rev.status, StatusCode::OK, "{}", rev.body);
    let after = run_client(
        addr,
        &secret,
        &json!([{ "op": "bad_token", "token": secret, "expect_error": "revoked" }]),
    )
    .await;
    assert_eq!(after["ok"], true, "{after:#}");
    // Flight queries are in the query log; refusals and token misuse in the audit trail.
    let log = hub
        .get(Some(&researcher), &format!("/api/projects/{p}/queries"))
        .await;
    let flight: Vec<&Value> = log.body["queries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["channel"] == "flight")
        .collect();
    assert!(flight.iter().any(|q| q["outcome"] == "ok"), "{}", log.body);
    assert!(
        flight.iter().any(|q| q["outcome"] == "refused"),
        "{}",
        log.body
    );
    let sec = hub.login("security").await;
    let denied = hub
        .get(
            Some(&sec),
            "/api/audit?action=token.use&outcome=denied&limit=1000",
        )
        .await;
    assert!(
        denied.body["events"].as_array().unwrap().len() >= 3,
        "{}",
        denied.body
    );
}

/// Runs tests/flight/client.py (the hub keeps serving meanwhile).
async fn run_client(addr: std::net::SocketAddr, token: &str, checks: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/flight/run.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .args(["--uri", &format!("grpc://{addr}"), "--token", token])
        .arg(checks.to_string())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or("{}")).unwrap_or_else(|_| {
        panic!(
            "client output: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A hub that stops during a provisioning keeps nothing of it: at the next
/// start its staging is gone, the job is marked failed (audited), the
/// request stays authorised without a project, and a retry builds it.
#[tokio::test]
async fn a_provisioning_cut_short_leaves_nothing_and_can_be_retried() {
    let hub = start(Db::Sqlite).await;
    let researcher = hub.login("researcher").await;
    let (rid, p) = hub.project_with("researcher", scope_all(), json!({})).await;
    // As if the hub had died while building a second request's extraction:
    // a job left `running`, half-written files in staging.
    let (rid2, _) = {
        let r = hub
            .post(
                Some(&researcher),
                "/api/requests",
                json!({
                    "title": "Second study", "purpose": "x", "public_interest": "y",
                    "scope": scope_all(), "period_start": PERIOD.0, "period_end": PERIOD.1,
                    "duration_months": 12, "details": crate::support::details(),
                }),
            )
            .await;
        (r.body["request"]["id"].as_str().unwrap().to_string(), ())
    };
    sqlx::query("UPDATE access_requests SET state = 'authorised' WHERE id = $1")
        .bind(&rid2)
        .execute(hub.state.store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO extraction_builds (id, project_id, request_id, reason, state, created_at) VALUES ('x-crashed', 'p-crashed', $1, 'authorised', 'running', '2026-01-01T00:00:00Z')",
    )
    .bind(&rid2)
    .execute(hub.state.store.pool())
    .await
    .unwrap();
    let staging = hub.dir.path().join("data/lake/staging/half-built");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join("ER_PRS_F.parquet"), b"PAR1 half").unwrap();
    // The hub starts again on the same data directory.
    let mut cfg = hdh_server::Config::new(hub.dir.path().join("data"));
    cfg.database_url = hub.database_url.clone();
    let state = hdh_server::AppState::open(cfg).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(hdh_server::serve(state.clone(), listener));
    let again = Hub {
        base,
        database_url: hub.database_url.clone(),
        dir: tempfile::tempdir().unwrap(),
        http: reqwest::Client::new(),
        state,
    };
    for _ in 0..50 {
        if again.http.get(again.url("/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!staging.exists(), "staging is removed at start");
    let a = again.login("authority").await;
    let r = again.get(Some(&a), &format!("/api/requests/{rid2}")).await;
    assert_eq!(r.body["request"]["state"], "authorised");
    assert_eq!(r.body["project"], Value::Null);
    assert_eq!(r.body["provisioning"]["state"], "failed", "{}", r.body);
    assert!(!hub.dir.path().join("data/lake/projects/p-crashed").exists());
    let sec = again.login("security").await;
    let failed = again
        .get(
            Some(&sec),
            "/api/audit?action=workspace.provision&outcome=failed",
        )
        .await;
    assert!(!failed.body["events"].as_array().unwrap().is_empty());
    // The first project is untouched and still answers.
    let r1 = again.login("researcher").await;
    assert_eq!(
        again
            .post(
                Some(&r1),
                &format!("/api/projects/{p}/query"),
                json!({ "sql": "SELECT COUNT(*) FROM IR_BEN_R" })
            )
            .await
            .status,
        StatusCode::OK
    );
    // The authority retries; the job builds the workspace.
    let retry = again
        .post(
            Some(&a),
            &format!("/api/requests/{rid2}/actions"),
            json!({ "action": "provision" }),
        )
        .await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    let done = again.provisioned(&a, &rid2).await;
    assert_eq!(done.body["request"]["state"], "active", "{}", done.body);
    let _ = rid;
}
