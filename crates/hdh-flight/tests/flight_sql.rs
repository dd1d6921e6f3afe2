//! The endpoint against an in-memory backend: a fake project with two
//! tables, a valid token (and a second one of the same user), an expired
//! one; any SQL mentioning another table is refused. Checked with arrow-rs's
//! Flight SQL client (tickets, codes) and with the real Python ADBC driver
//! (`tests/flight/run.sh`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, BinaryArray, Date32Array, DictionaryArray, Float64Array, Int32Array,
    Int64Array, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetTables};
use arrow_flight::{FlightInfo, IpcMessage};
use futures::{StreamExt, TryStreamExt};
use hdh_flight::{Backend, Principal, QueryStream, TableInfo};
use tonic::Status;
use tonic::transport::Channel;

const PROJECT: &str = "p-demo";

// ------------------------------------------------------------ fake backend

struct Fake {
    tables: Vec<(TableInfo, Vec<RecordBatch>)>,
    /// What the backend saw, for assertions ("plan SELECT …", "tables", …).
    seen: Mutex<Vec<String>>,
}

fn er_prs_f() -> (TableInfo, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("BEN_NIR_PSA", DataType::Utf8, false),
        Field::new("EXE_SOI_DTD", DataType::Date32, true),
        Field::new("PRS_ACT_QTE", DataType::Int64, true),
        Field::new("PRS_PAI_MNT", DataType::Float64, true),
    ]));
    let batch = |ids: Vec<&str>, days: Vec<i32>, qte: Vec<i64>, mnt: Vec<f64>| {
        RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(ids)) as ArrayRef,
                Arc::new(Date32Array::from(days)),
                Arc::new(Int64Array::from(qte)),
                Arc::new(Float64Array::from(mnt)),
            ],
        )
        .unwrap()
    };
    // 2024-01-01 is day 19723.
    let batches = vec![
        batch(
            vec!["a1", "a2", "a1"],
            vec![19723, 19724, 19725],
            vec![1, 2, 1],
            vec![25.0, 50.5, 25.0],
        ),
        batch(
            vec!["a3", "a2"],
            vec![19726, 19727],
            vec![3, 1],
            vec![12.25, 7.5],
        ),
    ];
    (info("ER_PRS_F", schema), batches)
}

fn ir_ben_r() -> (TableInfo, Vec<RecordBatch>) {
    // A dictionary column: sent hydrated, announced hydrated.
    let schema = Arc::new(Schema::new(vec![
        Field::new("BEN_NIR_PSA", DataType::Utf8, false),
        Field::new("BEN_SEX_COD", DataType::Int32, true),
        Field::new(
            "BEN_RES_DPT",
            DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
            true,
        ),
    ]));
    let dpt: DictionaryArray<Int32Type> = vec!["75", "2A", "75"].into_iter().collect();
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["a1", "a2", "a3"])) as ArrayRef,
            Arc::new(Int32Array::from(vec![1, 2, 2])),
            Arc::new(dpt),
        ],
    )
    .unwrap();
    (info("IR_BEN_R", schema), vec![batch])
}

fn info(name: &str, arrow_schema: SchemaRef) -> TableInfo {
    TableInfo {
        catalog: "datafusion".into(),
        schema: "public".into(),
        name: name.into(),
        arrow_schema,
    }
}

enum Query {
    All { table: usize, limit: Option<usize> },
    Count { table: usize, alias: String },
}

impl Fake {
    fn new() -> Arc<Fake> {
        Arc::new(Fake {
            tables: vec![er_prs_f(), ir_ben_r()],
            seen: Mutex::new(Vec::new()),
        })
    }

    fn saw(&self, what: String) {
        self.seen.lock().unwrap().push(what);
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// A tiny SQL "planner": `SELECT * FROM T [LIMIT n]` and
    /// `SELECT COUNT(*) AS a FROM T`; any table not in the project refused.
    fn parse(&self, sql: &str) -> Result<Query, Status> {
        let words: Vec<&str> = sql
            .trim()
            .trim_end_matches(';')
            .split_whitespace()
            .collect();
        let table = |name: &str| {
            let name = name.trim_matches('"');
            self.tables
                .iter()
                .position(|(t, _)| t.name == name)
                .ok_or_else(|| {
                    Status::permission_denied(format!(
                        "table {name} is not part of project {PROJECT}"
                    ))
                })
        };
        for w in words.windows(2) {
            if w[0].eq_ignore_ascii_case("from") || w[0].eq_ignore_ascii_case("join") {
                table(w[1])?;
            }
        }
        let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
        let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
        match upper.as_slice() {
            ["SELECT", "*", "FROM", _] => Ok(Query::All {
                table: table(words[3])?,
                limit: None,
            }),
            ["SELECT", "*", "FROM", _, "LIMIT", n] => Ok(Query::All {
                table: table(words[3])?,
                limit: Some(
                    n.parse()
                        .map_err(|_| Status::invalid_argument("LIMIT takes a number"))?,
                ),
            }),
            ["SELECT", "COUNT(*)", "AS", _, "FROM", _] => Ok(Query::Count {
                table: table(words[5])?,
                alias: words[3].to_owned(),
            }),
            [first, ..] if *first != "SELECT" => Err(Status::invalid_argument(
                "only SELECT statements are allowed",
            )),
            _ => Err(Status::invalid_argument(format!(
                "the test backend does not understand {sql:?}"
            ))),
        }
    }

    fn schema_of(&self, q: &Query) -> SchemaRef {
        match q {
            Query::All { table, .. } => Arc::clone(&self.tables[*table].0.arrow_schema),
            Query::Count { alias, .. } => Arc::new(Schema::new(vec![Field::new(
                alias.as_str(),
                DataType::Int64,
                false,
            )])),
        }
    }
}

#[tonic::async_trait]
impl Backend for Fake {
    async fn authenticate(
        &self,
        token: &str,
        peer: Option<SocketAddr>,
    ) -> Result<Principal, Status> {
        self.saw(format!("authenticate from {}", peer.is_some()));
        let principal = |token_id: &str| Principal {
            user_id: "u-alice".into(),
            project_id: PROJECT.into(),
            token_id: token_id.into(),
        };
        match token {
            "tok-valid" => Ok(principal("t1")),
            "tok-second" => Ok(principal("t2")),
            "tok-python" => Ok(principal("t-py")),
            "tok-expired" => Err(Status::unauthenticated(
                "token expired on 2025-01-01: create a new one in the project's workspace",
            )),
            _ => Err(Status::unauthenticated("unknown token")),
        }
    }

    async fn plan(&self, who: &Principal, sql: &str) -> Result<SchemaRef, Status> {
        assert_eq!(who.project_id, PROJECT);
        self.saw(format!("plan {sql}"));
        let q = self.parse(sql)?;
        Ok(self.schema_of(&q))
    }

    async fn execute(&self, who: &Principal, sql: &str) -> Result<QueryStream, Status> {
        assert_eq!(who.project_id, PROJECT);
        self.saw(format!("execute {sql} by {}", who.token_id));
        let q = self.parse(sql)?;
        let schema = self.schema_of(&q);
        let batches = match q {
            Query::All { table, limit } => {
                let mut left = limit.unwrap_or(usize::MAX);
                let mut out = Vec::new();
                for b in &self.tables[table].1 {
                    if left == 0 {
                        break;
                    }
                    let n = b.num_rows().min(left);
                    out.push(b.slice(0, n));
                    left -= n;
                }
                out
            }
            Query::Count { table, .. } => {
                let n: usize = self.tables[table].1.iter().map(|b| b.num_rows()).sum();
                vec![
                    RecordBatch::try_new(
                        Arc::clone(&schema),
                        vec![Arc::new(Int64Array::from(vec![n as i64]))],
                    )
                    .unwrap(),
                ]
            }
        };
        Ok(QueryStream {
            schema,
            batches: futures::stream::iter(batches.into_iter().map(Ok)).boxed(),
        })
    }

    async fn tables(&self, who: &Principal) -> Result<Vec<TableInfo>, Status> {
        assert_eq!(who.project_id, PROJECT);
        self.saw("tables".into());
        Ok(self.tables.iter().map(|(t, _)| t.clone()).collect())
    }
}

// ------------------------------------------------------------ the endpoint

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap();
    }
}

async fn start(backend: Arc<Fake>) -> Server {
    call_log();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        hdh_flight::serve(listener, backend, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn client(addr: SocketAddr, token: Option<&str>) -> FlightSqlServiceClient<Channel> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some(token) = token {
        client.set_token(token.to_owned());
    }
    client
}

async fn fetch(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> Result<Vec<RecordBatch>, arrow_flight::error::FlightError> {
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.expect("a ticket");
        let batches: Vec<RecordBatch> = client.do_get(ticket).await?.try_collect().await?;
        out.extend(batches);
    }
    Ok(out)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap()
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            (0..a.len())
                .map(|i| a.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `Code: message` for a status, the error's text otherwise.
fn describe(e: arrow_flight::error::FlightError) -> String {
    match e {
        arrow_flight::error::FlightError::Tonic(status) => {
            format!("{:?}: {}", status.code(), status.message())
        }
        other => other.to_string(),
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_needs_a_valid_token() {
    let fake = Fake::new();
    let server = start(Arc::clone(&fake)).await;

    // No token: refused, implemented method or not, before the backend.
    let mut anonymous = client(server.addr, None).await;
    let e = describe(anonymous.get_catalogs().await.unwrap_err());
    assert!(
        e.contains("Unauthenticated") && e.contains("no credentials"),
        "{e}"
    );
    let e = describe(
        anonymous
            .get_primary_keys(Default::default())
            .await
            .unwrap_err(),
    );
    assert!(e.contains("Unauthenticated"), "{e}");
    assert!(fake.seen().is_empty(), "{:?}", fake.seen());

    // Expired and unknown tokens: the backend's message.
    let mut expired = client(server.addr, Some("tok-expired")).await;
    let e = describe(
        expired
            .execute("SELECT * FROM ER_PRS_F".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("Unauthenticated") && e.contains("expired"),
        "{e}"
    );
    let mut unknown = client(server.addr, Some("nope")).await;
    let e = describe(unknown.get_table_types().await.unwrap_err());
    assert!(e.contains("unknown token"), "{e}");
    // Not even a plan was made; the peer reached the backend.
    assert!(!fake.seen().iter().any(|s| s.starts_with("plan")));
    assert!(fake.seen().contains(&"authenticate from true".to_owned()));

    // Handshake: Basic with the token as password gives the bearer header.
    let mut basic = client(server.addr, None).await;
    basic.handshake("anyone", "tok-valid").await.unwrap();
    assert_eq!(basic.token().map(String::as_str), Some("tok-valid"));
    let info = basic
        .execute("SELECT * FROM ER_PRS_F".into(), None)
        .await
        .unwrap();
    assert_eq!(rows(&fetch(&mut basic, info).await.unwrap()), 5);
    let mut basic = client(server.addr, None).await;
    let e = describe(basic.handshake("anyone", "tok-expired").await.unwrap_err());
    assert!(e.contains("expired"), "{e}");
    let e = describe(basic.handshake("anyone", "").await.unwrap_err());
    assert!(e.contains("no credentials"), "{e}");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_are_gated_bound_to_their_token_and_read_only() {
    let fake = Fake::new();
    let server = start(Arc::clone(&fake)).await;
    let mut alice = client(server.addr, Some("tok-valid")).await;

    // A statement: planned, then run on DoGet with the ticket.
    let info = alice
        .execute("SELECT * FROM ER_PRS_F".into(), None)
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    assert_eq!(announced, *er_prs_f().0.arrow_schema);
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches = fetch(&mut alice, info).await.unwrap();
    assert_eq!(rows(&batches), 5);
    assert_eq!(
        strings(&batches, "BEN_NIR_PSA"),
        ["a1", "a2", "a1", "a3", "a2"]
    );

    // The same ticket under another token (same user): refused, not run.
    let mut second = client(server.addr, Some("tok-second")).await;
    let e = match second.do_get(ticket.clone()).await {
        Err(e) => describe(e),
        // The error may come with the first message instead.
        Ok(stream) => describe(stream.try_collect::<Vec<_>>().await.unwrap_err()),
    };
    assert!(
        e.contains("PermissionDenied") && e.contains("another token"),
        "{e}"
    );
    assert!(!fake.seen().iter().any(|s| s.ends_with("by t2")));
    // ... and with no token at all.
    let mut anonymous = client(server.addr, None).await;
    assert!(anonymous.do_get(ticket).await.is_err());

    // A result without rows still has its schema.
    let info = alice
        .execute("SELECT * FROM ER_PRS_F LIMIT 0".into(), None)
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let stream = alice.do_get(ticket).await.unwrap();
    let mut stream = stream;
    assert!(stream.next().await.is_none());
    assert_eq!(
        stream.schema().map(|s| s.fields().len()),
        Some(4),
        "schema of an empty result"
    );

    // Dictionaries are announced and sent as their values.
    let info = alice
        .execute("SELECT * FROM IR_BEN_R".into(), None)
        .await
        .unwrap();
    let announced = info.clone().try_decode_schema().unwrap();
    assert_eq!(
        announced
            .field_with_name("BEN_RES_DPT")
            .unwrap()
            .data_type(),
        &DataType::Utf8
    );
    let batches = fetch(&mut alice, info).await.unwrap();
    assert_eq!(strings(&batches, "BEN_RES_DPT"), ["75", "2A", "75"]);

    // Another project's table: the backend's refusal, at planning.
    let e = describe(
        alice
            .execute("SELECT * FROM OTHER_PROJECT_T".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("PermissionDenied") && e.contains("not part of project"),
        "{e}"
    );

    // Prepared statements: the handle is bound to the token too.
    let prepared = alice
        .prepare("SELECT COUNT(*) AS n FROM IR_BEN_R".into(), None)
        .await
        .unwrap();
    assert_eq!(
        prepared.dataset_schema().unwrap().field(0).name().as_str(),
        "n"
    );
    let mut prepared = prepared;
    let info = prepared.execute().await.unwrap();
    let batches = fetch(&mut alice, info).await.unwrap();
    let n = batches[0]
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, 3);
    prepared.close().await.unwrap();

    // Updates of any kind: refused.
    let e = describe(
        alice
            .execute_update("DELETE FROM ER_PRS_F".into(), None)
            .await
            .unwrap_err(),
    );
    assert!(
        e.contains("PermissionDenied") && e.contains("read-only: this endpoint runs queries only"),
        "{e}"
    );
    let e = describe(alice.begin_transaction().await.unwrap_err());
    assert!(e.contains("transactions are not supported"), "{e}");

    // Every statement went through the backend.
    let seen = fake.seen();
    assert!(seen.contains(&"plan SELECT * FROM OTHER_PROJECT_T".to_owned()));
    assert!(seen.contains(&"execute SELECT COUNT(*) AS n FROM IR_BEN_R by t1".to_owned()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_lists_the_backends_tables_with_filters() {
    let fake = Fake::new();
    let server = start(Arc::clone(&fake)).await;
    let mut alice = client(server.addr, Some("tok-valid")).await;

    let info = alice.get_catalogs().await.unwrap();
    let batches = fetch(&mut alice, info).await.unwrap();
    assert_eq!(strings(&batches, "catalog_name"), ["datafusion"]);

    let schemas = |catalog: Option<&str>, pattern: Option<&str>| CommandGetDbSchemas {
        catalog: catalog.map(str::to_owned),
        db_schema_filter_pattern: pattern.map(str::to_owned),
    };
    for (catalog, pattern, expected) in [
        (None, None, vec!["public"]),
        (Some("datafusion"), Some("pub%"), vec!["public"]),
        (None, Some("p_blic"), vec!["public"]),
        (Some("other"), None, vec![]),
        (None, Some("private"), vec![]),
    ] {
        let info = alice
            .get_db_schemas(schemas(catalog, pattern))
            .await
            .unwrap();
        let batches = fetch(&mut alice, info).await.unwrap();
        assert_eq!(
            strings(&batches, "db_schema_name"),
            expected,
            "{catalog:?} {pattern:?}"
        );
    }

    let tables =
        |catalog: Option<&str>, schema: Option<&str>, table: Option<&str>| CommandGetTables {
            catalog: catalog.map(str::to_owned),
            db_schema_filter_pattern: schema.map(str::to_owned),
            table_name_filter_pattern: table.map(str::to_owned),
            table_types: vec![],
            include_schema: true,
        };
    for (command, expected) in [
        (tables(None, None, None), vec!["ER_PRS_F", "IR_BEN_R"]),
        (tables(None, None, Some("IR%")), vec!["IR_BEN_R"]),
        (tables(None, None, Some("ER_PRS__")), vec!["ER_PRS_F"]),
        (tables(None, None, Some("%_BEN_%")), vec!["IR_BEN_R"]),
        (
            tables(Some("datafusion"), Some("public"), Some("ER_PRS_F")),
            vec!["ER_PRS_F"],
        ),
        (tables(Some("other"), None, None), vec![]),
        (tables(None, Some("x%"), None), vec![]),
        (
            CommandGetTables {
                table_types: vec!["VIEW".into()],
                ..tables(None, None, None)
            },
            vec![],
        ),
    ] {
        let info = alice.get_tables(command.clone()).await.unwrap();
        let batches = fetch(&mut alice, info).await.unwrap();
        assert_eq!(strings(&batches, "table_name"), expected, "{command:?}");
    }

    // include_schema: each table's schema, as queries return it.
    let info = alice
        .get_tables(tables(None, None, Some("IR_BEN_R")))
        .await
        .unwrap();
    let batches = fetch(&mut alice, info).await.unwrap();
    let encoded = batches[0]
        .column_by_name("table_schema")
        .unwrap()
        .as_any()
        .downcast_ref::<BinaryArray>()
        .unwrap()
        .value(0)
        .to_vec();
    let schema = Schema::try_from(IpcMessage(encoded.into())).unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_RES_DPT"]);
    assert_eq!(schema.field(2).data_type(), &DataType::Utf8);

    let info = alice.get_table_types().await.unwrap();
    let batches = fetch(&mut alice, info).await.unwrap();
    assert_eq!(strings(&batches, "table_type"), ["TABLE"]);

    let info = alice.get_sql_info(vec![]).await.unwrap();
    assert!(rows(&fetch(&mut alice, info).await.unwrap()) >= 5);

    assert!(fake.seen().iter().filter(|s| *s == "tables").count() >= 10);
    server.stop().await;
}

// ---------------------------------------------------- the Python ADBC driver

/// The endpoint's call log (`hdh_flight::call` events of every test),
/// captured by a global subscriber installed before the first server starts.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn call_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let log = Captured::default();
        let writer = log.clone();
        tracing_subscriber::fmt()
            .with_env_filter("hdh_flight=debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        log
    })
}

/// The Flight SQL calls logged under a token id, in order of first
/// appearance.
fn calls(token_id: &str) -> Vec<String> {
    let log = String::from_utf8(call_log().0.lock().unwrap().clone()).unwrap();
    let token = format!(" token_id={token_id}");
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let tail = format!("{line} ");
        if !tail.contains(&format!("{token} ")) {
            continue;
        }
        let Some(rest) = line.split(" call=").nth(1) else {
            continue;
        };
        let call = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned();
        if seen.insert(call.clone()) {
            out.push(call);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_adbc_driver_lists_queries_and_is_refused() {
    let fake = Fake::new();
    let server = start(Arc::clone(&fake)).await;
    let checks = serde_json::json!([
        {"op": "connect", "expect_info": {"vendor_name": "hdh"}},
        {"op": "connect", "auth": "basic", "expect_info": {"vendor_name": "hdh"}},
        {"op": "tables", "expect": ["ER_PRS_F", "IR_BEN_R"],
         "expect_columns": {"IR_BEN_R": ["BEN_NIR_PSA", "BEN_SEX_COD", "BEN_RES_DPT"]}},
        {"op": "tables", "table_name_filter": "IR%", "expect": ["IR_BEN_R"]},
        {"op": "tables", "catalog": "datafusion", "db_schema": "pub%",
         "table_name_filter": "ER\\_PRS\\_F", "expect": ["ER_PRS_F"]},
        {"op": "tables", "catalog": "other", "expect": []},
        {"op": "table_schema", "table": "ER_PRS_F", "catalog": "datafusion", "db_schema": "public",
         "expect_columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_ACT_QTE", "PRS_PAI_MNT"]},
        {"op": "query", "sql": "SELECT * FROM ER_PRS_F", "expect_rows": 5,
         "expect_columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_ACT_QTE", "PRS_PAI_MNT"],
         "expect_values": {"PRS_ACT_QTE": [1, 2, 1, 3, 1],
                           "BEN_NIR_PSA": ["a1", "a2", "a1", "a3", "a2"],
                           "PRS_PAI_MNT": [25.0, 50.5, 25.0, 12.25, 7.5]}},
        {"op": "query", "sql": "SELECT * FROM IR_BEN_R", "expect_rows": 3,
         "expect_values": {"BEN_RES_DPT": ["75", "2A", "75"], "BEN_SEX_COD": [1, 2, 2]}},
        {"op": "query", "sql": "SELECT * FROM ER_PRS_F LIMIT 0", "expect_rows": 0,
         "expect_columns": ["BEN_NIR_PSA", "EXE_SOI_DTD", "PRS_ACT_QTE", "PRS_PAI_MNT"]},
        {"op": "query", "auth": "basic", "sql": "SELECT COUNT(*) AS n FROM ER_PRS_F",
         "expect_values": {"n": [5]}},
        {"op": "refused", "sql": "SELECT * FROM OTHER_PROJECT_T",
         "expect_error": "table OTHER_PROJECT_T is not part of project p-demo"},
        {"op": "refused", "sql": "DROP TABLE ER_PRS_F",
         "expect_error": "only SELECT statements are allowed"},
        {"op": "update_refused", "sql": "DELETE FROM ER_PRS_F",
         "expect_error": "read-only: this endpoint runs queries only"},
        {"op": "bad_token", "token": "tok-expired", "expect_error": "token expired"},
        {"op": "bad_token", "token": "tok-expired", "auth": "basic", "expect_error": "token expired"},
        {"op": "bad_token", "token": "nope", "expect_error": "unknown token"}
    ]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/flight/run.sh");
    let run = tokio::process::Command::new("bash")
        .arg(script)
        .arg("--uri")
        .arg(format!("grpc://{}", server.addr))
        .arg("--token")
        .arg("tok-python")
        .arg(checks.to_string())
        .kill_on_drop(true)
        .output();
    // The first run creates the virtual environment (pip install).
    let output = tokio::time::timeout(std::time::Duration::from_secs(600), run)
        .await
        .expect("tests/flight/run.sh timed out")
        .expect("start tests/flight/run.sh");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    server.stop().await;

    let calls = calls("t-py");
    println!("Flight SQL calls made by the ADBC driver:");
    for call in &calls {
        println!("  {call}");
    }
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("client.py printed no JSON ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    for check in report["checks"].as_array().into_iter().flatten() {
        println!(
            "{} {} -> {}",
            if check["ok"] == true { "ok  " } else { "FAIL" },
            check["check"],
            check["detail"]
        );
    }
    assert!(
        output.status.success() && report["ok"] == true,
        "client.py failed ({}):\n{stderr}",
        output.status
    );
    for expected in [
        "Handshake",
        "DoAction(CreatePreparedStatement)",
        "GetFlightInfo(CommandPreparedStatementQuery)",
        "DoGet(CommandPreparedStatementQuery)",
        "GetFlightInfo(CommandGetTables)",
        "DoGet(CommandGetTables)",
        "DoPut(CommandStatementUpdate)",
    ] {
        assert!(
            calls.iter().any(|c| c == expected),
            "{expected} not in {calls:?}"
        );
    }
}
