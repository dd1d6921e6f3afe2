//! The pseudonymisation chain end to end, as separate processes: the trusted
//! third party (`hdh ttp serve`), the hub (`hdh serve`) and the producer's
//! tool (`hdh producer prepare|send`). Then: key rotation, the scan for
//! identifiers and secrets, a hub killed during an ingestion, tampered
//! packages.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

fn hdh() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hdh"))
}

/// Runs `hdh ARGS` and returns its stdout; panics with stderr on failure.
fn run(args: &[&str]) -> String {
    let out = hdh().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hdh {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn run_stdin(args: &[&str], stdin: &str) -> std::process::Output {
    let mut child = hdh()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = reqwest::blocking::get(url)
            && r.status().is_success()
        {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Ttp {
    _proc: Proc,
    url: String,
    token: String,
    dir: PathBuf,
}

fn start_ttp(root: &Path) -> Ttp {
    let dir = root.join("ttp");
    let d = dir.to_str().unwrap();
    run(&["ttp", "init", "--dir", d]);
    let token = run(&["ttp", "add-producer", "--dir", d, "cnam"])
        .trim()
        .to_string();
    let port = free_port();
    let child = hdh()
        .args([
            "ttp",
            "serve",
            "--dir",
            d,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let ttp = Ttp {
        _proc: Proc(child),
        url: url.clone(),
        token,
        dir,
    };
    wait_http(&format!("{url}/v1/health"));
    ttp
}

struct HubProc {
    proc: Proc,
    url: String,
    data: PathBuf,
    log: PathBuf,
}

fn start_hub(root: &Path, data: &Path, port: u16, demo: bool) -> HubProc {
    let log = root.join(format!("hub-{port}.log"));
    let mut args = vec![
        "serve".to_string(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
    ];
    if demo {
        args.extend(["--demo".into(), "--demo-persons".into(), "100".into()]);
    }
    let child = hdh()
        .args(&args)
        .env("HDH_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let hub = HubProc {
        proc: Proc(child),
        url: url.clone(),
        data: data.to_path_buf(),
        log,
    };
    wait_http(&format!("{url}/health"));
    hub
}

fn login(hub: &str, user: &str) -> String {
    let r: Value = reqwest::blocking::Client::new()
        .post(format!("{hub}/api/login"))
        .json(&json!({ "username": user, "password": hdh_server::seed::DEMO_PASSWORD }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let token = r["token"].as_str().unwrap().to_string();
    let accepted = reqwest::blocking::Client::new()
        .post(format!("{hub}/api/me/terms"))
        .bearer_auth(&token)
        .json(&json!({ "version": r["terms"]["version"] }))
        .send()
        .unwrap();
    assert!(accepted.status().is_success());
    token
}

fn get(hub: &str, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    let mut rq = reqwest::blocking::Client::new().get(format!("{hub}{path}"));
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    let s = r.status();
    (s, r.json().unwrap_or(Value::Null))
}

fn register_key(hub: &str, token: &str, identity: &Path) {
    let id =
        hdh_package::ProducerIdentity::from_file_text(&std::fs::read_to_string(identity).unwrap())
            .unwrap();
    let r = reqwest::blocking::Client::new()
        .put(format!("{hub}/api/producer/key"))
        .bearer_auth(token)
        .json(&json!({ "public_key": id.ed25519_public_hex() }))
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().unwrap());
}

// ---------------------------------------------------------------- test data

/// Persons: NIR of the insured holder (with its key), birth date, sex, name.
/// Keys are hand-checked (97 − N mod 97; 2A → 19, 2B → 18).
pub(crate) const PERSONS: &[(&str, &str, &str, &str)] = &[
    ("185057800604830", "12051985", "1", "Lefèvre"),
    ("255081416802538", "03081955", "2", "Élodie Müller"),
    ("269052A00401228", "21051969", "2", "Marie-Ange d'Ornano"),
    ("152112B03310571", "09111952", "1", "Jean Ñúñez"),
    ("785059912345695", "01011985", "1", "Provisoire"),
];

const NIR_DIGITS: &[&str] = &[
    "1850578006048",
    "2550814168025",
    "269052A004012",
    "152112B033105",
    "7850599123456",
];

const NAMES: &[&str] = &[
    "Lefèvre", "LEFEVRE", "Müller", "MULLER", "Ornano", "ORNANO", "Ñúñez", "NUNEZ",
];

pub(crate) fn ben_schema() -> Value {
    json!({
        "name": "BEN",
        "title": "Bénéficiaires",
        "primaryKey": ["BEN_NIR_PSA", "BEN_RNG_GEM"],
        "fields": [
            {"name": "BEN_NIR_PSA", "type": "string", "hdh:identifier": "person",
             "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir",
                "with": ["BEN_NAI_DTE", "BEN_SEX_COD"], "provisionalFlag": "BEN_NIR_PROV"}},
            {"name": "BEN_RNG_GEM", "type": "integer", "constraints": {"required": true}},
            {"name": "BEN_NAI_DTE", "type": "date", "format": "%d%m%Y",
             "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "year-month"}},
            {"name": "BEN_SEX_COD", "type": "string", "constraints": {"enum": ["1", "2"]}},
            {"name": "BEN_NOM", "type": "string",
             "hdh:pseudonymisation": {"role": "direct", "normalise": "name"}},
            {"name": "BEN_RES_COM", "type": "string",
             "hdh:pseudonymisation": {"role": "quasi-identifier", "generalise": "department"}}
        ]
    })
}

pub(crate) fn prs_schema() -> Value {
    json!({
        "name": "PRS",
        "title": "Prestations",
        "hdh:periodField": "EXE_SOI_DTD",
        "foreignKeys": [{"fields": ["BEN_NIR_PSA"], "reference": {"resource": "BEN", "fields": ["BEN_NIR_PSA"]}}],
        "fields": [
            {"name": "BEN_NIR_PSA", "type": "string", "hdh:identifier": "person",
             "hdh:pseudonymisation": {"role": "identifier", "normalise": "nir",
                "with": ["BEN_NAI_DTE", "BEN_SEX_COD"]}},
            {"name": "BEN_NAI_DTE", "type": "date", "format": "%d%m%Y",
             "hdh:pseudonymisation": {"role": "direct"}},
            {"name": "BEN_SEX_COD", "type": "string",
             "hdh:pseudonymisation": {"role": "direct"}},
            {"name": "EXE_SOI_DTD", "type": "date", "format": "%d%m%Y"},
            {"name": "PRS_NAT_REF", "type": "integer"},
            {"name": "PRS_PAI_MNT", "type": "number"}
        ]
    })
}

/// Writes the two tables as Latin-1, `;`-separated CSV files (as SNDS
/// extracts often are) with their schemas; `rows_per_person` claims each.
pub(crate) fn write_input(dir: &Path, rows_per_person: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let latin1 = |s: &str| -> Vec<u8> { s.chars().map(|c| c as u32 as u8).collect() };
    let mut ben =
        String::from("BEN_NIR_PSA;BEN_RNG_GEM;BEN_NAI_DTE;BEN_SEX_COD;BEN_NOM;BEN_RES_COM\n");
    let communes = ["75056", "69123", "2A004", "2B033", "97411"];
    for (i, (nir, born, sex, name)) in PERSONS.iter().enumerate() {
        ben.push_str(&format!("{nir};1;{born};{sex};{name};{}\n", communes[i]));
    }
    std::fs::write(dir.join("BEN.csv"), latin1(&ben)).unwrap();
    let mut prs =
        String::from("BEN_NIR_PSA;BEN_NAI_DTE;BEN_SEX_COD;EXE_SOI_DTD;PRS_NAT_REF;PRS_PAI_MNT\n");
    for k in 0..rows_per_person {
        for (nir, born, sex, _) in PERSONS {
            let day = 1 + (k % 28);
            prs.push_str(&format!(
                "{nir};{born};{sex};{day:02}03{};1111;{}.5\n",
                2019 + (k % 4),
                10 + k % 90
            ));
        }
    }
    std::fs::write(dir.join("PRS.csv"), latin1(&prs)).unwrap();
    std::fs::write(
        dir.join("BEN.schema.json"),
        serde_json::to_vec_pretty(&ben_schema()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("PRS.schema.json"),
        serde_json::to_vec_pretty(&prs_schema()).unwrap(),
    )
    .unwrap();
}

fn prepare(input: &Path, dataset: &str, identity: &Path, level1: &[&str], out: &Path) {
    let mut args: Vec<String> = vec![
        "producer".into(),
        "prepare".into(),
        "--dataset".into(),
        dataset.into(),
        "--identity".into(),
        identity.to_str().unwrap().into(),
        "--out".into(),
        out.to_str().unwrap().into(),
        "--delimiter".into(),
        ";".into(),
        "--encoding".into(),
        "latin1".into(),
    ];
    for t in ["BEN", "PRS"] {
        args.push("--schema".into());
        args.push(
            input
                .join(format!("{t}.schema.json"))
                .to_str()
                .unwrap()
                .into(),
        );
        args.push("--input".into());
        args.push(input.join(format!("{t}.csv")).to_str().unwrap().into());
    }
    args.extend(level1.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args);
}

fn send(hub: &str, package: &Path) -> std::process::Output {
    run_stdin(
        &[
            "producer",
            "send",
            package.to_str().unwrap(),
            "--hub",
            hub,
            "--user",
            "producer",
            "--password-stdin",
            "--quiet",
        ],
        &format!("{}\n", hdh_server::seed::DEMO_PASSWORD),
    )
}

/// The set of values of a text column of a table's latest version, read
/// from the lake as stored.
fn stored_values(data: &Path, dataset: &str, table: &str, column: &str) -> BTreeSet<String> {
    let store_url = format!("sqlite://{}?mode=ro", data.join("hdh.db").display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        use futures::StreamExt;
        let store = hdh_store::Store::connect(&store_url).await.unwrap();
        let v = store.latest_version(dataset).await.unwrap().unwrap();
        let t = store
            .tables(dataset, v.version)
            .await
            .unwrap()
            .into_iter()
            .find(|t| t.table_name == table)
            .unwrap();
        let lake = hdh_lake::Lake::open_local(&data.join("lake")).unwrap();
        let mut stream = hdh_workspace::read_table(&lake, &t.object_path)
            .await
            .unwrap();
        let mut out = BTreeSet::new();
        while let Some(b) = stream.next().await {
            let b = b.unwrap();
            let col = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow::array::StringArray>()
                .unwrap()
                .clone();
            out.extend(col.iter().flatten().map(str::to_string));
        }
        out
    })
}

fn wait_ingestion(hub: &str, token: &str, dataset: &str, until: &[&str]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (s, b) = get(
            hub,
            Some(token),
            &format!("/api/datasets/{dataset}/ingestions"),
        );
        assert_eq!(s, StatusCode::OK, "{b}");
        if let Some(i) = b["ingestions"].as_array().and_then(|a| a.first())
            && until.contains(&i["state"].as_str().unwrap_or_default())
        {
            return i.clone();
        }
        assert!(Instant::now() < deadline, "ingestion of {dataset}: {b}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8], skip: &dyn Fn(&Path) -> bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if skip(&p) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && !needle.is_empty()
                && bytes.windows(needle.len()).any(|w| w == needle)
            {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

#[test]
fn ttp_producer_and_hub_as_three_processes_never_let_an_identity_reach_the_hub() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let ttp = start_ttp(root);
    let hub = start_hub(root, &root.join("data"), free_port(), true);
    let token = login(&hub.url, "producer");

    // The producer's identity, registered with the hub.
    let identity = root.join("producer.key");
    run(&[
        "producer",
        "keygen",
        "--out",
        identity.to_str().unwrap(),
        "--name",
        "cnam",
    ]);
    let out = run_stdin(
        &[
            "producer",
            "register-key",
            "--identity",
            identity.to_str().unwrap(),
            "--hub",
            &hub.url,
            "--user",
            "producer",
            "--password-stdin",
        ],
        &format!("{}\n", hdh_server::seed::DEMO_PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("registered"));
    let x25519 =
        hdh_package::ProducerIdentity::from_file_text(&std::fs::read_to_string(&identity).unwrap())
            .unwrap()
            .x25519_public_hex();

    let input = root.join("input");
    write_input(&input, 4);
    // Online: batched requests to the TTP.
    let online = root.join("pkg-online");
    prepare(
        &input,
        "cohorte",
        &identity,
        &["--ttp", &ttp.url, "--ttp-token", &ttp.token],
        &online,
    );
    let out = send(&hub.url, &online);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let i = wait_ingestion(&hub.url, &token, "cohorte", &["published"]);
    assert_eq!(i["version"], 1, "{i}");

    // Offline: a sealed key package issued by the TTP to this producer.
    let kp = root.join("key-package.json");
    run(&[
        "ttp",
        "issue-key-package",
        "--dir",
        ttp.dir.to_str().unwrap(),
        "--producer",
        "cnam",
        "--recipient",
        &x25519,
        "--out",
        kp.to_str().unwrap(),
    ]);
    let ttp_public = run(&["ttp", "public-key", "--dir", ttp.dir.to_str().unwrap()])
        .trim()
        .to_string();
    let offline = root.join("pkg-offline");
    prepare(
        &input,
        "cohorte-bis",
        &identity,
        &[
            "--key-package",
            kp.to_str().unwrap(),
            "--ttp-public-key",
            &ttp_public,
        ],
        &offline,
    );
    let out = send(&hub.url, &offline);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_ingestion(&hub.url, &token, "cohorte-bis", &["published"]);

    // Same persons, same hub pseudonyms, online or offline, across
    // datasets; twins share the holder's NIR but not their rank.
    let a = stored_values(&hub.data, "cohorte", "BEN", "BEN_NIR_PSA");
    let b = stored_values(&hub.data, "cohorte-bis", "BEN", "BEN_NIR_PSA");
    let prs = stored_values(&hub.data, "cohorte", "PRS", "BEN_NIR_PSA");
    assert_eq!(a.len(), PERSONS.len());
    assert_eq!(a, b);
    assert_eq!(a, prs);
    // Level 2 is not level 1: the hub re-keyed what the producer sent.
    let l1 = hdh_pseudo::level1::Level1Key::from_key_file(
        &std::fs::read_to_string(ttp.dir.join("level1.key")).unwrap(),
    )
    .unwrap();
    let level1: Vec<String> = PERSONS
        .iter()
        .map(|(nir, born, sex, _)| {
            let n = hdh_pseudo::normalise::nir(nir).unwrap().normalised;
            let d = hdh_pseudo::normalise::date(born, Some("%d%m%Y")).unwrap();
            l1.pseudonymise(&[&n, &d, sex]).to_hex()
        })
        .collect();
    assert!(level1.iter().all(|p| !a.contains(p)));

    // The quality report is in the catalogue (API and page).
    let (s, q) = get(&hub.url, None, "/api/catalogue/datasets/cohorte/quality");
    assert_eq!(s, StatusCode::OK);
    let tables = q["quality"]["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 2, "{q}");
    let refs = q["quality"]["references"].as_array().unwrap();
    assert!(
        refs.iter()
            .any(|r| r["table"] == "PRS" && r["orphans"] == 0),
        "{q}"
    );
    let page = reqwest::blocking::get(format!("{}/catalogue/datasets/cohorte", hub.url))
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("id=\"quality\""), "quality section missing");

    // Key rotation while the hub runs: every stored pseudonym changes, the
    // joins between tables and datasets hold.
    let rotated = run(&["keys", "rotate", "--data-dir", hub.data.to_str().unwrap()]);
    assert!(rotated.contains("new key"), "{rotated}");
    let a2 = stored_values(&hub.data, "cohorte", "BEN", "BEN_NIR_PSA");
    let b2 = stored_values(&hub.data, "cohorte-bis", "BEN", "BEN_NIR_PSA");
    let prs2 = stored_values(&hub.data, "cohorte", "PRS", "BEN_NIR_PSA");
    assert_eq!(a2.len(), PERSONS.len());
    assert!(a2.is_disjoint(&a), "rotation left pseudonyms unchanged");
    assert_eq!(a2, b2);
    assert_eq!(a2, prs2);
    let keys = run(&["keys", "list", "--data-dir", hub.data.to_str().unwrap()]);
    assert_eq!(keys.matches("active").count(), 1, "{keys}");
    // The hub still serves the rotated data (its catalogue page reads it).
    let (s, _) = get(&hub.url, None, "/api/catalogue/datasets/cohorte/quality");
    assert_eq!(s, StatusCode::OK);

    // Nothing under the hub's data directory or in its log holds a NIR, a
    // name, a level-1 pseudonym or key, or (outside the key files) a hub key.
    let l1_hex = std::fs::read_to_string(ttp.dir.join("level1.key")).unwrap();
    let l1_key = l1_hex
        .lines()
        .find_map(|l| l.strip_prefix("key: "))
        .unwrap()
        .trim()
        .to_string();
    let hub_secret = std::fs::read_to_string(hub.data.join("secrets/hub.key")).unwrap();
    let level2_keys: Vec<String> = std::fs::read_dir(hub.data.join("secrets/level2"))
        .unwrap()
        .flatten()
        .map(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .lines()
                .find_map(|l| l.strip_prefix("key: ").map(|k| k.trim().to_string()))
                .unwrap()
        })
        .collect();
    let no_skip = |_: &Path| false;
    let outside_secrets = |p: &Path| p.ends_with("secrets");
    let mut needles: Vec<(String, Vec<u8>, bool)> = Vec::new();
    for n in NIR_DIGITS {
        needles.push((format!("NIR {n}"), n.as_bytes().to_vec(), false));
    }
    for n in NAMES {
        needles.push((format!("name {n}"), n.as_bytes().to_vec(), false));
        let latin1: Vec<u8> = n.chars().map(|c| c as u32 as u8).collect();
        needles.push((format!("name {n} (Latin-1)"), latin1, false));
    }
    for p in &level1 {
        needles.push((
            format!("level-1 pseudonym {p}"),
            p.as_bytes().to_vec(),
            false,
        ));
    }
    needles.push(("level-1 key".into(), l1_key.as_bytes().to_vec(), false));
    needles.push((
        "hub secret".into(),
        hub_secret.trim().as_bytes().to_vec(),
        true,
    ));
    for k in &level2_keys {
        needles.push(("level-2 key".into(), k.as_bytes().to_vec(), true));
    }
    let log = std::fs::read(&hub.log).unwrap();
    for (what, needle, only_outside_secrets) in &needles {
        let skip: &dyn Fn(&Path) -> bool = if *only_outside_secrets {
            &outside_secrets
        } else {
            &no_skip
        };
        let found = files_containing(&hub.data, needle, skip);
        assert!(found.is_empty(), "{what} found in {found:?}");
        assert!(
            !log.windows(needle.len()).any(|w| w == needle.as_slice()),
            "{what} found in the hub's log"
        );
    }
    // The TTP's audit log names the producer and counts, never an identifier.
    let audit = std::fs::read_to_string(ttp.dir.join("audit.jsonl")).unwrap();
    assert!(audit.contains("cnam"));
    for n in NIR_DIGITS {
        assert!(!audit.contains(n));
    }
}

#[test]
fn a_hub_killed_during_an_ingestion_publishes_nothing_and_the_producer_retries() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let data = root.join("data");
    let port = free_port();
    let mut hub = start_hub(root, &data, port, true);
    let token = login(&hub.url, "producer");
    let identity = root.join("producer.key");
    run(&["producer", "keygen", "--out", identity.to_str().unwrap()]);
    register_key(&hub.url, &token, &identity);
    // Offline level 1 from a key package of a local TTP key store.
    let ttp_dir = root.join("ttp");
    run(&["ttp", "init", "--dir", ttp_dir.to_str().unwrap()]);
    run(&[
        "ttp",
        "add-producer",
        "--dir",
        ttp_dir.to_str().unwrap(),
        "producer",
    ]);
    let x25519 =
        hdh_package::ProducerIdentity::from_file_text(&std::fs::read_to_string(&identity).unwrap())
            .unwrap()
            .x25519_public_hex();
    let kp = root.join("kp.json");
    run(&[
        "ttp",
        "issue-key-package",
        "--dir",
        ttp_dir.to_str().unwrap(),
        "--producer",
        "producer",
        "--recipient",
        &x25519,
        "--out",
        kp.to_str().unwrap(),
    ]);
    let ttp_public = run(&["ttp", "public-key", "--dir", ttp_dir.to_str().unwrap()])
        .trim()
        .to_string();
    let input = root.join("input");
    write_input(&input, 60_000);
    let pkg = root.join("pkg");
    prepare(
        &input,
        "gros",
        &identity,
        &[
            "--key-package",
            kp.to_str().unwrap(),
            "--ttp-public-key",
            &ttp_public,
        ],
        &pkg,
    );
    let out = run_stdin(
        &[
            "producer",
            "send",
            pkg.to_str().unwrap(),
            "--hub",
            &hub.url,
            "--user",
            "producer",
            "--password-stdin",
            "--quiet",
            "--no-wait",
        ],
        &format!("{}\n", hdh_server::seed::DEMO_PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Kill -9 while rows are being validated and written.
    let running = wait_ingestion(
        &hub.url,
        &token,
        "gros",
        &["validating", "publishing", "published"],
    );
    assert_ne!(
        running["state"], "published",
        "the ingestion ended before the kill: make the input bigger"
    );
    let _ = hub.proc.0.kill();
    let _ = hub.proc.0.wait();
    // Restarted: the job is failed, nothing of it is visible or left.
    hub = start_hub(root, &data, port, false);
    let token = login(&hub.url, "producer");
    let i = wait_ingestion(&hub.url, &token, "gros", &["failed"]);
    assert!(i["error"].as_str().unwrap().contains("interrupted"), "{i}");
    let (s, _) = get(&hub.url, None, "/api/catalogue/datasets/gros/quality");
    assert_eq!(s, StatusCode::NOT_FOUND);
    let lake = data.join("lake");
    assert!(!lake.join("datasets/gros").exists());
    let staging: Vec<_> = std::fs::read_dir(lake.join("staging"))
        .map(|d| d.flatten().collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "staging left: {staging:?}");
    // The upload was kept: the producer retries without sending again.
    let r = reqwest::blocking::Client::new()
        .post(format!(
            "{}/api/ingestions/{}/retry",
            hub.url,
            i["id"].as_str().unwrap()
        ))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let i = wait_ingestion(
        &hub.url,
        &token,
        "gros",
        &["published", "rejected", "failed"],
    );
    assert_eq!(i["state"], "published", "{i}");
    assert_eq!(
        stored_values(&data, "gros", "BEN", "BEN_NIR_PSA").len(),
        PERSONS.len()
    );
}
