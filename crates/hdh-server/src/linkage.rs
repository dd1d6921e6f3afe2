//! Linkage jobs in the hub: the records of a dataset table linked with
//! those of another (a cohort with the SNDS's beneficiaries, say), or the
//! duplicates of one, by the Fellegi–Sunter model of `hdh_linkage`.
//!
//! A job reads the two tables of the dataset versions it names from the
//! lake, maps their columns to the settings' names (a name may be several
//! columns joined, e.g. département + commune), adds each commune's
//! employment basin and health sector from the vendored `IR_GEO_V`, trains
//! the model, scores the blocked pairs and writes the **link table** — the
//! pairs of pseudonyms at or above the threshold with their weight,
//! probability and cluster — as Parquet under `linkage/<job>/`, with its
//! manifest. One transaction then records the report (estimated precision
//! and recall; measured ones where the left table carries the right's
//! identifier for some records; the model; the sample of uncertain pairs
//! with each one's weight broken down) and the audit event. A failure or a
//! crash leaves no link table. Each job of a name is a new version.
//!
//! Link tables are for the hub's data team (the administrator role): they
//! review the uncertain pairs (clerical review), read the report, and
//! publish the table; provisioning then uses the newest published table
//! between two datasets of a project to link their persons.

use std::collections::{BTreeMap, HashMap, HashSet};

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use futures::StreamExt;
use hdh_linkage::report::{Quality, reviewed};
use hdh_linkage::{LinkType, Records, Settings};
use hdh_model::{AuditEvent, Outcome, Role};
use hdh_store::{LinkLabel, LinkageJob, now};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::service::{deny, invalid_fields};
use crate::{AppError, AppState};

/// Pairs shown for clerical review.
pub const REVIEW_PAIRS: usize = 40;

/// One side of a linkage: a table of a dataset version.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LinkageSide {
    pub dataset_id: String,
    /// The dataset version; the latest when omitted (the job pins it).
    #[serde(default)]
    pub version: Option<i64>,
    pub table: String,
    /// The person column that identifies a record (a pseudonym).
    pub id_column: String,
    /// The settings' column names, each from one or more of the table's
    /// columns joined (`"commune": ["BEN_RES_DPT", "BEN_RES_COM"]`); a
    /// name not given here is the table's column of that name.
    #[serde(default)]
    pub columns: BTreeMap<String, Vec<String>>,
    /// A person column holding, for some records, the other side's
    /// identifier (left side only): the ground truth precision and recall
    /// are measured on.
    #[serde(default)]
    pub truth_column: Option<String>,
}

/// A linkage job to start.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LinkageInput {
    /// The link table's name (letters, digits, `-`, `_`); a job of an
    /// existing name makes its next version.
    pub name: String,
    pub left: LinkageSide,
    /// The other side (none for a deduplication).
    #[serde(default)]
    pub right: Option<LinkageSide>,
    /// The model's settings, TOML (docs/linkage.md).
    pub settings: String,
}

/// What a job links, as recorded with it (versions pinned, key ids noted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkageSpec {
    pub left: PinnedSide,
    pub right: Option<PinnedSide>,
    pub settings: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PinnedSide {
    #[serde(flatten)]
    pub side: LinkageSide,
    pub version: i64,
    pub object_path: String,
    /// The level-2 key its pseudonyms are under.
    pub key_id: String,
}

/// One pair shown for clerical review: its weight broken down and the
/// values compared.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewPair {
    pub left_id: String,
    pub right_id: String,
    pub weight: f64,
    pub probability: f64,
    pub terms: Vec<TermOut>,
    /// Per comparison: the values compared (left, right).
    pub values: Vec<(String, Option<String>, Option<String>)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TermOut {
    pub comparison: String,
    pub level: String,
    pub weight: f64,
    pub tf_adjusted: bool,
}

/// The report of a done job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LinkageReport {
    pub quality: Quality,
    pub model: serde_json::Value,
    pub review: Vec<ReviewPair>,
    /// Left records that carry a truth value (measured on them).
    pub with_truth: u64,
    /// Commune codes the commune table does not know.
    pub unknown_communes: u64,
    pub seconds: f64,
}

fn hub_event(action: &str) -> AuditEvent {
    let mut e = AuditEvent::new(action, "linkage");
    e.role = Some("hub".into());
    e
}

async fn data_team(
    state: &AppState,
    caller: &Caller,
    action: &str,
    id: Option<&str>,
) -> Result<(), AppError> {
    if caller.has(Role::Admin) {
        return Ok(());
    }
    Err(deny(
        state,
        caller,
        action,
        "linkage",
        id,
        "linkage is run by the hub's data team (administrators)".into(),
    )
    .await)
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 80
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Resolves a side against the catalogue: the version, the table, its
/// columns; errors name the field.
async fn pin(state: &AppState, key: &str, side: &LinkageSide) -> Result<PinnedSide, AppError> {
    let bad = |field: &str, m: String| invalid_fields(vec![(format!("{key}.{field}"), m)]);
    if state.store.dataset(&side.dataset_id).await?.is_none() {
        return Err(bad(
            "dataset_id",
            format!("no dataset {:?}", side.dataset_id),
        ));
    }
    let versions = state.store.versions(&side.dataset_id).await?;
    let v = match side.version {
        Some(n) => versions.into_iter().find(|v| v.version == n),
        None => versions.into_iter().next(),
    }
    .ok_or_else(|| {
        bad(
            "version",
            format!("{} has no such version", side.dataset_id),
        )
    })?;
    let tables = state.store.tables(&side.dataset_id, v.version).await?;
    let t = tables
        .iter()
        .find(|t| t.table_name == side.table)
        .ok_or_else(|| {
            bad(
                "table",
                format!(
                    "{} v{} has no table {:?} (it has {})",
                    side.dataset_id,
                    v.version,
                    side.table,
                    tables
                        .iter()
                        .map(|t| t.table_name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
    let person: Vec<&str> = t
        .schema
        .person_fields()
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    if !person.contains(&side.id_column.as_str()) {
        return Err(bad(
            "id_column",
            format!(
                "{:?} is not a person identifier of {} (those are: {})",
                side.id_column,
                side.table,
                person.join(", ")
            ),
        ));
    }
    if let Some(tc) = &side.truth_column
        && !person.contains(&tc.as_str())
    {
        return Err(bad(
            "truth_column",
            format!("{tc:?} is not a person identifier of {}", side.table),
        ));
    }
    for (name, from) in &side.columns {
        if from.is_empty() {
            return Err(bad(
                &format!("columns.{name}"),
                "name one column or more".into(),
            ));
        }
        for c in from {
            if t.schema.field(c).is_none() {
                return Err(bad(
                    &format!("columns.{name}"),
                    format!("{} has no column {c:?}", side.table),
                ));
            }
        }
    }
    Ok(PinnedSide {
        side: side.clone(),
        version: v.version,
        object_path: t.object_path.clone(),
        key_id: v.key_id.clone(),
    })
}

/// The table's columns a side reads, and the settings' names it provides.
fn provided(side: &PinnedSide, table_columns: &[String]) -> Vec<String> {
    let mut names: Vec<String> = table_columns.to_vec();
    names.extend(side.side.columns.keys().cloned());
    names
}

/// Checks and queues a job; it runs in the background.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    input: &LinkageInput,
) -> Result<LinkageJob, AppError> {
    data_team(state, caller, "linkage.create", None).await?;
    let name = input.name.trim();
    if !valid_name(name) {
        return Err(invalid_fields(vec![(
            "name".into(),
            "1 to 80 letters, digits, '-' or '_'".into(),
        )]));
    }
    let settings = Settings::from_toml(&input.settings)
        .map_err(|e| invalid_fields(vec![("settings".into(), e.to_string())]))?;
    match (settings.link_type, &input.right) {
        (LinkType::LinkOnly, None) => {
            return Err(invalid_fields(vec![(
                "right".into(),
                "link_only settings link two sides: give the right side".into(),
            )]));
        }
        (LinkType::DedupeOnly, Some(_)) => {
            return Err(invalid_fields(vec![(
                "right".into(),
                "dedupe_only settings work on one side: no right side".into(),
            )]));
        }
        _ => {}
    }
    let left = pin(state, "left", &input.left).await?;
    let right = match &input.right {
        Some(r) => {
            if r.truth_column.is_some() {
                return Err(invalid_fields(vec![(
                    "right.truth_column".into(),
                    "the truth is a left column holding the right's identifier".into(),
                )]));
            }
            Some(pin(state, "right", r).await?)
        }
        None => None,
    };
    // The settings' columns must exist on both sides: checked now on
    // empty records, so that a mistake is told before any work.
    for (key, side) in std::iter::once(("left", &left)).chain(right.iter().map(|r| ("right", r))) {
        let t = state
            .store
            .tables(&side.side.dataset_id, side.version)
            .await?
            .into_iter()
            .find(|t| t.table_name == side.side.table)
            .ok_or_else(|| AppError::internal("table vanished"))?;
        let cols: Vec<String> = t.schema.fields.iter().map(|f| f.name.clone()).collect();
        let mut r = Records::new(Vec::new());
        for n in provided(side, &cols) {
            if r.column(&n).is_err() {
                r = r
                    .with_column(&n, Vec::new())
                    .map_err(|e| AppError::internal(e.to_string()))?;
            }
        }
        let (r, _) = r
            .with_places(&settings.communes, |_| None)
            .map_err(|e| invalid_fields(vec![(format!("{key}.columns"), e.to_string())]))?;
        hdh_linkage::model::Linker::new(&settings, &r, &r)
            .map_err(|e| invalid_fields(vec![(format!("{key}.columns"), e.to_string())]))?;
    }
    let spec = LinkageSpec {
        left,
        right,
        settings: input.settings.clone(),
    };
    let mut job = LinkageJob {
        id: format!("l-{}", uuid::Uuid::now_v7().simple()),
        name: name.to_string(),
        version: 0,
        left_dataset: spec.left.side.dataset_id.clone(),
        right_dataset: spec
            .right
            .as_ref()
            .unwrap_or(&spec.left)
            .side
            .dataset_id
            .clone(),
        spec: serde_json::to_value(&spec).map_err(|e| AppError::internal(e.to_string()))?,
        state: "queued".into(),
        progress: serde_json::json!({}),
        report: serde_json::json!({}),
        links_path: String::new(),
        links_sha256: String::new(),
        links: 0,
        error: None,
        created_by: Some(caller.user.id.clone()),
        created_at: now(),
        finished_at: None,
        published_at: None,
        published_by: None,
    };
    let mut tx = state.store.begin().await?;
    job.version = tx.insert_linkage_job(&job).await?;
    tx.audit(
        &caller
            .event("linkage.create", "linkage")
            .object(&job.id)
            .details(serde_json::json!({
                "name": job.name, "version": job.version,
                "left": format!("{} v{} {}", spec.left.side.dataset_id, spec.left.version, spec.left.side.table),
                "right": spec.right.as_ref().map(|r| format!("{} v{} {}", r.side.dataset_id, r.version, r.side.table)),
            })),
    )
    .await?;
    tx.commit().await?;
    let st = state.clone();
    let id = job.id.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&st, &id).await {
            tracing::warn!("linkage job {id} failed: {}", e.message);
            if let Err(e2) = fail(&st, &id, &e.message).await {
                tracing::error!(
                    "linkage job {id}: cannot record the failure: {}",
                    e2.message
                );
            }
        }
    });
    Ok(job)
}

async fn fail(state: &AppState, id: &str, why: &str) -> Result<(), AppError> {
    let Some(mut j) = state.store.linkage_job(id).await? else {
        return Ok(());
    };
    j.state = "failed".into();
    j.error = Some(why.to_string());
    j.finished_at = Some(now());
    let mut tx = state.store.begin().await?;
    tx.finish_linkage_job(&j).await?;
    tx.audit(
        &hub_event("linkage.run")
            .object(id)
            .outcome(Outcome::Failed)
            .details(serde_json::json!({ "name": j.name, "version": j.version, "error": why })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// After a restart: jobs that were queued or running did not finish; their
/// staging went with the lake's. They are marked failed.
pub async fn recover(state: &AppState) -> Result<(), AppError> {
    for j in state.store.unfinished_linkage_jobs().await? {
        if j.created_at >= state.started_at {
            continue;
        }
        fail(
            state,
            &j.id,
            "the hub stopped while this linkage ran: no link table was kept; start it again",
        )
        .await?;
    }
    Ok(())
}

/// The values of a side, as the settings name them: every table column as
/// text, then the joined ones; the ids; the truth column's values.
struct SideData {
    records: Records,
    truth: Option<Vec<Option<String>>>,
}

async fn read_side(
    state: &AppState,
    side: &PinnedSide,
    communes: &[String],
) -> Result<(SideData, usize), AppError> {
    let mut stream = crate::keys::read_parquet(state, &side.object_path).await?;
    let mut names: Vec<String> = Vec::new();
    let mut columns: Vec<Vec<Option<String>>> = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if names.is_empty() {
            names = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect();
            columns = vec![Vec::new(); names.len()];
        }
        for (c, col) in batch.columns().iter().enumerate() {
            let text = datafusion::arrow::compute::cast(col, &DataType::Utf8)
                .map_err(|e| AppError::internal(format!("{}: {e}", names[c])))?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| AppError::internal("cast to text"))?;
            for i in 0..text.len() {
                columns[c].push((!text.is_null(i)).then(|| text.value(i).to_string()));
            }
        }
    }
    let at = |n: &str| names.iter().position(|x| x == n);
    let id = at(&side.side.id_column)
        .ok_or_else(|| AppError::internal(format!("no column {}", side.side.id_column)))?;
    let ids: Vec<String> = columns[id]
        .iter()
        .map(|v| v.clone().unwrap_or_default())
        .collect();
    let truth = match &side.side.truth_column {
        Some(t) => Some(
            columns[at(t).ok_or_else(|| AppError::internal(format!("no column {t}")))?].clone(),
        ),
        None => None,
    };
    let n = ids.len();
    let mut records = Records::new(ids);
    for (name, from) in &side.side.columns {
        let idx: Vec<usize> = from
            .iter()
            .map(|c| at(c).ok_or_else(|| AppError::internal(format!("no column {c}"))))
            .collect::<Result<_, _>>()?;
        let joined = (0..n)
            .map(|r| {
                let mut s = String::new();
                for &c in &idx {
                    s.push_str(columns[c][r].as_deref()?);
                }
                Some(s)
            })
            .collect();
        records = records
            .with_column(name, joined)
            .map_err(|e| AppError::internal(e.to_string()))?;
    }
    for (c, name) in names.iter().enumerate() {
        if side.side.columns.contains_key(name) || c == id {
            continue;
        }
        records = records
            .with_column(name, std::mem::take(&mut columns[c]))
            .map_err(|e| AppError::internal(e.to_string()))?;
    }
    let table = hdh_refdata::communes::communes();
    let (records, unknown) = records
        .with_places(communes, |code| {
            table
                .get(code)
                .map(|c| (c.basin.as_str(), c.sector.as_str()))
        })
        .map_err(|e| AppError::internal(e.to_string()))?;
    Ok((SideData { records, truth }, unknown))
}

/// What the model's work gives back to the async side.
struct Outcome1 {
    links: Vec<(u32, u32, f64, f64, u64)>,
    quality: Quality,
    model: serde_json::Value,
    review: Vec<ReviewPair>,
}

fn link(
    settings: &Settings,
    left: &Records,
    right: &Records,
    truth: Option<&HashSet<(u32, u32)>>,
) -> Result<Outcome1, AppError> {
    let linker = hdh_linkage::model::Linker::new(settings, left, right)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let model = linker
        .train()
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let pairs = linker
        .blocked_pairs()
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let scored = linker.score(&model, &pairs);
    let mut quality =
        hdh_linkage::report::quality(&scored, settings.threshold, left.len(), right.len());
    let linked: Vec<_> = scored
        .iter()
        .filter(|s| s.probability >= settings.threshold)
        .collect();
    let pairs_linked: Vec<_> = linked.iter().map(|s| s.pair).collect();
    if let Some(truth) = truth {
        // Measured on the left records that carry the truth.
        let with: HashSet<u32> = truth.iter().map(|p| p.0).collect();
        let on: Vec<_> = pairs_linked
            .iter()
            .copied()
            .filter(|p| with.contains(&p.0))
            .collect();
        quality.measured = Some(hdh_linkage::report::measure(&on, truth));
    }
    let cluster =
        hdh_linkage::cluster::clusters(left.len(), right.len(), &pairs_linked, settings.link_type);
    let links = linked
        .iter()
        .map(|s| {
            (
                s.pair.0,
                s.pair.1,
                s.weight,
                s.probability,
                cluster[s.pair.0 as usize] as u64,
            )
        })
        .collect();
    let sample = hdh_linkage::report::review_sample(&scored, REVIEW_PAIRS, 42);
    let comparisons = linker.comparisons();
    let review = sample
        .iter()
        .map(|s| {
            let (i, j) = (s.pair.0 as usize, s.pair.1 as usize);
            ReviewPair {
                left_id: left.ids[i].clone(),
                right_id: right.ids[j].clone(),
                weight: s.weight,
                probability: s.probability,
                terms: linker
                    .explain(&model, s.pair)
                    .into_iter()
                    .map(|t| TermOut {
                        comparison: t.comparison,
                        level: t.level,
                        weight: t.weight,
                        tf_adjusted: t.tf_adjusted,
                    })
                    .collect(),
                values: comparisons
                    .iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            c.left_value(left, i).map(str::to_string),
                            c.right_value(right, j).map(str::to_string),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Outcome1 {
        links,
        quality,
        model: serde_json::to_value(&model).map_err(|e| AppError::internal(e.to_string()))?,
        review,
    })
}

async fn progress(state: &AppState, id: &str, step: &str) {
    let _ = state
        .store
        .set_linkage_progress(id, &serde_json::json!({ "step": step, "at": now() }))
        .await;
}

async fn run(state: &AppState, id: &str) -> Result<(), AppError> {
    let started = std::time::Instant::now();
    let mut job = state
        .store
        .linkage_job(id)
        .await?
        .ok_or_else(|| AppError::internal(format!("linkage job {id} vanished")))?;
    state.store.set_linkage_state(id, "running").await?;
    progress(state, id, "reading").await;
    let spec: LinkageSpec = serde_json::from_value(job.spec.clone())
        .map_err(|e| AppError::internal(format!("job spec: {e}")))?;
    let settings =
        Settings::from_toml(&spec.settings).map_err(|e| AppError::bad_request(e.to_string()))?;
    let (left, unknown_l) = read_side(state, &spec.left, &settings.communes).await?;
    let (right, unknown_r) = match &spec.right {
        Some(r) => {
            let (d, u) = read_side(state, r, &settings.communes).await?;
            (Some(d), u)
        }
        None => (None, 0),
    };
    // The truth: left records whose truth value is a right record's id,
    // compared as linking values (the two versions may be under different
    // level-2 keys).
    let right_side = spec.right.as_ref().unwrap_or(&spec.left);
    let right_records = right.as_ref().map_or(&left.records, |r| &r.records);
    let mut truth_pairs = None;
    let mut with_truth = 0u64;
    if let Some(tv) = &left.truth {
        let level2 = state.keys.load_all(
            [spec.left.key_id.as_str(), right_side.key_id.as_str()]
                .into_iter()
                .filter(|k| !k.is_empty()),
        )?;
        let active = crate::keys::active_key(state).await?;
        let linker = hdh_workspace::Linker {
            level2: &level2,
            active: Some(&active),
            bridge: None,
        };
        let mut by_value: HashMap<u128, Vec<u32>> = HashMap::new();
        for (j, rid) in right_records.ids.iter().enumerate() {
            if let Some(v) = linker.link(&right_side.key_id, rid) {
                by_value.entry(v).or_default().push(j as u32);
            }
        }
        let mut t = HashSet::new();
        for (i, v) in tv.iter().enumerate() {
            let Some(v) = v.as_deref().and_then(|v| linker.link(&spec.left.key_id, v)) else {
                continue;
            };
            with_truth += 1;
            for &j in by_value.get(&v).into_iter().flatten() {
                t.insert((i as u32, j));
            }
        }
        truth_pairs = Some(t);
    }
    progress(state, id, "training and scoring").await;
    let out = {
        let settings = settings.clone();
        let l = left.records;
        let r = right.map(|r| r.records);
        tokio::task::spawn_blocking(move || {
            let r = r.as_ref().unwrap_or(&l);
            link(&settings, &l, r, truth_pairs.as_ref()).map(|o| {
                let ids = o
                    .links
                    .iter()
                    .map(|&(i, j, ..)| (l.ids[i as usize].clone(), r.ids[j as usize].clone()))
                    .collect::<Vec<_>>();
                (o, ids)
            })
        })
        .await
        .map_err(|e| AppError::internal(format!("linkage task: {e}")))??
    };
    let (mut out, mut ids) = out;
    // In the order of the pseudonyms, whatever order the pairs were found
    // in: the same inputs give the same file.
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.sort_by(|&a, &b| ids[a].cmp(&ids[b]));
    ids = order.iter().map(|&k| ids[k].clone()).collect();
    out.links = order.iter().map(|&k| out.links[k]).collect();
    progress(state, id, "writing the link table").await;
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("left_id", DataType::Utf8, false),
        Field::new("right_id", DataType::Utf8, false),
        Field::new("weight", DataType::Float64, false),
        Field::new("probability", DataType::Float64, false),
        Field::new("cluster", DataType::UInt64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        std::sync::Arc::new(StringArray::from_iter_values(ids.iter().map(|p| &p.0))),
        std::sync::Arc::new(StringArray::from_iter_values(ids.iter().map(|p| &p.1))),
        std::sync::Arc::new(Float64Array::from_iter_values(
            out.links.iter().map(|l| l.2),
        )),
        std::sync::Arc::new(Float64Array::from_iter_values(
            out.links.iter().map(|l| l.3),
        )),
        std::sync::Arc::new(UInt64Array::from_iter_values(out.links.iter().map(|l| l.4))),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| AppError::internal(e.to_string()))?;
    let mut staging = state.lake.begin_staging();
    let mut w = state.lake.table_writer(&staging, "links", schema)?;
    w.write(&batch).await?;
    let entry = state.lake.finish_table(&mut staging, w).await?;
    let dest = format!("linkage/{}", job.id);
    let manifest = hdh_lake::Manifest {
        kind: "link_table".into(),
        id: job.name.clone(),
        version: job.version,
        created_at: now(),
        files: Vec::new(),
        metadata: serde_json::json!({
            "job": job.id,
            "left": { "dataset": spec.left.side.dataset_id, "version": spec.left.version, "table": spec.left.side.table, "key_id": spec.left.key_id },
            "right": { "dataset": right_side.side.dataset_id, "version": right_side.version, "table": right_side.side.table, "key_id": right_side.key_id },
            "threshold": settings.threshold,
        }),
    };
    let manifest = state.lake.publish(staging, &dest, manifest).await?;
    let path = manifest
        .files
        .first()
        .map(|f| f.path.clone())
        .unwrap_or_default();
    let report = LinkageReport {
        quality: out.quality,
        model: out.model,
        review: out.review,
        with_truth,
        unknown_communes: (unknown_l + unknown_r) as u64,
        seconds: started.elapsed().as_secs_f64(),
    };
    job.state = "done".into();
    job.progress = serde_json::json!({ "step": "done" });
    job.report = serde_json::to_value(&report).map_err(|e| AppError::internal(e.to_string()))?;
    job.links_path = path;
    job.links_sha256 = entry.sha256.clone();
    job.links = out.links.len() as i64;
    job.finished_at = Some(now());
    let mut tx = state.store.begin().await?;
    tx.finish_linkage_job(&job).await?;
    tx.audit(
        &hub_event("linkage.run")
            .object(&job.id)
            .details(serde_json::json!({
                "name": job.name,
                "version": job.version,
                "links": job.links,
                "candidate_pairs": report.quality.candidate_pairs,
                "estimated_precision": report.quality.estimated_precision,
                "estimated_recall": report.quality.estimated_recall,
                "sha256": job.links_sha256,
            })),
    )
    .await?;
    if let Err(e) = tx.commit().await {
        // Not recorded: the files must not outlive the failure.
        let _ = state.lake.delete_prefix(&dest).await;
        return Err(e.into());
    }
    Ok(())
}

/// Every job, newest first.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<LinkageJob>, AppError> {
    data_team(state, caller, "linkage.list", None).await?;
    Ok(state.store.linkage_jobs().await?)
}

/// A job with its labels and what they say.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(LinkageJob, Vec<LinkLabel>, serde_json::Value), AppError> {
    data_team(state, caller, "linkage.read", Some(id)).await?;
    let j = state
        .store
        .linkage_job(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("linkage job {id}")))?;
    let labels = state.store.link_labels(id).await?;
    let threshold = j.report["quality"]["threshold"].as_f64().unwrap_or(0.9);
    let r = reviewed(
        &labels
            .iter()
            .map(|l| {
                (
                    l.probability,
                    match l.label.as_str() {
                        "match" => Some(true),
                        "non_match" => Some(false),
                        _ => None,
                    },
                )
            })
            .collect::<Vec<_>>(),
        threshold,
    );
    Ok((
        j,
        labels,
        serde_json::to_value(r).map_err(|e| AppError::internal(e.to_string()))?,
    ))
}

/// A reviewer's verdict on a pair of the review sample.
pub async fn label(
    state: &AppState,
    caller: &Caller,
    id: &str,
    left_id: &str,
    right_id: &str,
    label: &str,
) -> Result<LinkLabel, AppError> {
    data_team(state, caller, "linkage.label", Some(id)).await?;
    if !matches!(label, "match" | "non_match" | "unsure") {
        return Err(invalid_fields(vec![(
            "label".into(),
            format!("{label:?}: match, non_match or unsure"),
        )]));
    }
    let j = state
        .store
        .linkage_job(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("linkage job {id}")))?;
    let report: LinkageReport = serde_json::from_value(j.report.clone()).map_err(|_| {
        AppError::conflict(format!(
            "linkage job {id} is {}: nothing to review",
            j.state
        ))
    })?;
    let pair = report
        .review
        .iter()
        .find(|p| p.left_id == left_id && p.right_id == right_id)
        .ok_or_else(|| {
            invalid_fields(vec![(
                "left_id".into(),
                "not a pair of this job's review sample".into(),
            )])
        })?;
    let l = LinkLabel {
        job_id: id.to_string(),
        left_id: left_id.to_string(),
        right_id: right_id.to_string(),
        probability: pair.probability,
        label: label.to_string(),
        labelled_by: caller.user.id.clone(),
        labelled_at: now(),
    };
    let mut tx = state.store.begin().await?;
    tx.put_link_label(&l).await?;
    tx.audit(
        &caller
            .event("linkage.label", "linkage")
            .object(id)
            .details(serde_json::json!({ "label": label, "probability": pair.probability })),
    )
    .await?;
    tx.commit().await?;
    Ok(l)
}

/// Makes a done link table usable by provisioning.
pub async fn publish(state: &AppState, caller: &Caller, id: &str) -> Result<LinkageJob, AppError> {
    data_team(state, caller, "linkage.publish", Some(id)).await?;
    let j = state
        .store
        .linkage_job(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("linkage job {id}")))?;
    if j.state != "done" || j.published_at.is_some() {
        return Err(AppError::conflict(format!(
            "linkage job {id} is {}{}: only a done, unpublished link table can be published",
            j.state,
            if j.published_at.is_some() {
                ", published"
            } else {
                ""
            }
        )));
    }
    let mut tx = state.store.begin().await?;
    tx.publish_linkage_job(id, &caller.user.id, &now()).await?;
    tx.audit(
        &caller
            .event("linkage.publish", "linkage")
            .object(id)
            .details(serde_json::json!({ "name": j.name, "version": j.version, "links": j.links, "sha256": j.links_sha256 })),
    )
    .await?;
    tx.commit().await?;
    state
        .store
        .linkage_job(id)
        .await?
        .ok_or_else(|| AppError::not_found(format!("linkage job {id}")))
}

/// Waits until a job ends (tests, the demo); its final state.
pub async fn wait_for(
    state: &AppState,
    id: &str,
    timeout: std::time::Duration,
) -> Result<LinkageJob, AppError> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let j = state
            .store
            .linkage_job(id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("linkage job {id}")))?;
        if j.state == "done" || j.state == "failed" {
            return Ok(j);
        }
        if std::time::Instant::now() > deadline {
            return Err(AppError::internal(format!(
                "linkage job {id} did not end within {} s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- the demo

/// The demo's linkage: the demo cohort's participants with the SNDS's
/// beneficiaries, on sex, birth year and month, and place of residence.
pub fn demo_input() -> LinkageInput {
    let cols = |pairs: &[(&str, &[&str])]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|c| c.to_string()).collect()))
            .collect()
    };
    LinkageInput {
        name: "cohort-demo-snds".into(),
        left: LinkageSide {
            dataset_id: "cohort-demo".into(),
            version: None,
            table: "COHORTE".into(),
            id_column: "ID_PARTICIPANT".into(),
            columns: cols(&[
                ("sex", &["SEXE"]),
                ("birth_year", &["ANNEE_NAISSANCE"]),
                ("birth_month", &["MOIS_NAISSANCE"]),
                ("dpt", &["DPT_RESIDENCE"]),
                ("commune", &["DPT_RESIDENCE", "COM_RESIDENCE"]),
            ]),
            truth_column: Some("BEN_NIR_PSA".into()),
        },
        right: Some(LinkageSide {
            dataset_id: "snds-demo".into(),
            version: None,
            table: "IR_BEN_R".into(),
            id_column: "BEN_NIR_PSA".into(),
            columns: cols(&[
                ("sex", &["BEN_SEX_COD"]),
                ("birth_year", &["BEN_NAI_ANN"]),
                ("birth_month", &["BEN_NAI_MOI"]),
                ("dpt", &["BEN_RES_DPT"]),
                ("commune", &["BEN_RES_DPT", "BEN_RES_COM"]),
            ]),
            truth_column: None,
        }),
        settings: DEMO_SETTINGS.into(),
    }
}

pub const DEMO_SETTINGS: &str = r#"# A cohort (left) with the SNDS's beneficiaries (right): docs/linkage.md
link_type = "link_only"
threshold = 0.9
recall = 0.8
communes = ["commune"]      # adds commune_basin and commune_sector (IR_GEO_V)

[[blocking]]
columns = ["birth_year", "birth_month", "sex"]
[[blocking]]
columns = ["birth_year", "dpt"]
[[blocking]]
columns = ["commune", "sex"]

[[deterministic]]
columns = ["sex", "birth_year", "birth_month", "commune"]

[training]
u_pairs = 300000
seed = 42
[[training.blocking]]
columns = ["birth_year", "birth_month"]
[[training.blocking]]
columns = ["commune"]

[[comparison]]
name = "sex"
columns = ["sex"]
levels = [{ kind = "exact" }]

[[comparison]]
name = "birth_year"
columns = ["birth_year"]
levels = [{ kind = "exact" }, { kind = "damerau_levenshtein", max = 1 }]

[[comparison]]
name = "birth_month"
columns = ["birth_month"]
levels = [{ kind = "exact" }]

[[comparison]]
name = "commune"
columns = ["commune"]
levels = [
  { kind = "exact" },
  { kind = "same", column = "commune_basin" },
  { kind = "prefix", chars = 3 },
]
"#;

// ---------------------------------------------------------------- API

/// The link tables, newest first (the hub's data team).
#[utoipa::path(get, path = "/api/linkage/jobs", responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_list(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let jobs = list(&st, &c).await?;
    Ok(axum::Json(serde_json::json!({ "jobs": jobs })))
}

/// Starts a linkage job between two dataset tables (or a deduplication).
#[utoipa::path(post, path = "/api/linkage/jobs", request_body = LinkageInput, responses((status = 202, body = Object), (status = 400, body = crate::api::ErrorBody), (status = 403, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_create(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    crate::api::ApiJson(i): crate::api::ApiJson<LinkageInput>,
) -> Result<(axum::http::StatusCode, axum::Json<serde_json::Value>), AppError> {
    let j = start(&st, &c, &i).await?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "job": j })),
    ))
}

/// A job: its state, report, and the clerical review's labels.
#[utoipa::path(get, path = "/api/linkage/jobs/{id}", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_get(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let (j, labels, reviewed) = get(&st, &c, &id).await?;
    Ok(axum::Json(
        serde_json::json!({ "job": j, "labels": labels, "reviewed": reviewed }),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LabelInput {
    pub left_id: String,
    pub right_id: String,
    /// match, non_match or unsure.
    pub label: String,
}

/// Labels a pair of the review sample.
#[utoipa::path(post, path = "/api/linkage/jobs/{id}/labels", params(("id" = String, Path)), request_body = LabelInput, responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody), (status = 422, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_label(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    crate::api::ApiJson(i): crate::api::ApiJson<LabelInput>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let l = label(&st, &c, &id, &i.left_id, &i.right_id, &i.label).await?;
    Ok(axum::Json(serde_json::json!({ "label": l })))
}

/// Publishes a done link table: provisioning uses it from then on.
#[utoipa::path(post, path = "/api/linkage/jobs/{id}/publish", params(("id" = String, Path)), responses((status = 200, body = Object), (status = 403, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)), security(("bearer" = [])))]
pub async fn api_publish(
    axum::extract::State(st): axum::extract::State<AppState>,
    c: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::Json<serde_json::Value>, AppError> {
    let j = publish(&st, &c, &id).await?;
    Ok(axum::Json(serde_json::json!({ "job": j })))
}

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route(
            "/api/linkage/jobs",
            axum::routing::get(api_list).post(api_create),
        )
        .route("/api/linkage/jobs/{id}", axum::routing::get(api_get))
        .route(
            "/api/linkage/jobs/{id}/labels",
            axum::routing::post(api_label),
        )
        .route(
            "/api/linkage/jobs/{id}/publish",
            axum::routing::post(api_publish),
        )
}
