//! Alerts through the API: a burst of failed sign-ins raises an alert the
//! security officer sees, takes through its life cycle, all audited; others
//! cannot read alerts.

use crate::support::{Db, start};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_burst_raises_an_alert_the_security_officer_handles() {
    let hub = start(Db::Sqlite).await;
    // Five wrong passwords, then the name is locked (the sixth attempt is
    // refused without being tried): six denied sign-ins for the rule.
    for i in 0..6 {
        let r = hub
            .post(
                None,
                "/api/login",
                json!({ "username": "researcher", "password": "guess" }),
            )
            .await;
        let expected = if i < 5 {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::TOO_MANY_REQUESTS
        };
        assert_eq!(r.status, expected, "attempt {i}: {}", r.body);
    }
    let sec = hub.login("security").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let alert = loop {
        let r = hub.get(Some(&sec), "/api/alerts?state=open").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        if let Some(a) = r.body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "sign-in-failures")
        {
            break a.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no alert: {}", r.body);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    assert_eq!(alert["severity"], "high");
    assert_eq!(alert["evidence"].as_array().unwrap().len(), 6, "{alert}");
    let id = alert["id"].as_str().unwrap().to_string();
    // Only the security officer.
    let researcher = hub.login("researcher2").await;
    assert_eq!(
        hub.get(Some(&researcher), "/api/alerts").await.status,
        StatusCode::FORBIDDEN
    );
    let act = |body: serde_json::Value| {
        let (hub, sec, id) = (&hub, sec.clone(), id.clone());
        async move {
            hub.post(Some(&sec), &format!("/api/alerts/{id}/actions"), body)
                .await
        }
    };
    let r = act(json!({ "action": "acknowledge" })).await;
    assert_eq!(r.body["alert"]["state"], "acknowledged", "{}", r.body);
    assert_eq!(
        act(json!({ "action": "acknowledge" })).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        act(json!({ "action": "assign", "assignee": "nobody" }))
            .await
            .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let r = act(json!({ "action": "assign", "assignee": "security" })).await;
    assert_eq!(r.body["alert"]["state"], "assigned", "{}", r.body);
    assert_eq!(
        act(json!({ "action": "close" })).await.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "closing needs a note"
    );
    let r = act(json!({ "action": "close", "note": "the researcher forgot the password" })).await;
    assert_eq!(r.body["alert"]["state"], "closed", "{}", r.body);
    let audit = hub.get(Some(&sec), "/api/audit?action=alert.").await;
    let actions: Vec<&str> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "alert.raise",
        "alert.acknowledge",
        "alert.assign",
        "alert.close",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    // Raised once per subject (the account, the address): the engine's
    // next passes do not raise them again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let r = hub.get(Some(&sec), "/api/alerts").await;
    let mut subjects: Vec<&str> = r.body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["rule"] == "sign-in-failures")
        .map(|a| a["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        vec!["account researcher", "address 127.0.0.1"],
        "{}",
        r.body
    );
}
