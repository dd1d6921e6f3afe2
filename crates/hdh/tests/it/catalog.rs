//! The catalogue (C1): importing the real SNDS schemas with the command line
//! while the hub runs, searching them, their pages, statistics computed from
//! the demo delivery, and the HealthDCAT-AP export.

use crate::support::{self, Db, Hub};
use reqwest::StatusCode;
use std::path::PathBuf;
use std::process::Command;

fn snds_package() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/snds/schema-snds");
    p.exists().then_some(p)
}

fn hdh(hub: &Hub, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hdh"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(hub.data_dir())
        .env("HDH_LOG", "error");
    if let Some(url) = &hub.database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

async fn search(hub: &Hub, q: &str) -> serde_json::Value {
    let r = hub
        .get(None, &format!("/api/search?q={}", urlencode(q)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn keys(r: &serde_json::Value) -> Vec<String> {
    r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap().to_string())
        .collect()
}

async fn imports_snds_and_serves_it(db: Db) {
    let Some(pkg) = snds_package() else {
        eprintln!("skipped: ../shared/data/snds/schema-snds is not here");
        return;
    };
    let hub = support::start(db).await;
    let pkg = pkg.to_str().unwrap();

    // A malformed package is refused with the path and JSON pointer of each
    // fault, and nothing is imported.
    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join("schemas/DCIR")).unwrap();
    std::fs::copy(
        format!("{pkg}/schemas/DCIR/ER_PRS_F.json"),
        bad.path().join("schemas/DCIR/ER_PRS_F.json"),
    )
    .unwrap();
    std::fs::write(
        bad.path().join("schemas/DCIR/ER_BAD_F.json"),
        r#"{"name":"ER_BAD_F","fields":[{"name":"A","type":"integer"},{"name":"B","type":"strnig"}]}"#,
    )
    .unwrap();
    let out = hdh(&hub, &["catalog", "import", bad.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("schemas/DCIR/ER_BAD_F.json: /fields/1/type:")
            && err.contains("nothing was imported"),
        "{err}"
    );
    assert_eq!(
        hub.get(None, "/api/catalogue/datasets/snds-dcir")
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // The real package, imported while the hub serves.
    let out = hdh(&hub, &["catalog", "import", pkg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains(
            "12 datasets, 188 tables, 4815 variables, 197 foreign keys, 75 nomenclatures, 115224 codes"
        ),
        "{summary}"
    );
    // Idempotent.
    let again = hdh(&hub, &["catalog", "import", pkg]);
    assert!(again.status.success());
    assert!(
        text(&again.stdout).contains("unchanged"),
        "{}",
        text(&again.stdout)
    );

    // Search: accents, stems, typos, phrases, codes, communes.
    let r = search(&hub, "medicament").await;
    let with_accent = search(&hub, "médicament").await;
    assert!(r["total"].as_u64().unwrap() > 50, "{r}");
    assert_eq!(r["total"], with_accent["total"]);
    assert!(
        r["hits"][0]["snippet_html"]
            .as_str()
            .unwrap()
            .contains("<b>")
            || r["hits"][0]["title"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("medicament")
    );
    let r = search(&hub, "medicamnet").await;
    assert!(r["total"].as_u64().unwrap() > 0, "typo: {r}");
    let r = search(&hub, "diagnostic principal").await;
    assert!(
        keys(&r)
            .iter()
            .any(|k| k == "variable:snds-pmsi-mco/T_MCOaaB/DGN_PAL"),
        "{r}"
    );
    let r = search(&hub, "E11").await;
    assert!(keys(&r)[0].starts_with("code:"), "{r}");
    assert!(
        r["hits"][0]["title"].as_str().unwrap().starts_with("E11 "),
        "{r}"
    );
    let r = search(&hub, "sallen").await;
    assert!(
        r["hits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["title"].as_str().unwrap().contains("ST MARTIN DE SALLEN")),
        "{r}"
    );
    let r = search(&hub, "ER_PRS_F").await;
    assert_eq!(keys(&r)[0], "table:snds-dcir/ER_PRS_F", "{r}");
    // Facets count every match and filter.
    let r = hub
        .get(
            None,
            "/api/search?q=diagnostic&product=PMSI%20MCO&kind=variable",
        )
        .await;
    assert!(r.body["total"].as_u64().unwrap() > 0);
    assert!(r.body["hits"].as_array().unwrap().iter().all(|h| {
        h["key"]
            .as_str()
            .unwrap()
            .starts_with("variable:snds-pmsi-mco/")
    }));
    assert!(r.body["facets"]["product"].is_array());

    // ER_PRS_F: 123 variables, its 9-column primary key, its foreign keys.
    let t = hub
        .get(None, "/api/catalogue/datasets/snds-dcir/tables/ER_PRS_F")
        .await;
    assert_eq!(t.status, StatusCode::OK);
    assert_eq!(t.body["variables"].as_array().unwrap().len(), 123);
    assert_eq!(t.body["primary_key"].as_array().unwrap().len(), 9);
    let fks = t.body["foreign_keys"].as_array().unwrap();
    let ben = fks.iter().find(|f| f["table"] == "IR_BEN_R").unwrap();
    assert_eq!(
        ben["href"],
        "/catalogue/datasets/snds-beneficiaire/tables/IR_BEN_R"
    );
    let page = hub
        .page(None, "/catalogue/datasets/snds-dcir/tables/ER_PRS_F")
        .await;
    assert_eq!(page.0, StatusCode::OK);
    assert_eq!(page.1.matches("<td class=\"type\">").count(), 123);
    assert!(page.1.contains("<svg") && page.1.contains("IR_BEN_R"));
    // The star: IR_BEN_R is referenced from the DCIR and elsewhere.
    let ben = hub
        .get(
            None,
            "/api/catalogue/datasets/snds-beneficiaire/tables/IR_BEN_R",
        )
        .await;
    assert!(
        ben.body["referenced_by"].as_array().unwrap().len() >= 5,
        "{}",
        ben.body
    );
    let d = hub.page(None, "/catalogue/diagram").await;
    assert_eq!(d.0, StatusCode::OK);
    assert!(d.1.contains("import:schema-snds") && d.1.contains("T_MCOaaB"));

    // Nomenclatures are browsable and searchable by code and label.
    let n = hub
        .get(None, "/api/catalogue/nomenclatures/IR_CIM_V?code=E11")
        .await;
    assert_eq!(n.body["codes"][0]["label"], "Diabète sucré de type 2");
    let p = hub
        .page(None, "/catalogue/nomenclatures/IR_GEO_V?q=sallen")
        .await;
    assert!(p.1.contains("ST MARTIN DE SALLEN"));
    // A variable page of a described-only table.
    let p = hub
        .page(
            None,
            "/catalogue/datasets/snds-dcir/tables/ER_PRS_F/variables/BEN_SEX_COD",
        )
        .await;
    assert_eq!(p.0, StatusCode::OK);
    assert!(p.1.contains("IR_SEX_V"));

    // HealthDCAT-AP export, by the command line and at stable URLs.
    let out = hdh(&hub, &["catalog", "export", "--format", "turtle"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ttl = text(&out.stdout);
    assert!(ttl.contains("dcat:Catalog") && ttl.contains("snds-pmsi-mco"));
    let r = hub
        .http
        .get(hub.url("/catalogue.ttl?page=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/turtle")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("hydra:") || body.contains("PartialCollectionView"),
        "paged"
    );
    let r = hub
        .http
        .get(hub.url("/catalogue/datasets/snds-demo.jsonld"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let j: serde_json::Value = r.json().await.unwrap();
    assert!(j.to_string().contains("numberOfUniqueIndividuals"));
    if let Ok(dir) = std::env::var("HDH_DCAT_OUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/catalogue-{db:?}.ttl"), &ttl).unwrap();
        let jsonld = text(&hdh(&hub, &["catalog", "export", "--format", "jsonld"]).stdout);
        std::fs::write(format!("{dir}/catalogue-{db:?}.jsonld"), jsonld).unwrap();
    }
    let out = hdh(&hub, &["catalog", "search", "diagnostic", "principal"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("DGN_PAL"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_snds_and_serves_it_sqlite() {
    imports_snds_and_serves_it(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_snds_and_serves_it_postgres() {
    imports_snds_and_serves_it(Db::Postgres).await;
}

/// Statistics are computed from the delivered data, refreshed at each
/// version, and small counts are suppressed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_come_from_the_data() {
    let hub = support::start(Db::Sqlite).await;
    let d = hub.get(None, "/api/catalogue/datasets/snds-demo").await;
    let stats = &d.body["statistics"];
    // Distinct person identifiers: as in the real SNDS, twins share the
    // opener's BEN_NIR_PSA, so a few persons fewer than beneficiaries.
    let individuals = stats["individuals"].as_u64().unwrap();
    assert!(
        (support::PERSONS * 95 / 100..=support::PERSONS).contains(&individuals),
        "{individuals}"
    );
    assert!(stats["records"].as_u64().unwrap() > support::PERSONS);
    let ben = stats["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "IR_BEN_R")
        .unwrap();
    assert_eq!(ben["records"].as_u64().unwrap(), support::PERSONS);
    let v = hub
        .get(
            None,
            "/api/catalogue/datasets/snds-demo/tables/IR_BEN_R/variables/BEN_RES_DPT",
        )
        .await;
    let dist = &v.body["stats"]["distribution"];
    assert_eq!(dist["kind"], "top_values", "{}", v.body);
    let bars = dist["bars"].as_array().unwrap();
    // 600 persons over ~100 départements: some bars are under the threshold
    // and show no number; none shows a count between 1 and 9.
    assert!(
        bars.iter()
            .all(|b| b["count"].is_null() || b["count"].as_u64().unwrap() >= 10)
    );
    let id = hub
        .get(
            None,
            "/api/catalogue/datasets/snds-demo/tables/IR_BEN_R/variables/BEN_NIR_PSA",
        )
        .await;
    assert_eq!(id.body["stats"]["distribution"]["kind"], "hidden");
    let page = hub
        .page(
            None,
            "/catalogue/datasets/snds-demo/tables/IR_BEN_R/variables/BEN_NAI_ANN",
        )
        .await;
    assert!(page.1.contains("<svg"), "a chart of the birth years");
    let page = hub.page(None, "/catalogue/datasets/snds-demo").await;
    assert!(page.1.contains("id=\"statistics\""));
}
