//! Account security (issue 11): sessions that end when idle and that their
//! holder lists and ends, brute-force locks that tell nothing about which
//! names exist, the password policy, the CSRF header of cookie calls to the
//! API, bounded request bodies, the yearly review and suspension.

use crate::support::{Db, Hub, start_with};
use hdh_server::seed::DEMO_PASSWORD;
use reqwest::StatusCode;
use serde_json::json;

async fn login_status(hub: &Hub, user: &str, password: &str) -> (StatusCode, serde_json::Value) {
    let r = hub
        .post(
            None,
            "/api/login",
            json!({ "username": user, "password": password }),
        )
        .await;
    (r.status, r.body)
}

/// Moves a session's last use back in time (as if unused since).
async fn age_session(hub: &Hub, token: &str, minutes: i64) {
    let at = (chrono::Utc::now() - chrono::Duration::minutes(minutes))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
        .bind(at)
        .bind(hdh_server::auth::token_hash(token))
        .execute(hub.state.store.pool())
        .await
        .unwrap();
}

async fn audit_actions(hub: &Hub, action: &str) -> Vec<serde_json::Value> {
    let sec = hub.login("security").await;
    let r = hub
        .get(Some(&sec), &format!("/api/audit?action={action}&limit=500"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["events"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn sessions_end_when_idle_and_their_holder_lists_and_ends_them() {
    let hub = start_with(Db::Sqlite, |c| c.accounts.session_idle_minutes = 30).await;
    let a = hub.login("researcher").await;
    let b = hub.login("researcher").await;
    assert_ne!(a, b, "a new token at every sign-in");

    // The list: both sessions, this one marked, no token or hash in it.
    let r = hub.get(Some(&a), "/api/me/sessions").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let list = r.body["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{}", r.body);
    assert_eq!(list.iter().filter(|s| s["current"] == true).count(), 1);
    let text = r.body.to_string();
    assert!(!text.contains(&a) && !text.contains(&hdh_server::auth::token_hash(&a)));

    // Idle past the limit: the session is gone, and its end audited.
    age_session(&hub, &b, 31).await;
    assert_eq!(
        hub.get(Some(&b), "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(hub.get(Some(&a), "/api/me").await.status, StatusCode::OK);
    let ends = audit_actions(&hub, "auth.session_end").await;
    assert!(
        ends.iter().any(|e| e["details"]["reason"] == "idle"),
        "{ends:?}"
    );
    // Used within the limit: still alive.
    age_session(&hub, &a, 29).await;
    assert_eq!(hub.get(Some(&a), "/api/me").await.status, StatusCode::OK);

    // Ending one session by its id, then all the others.
    let c = hub.login("researcher").await;
    let d = hub.login("researcher").await;
    let list = hub.get(Some(&a), "/api/me/sessions").await.body["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 3);
    let other = list.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = hub
        .delete(Some(&a), &format!("/api/me/sessions/{other}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Someone else's session id is not theirs to end.
    let other_user = hub.login("researcher2").await;
    let r = hub
        .delete(Some(&other_user), &format!("/api/me/sessions/{other}"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let list = hub.get(Some(&a), "/api/me/sessions").await.body["sessions"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(list.len(), 2, "one ended: {list:?}");
    assert!(list.iter().all(|s| s["id"] != other.as_str()));
    let r = hub
        .post(Some(&a), "/api/me/sessions/end-all", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for t in [&c, &d] {
        assert_eq!(
            hub.get(Some(t), "/api/me").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(hub.get(Some(&a), "/api/me").await.status, StatusCode::OK);
    assert_eq!(
        hub.get(Some(&other_user), "/api/me").await.status,
        StatusCode::OK,
        "another user's sessions are untouched"
    );
    let r = hub
        .post(
            Some(&a),
            "/api/me/sessions/end-all",
            json!({ "this_one_too": true }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        hub.get(Some(&a), "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    // The account page lists the sessions (the browser's own marked).
    let t = hub.login("researcher").await;
    let (status, html) = hub.page(Some(&t), "/account").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"session-list\"") && html.contains("class=\"current\""));
}

#[tokio::test]
async fn repeated_failures_lock_a_name_or_an_address_and_tell_nothing_more() {
    let hub = start_with(Db::Sqlite, |c| {
        c.accounts.max_failures_per_account = 3;
        c.accounts.max_failures_per_address = 8;
    })
    .await;
    // An existing name and a name that does not exist answer alike, failure
    // after failure, then both are locked alike.
    for name in ["checker", "no-such-person"] {
        for _ in 0..3 {
            let (s, b) = login_status(&hub, name, "wrong-password").await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            assert_eq!(b["error"]["message"], "unknown user or wrong password");
        }
        let (s, b) = login_status(&hub, name, "wrong-password").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("try again in"),
            "{b}"
        );
    }
    // The locked account: even the right password waits (no oracle).
    let (s, _) = login_status(&hub, "checker", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // The address: 6 failures so far; two more on other names lock it for
    // every name, the right password included.
    for name in ["x1", "x2"] {
        let (s, _) = login_status(&hub, name, "nope").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = login_status(&hub, "researcher", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // The names typed are not kept in clear with the failures.
    let names: Vec<String> = sqlx::query_scalar("SELECT name_hash FROM sign_in_failures")
        .fetch_all(hub.state.store.pool())
        .await
        .unwrap();
    assert_eq!(names.len(), 8);
    assert!(
        names
            .iter()
            .all(|n| n.len() == 64 && !n.contains("checker"))
    );
    // The window over, sign-in works again (failures moved back in time).
    sqlx::query("UPDATE sign_in_failures SET at = '2000-01-01T00:00:00.000000Z'")
        .execute(hub.state.store.pool())
        .await
        .unwrap();
    let (s, b) = login_status(&hub, "checker", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Every lock is audited as a denied sign-in with its reason.
    let events = audit_actions(&hub, "auth.sign_in").await;
    let locked = events
        .iter()
        .filter(|e| {
            e["outcome"] == "denied"
                && e["details"]["reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("too many failures"))
        })
        .count();
    assert_eq!(locked, 4, "{events:?}");
}

#[tokio::test]
async fn a_new_password_follows_the_policy_and_ends_the_other_sessions() {
    let hub = start_with(Db::Sqlite, |_| {}).await;
    let a = hub.login("researcher2").await;
    let b = hub.login("researcher2").await;
    for (current, new, field) in [
        (
            "not-my-password",
            "a long enough passphrase",
            "current_password",
        ),
        (DEMO_PASSWORD, "short", "at least 12 characters"),
        (DEMO_PASSWORD, "1qaz2wsx3edc", "most common passwords"),
        (DEMO_PASSWORD, "researcher2-is-my-name", "account's name"),
    ] {
        let r = hub
            .post(
                Some(&a),
                "/api/me/password",
                json!({ "current_password": current, "new_password": new }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(field),
            "{}",
            r.body
        );
    }
    let r = hub
        .post(
            Some(&a),
            "/api/me/password",
            json!({ "current_password": DEMO_PASSWORD, "new_password": "four words make a passphrase" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(hub.get(Some(&a), "/api/me").await.status, StatusCode::OK);
    assert_eq!(
        hub.get(Some(&b), "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&hub, "researcher2", DEMO_PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&hub, "researcher2", "four words make a passphrase")
            .await
            .0,
        StatusCode::OK
    );
    // Neither password is anywhere in the store's file.
    let db = std::fs::read(hub.data_dir().join("hdh.db")).unwrap();
    let db = String::from_utf8_lossy(&db);
    assert!(!db.contains("four words make a passphrase"));
}

#[tokio::test]
async fn cookie_calls_to_the_api_need_the_csrf_header_and_bodies_are_bounded() {
    let hub = start_with(Db::Sqlite, |c| c.max_request_bytes = 64 * 1024).await;
    let token = hub.login("researcher").await;
    let cookie = format!("{}={token}", hdh_server::auth::COOKIE);
    // A read with the cookie alone is fine; a change is not, without the
    // header; with it, it is.
    let r = hub
        .http
        .get(hub.url("/api/me/sessions"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let post = |csrf: Option<String>| {
        let mut rq = hub
            .http
            .post(hub.url("/api/me/sessions/end-all"))
            .header("Cookie", &cookie)
            .json(&json!({}));
        if let Some(c) = csrf {
            rq = rq.header("X-CSRF-Token", c);
        }
        rq.send()
    };
    assert_eq!(post(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        post(Some("forged".into())).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let r = post(Some(hdh_server::auth::csrf_of(&token))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // The CSRF token is stored nowhere.
    let stored: Vec<String> = sqlx::query_scalar("SELECT csrf_token FROM sessions")
        .fetch_all(hub.state.store.pool())
        .await
        .unwrap();
    assert!(stored.iter().all(String::is_empty), "{stored:?}");

    // A body over the limit: 413 before it is read (declared length) and
    // while it is read (streamed without a length).
    let big = "x".repeat(100 * 1024);
    let r = hub
        .http
        .post(hub.url("/api/login"))
        .header("Content-Type", "application/json")
        .body(format!("{{\"username\":\"{big}\",\"password\":\"p\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 65536"),
        "{v}"
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..2).map(|_| Ok(big.clone().into_bytes())).collect();
    let r = hub
        .http
        .post(hub.url("/api/login"))
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The routes of deliveries keep their own, larger limit.
    let cfg = &hub.state.config;
    assert_eq!(
        hdh_server::body_limit(cfg, "/api/datasets/snds-demo/deliveries"),
        cfg.max_upload_bytes
    );
    assert_eq!(hdh_server::body_limit(cfg, "/api/requests"), 64 * 1024);
}

#[tokio::test]
async fn accounts_overdue_for_review_are_listed_then_suspended() {
    let hub = start_with(Db::Sqlite, |c| {
        c.accounts.review_every_days = 365;
        c.accounts.review_grace_days = 30;
    })
    .await;
    let admin = hub.login("admin").await;
    let committee = hub.login("committee").await;
    // Only an administrator sees the list.
    let r = hub.get(Some(&committee), "/api/admin/accounts").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let set_created = |user: &'static str, days: i64| {
        let at = (chrono::Utc::now() - chrono::Duration::days(days))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        sqlx::query("UPDATE users SET created_at = $1 WHERE username = $2")
            .bind(at)
            .bind(user)
            .execute(hub.state.store.pool())
    };
    // The committee member: never reviewed, created 400 days ago (overdue
    // past the grace); the authority: 370 days (overdue, within grace).
    set_created("committee", 400).await.unwrap();
    set_created("authority", 370).await.unwrap();
    let r = hub.get(Some(&admin), "/api/admin/accounts").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let accounts = r.body["accounts"].as_array().unwrap();
    let overdue: Vec<&str> = accounts
        .iter()
        .filter(|a| a["overdue"] == true)
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(overdue.len(), 2, "{overdue:?}");
    assert!(overdue.contains(&"committee") && overdue.contains(&"authority"));
    assert_eq!(accounts[0]["overdue"], true, "overdue accounts first");

    // The sweep suspends the one past the grace: its session ends, it can
    // no longer sign in, and the suspension is audited.
    let names = hdh_server::account::suspend_overdue(&hub.state)
        .await
        .unwrap();
    assert_eq!(names, vec!["committee".to_string()]);
    assert_eq!(
        hub.get(Some(&committee), "/api/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let (s, b) = login_status(&hub, "committee", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("yearly review overdue")
    );
    // A wrong password on a suspended account says no more than usual.
    let (s, b) = login_status(&hub, "committee", "wrong-password").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{b}");
    let events = audit_actions(&hub, "account.suspend").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["details"]["reason"], "yearly review overdue");

    // Reviewed: the suspension lifts and the next review is a year away.
    let uid = accounts
        .iter()
        .find(|a| a["username"] == "committee")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/admin/accounts/{uid}/review"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        login_status(&hub, "committee", DEMO_PASSWORD).await.0,
        StatusCode::OK
    );
    assert!(
        hdh_server::account::suspend_overdue(&hub.state)
            .await
            .unwrap()
            .is_empty()
    );

    // Suspension by hand: a reason is required; the admin cannot suspend
    // themself; the page lists the accounts with their state.
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/admin/accounts/{uid}/suspend"),
            json!({ "reason": " " }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = hub
        .post(
            Some(&admin),
            &format!("/api/admin/accounts/{uid}/suspend"),
            json!({ "reason": "left the committee" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (s, b) = login_status(&hub, "committee", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("left the committee")
    );
    let (status, html) = hub.page(Some(&admin), "/admin/accounts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("data-account=\"committee\"") && html.contains("data-state=\"suspended\"")
    );
    let researcher = hub.login("researcher").await;
    let (status, _) = hub.page(Some(&researcher), "/admin/accounts").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn behind_https_browsers_are_told_to_stay_on_it() {
    let plain = start_with(Db::Sqlite, |_| {}).await;
    let r = plain.http.get(plain.url("/health")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
    let https = start_with(Db::Sqlite, |c| c.secure_cookies = true).await;
    let r = https
        .http
        .get(https.url("/catalogue"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000; includeSubDomains"
    );
}

#[tokio::test]
async fn the_terms_of_use_come_before_anything_else_and_again_when_they_change() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("terms.md");
    std::fs::write(&own, "# Our terms\n\n## 1. Be good\n\nUse the data well.\n").unwrap();
    let terms = hdh_server::terms::Terms::from_files(&own, None).unwrap();
    let version = terms.version.clone();
    let hub = start_with(Db::Sqlite, move |c| c.terms = terms.clone()).await;

    // The public text and its version; the sign-in says they are not accepted.
    let t = hub.get(None, "/api/terms?lang=fr").await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["version"], version.as_str());
    assert!(
        t.body["text"]
            .as_str()
            .unwrap()
            .contains("Use the data well.")
    );
    let (s, b) = login_status(&hub, "researcher", DEMO_PASSWORD).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["terms"], json!({ "version": version, "accepted": false }));
    let token = b["token"].as_str().unwrap().to_string();

    // Until accepted: nothing but the terms, who one is, and signing out.
    let r = hub.get(Some(&token), "/api/requests").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "terms_not_accepted");
    assert_eq!(
        hub.get(Some(&token), "/api/me").await.status,
        StatusCode::OK
    );
    let page = hub
        .http
        .get(hub.url("/requests"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(page.url().path(), "/terms", "redirected to the terms");
    let (s, html) = hub.page(Some(&token), "/terms").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains("id=\"terms-required\"") && html.contains("<h2>1. Be good</h2>"),
        "{html}"
    );

    // Another version than the current one (read before a change): refused.
    let r = hub
        .post(
            Some(&token),
            "/api/me/terms",
            json!({ "version": "0123456789abcdef" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert_eq!(r.body["error"]["code"], "terms_changed");
    let r = hub
        .post(Some(&token), "/api/me/terms", json!({ "version": version }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        hub.get(Some(&token), "/api/requests").await.status,
        StatusCode::OK
    );
    let (_, b) = login_status(&hub, "researcher", DEMO_PASSWORD).await;
    assert_eq!(b["terms"]["accepted"], true);
    let (_, html) = hub.page(Some(&token), "/account").await;
    assert!(html.contains(&format!("<code>{version}</code>")), "{html}");

    // Accepted, audited with the version.
    let events = audit_actions(&hub, "auth.terms_accept").await;
    let mine: Vec<_> = events
        .iter()
        .filter(|e| e["actor_name"] == "researcher")
        .collect();
    assert_eq!(mine.len(), 1, "{events:?}");
    assert_eq!(mine[0]["details"]["version"], version.as_str());

    // The terms change (here: the version accepted is an older one): the
    // account is asked again, told that they changed.
    sqlx::query("UPDATE users SET terms_version = 'older' WHERE username = 'researcher'")
        .execute(hub.state.store.pool())
        .await
        .unwrap();
    let r = hub.get(Some(&token), "/api/requests").await;
    assert_eq!(r.body["error"]["code"], "terms_not_accepted");
    let (_, html) = hub.page(Some(&token), "/terms?lang=en").await;
    assert!(html.contains("The terms of use changed"), "{html}");
}

#[tokio::test]
async fn a_request_sent_too_slowly_is_cut_off() {
    let hub = start_with(Db::Sqlite, |c| {
        c.request_timeout = std::time::Duration::from_secs(1)
    })
    .await;
    let token = hub.login("researcher").await;
    // A body that trickles in: the first bytes, then nothing for 3 s (had
    // it been waited for, the answer would be the form's 422).
    use futures::StreamExt;
    let chunks = futures::stream::iter(0..2).then(|i| async move {
        if i == 1 {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        }
        Ok::<_, std::io::Error>(if i == 0 {
            b"{\"title\":".to_vec()
        } else {
            b"\"x\"}".to_vec()
        })
    });
    let r = hub
        .http
        .post(hub.url("/api/requests"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_TIMEOUT);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "timeout", "{v}");
    // The hub goes on answering.
    assert_eq!(
        hub.get(Some(&token), "/api/me").await.status,
        StatusCode::OK
    );
    // Deliveries have no time limit; workspace queries their own.
    let cfg = &hub.state.config;
    assert_eq!(
        hdh_server::time_limit(cfg, "/api/datasets/x/deliveries"),
        None
    );
    assert_eq!(
        hdh_server::time_limit(cfg, "/api/projects/p-1/query"),
        Some(cfg.workspace_limits.timeout + std::time::Duration::from_secs(30))
    );
    assert_eq!(
        hdh_server::time_limit(cfg, "/api/requests"),
        Some(std::time::Duration::from_secs(1))
    );
}
