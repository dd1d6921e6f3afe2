//! The desk's clocks and queue through the API (the working-day arithmetic
//! itself is tested on known dates in `hdh-desk`).

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Db, Hub, start};

/// Creates a draft request as `token`; returns its id.
async fn draft(hub: &Hub, token: &str, title: &str, purpose: &str) -> String {
    let mut details = crate::support::details();
    details["summary_public"] = json!(purpose);
    let created = hub
        .post(
            Some(token),
            "/api/requests",
            json!({
                "title": title,
                "purpose": purpose,
                "public_interest": "Better care.",
                "scope": [{"dataset_id": "snds-demo", "table": "IR_BEN_R", "columns": ["BEN_SEX_COD", "BEN_NAI_ANN"]}],
                "period_start": "2021-01-01",
                "period_end": "2022-12-31",
                "duration_months": 24,
                "details": details,
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["request"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_review_step_has_a_clock_and_the_queue_is_sorted_by_deadline() {
    let hub = start(Db::Sqlite).await;
    let researcher = hub.login("researcher").await;
    let secretariat = hub.login("secretariat").await;
    let mut ids = Vec::new();
    for title in ["Cohorte diabète", "Parcours AVC"] {
        ids.push(draft(&hub, &researcher, title, "Describe care pathways.").await);
    }
    // A draft has no clock; submitted, the completeness check's starts.
    let r = hub
        .get(Some(&researcher), &format!("/api/requests/{}", ids[0]))
        .await;
    assert_eq!(r.body["clocks"], json!([]), "{}", r.body);
    for id in &ids {
        assert_eq!(
            hub.act(&researcher, id, "submit", None).await.status,
            StatusCode::OK
        );
    }
    let r = hub
        .get(Some(&researcher), &format!("/api/requests/{}", ids[0]))
        .await;
    let clock = &r.body["clocks"][0];
    assert_eq!(clock["step"], "submitted", "{}", r.body);
    assert_eq!(clock["owner"], "secretariat");
    assert_eq!(clock["limit_days"], 7);
    assert_eq!(clock["used_days"], 0);
    assert_eq!(clock["state"], "on_time");
    assert!(clock["deadline"].is_string());

    // The request's page shows its clocks; the secretariat's list, its queue.
    let (_, html) = hub
        .page(Some(&researcher), &format!("/requests/{}", ids[0]))
        .await;
    assert!(html.contains("id=\"clocks\""), "no clocks on the page");
    assert!(html.contains("0 / 7"));
    let (_, html) = hub.page(Some(&secretariat), "/requests").await;
    assert!(html.contains("clock on_time"), "no clock in the queue");

    // The secretariat's queue holds both; the applicant's holds nothing.
    let q = hub.get(Some(&secretariat), "/api/desk/queue").await;
    assert_eq!(q.status, StatusCode::OK);
    let queued: Vec<&str> = q.body["queue"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["request"]["id"].as_str().unwrap())
        .collect();
    assert!(
        ids.iter().all(|id| queued.contains(&id.as_str())),
        "{}",
        q.body
    );
    assert!(
        q.body["queue"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["clock"]["owner"] == "secretariat")
    );
    let q = hub.get(Some(&researcher), "/api/desk/queue").await;
    assert_eq!(q.body["queue"], json!([]));
    assert_eq!(
        hub.get(None, "/api/desk/queue").await.status,
        StatusCode::UNAUTHORIZED
    );

    // Sent back: the clock stops, and the request leaves the queue.
    let sent = hub
        .act(
            &secretariat,
            &ids[0],
            "send_back",
            Some("Add the protocol."),
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK, "{}", sent.body);
    let r = hub
        .get(Some(&researcher), &format!("/api/requests/{}", ids[0]))
        .await;
    assert_eq!(r.body["clocks"][0]["state"], "stopped", "{}", r.body);
    let q = hub.get(Some(&secretariat), "/api/desk/queue").await;
    assert!(
        !q.body.to_string().contains(&ids[0]),
        "a sent-back request is not in the queue"
    );
    // Approved: done on time; the committee's clock starts.
    assert_eq!(
        hub.act(&secretariat, &ids[1], "approve", None).await.status,
        StatusCode::OK
    );
    let r = hub
        .get(Some(&researcher), &format!("/api/requests/{}", ids[1]))
        .await;
    assert_eq!(r.body["clocks"][0]["state"], "done_on_time", "{}", r.body);
    assert_eq!(r.body["clocks"][1]["step"], "ethics_review");
    assert_eq!(r.body["clocks"][1]["owner"], "committee");
    assert_eq!(r.body["clocks"][1]["limit_days"], 22);

    // Delay statistics, public: the completeness check was done once (in
    // 0 working days, on time), the other request's is stopped.
    let s = hub.get(None, "/api/desk/statistics").await;
    assert_eq!(s.status, StatusCode::OK);
    let steps = s.body["statistics"]["steps"].as_array().unwrap();
    let check = steps.iter().find(|x| x["step"] == "submitted").unwrap();
    assert_eq!(check["finished"], 1, "{}", s.body);
    assert_eq!(check["median_days"], 0.0);
    assert_eq!(check["on_time_share"], 1.0);
    assert_eq!(check["limit_days"], 7);
    let ethics = steps.iter().find(|x| x["step"] == "ethics_review").unwrap();
    assert_eq!(ethics["running"], 1, "{}", s.body);
    let months = s.body["statistics"]["submitted_per_month"]
        .as_array()
        .unwrap();
    assert_eq!(months.len(), 1);
    assert_eq!(months[0][1], 2);
    let (status, html) = hub.page(None, "/desk/statistics").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("<svg") && html.contains("id=\"delays\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_public_registry_lists_every_submitted_request_and_no_draft() {
    let hub = start(Db::Sqlite).await;
    let researcher = hub.login("researcher").await;
    let purpose = "Étudier les parcours de soins après un AVC.";
    let mut ids = Vec::new();
    for title in ["Registre: brouillon privé", "Registre: cohorte publique"] {
        ids.push(draft(&hub, &researcher, title, purpose).await);
    }
    let (private, submitted) = (&ids[0], &ids[1]);
    assert_eq!(
        hub.act(&researcher, submitted, "submit", None).await.status,
        StatusCode::OK
    );
    // Anonymous: JSON.
    let r = hub.get(None, "/registry.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let projects = r.body["projects"].as_array().unwrap();
    let p = projects
        .iter()
        .find(|p| p["id"] == submitted.as_str())
        .unwrap_or_else(|| panic!("submitted request missing: {}", r.body));
    assert!(
        !projects.iter().any(|p| p["id"] == private.as_str()),
        "a draft is public"
    );
    assert_eq!(p["status"], "submitted");
    assert_eq!(p["lead"], "Dr Alice Martin");
    assert_eq!(p["organisation"], "CHU de Bordeaux");
    assert_eq!(p["datasets"], json!(["snds-demo"]));
    assert_eq!(
        p["variables"],
        json!([
            "snds-demo/IR_BEN_R.BEN_SEX_COD",
            "snds-demo/IR_BEN_R.BEN_NAI_ANN"
        ])
    );
    assert!(p["submitted_on"].is_string());
    assert!(p["ethics_opinion_on"].is_null());
    // Nothing private: no account name.
    assert!(!r.body.to_string().contains("\"researcher\""));
    // Filters.
    let r = hub.get(None, "/registry.json?q=AVC+parcours").await;
    assert_eq!(
        r.body["projects"].as_array().unwrap().len(),
        1,
        "{}",
        r.body
    );
    let r = hub.get(None, "/registry.json?status=closed").await;
    assert_eq!(r.body["projects"], json!([]));
    let r = hub.get(None, "/registry.json?dataset=autre").await;
    assert_eq!(r.body["projects"], json!([]));

    // CSV, read back with a CSV parser.
    let csv_text = hub
        .http
        .get(hub.url("/registry.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rd = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rd.headers().unwrap().clone();
    assert_eq!(&headers[0], "id");
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let row = rows.iter().find(|r| &r[0] == submitted.as_str()).unwrap();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&row[col("title")], "Registre: cohorte publique");
    assert_eq!(&row[col("status")], "submitted");
    assert!(!rows.iter().any(|r| &r[0] == private.as_str()));

    // Atom, read back with an Atom parser.
    let atom = hub
        .http
        .get(hub.url("/registry.atom"))
        .send()
        .await
        .unwrap();
    assert!(
        atom.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let feed: atom_syndication::Feed = atom.text().await.unwrap().parse().unwrap();
    assert!(
        feed.entries()
            .iter()
            .any(|e| e.id().ends_with(&format!("/registry/{submitted}"))
                && e.title().as_str().contains("cohorte publique"))
    );
    assert!(
        !feed
            .entries()
            .iter()
            .any(|e| e.id().ends_with(private.as_str()))
    );

    // The page, without signing in; and the dataset's page lists it.
    let (s, html) = hub.page(None, "/registry?q=cohorte").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains("Registre: cohorte publique"));
    assert!(!html.contains("brouillon privé"));
    assert!(html.contains(&format!("id=\"{submitted}\"")));
    let (_, html) = hub.page(None, "/catalogue/datasets/snds-demo").await;
    assert!(html.contains("Registre: cohorte publique"));
    assert!(!html.contains("brouillon privé"));
}
