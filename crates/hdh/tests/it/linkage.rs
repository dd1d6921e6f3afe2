//! Linkage in the hub (issue 9): a job between the demo cohort and the demo
//! SNDS beneficiaries produces a versioned link table with its quality
//! report (measured on the participants who gave their identifier), its
//! clerical review and drawings; once published, provisioning links the
//! cohort's participants to their SNDS records in a project's workspace.

use crate::support::{Db, Hub, PERSONS, start};
use reqwest::StatusCode;
use serde_json::{Value, json};

const PARTICIPANTS: u64 = 300;

async fn run_job(hub: &Hub, admin: &str, input: &Value) -> Value {
    let r = hub
        .post(Some(admin), "/api/linkage/jobs", input.clone())
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.body["job"]["id"].as_str().unwrap().to_string();
    let j = hdh_server::linkage::wait_for(&hub.state, &id, std::time::Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(j.state, "done", "{:?}", j.error);
    let r = hub
        .get(Some(admin), &format!("/api/linkage/jobs/{id}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

#[tokio::test]
async fn a_cohort_is_linked_reviewed_published_and_provisioned() {
    let hub = start(Db::Sqlite).await;
    let n = hdh_server::seed::seed_demo_cohort(&hub.state, PERSONS, PARTICIPANTS)
        .await
        .unwrap();
    assert_eq!(n, PARTICIPANTS);
    let admin = hub.login("admin").await;
    let researcher = hub.login("researcher").await;
    let demo = serde_json::to_value(hdh_server::linkage::demo_input()).unwrap();

    // Linkage is the data team's: anyone else is refused, and it is audited.
    let r = hub.get(Some(&researcher), "/api/linkage/jobs").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = hub
        .post(Some(&researcher), "/api/linkage/jobs", demo.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Mistakes are named before any work.
    let mut bad = demo.clone();
    bad["settings"] = json!(
        demo["settings"]
            .as_str()
            .unwrap()
            .replace("threshold = 0.9", "threshold = 2")
    );
    let r = hub.post(Some(&admin), "/api/linkage/jobs", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.to_string().contains("threshold"), "{}", r.body);
    let mut bad = demo.clone();
    bad["left"]["columns"]["commune"] = json!(["DPT_RESIDENCE", "NO_SUCH"]);
    let r = hub.post(Some(&admin), "/api/linkage/jobs", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.to_string().contains("left.columns.commune"),
        "{}",
        r.body
    );
    let mut bad = demo.clone();
    bad["right"]["id_column"] = json!("BEN_NAI_ANN");
    let r = hub.post(Some(&admin), "/api/linkage/jobs", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.body.to_string().contains("not a person identifier"),
        "{}",
        r.body
    );
    let mut bad = demo.clone();
    bad["settings"] = json!(demo["settings"].as_str().unwrap().replace(
        "columns = [\"birth_month\"]\nlevels",
        "columns = [\"birth_day\"]\nlevels"
    ));
    let r = hub.post(Some(&admin), "/api/linkage/jobs", bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body.to_string().contains("birth_day"), "{}", r.body);

    // The job: a link table with its report.
    let body = run_job(&hub, &admin, &demo).await;
    let job = &body["job"];
    let id = job["id"].as_str().unwrap().to_string();
    assert_eq!(job["version"], 1);
    let q = &job["report"]["quality"];
    assert_eq!(q["left_records"], PARTICIPANTS);
    assert_eq!(q["right_records"], PERSONS);
    let links = q["links"].as_u64().unwrap();
    assert_eq!(job["links"].as_u64().unwrap(), links);
    // 85 % of the participants are among the demo's persons.
    assert!((200..=320).contains(&links), "{links} links");
    let measured = &q["measured"];
    let with_truth = job["report"]["with_truth"].as_u64().unwrap();
    assert!(with_truth >= 50, "{with_truth} participants gave their NIR");
    assert!(measured["precision"].as_f64().unwrap() >= 0.9, "{measured}");
    assert!(measured["recall"].as_f64().unwrap() >= 0.8, "{measured}");
    let est = q["estimated_precision"].as_f64().unwrap();
    assert!((0.8..=1.0).contains(&est), "estimated precision {est}");
    // The model learnt that agreeing on the birth month is evidence.
    let month = job["report"]["model"]["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "birth_month")
        .unwrap();
    assert!(month["m"][0].as_f64().unwrap() > 10.0 * month["u"][0].as_f64().unwrap());

    // The link table: Parquet in the lake, as many rows as links, the
    // SHA-256 recorded.
    let path = hub.lake().join(job["links_path"].as_str().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        job["links_sha256"]
    );
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows as u64, links);

    // Clerical review: a pair of the sample is labelled; another is not.
    let review = job["report"]["review"].as_array().unwrap();
    assert!(!review.is_empty(), "uncertain pairs to review");
    let pair = &review[0];
    assert!(
        pair["terms"].as_array().unwrap().len() == 5,
        "prior + 4 comparisons"
    );
    let total: f64 = pair["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["weight"].as_f64().unwrap())
        .sum();
    assert!(
        (total - pair["weight"].as_f64().unwrap()).abs() < 1e-6,
        "the waterfall adds up"
    );
    let label = |l: &str, left: &Value, right: &Value| json!({ "left_id": left, "right_id": right, "label": l });
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/linkage/jobs/{id}/labels"),
            label("match", &pair["left_id"], &pair["right_id"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/linkage/jobs/{id}/labels"),
            label("match", &pair["left_id"], &json!("0".repeat(32))),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/linkage/jobs/{id}/labels"),
            label("maybe", &pair["left_id"], &pair["right_id"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let r = hub
        .get(Some(&admin), &format!("/api/linkage/jobs/{id}"))
        .await;
    assert_eq!(r.body["labels"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["reviewed"]["labelled"], 1);

    // The page: the report, the model and the waterfalls drawn, the
    // numbers behind them as tables; not for a researcher.
    let (status, html) = hub
        .page(Some(&admin), &format!("/linkage/{id}?lang=en"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"measured\"") && html.contains("id=\"m-u\""));
    assert!(
        html.matches("<svg").count() >= 2 + review.len().min(1),
        "drawings"
    );
    assert!(html.contains("id=\"model-table\"") && html.contains("id=\"weights-table\""));
    assert!(html.contains("id=\"pair-1\"") && html.contains("data-label=\"match\""));
    let (status, html) = hub.page(Some(&admin), "/linkage?lang=fr").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("cohort-demo-snds") && html.contains("Appariements"));
    let (status, _) = hub.page(Some(&researcher), &format!("/linkage/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Published once; the same name again is version 2.
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/linkage/jobs/{id}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/linkage/jobs/{id}/publish"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // Provisioning: a project asking for both datasets gets the linked
    // participants under their SNDS person's project pseudonym.
    let scope = json!([
        { "dataset_id": "cohort-demo", "table": "COHORTE", "columns": ["ID_PARTICIPANT", "ANNEE_NAISSANCE", "DATE_INCLUSION"] },
        { "dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_NIR_PSA", "BEN_RNG_GEM", "BEN_NAI_ANN"] },
    ]);
    let (_, project) = hub.project_with("researcher", scope, json!({})).await;
    let r = hub
        .query(
            &researcher,
            &project,
            "SELECT COUNT(DISTINCT c.ID_PARTICIPANT) AS n, SUM(CASE WHEN c.ANNEE_NAISSANCE = b.BEN_NAI_ANN THEN 1 ELSE 0 END) AS same_year FROM COHORTE c JOIN IR_BEN_R b ON c.ID_PARTICIPANT = b.BEN_NIR_PSA",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let row = &r.body["result"]["rows"][0];
    let joined: u64 = row[0]
        .as_str()
        .map(|s| s.parse().unwrap())
        .unwrap_or_else(|| row[0].as_u64().unwrap());
    assert!(
        joined >= 200,
        "{joined} participants joined their SNDS record: {}",
        r.body
    );
    let x = hub
        .get(
            Some(&researcher),
            &format!("/api/projects/{project}/extraction"),
        )
        .await;
    let used = x.body.to_string();
    assert!(
        used.contains("cohort-demo-snds"),
        "the extraction names the link table: {used}"
    );

    let v2 = run_job(&hub, &admin, &demo).await;
    assert_eq!(v2["job"]["version"], 2);
    // Same inputs, same link table.
    assert_eq!(v2["job"]["links_sha256"], job["links_sha256"]);

    // Every step left its audit event.
    let audit = hub
        .get(Some(&hub.login("security").await), "/api/audit?limit=1000")
        .await;
    let text = audit.body.to_string();
    for action in [
        "linkage.create",
        "linkage.run",
        "linkage.label",
        "linkage.publish",
    ] {
        assert!(text.contains(action), "no {action} in the audit trail");
    }
    assert!(text.contains("\"outcome\":\"denied\"") && text.contains("linkage.list"));
}
