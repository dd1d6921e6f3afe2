//! Output control through the API: tables computed from the workspace's
//! microdata and checked on their contributions, the attacks that
//! DataSHIELD's tracker documents (dsBase#250 mask vector, dsBase#251
//! differencing) and others blocked by the release ledger, the file types
//! that may leave, independent checkers, and a changed file resetting its
//! reviews.

use crate::support::{Db, Hub, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn scope() -> Value {
    json!([
        { "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_NAI_ANN", "BEN_RES_DPT"] },
        { "dataset_id": "snds-demo", "table": "ER_PRS_F", "columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_NAT_REF", "PRS_PAI_MNT"] },
    ])
}

fn table(name: &str, sql: &str, rows: &[&str], agg: &str, value: Option<&str>) -> Value {
    json!({ "kind": "table", "name": name, "description": format!("{name}: a test table"),
            "sql": sql, "rows": rows, "agg": agg, "value": value })
}

struct Desk<'a> {
    hub: &'a Hub,
    researcher: String,
    checker: String,
    checker2: String,
    project: String,
}

impl Desk<'_> {
    async fn draft(&self, description: &str) -> String {
        let r = self
            .hub
            .post(
                Some(&self.researcher),
                &format!("/api/projects/{}/releases", self.project),
                json!({ "description": description }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["release"]["id"].as_str().unwrap().to_string()
    }

    async fn add(&self, release: &str, file: Value) -> crate::support::Resp {
        self.hub
            .post(
                Some(&self.researcher),
                &format!("/api/releases/{release}/files"),
                file,
            )
            .await
    }

    /// Submits, has both checkers approve every file, releases.
    async fn release(&self, release: &str) -> Value {
        let r = self
            .hub
            .post(
                Some(&self.researcher),
                &format!("/api/releases/{release}/submit"),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let view = self
            .hub
            .get(Some(&self.checker), &format!("/api/releases/{release}"))
            .await;
        let decisions: Vec<Value> = view.body["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| json!({ "file": f["id"], "decision": "approve" }))
            .collect();
        for c in [&self.checker, &self.checker2] {
            let r = self
                .hub
                .post(
                    Some(c),
                    &format!("/api/releases/{release}/reviews"),
                    json!({ "files": decisions }),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
        let r = self
            .hub
            .post(
                Some(&self.checker),
                &format!("/api/releases/{release}/release"),
                json!({}),
            )
            .await;
        assert_eq!(r.body["release"]["state"], "released", "{}", r.body);
        r.body
    }
}

fn cell<'a>(file: &'a Value, row: &str) -> &'a Value {
    file["check"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["row"] == row)
        .unwrap_or_else(|| panic!("no cell {row} in {}", file["check"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_control_through_the_api() {
    let hub = start(Db::Sqlite).await;
    let (_, project) = hub
        .authorised_project("researcher", scope(), ("2021-01-01", "2023-12-31"))
        .await;
    let desk = Desk {
        hub: &hub,
        researcher: hub.login("researcher").await,
        checker: hub.login("checker").await,
        checker2: hub.login("checker2").await,
        project: project.clone(),
    };
    let pseudonym = hub
        .query(
            &desk.researcher,
            &project,
            "SELECT min(BEN_NIR_PSA) FROM IR_BEN_R",
        )
        .await
        .body["result"]["rows"][0][0]
        .as_str()
        .unwrap()
        .to_string();
    let sex_of = hub
        .query(
            &desk.researcher,
            &project,
            &format!("SELECT BEN_SEX_COD FROM IR_BEN_R WHERE BEN_NIR_PSA = '{pseudonym}'"),
        )
        .await
        .body["result"]["rows"][0][0]
        .as_str()
        .unwrap()
        .to_string();

    // A first release: patients by sex, and amounts paid by sex with one
    // dominant contributor (a sum over the claims of each person).
    let first = desk.draft("Patients and amounts by sex").await;
    assert_eq!(
        hub.get(Some(&desk.checker), &format!("/api/releases/{first}"))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "a draft is the author's until submitted"
    );
    let counts = desk
        .add(
            &first,
            table(
                "patients_by_sex.csv",
                "SELECT BEN_NIR_PSA, BEN_SEX_COD FROM IR_BEN_R",
                &["BEN_SEX_COD"],
                "count",
                None,
            ),
        )
        .await;
    assert_eq!(counts.status, StatusCode::CREATED, "{}", counts.body);
    assert!(
        counts.body["file"]["check"]["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["outcome"] == "ok"),
        "{}",
        counts.body
    );
    let dominated = desk
        .add(
            &first,
            table(
                "paid_by_sex.csv",
                &format!(
                    "SELECT p.BEN_NIR_PSA, b.BEN_SEX_COD, CASE WHEN p.BEN_NIR_PSA = '{pseudonym}' THEN 1e9 ELSE p.PRS_PAI_MNT END AS PAID \
                     FROM ER_PRS_F p JOIN IR_BEN_R b ON b.BEN_NIR_PSA = p.BEN_NIR_PSA"
                ),
                &["BEN_SEX_COD"],
                "sum",
                Some("PAID"),
            ),
        )
        .await;
    assert_eq!(dominated.status, StatusCode::CREATED, "{}", dominated.body);
    let c = cell(&dominated.body["file"], &sex_of);
    assert_eq!(c["outcome"], "primary", "{c}");
    assert_eq!(c["rules"], json!(["nk-dominance", "p-percent"]), "{c}");
    assert!(c["released"].is_null());
    // The dominated sum cannot leave; remove it, release the counts.
    let removed = hub
        .delete(
            Some(&desk.researcher),
            &format!("/api/releases/{first}/files/paid_by_sex.csv"),
        )
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
    desk.release(&first).await;

    // dsBase#251-style differencing: the same count, everyone but one patient.
    let second = desk.draft("Patients by sex, again").await;
    let minus_one = desk
        .add(
            &second,
            table(
                "patients_but_one.csv",
                &format!(
                    "SELECT BEN_NIR_PSA, BEN_SEX_COD FROM IR_BEN_R WHERE BEN_NIR_PSA <> '{pseudonym}'"
                ),
                &["BEN_SEX_COD"],
                "count",
                None,
            ),
        )
        .await;
    let c = cell(&minus_one.body["file"], &sex_of);
    assert_eq!(c["outcome"], "primary", "{c}");
    assert_eq!(c["rules"], json!(["differencing"]), "{c}");
    assert!(
        c["reasons"][0]
            .as_str()
            .unwrap()
            .contains(&format!("differs by 1 person from release {first}")),
        "{c}"
    );
    // dsBase#250-style mask vector: a mean over everyone of a value masked
    // down to one person.
    let masked = desk
        .add(
            &second,
            table(
                "masked_mean.csv",
                &format!(
                    "SELECT p.BEN_NIR_PSA, b.BEN_SEX_COD, CASE WHEN p.BEN_NIR_PSA = '{pseudonym}' THEN p.PRS_PAI_MNT ELSE 0 END AS M \
                     FROM ER_PRS_F p JOIN IR_BEN_R b ON b.BEN_NIR_PSA = p.BEN_NIR_PSA"
                ),
                &["BEN_SEX_COD"],
                "mean",
                Some("M"),
            ),
        )
        .await;
    assert_eq!(masked.status, StatusCode::CREATED, "{}", masked.body);
    let c = cell(&masked.body["file"], &sex_of);
    assert_eq!(c["outcome"], "primary", "{c}");
    assert!(
        c["rules"]
            .as_array()
            .unwrap()
            .contains(&json!("nonzero-threshold")),
        "{c}"
    );

    // Only tables, models, figures and text leave, checked by type.
    let refused = [
        json!({ "kind": "text", "name": "data.exe", "description": "x", "content": "MZ" }),
        json!({ "kind": "figure", "name": "f.png", "description": "x", "table": "patients_but_one.csv", "content_base64": "R0lGODlhAQABAAAAACw=" }),
        json!({ "kind": "figure", "name": "f.svg", "description": "x", "table": "patients_but_one.csv",
                "content_base64": base64(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>") }),
        json!({ "kind": "figure", "name": "f.svg", "description": "x", "table": "nope.csv",
                "content_base64": base64(b"<svg xmlns='http://www.w3.org/2000/svg'><rect width='1' height='1'/></svg>") }),
        json!({ "kind": "text", "name": "README.md", "description": "", "content": "text" }),
    ];
    for f in refused {
        let r = desk.add(&second, f.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{f}: {}",
            r.body
        );
    }
    let figure = desk
        .add(
            &second,
            json!({ "kind": "figure", "name": "bars.svg", "description": "Patients by sex, as bars", "table": "patients_but_one.csv",
                    "content_base64": base64(b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><rect width='4' height='9'/></svg>") }),
        )
        .await;
    assert_eq!(figure.status, StatusCode::CREATED, "{}", figure.body);
    // A model: its degrees of freedom come from the rows of its data.
    let coefficients = "term,estimate,std_error\n(Intercept),1.2,0.1\nBEN_SEX_COD,0.3,0.05\nBEN_NAI_ANN,-0.01,0.002\n";
    let tiny = desk
        .add(
            &second,
            json!({ "kind": "model", "name": "model.csv", "description": "A logistic model on five persons",
                    "sql": "SELECT * FROM IR_BEN_R ORDER BY BEN_NIR_PSA LIMIT 5", "coefficients": coefficients }),
        )
        .await;
    assert_eq!(tiny.status, StatusCode::CREATED, "{}", tiny.body);
    assert_eq!(tiny.body["file"]["check"]["residual_dof"], 2);
    assert_eq!(tiny.body["file"]["check"]["outcome"], "primary");
    let full = desk
        .add(
            &second,
            json!({ "kind": "model", "name": "model.csv", "description": "A logistic model on everyone",
                    "sql": "SELECT * FROM IR_BEN_R", "coefficients": coefficients }),
        )
        .await;
    assert_eq!(full.body["file"]["check"]["outcome"], "ok", "{}", full.body);

    // A checker returns a file; the author changes it; its reviews reset,
    // the other files keep theirs.
    let text = desk
        .add(
            &second,
            json!({ "kind": "text", "name": "README.md", "description": "Methods", "content": "Counts of patients." }),
        )
        .await;
    assert_eq!(text.status, StatusCode::CREATED, "{}", text.body);
    let submitted = hub
        .post(
            Some(&desk.researcher),
            &format!("/api/releases/{second}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(submitted.body["release"]["state"], "submitted");
    let view = hub
        .get(Some(&desk.checker), &format!("/api/releases/{second}"))
        .await;
    let ids: Vec<String> = view.body["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    let decisions = |ret: &str| -> Value {
        json!({ "files": ids.iter().map(|id| if id == ret {
            json!({ "file": id, "decision": "return", "comment": "say which years" })
        } else {
            json!({ "file": id, "decision": "approve" })
        }).collect::<Vec<_>>() })
    };
    let r = hub
        .post(
            Some(&desk.checker),
            &format!("/api/releases/{second}/reviews"),
            decisions(""),
        )
        .await;
    assert_eq!(
        r.body["release"]["state"], "partially_reviewed",
        "{}",
        r.body
    );
    let r = hub
        .post(
            Some(&desk.checker2),
            &format!("/api/releases/{second}/reviews"),
            decisions("README.md"),
        )
        .await;
    assert_eq!(r.body["release"]["state"], "returned", "{}", r.body);
    let changed = desk
        .add(
            &second,
            json!({ "kind": "text", "name": "README.md", "description": "Methods", "content": "Counts of patients, 2021-2023." }),
        )
        .await;
    assert_eq!(changed.status, StatusCode::CREATED);
    let r = hub
        .post(
            Some(&desk.researcher),
            &format!("/api/releases/{second}/submit"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.body["release"]["state"], "partially_reviewed",
        "{}",
        r.body
    );
    let view = hub
        .get(Some(&desk.researcher), &format!("/api/releases/{second}"))
        .await;
    assert_eq!(
        view.body["approvals"], 0,
        "the changed README needs new reviews"
    );
    // A checker may reject, with a reason; nothing of it leaves.
    let r = hub
        .post(
            Some(&desk.checker),
            &format!("/api/releases/{second}/reject"),
            json!({ "reason": "" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = hub
        .post(
            Some(&desk.checker),
            &format!("/api/releases/{second}/reject"),
            json!({ "reason": "a differencing attempt" }),
        )
        .await;
    assert_eq!(r.body["release"]["state"], "rejected", "{}", r.body);
    assert_eq!(
        hub.get(
            Some(&desk.researcher),
            &format!("/api/releases/{second}/files/README.md")
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    // The public registry counts the project's releases and queries, and
    // shows when it was last active — never what the queries were.
    let registry = hub.get(None, "/registry.json").await;
    let entry = registry.body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["releases"] == 1)
        .cloned()
        .unwrap_or_else(|| panic!("{}", registry.body));
    assert!(entry["queries"].as_i64().unwrap() >= 2, "{entry}");
    assert!(
        entry["last_activity"].as_str().unwrap().starts_with("20"),
        "{entry}"
    );
    let text = registry.body.to_string();
    assert!(
        !text.contains("SELECT") && !text.contains(&pseudonym),
        "no query text in the registry"
    );

    // A normal piece of work raised none of the behaviour alerts (the
    // watched key and account operations of the seeding, the time of day
    // and the first address aside): the rules are silent on normal use.
    let sec = hub.login("security").await;
    // Two passes of the rules (every 2 s) over everything written.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let alerts = hub.get(Some(&sec), "/api/alerts").await;
    let behaviour: Vec<&Value> = alerts.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            !["admin-and-keys", "off-hours", "new-address"].contains(&a["rule"].as_str().unwrap())
        })
        .collect();
    assert!(behaviour.is_empty(), "alerts on normal use: {behaviour:?}");
    assert!(
        !alerts.body["alerts"].as_array().unwrap().is_empty(),
        "the rules ran (the seeding's key operations are watched)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checker_cannot_review_their_own_release() {
    let hub = start(Db::Sqlite).await;
    // An account that is both a researcher and an output checker.
    hdh_server::seed::add_user(
        &hub.state,
        &hdh_store::NewUser {
            username: "both".into(),
            display_name: "Researcher and checker".into(),
            organisation: "HDH".into(),
            roles: vec![hdh_model::Role::Researcher, hdh_model::Role::Checker],
            password: hdh_server::seed::DEMO_PASSWORD.into(),
        },
        None,
    )
    .await
    .unwrap();
    let (_, project) = hub
        .authorised_project("both", scope(), ("2021-01-01", "2023-12-31"))
        .await;
    let both = hub.login("both").await;
    let r = hub
        .post(
            Some(&both),
            &format!("/api/projects/{project}/releases"),
            json!({ "description": "Own work" }),
        )
        .await;
    let id = r.body["release"]["id"].as_str().unwrap().to_string();
    let added = hub
        .post(
            Some(&both),
            &format!("/api/releases/{id}/files"),
            json!({ "kind": "text", "name": "README.md", "description": "Methods", "content": "No numbers." }),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    hub.post(
        Some(&both),
        &format!("/api/releases/{id}/submit"),
        json!({}),
    )
    .await;
    let own = hub
        .post(
            Some(&both),
            &format!("/api/releases/{id}/reviews"),
            json!({ "files": [{ "file": "README.md", "decision": "approve" }] }),
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.body);
    assert!(
        own.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot review a release of their own")
    );
    // The refusal is audited.
    let sec = hub.login("security").await;
    let audit = hub
        .get(
            Some(&sec),
            "/api/audit?action=release.review&outcome=denied",
        )
        .await;
    assert!(
        !audit.body["events"].as_array().unwrap().is_empty(),
        "{}",
        audit.body
    );
}

fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
