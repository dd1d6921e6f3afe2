//! The TTP over real HTTP on 127.0.0.1:0, with the blocking client in the
//! test thread and the server on its own tokio runtime.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hdh_pseudo::level1::Level1Key;
use hdh_pseudo::sealed;
use hdh_ttp::{TtpClient, TtpError, TtpState};

const NIR: &str = "1850578006048";
const BIRTH: &str = "1985-05-12";

struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(dir: &Path) -> Running {
    let state = TtpState::load(dir).unwrap();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            hdh_ttp::serve_listener(listener, state, async move {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
        });
    });
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Running {
        url: format!("http://{addr}"),
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

fn store() -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ttp");
    hdh_ttp::init(&dir).unwrap();
    let token = hdh_ttp::add_producer(&dir, "cnam").unwrap();
    (tmp, dir, token)
}

fn items() -> Vec<Vec<String>> {
    vec![
        vec![NIR.into(), BIRTH.into(), "1".into()],
        vec!["JEAN PIERRE D ARC".into()],
        vec!["269052A004012".into(), "1969-05-01".into(), "2".into()],
    ]
}

fn audit(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("audit.jsonl")).unwrap()
}

#[test]
fn online_pseudonyms_equal_offline_ones() {
    let (_tmp, dir, token) = store();
    // A second producer (a hospital group beside the health insurance).
    let other_token = hdh_ttp::add_producer(&dir, "aphp").unwrap();
    let srv = start(&dir);
    let client = TtpClient::new(&srv.url, &token);
    let key = Level1Key::from_key_file(&std::fs::read_to_string(dir.join("level1.key")).unwrap())
        .unwrap();
    assert_eq!(client.key_id().unwrap(), key.id());
    assert!(key.id().starts_with("l1-"));

    let items = items();
    let online = client.pseudonymise(&items).unwrap();
    let offline: Vec<_> = items
        .iter()
        .map(|i| key.pseudonymise(&i.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    assert_eq!(online, offline);
    // The same person gets the same level-1 pseudonym from every producer,
    // so their deliveries join at the hub.
    let from_other = TtpClient::new(&srv.url, &other_token)
        .pseudonymise(&items)
        .unwrap();
    assert_eq!(from_other, online);

    // More than one batch: split by the client, same order.
    let many: Vec<Vec<String>> = (0..10_001)
        .map(|i| vec![format!("{i:013}"), "2000-01-01".into(), "2".into()])
        .collect();
    let got = client.pseudonymise(&many).unwrap();
    assert_eq!(got.len(), many.len());
    for i in [0usize, 9_999, 10_000] {
        let parts: Vec<&str> = many[i].iter().map(String::as_str).collect();
        assert_eq!(got[i], key.pseudonymise(&parts));
    }

    // Health, and the key answer carries the TTP's public key.
    let http = reqwest::blocking::Client::new();
    let health = http.get(format!("{}/v1/health", srv.url)).send().unwrap();
    assert_eq!(health.text().unwrap(), "ok");
    let k: serde_json::Value = http
        .get(format!("{}/v1/key", srv.url))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(k["public_key"], hdh_ttp::public_key_hex(&dir).unwrap());

    // The audit log holds who, what and how many — never a value or a token.
    let log = audit(&dir);
    assert!(log.contains("\"action\":\"pseudonymise\""), "{log}");
    assert!(log.contains("\"items\":3"), "{log}");
    assert!(log.contains("\"items\":10000"), "{log}");
    assert!(log.contains("\"producer\":\"cnam\""), "{log}");
    assert!(log.contains("\"client\":\"127.0.0.1:"), "{log}");
    for secret in [
        NIR,
        BIRTH,
        "JEAN",
        "269052A004012",
        &token,
        &offline[0].to_hex(),
    ] {
        assert!(!log.contains(secret), "audit log leaks a value");
    }
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
}

#[test]
fn refusals_are_precise_audited_and_quote_nothing() {
    let (_tmp, dir, token) = store();
    let srv = start(&dir);
    let url = format!("{}/v1/pseudonymise", srv.url);
    let http = reqwest::blocking::Client::new();
    let body = serde_json::json!({"items": items()});

    // No token, a wrong token.
    let r = http.post(&url).json(&body).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .post(&url)
        .bearer_auth("hdh-ttp-00")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let wrong =
        TtpClient::new(&srv.url, "hdh-ttp-wrong").with_retry_delay(Duration::from_millis(1));
    assert!(matches!(
        wrong.pseudonymise(&items()),
        Err(TtpError::Unauthorised)
    ));
    assert!(matches!(wrong.key_id(), Err(TtpError::Unauthorised)));
    let log = audit(&dir);
    assert_eq!(
        log.matches("\"outcome\":\"unauthenticated\"").count(),
        4,
        "{log}"
    );
    assert!(!log.contains("hdh-ttp-wrong"));

    // A bad item: named by index, its value never echoed.
    let bad = serde_json::json!({"items": [[NIR, BIRTH, "1"], [NIR, "", "1"]]});
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(
        text.contains("item 1") && text.contains("part 1 is empty"),
        "{text}"
    );
    assert!(!text.contains(NIR), "{text}");
    let bad = serde_json::json!({"items": [[NIR], [1850578006048u64]]});
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&bad)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().unwrap();
    assert!(text.contains("item 1: part 0 is not a string"), "{text}");
    assert!(!text.contains(NIR), "{text}");
    let long = "X".repeat(257);
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"items": [[long]]}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    let nine = serde_json::json!({"items": [vec!["A"; 9]]});
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&nine)
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    // Not JSON: serde's message (which may quote the input) is not passed on.
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .body(format!("{{\"items\": [[{NIR}x]]}}"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().unwrap().contains(NIR));

    // The client checks items before sending.
    let client = TtpClient::new(&srv.url, &token);
    assert!(matches!(
        client.pseudonymise(&[vec![NIR.to_string()], vec![]]),
        Err(TtpError::Invalid(m)) if m.contains("item 1")
    ));

    // An oversize batch is refused.
    let many: Vec<Vec<&str>> = vec![vec!["A"]; 10_001];
    let r = http
        .post(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"items": many}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 413);
    let text = r.text().unwrap();
    assert!(text.contains("at most 10000 items"), "{text}");

    let log = audit(&dir);
    assert!(log.contains("\"outcome\":\"too-many-items\""), "{log}");
    assert!(log.contains("\"outcome\":\"bad-request\""), "{log}");
    assert!(!log.contains(NIR) && !log.contains(BIRTH) && !log.contains(&token));

    // Plain http to a non-loopback host is refused by the client.
    let remote = TtpClient::new("http://192.0.2.1:8443", &token);
    assert!(matches!(remote.key_id(), Err(TtpError::Invalid(_))));
    assert!(!format!("{remote:?}").contains(&token));
}

#[test]
fn store_files_modes_and_refusals() {
    use std::os::unix::fs::PermissionsExt;
    let (_tmp, dir, token) = store();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for f in [
        "level1.key",
        "ttp-signing.key",
        "producers.json",
        "audit.jsonl",
    ] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
    // Only the token's hash is stored.
    let producers = std::fs::read_to_string(dir.join("producers.json")).unwrap();
    assert!(!producers.contains(&token));
    assert!(producers.contains(&hex::encode(hdh_ttp::store::token_hash(&token))));
    assert!(token.starts_with("hdh-ttp-") && token.len() > 40);

    assert!(matches!(
        hdh_ttp::init(&dir),
        Err(TtpError::AlreadyInitialised(_))
    ));
    assert!(matches!(
        hdh_ttp::add_producer(&dir, "cnam"),
        Err(TtpError::ProducerExists(_))
    ));
    assert!(matches!(
        hdh_ttp::add_producer(&dir, "bad name"),
        Err(TtpError::BadProducerName)
    ));
    let other = hdh_ttp::add_producer(&dir, "aphp").unwrap();
    assert_ne!(other, token);

    // A key file others may read is refused.
    std::fs::set_permissions(
        dir.join("level1.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert!(matches!(
        TtpState::load(&dir),
        Err(TtpError::KeyFileMode(..))
    ));
    std::fs::set_permissions(
        dir.join("level1.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    assert!(TtpState::load(&dir).is_ok());

    let empty = _tmp.path().join("nothing");
    assert!(matches!(
        TtpState::load(&empty),
        Err(TtpError::NotInitialised(_))
    ));
    // No key material in the audit log.
    let key_hex = std::fs::read_to_string(dir.join("level1.key")).unwrap();
    let key_hex = key_hex
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .to_string();
    assert!(!audit(&dir).contains(&key_hex));
}

#[test]
fn key_packages_open_at_the_producer() {
    let (_tmp, dir, _token) = store();
    let recipient_secret = sealed::x25519_generate();
    let recipient_public = hex::encode(sealed::x25519_public(&recipient_secret));
    let pkg = hdh_ttp::issue_key_package(&dir, "cnam", &recipient_public, 30).unwrap();
    assert_eq!(pkg.producer, "cnam");
    let ttp_public =
        sealed::verifying_key_from_hex(&hdh_ttp::public_key_hex(&dir).unwrap()).unwrap();
    let key = sealed::open(&pkg, &recipient_secret, &ttp_public, chrono::Utc::now()).unwrap();
    let stored =
        Level1Key::from_key_file(&std::fs::read_to_string(dir.join("level1.key")).unwrap())
            .unwrap();
    assert_eq!(key.id(), stored.id());
    assert_eq!(
        key.pseudonymise(&[NIR, BIRTH, "1"]),
        stored.pseudonymise(&[NIR, BIRTH, "1"])
    );
    // Expired after its validity.
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    assert!(sealed::open(&pkg, &recipient_secret, &ttp_public, later).is_err());

    assert!(matches!(
        hdh_ttp::issue_key_package(&dir, "unknown", &recipient_public, 30),
        Err(TtpError::UnknownProducer(_))
    ));
    assert!(hdh_ttp::issue_key_package(&dir, "cnam", "abcd", 30).is_err());
    assert!(hdh_ttp::issue_key_package(&dir, "cnam", &recipient_public, 0).is_err());
    let log = audit(&dir);
    assert_eq!(
        log.matches("\"action\":\"issue-key-package\"").count(),
        4,
        "{log}"
    );
    assert_eq!(log.matches("\"outcome\":\"refused\"").count(), 3, "{log}");
    assert!(!log.contains(&pkg.sealed_key));
}
