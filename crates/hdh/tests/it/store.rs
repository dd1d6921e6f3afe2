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
}

#[tokio::test]
async fn store_suite_sqlite() {
    suite(Db::Sqlite).await;
}

#[tokio::test]
async fn store_suite_postgres() {
    suite(Db::Postgres).await;
}
