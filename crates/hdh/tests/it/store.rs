//! The metadata store's own suite, run against SQLite and PostgreSQL alike.

use crate::support::{Db, database_url};
use hdh_model::{AccessRequestState, AuditEvent, Outcome, Role};
use hdh_store::{AccessRequest, AuditFilter, NewUser, ScopeItem, Store, StoreError};

async fn open(db: Db) -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(db, dir.path()).await;
    // Connecting twice applies the migrations once.
    Store::connect(&url).await.unwrap();
    (Store::connect(&url).await.unwrap(), dir)
}

async fn suite(db: Db) {
    let (store, _dir) = open(db).await;

    // A change without an audit event is refused and rolled back.
    let mut tx = store.begin().await.unwrap();
    let u = NewUser {
        username: "alice".into(),
        display_name: "Alice".into(),
        organisation: "CHU".into(),
        roles: vec![Role::Researcher, Role::Checker],
        password: "correct horse".into(),
    };
    tx.insert_user(&u).await.unwrap();
    assert!(matches!(
        tx.commit().await,
        Err(StoreError::UnauditedChange)
    ));
    assert!(store.user_by_name("alice").await.unwrap().is_none());

    // With its audit event it commits, atomically with the event.
    let mut tx = store.begin().await.unwrap();
    let alice = tx.insert_user(&u).await.unwrap();
    tx.audit(&AuditEvent::new("account.create", "user").object(&alice.id))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let got = store.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(got.roles, vec![Role::Researcher, Role::Checker]);
    assert!(
        got.password_hash.starts_with("$argon2id$"),
        "Argon2id, never the password"
    );
    assert!(hdh_store::verify_password(
        &got.password_hash,
        "correct horse"
    ));
    assert!(!hdh_store::verify_password(&got.password_hash, "wrong"));

    // Duplicate usernames conflict.
    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_user(&u).await,
        Err(StoreError::Conflict(_))
    ));
    tx.rollback().await.unwrap();

    // Sessions: found while live, gone once expired and swept.
    let session = |hash: &str, expires: &str| hdh_store::SessionRecord {
        token_hash: hash.into(),
        user_id: alice.id.clone(),
        csrf_token: "c".into(),
        created_at: hdh_store::now(),
        expires_at: expires.into(),
        id: format!("s-{hash}"),
        last_seen_at: hdh_store::now(),
        client_addr: "127.0.0.1".into(),
        user_agent: "test".into(),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_session(&session("live", "2999-01-01T00:00:00Z"))
        .await
        .unwrap();
    tx.insert_session(&session("old", "2000-01-01T00:00:00Z"))
        .await
        .unwrap();
    tx.audit(&AuditEvent::new("auth.sign_in", "session"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(store.session("live").await.unwrap().is_some());
    assert!(
        store.session("old").await.unwrap().is_none(),
        "an expired session is not accepted"
    );
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.delete_expired_sessions().await.unwrap(), 1);
    tx.rollback().await.unwrap();

    // A request round-trips, state and scope included.
    let r = AccessRequest {
        id: "r1".into(),
        applicant_id: alice.id.clone(),
        title: "t".into(),
        purpose: "p".into(),
        public_interest: "q".into(),
        scope: vec![ScopeItem {
            dataset_id: "d".into(),
            table: "T".into(),
            columns: vec!["A".into(), "B".into()],
            version: Some(1),
        }],
        period_start: "2022-01-01".into(),
        period_end: "2022-12-31".into(),
        duration_months: 12,
        state: AccessRequestState::EthicsReview,
        created_at: hdh_store::now(),
        updated_at: hdh_store::now(),
        details: hdh_model::RequestDetails {
            summary_public: "résumé".into(),
            team: vec![hdh_model::request::TeamMember {
                name: "Ada".into(),
                role: "statistician".into(),
                organisation: "Inserm".into(),
                username: None,
            }],
            ..Default::default()
        },
        route: "reference_methodology".into(),
        amends: Some("r0".into()),
    };
    let mut tx = store.begin().await.unwrap();
    tx.save_request(&r).await.unwrap();
    tx.audit(&AuditEvent::new("request.create", "access_request").object("r1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let back = store.request("r1").await.unwrap().unwrap();
    assert_eq!(back.state, AccessRequestState::EthicsReview);
    assert_eq!(back.details, r.details);
    assert_eq!(back.route, "reference_methodology");
    assert_eq!(back.amends.as_deref(), Some("r0"));
    assert_eq!(back.scope, r.scope);

    // Audit events come back newest first, filtered.
    store
        .audit(
            &AuditEvent::new("workspace.query", "project")
                .project("p1")
                .outcome(Outcome::Denied),
        )
        .await
        .unwrap();
    let all = store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        [
            "workspace.query",
            "request.create",
            "auth.sign_in",
            "account.create"
        ]
    );
    let denied = store
        .audit_events(&AuditFilter {
            outcome: Some("denied".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].project_id.as_deref(), Some("p1"));
    let by_prefix = store
        .audit_events(&AuditFilter {
            action: Some("request.".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_prefix.len(), 1);
    // A hostile filter value is a bound parameter, not SQL.
    let none = store
        .audit_events(&AuditFilter {
            actor: Some("x' OR '1'='1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(none.is_empty());

    // Linkage jobs: each job of a name is its next version; labels are
    // upserted; only the newest published version of a name is used.
    let job = |id: &str, name: &str, left: &str| hdh_store::LinkageJob {
        id: id.into(),
        name: name.into(),
        version: 0,
        left_dataset: left.into(),
        right_dataset: "snds".into(),
        spec: serde_json::json!({ "left": { "key_id": "k" } }),
        state: "queued".into(),
        progress: serde_json::json!({}),
        report: serde_json::json!({}),
        links_path: String::new(),
        links_sha256: String::new(),
        links: 0,
        error: None,
        created_by: None,
        created_at: hdh_store::now(),
        finished_at: None,
        published_at: None,
        published_by: None,
    };
    let mut versions = Vec::new();
    for (id, name, left) in [
        ("l1", "c-snds", "cohort"),
        ("l2", "c-snds", "cohort"),
        ("l3", "other", "registry"),
    ] {
        let mut tx = store.begin().await.unwrap();
        versions.push(tx.insert_linkage_job(&job(id, name, left)).await.unwrap());
        tx.audit(&AuditEvent::new("linkage.create", "linkage").object(id))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(versions, vec![1, 2, 1]);
    assert_eq!(store.unfinished_linkage_jobs().await.unwrap().len(), 3);
    for id in ["l1", "l2"] {
        let mut j = store.linkage_job(id).await.unwrap().unwrap();
        j.state = "done".into();
        j.links = 7;
        j.report = serde_json::json!({ "quality": { "threshold": 0.9 } });
        j.finished_at = Some(hdh_store::now());
        let mut tx = store.begin().await.unwrap();
        tx.finish_linkage_job(&j).await.unwrap();
        assert!(
            tx.publish_linkage_job(id, "admin", &hdh_store::now())
                .await
                .unwrap()
        );
        assert!(
            !tx.publish_linkage_job(id, "admin", &hdh_store::now())
                .await
                .unwrap(),
            "published once"
        );
        tx.audit(&AuditEvent::new("linkage.publish", "linkage").object(id))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.publish_linkage_job("l3", "admin", &hdh_store::now())
            .await
            .unwrap(),
        "not done"
    );
    for label in ["match", "non_match"] {
        tx.put_link_label(&hdh_store::LinkLabel {
            job_id: "l1".into(),
            left_id: "a".into(),
            right_id: "b".into(),
            probability: 0.5,
            label: label.into(),
            labelled_by: "admin".into(),
            labelled_at: hdh_store::now(),
        })
        .await
        .unwrap();
    }
    tx.audit(&AuditEvent::new("linkage.label", "linkage").object("l1"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let labels = store.link_labels("l1").await.unwrap();
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].label, "non_match");
    assert_eq!(labels[0].probability, 0.5);
    let used = store
        .published_link_tables(&["cohort".into(), "snds".into()])
        .await
        .unwrap();
    assert_eq!(
        used.iter()
            .map(|j| (j.id.as_str(), j.version))
            .collect::<Vec<_>>(),
        vec![("l2", 2)]
    );
    assert!(
        store
            .published_link_tables(&["cohort".into()])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.linkage_jobs().await.unwrap().len(), 3);
}

#[tokio::test]
async fn store_suite_sqlite() {
    suite(Db::Sqlite).await;
}

#[tokio::test]
async fn store_suite_postgres() {
    suite(Db::Postgres).await;
}
