//! A hub started for a test, and a small HTTP client for it.

use hdh_server::{AppState, Config};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct Hub {
    pub base: String,
    /// The store URL when it is not the default SQLite file of the data dir.
    pub database_url: Option<String>,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The running hub's state (for what a test does beside HTTP: a key
    /// rotation, the Flight SQL endpoint).
    pub state: hdh_server::AppState,
}

/// Persons in the test hub's demo dataset: small, but enough that some
/// départements have at least 10 persons and many have fewer.
pub const PERSONS: u64 = 600;

static DB_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh PostgreSQL database on the server named by `HDH_TEST_PG`
/// (default: the local server of the CI machine).
async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let base = std::env::var("HDH_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!(
        "hdh_test_{}_{}",
        std::process::id(),
        DB_COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&format!("{base}/postgres"))
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL must be running for the tests ({base}): {e}"));
    // Remove the databases of earlier test runs whose process is gone.
    let rows = sqlx::query(
        "SELECT datname::text AS datname FROM pg_database WHERE datname LIKE 'hdh_test_%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for row in rows {
        use sqlx::Row;
        let db: String = row.get(0);
        let pid = db
            .trim_start_matches("hdh_test_")
            .split('_')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db}")))
                .execute(&mut conn)
                .await;
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    format!("{base}/{name}")
}

/// The store URL of a test: a SQLite file under `dir`, or a fresh PostgreSQL database.
pub async fn database_url(db: Db, dir: &std::path::Path) -> String {
    match db {
        Db::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("store.db").display()),
        Db::Postgres => fresh_postgres().await,
    }
}

pub async fn start(db: Db) -> Hub {
    start_with(db, |_| {}).await
}

/// Starts a hub whose configuration `tweak` adjusts.
pub async fn start_with(db: Db, tweak: impl FnOnce(&mut Config)) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path().join("data"));
    tweak(&mut cfg);
    if let Db::Postgres = db {
        cfg.database_url = Some(fresh_postgres().await);
    }
    let database_url = cfg.database_url.clone();
    let state = AppState::open(cfg).await.unwrap();
    assert!(
        hdh_server::seed::seed_demo(&state, PERSONS, &mut |_, _| {})
            .await
            .unwrap()
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hdh_server::serve(state.clone(), listener));
    let hub = Hub {
        base: format!("http://{addr}"),
        database_url,
        dir,
        http: reqwest::Client::new(),
        state: state.clone(),
    };
    assert_eq!(
        hub.http
            .get(hub.url("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    hub
}

pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
}

impl Hub {
    pub fn url(&self, p: &str) -> String {
        format!("{}{}", self.base, p)
    }

    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    pub fn lake(&self) -> std::path::PathBuf {
        self.dir.path().join("data").join("lake")
    }

    pub async fn login(&self, user: &str) -> String {
        let r = self
            .post(
                None,
                "/api/login",
                json!({ "username": user, "password": hdh_server::seed::DEMO_PASSWORD }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login {user}: {}", r.body);
        let token = r.body["token"].as_str().unwrap().to_string();
        // The terms of use, accepted at the first sign-in as a person would.
        if r.body["terms"]["accepted"] == json!(false) {
            let version = r.body["terms"]["version"].clone();
            let a = self
                .post(Some(&token), "/api/me/terms", json!({ "version": version }))
                .await;
            assert_eq!(a.status, StatusCode::OK, "terms of {user}: {}", a.body);
        }
        token
    }

    /// A page's status and HTML (signed in with a bearer token if given).
    pub async fn page(&self, token: Option<&str>, p: &str) -> (StatusCode, String) {
        let mut rq = self.http.get(self.url(p));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        let r = rq.send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn get(&self, token: Option<&str>, p: &str) -> Resp {
        let mut rq = self.http.get(self.url(p));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        let r = rq.send().await.unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp { status, body }
    }

    pub async fn delete(&self, token: Option<&str>, p: &str) -> Resp {
        let mut rq = self.http.delete(self.url(p));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        let r = rq.send().await.unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp { status, body }
    }

    pub async fn post(&self, token: Option<&str>, p: &str, body: Value) -> Resp {
        let mut rq = self.http.post(self.url(p)).json(&body);
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        let r = rq.send().await.unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp { status, body }
    }

    pub async fn put(&self, token: Option<&str>, p: &str, body: Value) -> Resp {
        let mut rq = self.http.put(self.url(p)).json(&body);
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        let r = rq.send().await.unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp { status, body }
    }

    /// Delivers files (name, bytes) as multipart.
    pub async fn deliver(&self, token: &str, dataset: &str, files: Vec<(&str, Vec<u8>)>) -> Resp {
        let mut form = reqwest::multipart::Form::new();
        for (name, bytes) in files {
            form = form.part(
                "files",
                reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
            );
        }
        let r = self
            .http
            .post(self.url(&format!("/api/datasets/{dataset}/deliveries")))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.json().await.unwrap_or(Value::Null);
        Resp { status, body }
    }

    pub async fn act(
        &self,
        token: &str,
        request: &str,
        action: &str,
        reason: Option<&str>,
    ) -> Resp {
        self.post(
            Some(token),
            &format!("/api/requests/{request}/actions"),
            json!({ "action": action, "reason": reason }),
        )
        .await
    }

    pub async fn query(&self, token: &str, project: &str, sql: &str) -> Resp {
        self.post(
            Some(token),
            &format!("/api/projects/{project}/query"),
            json!({ "sql": sql }),
        )
        .await
    }

    /// Creates, submits and gets authorised a request; returns (request id, project id).
    pub async fn authorised_project(
        &self,
        researcher: &str,
        scope: Value,
        period: (&str, &str),
    ) -> (String, String) {
        let r = self.login(researcher).await;
        let created = self
            .post(
                Some(&r),
                "/api/requests",
                json!({
                    "title": format!("Diabetes drugs and hospital stays ({researcher})"),
                    "purpose": "Describe the use of antidiabetic drugs before hospital stays.",
                    "public_interest": "Improve the follow-up of diabetic patients.",
                    "scope": scope,
                    "period_start": period.0,
                    "period_end": period.1,
                    "duration_months": 24,
                    "details": details(),
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
        let res = self.act(&t, &id, "approve", None).await;
        assert_eq!(res.status, StatusCode::OK, "secretariat: {}", res.body);
        let res = self.committee_opinion(&id).await;
        assert_eq!(res.status, StatusCode::OK, "committee: {}", res.body);
        let res = self.authorise(&id).await;
        assert_eq!(res.status, StatusCode::OK, "authority: {}", res.body);
        let got = self.get(Some(&r), &format!("/api/requests/{id}")).await;
        assert_eq!(got.body["request"]["state"], "active", "{}", got.body);
        let project = got.body["project"]["id"].as_str().unwrap().to_string();
        (id, project)
    }
}

/// The rest of a complete request form (what submission requires).
pub fn details() -> Value {
    json!({
        "summary_public": "How are antidiabetic drugs used before hospital stays?",
        "organisation": "CHU de Bordeaux",
        "team": [
            { "name": "Dr Alice Martin", "role": "principal investigator", "organisation": "CHU de Bordeaux" },
            { "name": "Claire Dubois", "role": "biostatistician", "organisation": "CHU de Bordeaux" }
        ],
        "population": "At least one dispensation of ATC A10 over the period.",
        "methodology": "Retrospective cohort, descriptive statistics.",
        "expected_results": "A report and one article.",
        "funding": "Public grant",
        "conflicts_of_interest": "none"
    })
}

impl Hub {
    /// Posts an action with any fields.
    pub async fn act_with(&self, token: &str, request: &str, body: Value) -> Resp {
        self.post(
            Some(token),
            &format!("/api/requests/{request}/actions"),
            body,
        )
        .await
    }

    /// The committee's step: the secretariat assigns `committee`, who
    /// declares no conflict and gives a favourable opinion.
    pub async fn committee_opinion(&self, request: &str) -> Resp {
        let sec = self.login("secretariat").await;
        let com = self.login("committee").await;
        let a = self
            .post(
                Some(&sec),
                &format!("/api/requests/{request}/reviewers"),
                json!({ "username": "committee" }),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "assign: {}", a.body);
        let d = self
            .post(
                Some(&com),
                &format!("/api/requests/{request}/interests"),
                json!({ "conflict": false }),
            )
            .await;
        assert_eq!(d.status, StatusCode::OK, "declare: {}", d.body);
        self.act_with(
            &com,
            request,
            json!({ "action": "opinion", "opinion": "favourable", "reason": "Sound and proportionate." }),
        )
        .await
    }

    /// The authority authorises (with a decision number) and the producer
    /// of snds-demo agrees: the answer of the last step (the workspace is
    /// provisioned then).
    pub async fn authorise(&self, request: &str) -> Resp {
        let a = self.login("authority").await;
        let r = self
            .act_with(
                &a,
                request,
                json!({ "action": "authorise", "reference": "DR-2026-001" }),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "authorise: {}", r.body);
        let mut r = r;
        if r.body["request"]["state"] == "producer_agreement" {
            // The producer agrees for each dataset of the scope awaited.
            let p = self.login("producer").await;
            let mut datasets: Vec<String> = r.body["request"]["scope"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["dataset_id"].as_str().map(str::to_string))
                .collect();
            datasets.dedup();
            for d in datasets {
                if r.body["request"]["state"] != "producer_agreement" {
                    break;
                }
                let x = self
                    .act_with(&p, request, json!({ "action": "agree", "dataset": d }))
                    .await;
                if x.status == StatusCode::OK || d == "snds-demo" {
                    r = x;
                }
            }
        }
        if r.status != StatusCode::OK || r.body["request"]["state"] != "authorised" {
            return r;
        }
        self.provisioned(&a, request).await
    }

    /// Waits for the provisioning job of an authorised request to end;
    /// returns the request as `GET /api/requests/{id}` shows it then.
    pub async fn provisioned(&self, token: &str, request: &str) -> Resp {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let got = self
                .get(Some(token), &format!("/api/requests/{request}"))
                .await;
            // Until the request moves on or its job fails (the request and
            // its job are read one after the other: a job seen done with the
            // request still authorised is read again).
            let building = got.body["request"]["state"] == "authorised"
                && !matches!(
                    got.body["provisioning"]["state"].as_str(),
                    Some("failed") | None
                );
            if !building || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// Every object path under a directory, relative to it.
pub fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &std::path::Path, d: &std::path::Path, out: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A real SMTP server (aiosmtpd) on a free loopback port.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    pub out: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn smtp_sink() -> SmtpSink {
    use std::io::BufRead;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail.jsonl");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/smtp/server.sh");
    let mut child = std::process::Command::new("bash")
        .arg(script)
        .arg(port.to_string())
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start tests/smtp/server.sh");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("READY"), "SMTP sink: {line:?}");
    SmtpSink {
        child,
        port,
        out,
        _dir: dir,
    }
}

/// Waits until the SMTP sink holds messages satisfying `done`; returns them all.
pub async fn mails(path: &std::path::Path, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    for _ in 0..200 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let all: Vec<Value> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if done(&all) {
            return all;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "the expected e-mails did not arrive: {}",
        std::fs::read_to_string(path).unwrap_or_default()
    );
}
