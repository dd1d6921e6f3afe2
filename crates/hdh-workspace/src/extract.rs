//! Building a project's extraction: exactly the approved data.
//!
//! From the authorised request's scope, [`provision`] keeps the approved
//! tables and columns, the rows in the approved period, the persons of the
//! approved population (criteria on codes and dates, see
//! [`hdh_model::PopulationCriterion`]) minus everyone in the opposition
//! register, and replaces person identifiers with the project's pseudonyms.
//!
//! Persons are linked across tables and datasets on their level-2 pseudonym
//! (brought to the active level-2 key in memory, [`Linker`]), never on the
//! project's. A table without a person column is restricted through its
//! foreign keys: to a table with one (`ER_PHA_F` → `ER_PRS_F`), from one
//! (`T_MCO23B` ← `T_MCO23C`), or beside one referencing the same table
//! (`T_MCO23D` and `T_MCO23C` → `T_MCO23B`). A table with no such link (a
//! reference table such as `IR_PHA_R`) is copied whole, and the report says
//! so.
//!
//! The result is deterministic: sources are read in file order by one
//! partition, filtered row by row in that order, and written with fixed
//! Parquet properties, so the same inputs (dataset versions, criteria,
//! register, project) give byte-identical files. Everything is written to
//! lake staging and published under a new prefix, so a failure or a crash
//! leaves no half-built extraction; the caller points the project at it in
//! one transaction.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, Date32Array, StringArray};
use datafusion::arrow::compute::{cast, filter_record_batch};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::ScalarValue;
use datafusion::prelude::{ParquetReadOptions, SessionContext, ident, lit};
use futures::StreamExt;
use hdh_lake::{Lake, Layout, Manifest};
use hdh_model::PopulationCriterion;
use hdh_pseudo::level2::{Level2Key, Level2Pseudonym};
use serde::{Deserialize, Serialize};

use crate::{WorkspaceError, pseudonyms};

/// A foreign key of a source table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceForeignKey {
    pub fields: Vec<String>,
    /// Referenced table, in the same dataset version.
    pub table: String,
    pub reference: Vec<String>,
}

/// A table of a dataset version the extraction may read: approved for the
/// project or needed to link persons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTable {
    pub dataset_id: String,
    pub dataset_version: i64,
    pub name: String,
    /// Lake path of its Parquet file.
    pub path: String,
    /// SHA-256 of that file (from the version's manifest), for the record.
    #[serde(default)]
    pub sha256: String,
    /// The level-2 key its identifiers are encrypted with (`""`: none).
    #[serde(default)]
    pub key_id: String,
    pub person_columns: Vec<String>,
    pub period_column: Option<String>,
    pub foreign_keys: Vec<SourceForeignKey>,
    pub columns: Vec<String>,
}

/// One table of an extraction, as approved.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub dataset_id: String,
    pub dataset_version: i64,
    /// Lake path of the source Parquet file.
    pub source_path: String,
    /// Approved columns, in the order they will appear.
    pub columns: Vec<String>,
    /// Columns holding a person identifier: replaced by project pseudonyms.
    pub person_columns: Vec<String>,
    /// Date column used to restrict rows to the approved period, if any.
    pub period_column: Option<String>,
    /// The level-2 key the source version's identifiers are encrypted with
    /// (`""`: none, identifiers keyed directly).
    #[serde(default)]
    pub key_id: String,
}

/// The opposition register's state an extraction was built with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterState {
    /// Highest entry sequence number taken into account.
    pub seq: i64,
    /// Entries in force then.
    pub entries: usize,
}

/// Everything an extraction is built from; recorded with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtractionSpec {
    pub project_id: String,
    pub period_start: chrono::NaiveDate,
    pub period_end: chrono::NaiveDate,
    pub tables: Vec<TableSpec>,
    /// Every table of the dataset versions in scope (links, criteria).
    #[serde(default)]
    pub sources: Vec<SourceTable>,
    #[serde(default)]
    pub criteria: Vec<PopulationCriterion>,
    #[serde(default)]
    pub register: RegisterState,
    /// The published link tables that joined persons of two sources.
    #[serde(default)]
    pub link_tables: Vec<LinkTableRef>,
}

/// A link table an extraction used (see [`Bridge`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinkTableRef {
    pub name: String,
    pub version: i64,
    pub left_dataset: String,
    pub right_dataset: String,
    /// Lake path and SHA-256 of its Parquet file.
    pub path: String,
    pub sha256: String,
    /// Left persons it bridged (each to its most probable right person).
    pub persons: u64,
}

/// Persons in the opposition register, as linking values ([`Linker`]).
#[derive(Debug, Clone, Default)]
pub struct Oppositions {
    /// Opposed to every research use.
    pub all: HashSet<u128>,
    /// Opposed to the use of one dataset.
    pub by_dataset: HashMap<String, HashSet<u128>>,
}

impl Oppositions {
    pub fn is_opposed(&self, dataset: &str, person: u128) -> bool {
        self.all.contains(&person)
            || self
                .by_dataset
                .get(dataset)
                .is_some_and(|s| s.contains(&person))
    }

    fn any_for(&self, dataset: &str) -> bool {
        !self.all.is_empty() || self.by_dataset.get(dataset).is_some_and(|s| !s.is_empty())
    }

    pub fn len(&self) -> usize {
        self.all.len() + self.by_dataset.values().map(HashSet::len).sum::<usize>()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Persons of one source joined to another's by a published link table
/// (where no identifier is shared): a level-2 pseudonym of the left side
/// (with its version's key) → the right side's pseudonym and key. A person
/// so bridged gets the right person's linking value and project pseudonym;
/// one not in the table keeps their own. In memory only.
#[derive(Debug, Clone, Default)]
pub struct Bridge {
    map: HashMap<(String, String), (String, String)>,
}

impl Bridge {
    pub fn insert(&mut self, left_key: &str, left: &str, right_key: &str, right: &str) {
        self.map.insert(
            (left_key.to_string(), left.to_string()),
            (right_key.to_string(), right.to_string()),
        );
    }

    /// The right side's key id and pseudonym of a left pseudonym.
    pub fn get(&self, key_id: &str, value: &str) -> Option<(&str, &str)> {
        // Borrowed lookup without allocating a key per call would need a
        // raw-entry API; the tuple is built once per value.
        self.map
            .get(&(key_id.to_string(), value.to_string()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Brings level-2 pseudonyms of any key to one linking value: the
/// pseudonym under the active level-2 key, as a number. In memory only.
pub struct Linker<'a> {
    pub level2: &'a HashMap<String, Level2Key>,
    pub active: Option<&'a Level2Key>,
    /// Persons joined by link tables.
    pub bridge: Option<&'a Bridge>,
}

impl Linker<'_> {
    /// The linking value of a level-2 pseudonym of version key `key_id`
    /// (through the bridge, when it joins that person to another source's);
    /// `None` when the value is not a pseudonym of that key.
    pub fn link(&self, key_id: &str, value: &str) -> Option<u128> {
        if let Some((k, v)) = self.bridge.and_then(|b| b.get(key_id, value)) {
            return self.link_direct(k, v);
        }
        self.link_direct(key_id, value)
    }

    fn link_direct(&self, key_id: &str, value: &str) -> Option<u128> {
        if key_id.is_empty() {
            // A version from before the chain: identifiers keyed directly.
            // They link among themselves only.
            let mut h = std::collections::hash_map::DefaultHasher::new();
            value.hash(&mut h);
            let a = h.finish();
            "hdh".hash(&mut h);
            return Some((u128::from(a) << 64) | u128::from(h.finish()));
        }
        let l2 = Level2Pseudonym::from_hex(value).ok()?;
        let bytes = match self.active {
            Some(active) if active.id() != key_id => {
                let from = self.level2.get(key_id)?;
                active.encrypt(&from.decrypt(&l2)).0
            }
            _ => l2.0,
        };
        Some(u128::from_be_bytes(bytes))
    }

    /// The linking value of a level-2 pseudonym given under the active key
    /// (an opposition's).
    pub fn link_active(&self, value: &str) -> Option<u128> {
        Level2Pseudonym::from_hex(value)
            .ok()
            .map(|p| u128::from_be_bytes(p.0))
    }
}

/// What a built extraction contains: shown to the project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtractionReport {
    pub tables: Vec<TableReport>,
    /// Distinct persons over every table.
    pub persons: u64,
    /// Persons selected by the population criteria (before the period and
    /// column restrictions of each table), when there are criteria.
    pub population: Option<u64>,
    /// First and last day actually covered by the period columns.
    pub first_day: Option<chrono::NaiveDate>,
    pub last_day: Option<chrono::NaiveDate>,
    /// The criteria in words.
    pub criteria: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    pub table: String,
    pub dataset: String,
    pub rows: u64,
    /// Distinct persons (absent for a table not linked to persons).
    pub persons: Option<u64>,
    pub first_day: Option<chrono::NaiveDate>,
    pub last_day: Option<chrono::NaiveDate>,
    /// How rows were restricted to persons: `person` (its own identifier
    /// column), `linked to <table>`, or `not restricted` (reference table).
    pub restriction: String,
    /// Rows left out because their person is in the opposition register
    /// (kept in the hub's records; not shown to the project).
    #[serde(default)]
    pub opposed_rows: u64,
    pub sha256: String,
    pub bytes: u64,
}

/// Progress of a provisioning, for the job's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// `population`, or the table being written.
    pub stage: String,
    pub rows: u64,
    pub tables_done: usize,
    pub tables_total: usize,
}

/// What [`provision`] published.
#[derive(Debug, Clone)]
pub struct Extraction {
    pub manifest: Manifest,
    pub report: ExtractionReport,
    /// The prefix it was published under.
    pub prefix: String,
}

/// The prefix of one build of a project's extraction.
pub fn build_prefix(project_id: &str, build_id: &str) -> String {
    format!("{}/{build_id}", crate::extraction_prefix(project_id))
}

/// One hop between two tables of a dataset version: equal key columns.
#[derive(Debug, Clone)]
struct Hop {
    to: usize,
    /// (column of the current table, column of `to`)
    pairs: Vec<(String, String)>,
}

/// The hops from a table. For restricting a table's rows (`restrict`), a
/// reverse foreign key (another table referencing this one) counts only
/// when that table holds the person: `T_MCO23B` ← `T_MCO23C` (one stay,
/// one person) does, `IR_PHA_R` ← `ER_PHA_F` (a drug, dispensed to
/// anyone) does not — a reference table is copied whole. Criteria follow
/// every hop (from a drug's ATC code to who was dispensed it).
fn hops(sources: &[SourceTable], from: usize, restrict: bool) -> Vec<Hop> {
    let me = &sources[from];
    let same_version =
        |s: &SourceTable| s.dataset_id == me.dataset_id && s.dataset_version == me.dataset_version;
    let mut out = Vec::new();
    for (j, other) in sources.iter().enumerate() {
        if j == from || !same_version(other) {
            continue;
        }
        // me → other
        for fk in &me.foreign_keys {
            if fk.table == other.name {
                out.push(Hop {
                    to: j,
                    pairs: fk
                        .fields
                        .iter()
                        .cloned()
                        .zip(fk.reference.clone())
                        .collect(),
                });
            }
        }
        // other → me
        for fk in &other.foreign_keys {
            if fk.table == me.name && (!restrict || !other.person_columns.is_empty()) {
                out.push(Hop {
                    to: j,
                    pairs: fk
                        .reference
                        .iter()
                        .cloned()
                        .zip(fk.fields.clone())
                        .collect(),
                });
            }
        }
        // both → the same table on the same referenced columns
        for a in &me.foreign_keys {
            for b in &other.foreign_keys {
                if a.table == b.table && a.reference == b.reference && a.table != other.name {
                    out.push(Hop {
                        to: j,
                        pairs: a.fields.iter().cloned().zip(b.fields.clone()).collect(),
                    });
                }
            }
        }
    }
    out
}

/// The shortest chain of hops from a table to one with a person column
/// (empty when the table has one itself); `None` when there is none.
fn path_to_person(
    sources: &[SourceTable],
    from: usize,
    restrict: bool,
) -> Option<Vec<(usize, Hop)>> {
    if !sources[from].person_columns.is_empty() {
        return Some(vec![]);
    }
    let mut seen = vec![false; sources.len()];
    seen[from] = true;
    let mut queue: VecDeque<(usize, Vec<(usize, Hop)>)> = VecDeque::from([(from, vec![])]);
    while let Some((at, path)) = queue.pop_front() {
        for hop in hops(sources, at, restrict) {
            if seen[hop.to] {
                continue;
            }
            seen[hop.to] = true;
            let to = hop.to;
            let mut p = path.clone();
            p.push((at, hop));
            if !sources[to].person_columns.is_empty() {
                return Some(p);
            }
            queue.push_back((to, p));
        }
    }
    None
}

fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn date_lit(d: chrono::NaiveDate) -> String {
    format!("DATE '{}'", d.format("%Y-%m-%d"))
}

/// `FROM s0 AS t0 JOIN s3 AS t1 ON … ` along a path; returns the SQL and
/// the alias index of each table on it.
fn join_sql(start: usize, path: &[(usize, Hop)]) -> (String, Vec<usize>) {
    let mut sql = format!("FROM s{start} AS t0");
    let mut tables = vec![start];
    for (k, (_, hop)) in path.iter().enumerate() {
        let on: Vec<String> = hop
            .pairs
            .iter()
            .map(|(a, b)| format!("t{k}.{} = t{}.{}", q(a), k + 1, q(b)))
            .collect();
        sql.push_str(&format!(
            " JOIN s{} AS t{} ON {}",
            hop.to,
            k + 1,
            on.join(" AND ")
        ));
        tables.push(hop.to);
    }
    (sql, tables)
}

fn text(col: &ArrayRef) -> Result<StringArray, WorkspaceError> {
    let c = cast(col, &DataType::Utf8)?;
    c.as_any()
        .downcast_ref::<StringArray>()
        .cloned()
        .ok_or_else(|| WorkspaceError::Spec("not a text column".into()))
}

/// 128 bits of SipHash over a key's row encoding: in memory only.
fn key_hash(bytes: &[u8]) -> u128 {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xa5u8.hash(&mut b);
    bytes.hash(&mut b);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

struct Build<'a> {
    ctx: SessionContext,
    spec: &'a ExtractionSpec,
    linker: &'a Linker<'a>,
    oppositions: &'a Oppositions,
}

impl Build<'_> {
    fn source(&self, dataset: &str, table: &str) -> Result<usize, WorkspaceError> {
        self.spec
            .sources
            .iter()
            .position(|s| s.dataset_id == dataset && s.name == table)
            .ok_or_else(|| {
                WorkspaceError::Spec(format!(
                    "table {dataset}.{table} is not in the request's scope"
                ))
            })
    }

    /// Streams a SQL query's batches.
    async fn stream(
        &self,
        sql: &str,
    ) -> Result<datafusion::physical_plan::SendableRecordBatchStream, WorkspaceError> {
        Ok(self.ctx.sql(sql).await?.execute_stream().await?)
    }

    /// The persons one criterion matches.
    async fn criterion(
        &self,
        c: &PopulationCriterion,
        index: usize,
    ) -> Result<HashSet<u128>, WorkspaceError> {
        let bad = |m: String| WorkspaceError::Spec(format!("population criterion {index}: {m}"));
        let start = self.source(&c.dataset, &c.table)?;
        let src = &self.spec.sources[start];
        if !src.columns.contains(&c.column) {
            return Err(bad(format!("{} has no column {}", c.table, c.column)));
        }
        let path = path_to_person(&self.spec.sources, start, false).ok_or_else(|| {
            bad(format!(
                "{} is linked to no table with a person identifier",
                c.table
            ))
        })?;
        let (from_sql, tables) = join_sql(start, &path);
        let last = tables.len() - 1;
        let person_table = &self.spec.sources[tables[last]];
        let person = &person_table.person_columns[0];
        let codes: Vec<String> = c
            .codes
            .iter()
            .map(|p| {
                format!(
                    "starts_with(CAST(t0.{} AS VARCHAR), '{}')",
                    q(&c.column),
                    p.replace('\'', "''")
                )
            })
            .collect();
        let mut filter = format!("({})", codes.join(" OR "));
        let (from, to) = c.window((self.spec.period_start, self.spec.period_end));
        if let Some((k, pc)) = tables.iter().enumerate().find_map(|(k, &i)| {
            self.spec.sources[i]
                .period_column
                .as_ref()
                .map(|pc| (k, pc.clone()))
        }) {
            filter.push_str(&format!(
                " AND t{k}.{} BETWEEN {} AND {}",
                q(&pc),
                date_lit(from),
                date_lit(to)
            ));
        }
        let sql = format!(
            "SELECT person FROM (SELECT t{last}.{p} AS person {from_sql} WHERE {filter}) AS m \
             GROUP BY person HAVING COUNT(*) >= {n}",
            p = q(person),
            n = c.min_rows,
        );
        let mut stream = self.stream(&sql).await?;
        let mut out = HashSet::new();
        while let Some(b) = stream.next().await {
            let b = b?;
            let col = text(b.column(0))?;
            for v in col.iter().flatten() {
                if let Some(p) = self.linker.link(&person_table.key_id, v)
                    && !self.oppositions.is_opposed(&c.dataset, p)
                {
                    out.insert(p);
                }
            }
        }
        Ok(out)
    }

    /// Persons of the population: every inclusion criterion, no exclusion.
    async fn population(&self) -> Result<Option<HashSet<u128>>, WorkspaceError> {
        let mut included: Option<HashSet<u128>> = None;
        let mut excluded: HashSet<u128> = HashSet::new();
        for (i, c) in self.spec.criteria.iter().enumerate() {
            let set = self.criterion(c, i + 1).await?;
            if c.exclude {
                excluded.extend(set);
            } else {
                included = Some(match included {
                    None => set,
                    Some(prev) => prev.intersection(&set).copied().collect(),
                });
            }
        }
        Ok(match (included, self.spec.criteria.is_empty()) {
            (_, true) => None,
            (Some(mut inc), _) => {
                inc.retain(|p| !excluded.contains(p));
                Some(inc)
            }
            // Only exclusions: everyone but them. Expressed as "not excluded".
            (None, false) => {
                return Err(WorkspaceError::Spec(
                    "the population needs at least one inclusion criterion besides exclusions"
                        .into(),
                ));
            }
        })
    }

    /// For a table without a person column: the person of each key value of
    /// its first hop, as (key columns, key hash → person).
    async fn linked_keys(
        &self,
        start: usize,
        path: &[(usize, Hop)],
    ) -> Result<(Vec<String>, HashMap<u128, u128>), WorkspaceError> {
        let (from_sql, tables) = join_sql(start, path);
        let last = tables.len() - 1;
        let person_table = &self.spec.sources[tables[last]];
        let person = &person_table.person_columns[0];
        let keys: Vec<String> = path[0].1.pairs.iter().map(|(a, _)| a.clone()).collect();
        let key_sql: Vec<String> = keys.iter().map(|k| format!("t0.{}", q(k))).collect();
        let sql = format!(
            "SELECT DISTINCT {}, t{last}.{} {from_sql}",
            key_sql.join(", "),
            q(person)
        );
        let mut stream = self.stream(&sql).await?;
        let mut converter: Option<RowConverter> = None;
        let mut out = HashMap::new();
        while let Some(b) = stream.next().await {
            let b = b?;
            let n = keys.len();
            let conv = match &mut converter {
                Some(c) => c,
                None => converter.insert(RowConverter::new(
                    b.columns()[..n]
                        .iter()
                        .map(|c| SortField::new(c.data_type().clone()))
                        .collect(),
                )?),
            };
            let rows = conv.convert_columns(&b.columns()[..n])?;
            let persons = text(b.column(n))?;
            for (i, row) in rows.iter().enumerate() {
                if persons.is_null(i) {
                    continue;
                }
                if let Some(p) = self.linker.link(&person_table.key_id, persons.value(i)) {
                    out.insert(key_hash(row.as_ref()), p);
                }
            }
        }
        Ok((keys, out))
    }
}

/// How one table's rows are tied to persons.
enum Restriction {
    Person(String),
    Linked(Vec<String>, HashMap<u128, u128>, String),
    /// Linked, but nothing to filter (no criteria, no opposition).
    Unfiltered(String),
    None,
}

/// Builds a project's extraction into lake staging and publishes it under
/// [`build_prefix`]; nothing is visible until the caller records it.
pub async fn provision(
    lake: &Lake,
    spec: &ExtractionSpec,
    build_id: &str,
    key: &pseudonyms::ProjectPseudonymiser<'_>,
    linker: &Linker<'_>,
    oppositions: &Oppositions,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Extraction, WorkspaceError> {
    // A version whose level-2 key is not at hand would link to no one and
    // silently empty the extraction: refuse before reading anything.
    let key_ids = spec
        .sources
        .iter()
        .map(|s| (&s.dataset_id, &s.key_id))
        .chain(spec.tables.iter().map(|t| (&t.dataset_id, &t.key_id)));
    for (dataset, key_id) in key_ids {
        let at_hand = key_id.is_empty()
            || linker.level2.contains_key(key_id)
            || linker.active.is_some_and(|k| k.id() == key_id);
        if !at_hand {
            return Err(WorkspaceError::Spec(format!(
                "the level-2 key {key_id} of dataset {dataset} is not available"
            )));
        }
    }
    // One partition: sources are read, filtered and written in file order.
    let ctx = crate::engine_with(lake, &crate::Limits::default(), 1)?;
    for (i, s) in spec.sources.iter().enumerate() {
        ctx.register_parquet(
            format!("s{i}").as_str(),
            lake.url(&s.path),
            ParquetReadOptions::default(),
        )
        .await?;
    }
    let build = Build {
        ctx,
        spec,
        linker,
        oppositions,
    };
    let total = spec.tables.len();
    progress(&Progress {
        stage: "population".into(),
        rows: 0,
        tables_done: 0,
        tables_total: total,
    });
    let population = build.population().await?;
    let mut staging = lake.begin_staging();
    let mut reports = Vec::new();
    let result: Result<(), WorkspaceError> = async {
        for (done, t) in spec.tables.iter().enumerate() {
            reports.push(
                write_table(
                    &build,
                    lake,
                    &mut staging,
                    t,
                    population.as_ref(),
                    key,
                    &|rows| {
                        progress(&Progress {
                            stage: t.name.clone(),
                            rows,
                            tables_done: done,
                            tables_total: total,
                        })
                    },
                )
                .await?,
            );
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        lake.abort(staging).await?;
        return Err(e);
    }
    let mut all_persons: HashSet<u128> = HashSet::new();
    for r in &mut reports {
        all_persons.extend(r.1.drain());
    }
    let mut reports: Vec<TableReport> = reports.into_iter().map(|r| r.0).collect();
    let period = (spec.period_start, spec.period_end);
    let report_base = ExtractionReport {
        persons: all_persons.len() as u64,
        population: population.as_ref().map(|p| p.len() as u64),
        first_day: reports.iter().filter_map(|r| r.first_day).min(),
        last_day: reports.iter().filter_map(|r| r.last_day).max(),
        criteria: spec.criteria.iter().map(|c| c.describe(period)).collect(),
        tables: vec![],
    };
    let prefix = build_prefix(&spec.project_id, build_id);
    let manifest = Manifest {
        kind: "extraction".into(),
        id: spec.project_id.clone(),
        version: 1,
        created_at: chrono::Utc::now().to_rfc3339(),
        files: vec![],
        metadata: serde_json::json!({ "spec": spec, "build": build_id }),
    };
    let manifest = lake.publish(staging, &prefix, manifest).await?;
    for r in &mut reports {
        if let Some(f) = manifest.files.iter().find(|f| f.table == r.table) {
            r.sha256 = f.sha256.clone();
            r.bytes = f.bytes;
        }
    }
    Ok(Extraction {
        manifest,
        report: ExtractionReport {
            tables: reports,
            ..report_base
        },
        prefix,
    })
}

pub(crate) fn days(d: chrono::NaiveDate) -> i32 {
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    (d - epoch).num_days() as i32
}

fn from_days(d: i32) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?
        .checked_add_signed(chrono::Duration::days(d.into()))
}

async fn write_table(
    build: &Build<'_>,
    lake: &Lake,
    staging: &mut hdh_lake::Staging,
    t: &TableSpec,
    population: Option<&HashSet<u128>>,
    key: &pseudonyms::ProjectPseudonymiser<'_>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<(TableReport, HashSet<u128>), WorkspaceError> {
    if t.columns.is_empty() {
        return Err(WorkspaceError::Spec(format!(
            "table {} has no approved column",
            t.name
        )));
    }
    let spec = build.spec;
    let opposed_here = build.oppositions.any_for(&t.dataset_id);
    let src_index = spec
        .sources
        .iter()
        .position(|s| s.dataset_id == t.dataset_id && s.name == t.name);
    let restriction = match src_index {
        _ if !t.person_columns.is_empty() => Restriction::Person(t.person_columns[0].clone()),
        Some(i) if !spec.sources[i].person_columns.is_empty() => {
            Restriction::Person(spec.sources[i].person_columns[0].clone())
        }
        Some(i) => match path_to_person(&spec.sources, i, true) {
            Some(path) if !path.is_empty() && (population.is_some() || opposed_here) => {
                let via = spec.sources[path[path.len() - 1].1.to].name.clone();
                let (cols, map) = build.linked_keys(i, &path).await?;
                Restriction::Linked(cols, map, via)
            }
            Some(path) if !path.is_empty() => Restriction::Unfiltered(format!(
                "linked to {}",
                spec.sources[path[path.len() - 1].1.to].name
            )),
            _ => Restriction::None,
        },
        None => Restriction::None,
    };
    // Read what is approved plus what the filters need.
    let mut read_cols: Vec<String> = t.columns.clone();
    let extra: Vec<String> = match &restriction {
        Restriction::Person(p) => vec![p.clone()],
        Restriction::Linked(cols, _, _) => cols.clone(),
        Restriction::Unfiltered(_) | Restriction::None => vec![],
    };
    for c in extra.iter().chain(t.period_column.iter()) {
        if !read_cols.contains(c) {
            read_cols.push(c.clone());
        }
    }
    let key_id = src_index
        .map(|i| spec.sources[i].key_id.clone())
        .unwrap_or_else(|| t.key_id.clone());
    let mut df = build
        .ctx
        .read_parquet(lake.url(&t.source_path), ParquetReadOptions::default())
        .await?;
    if let Some(pc) = &t.period_column {
        let from = lit(ScalarValue::Date32(Some(days(spec.period_start))));
        let to = lit(ScalarValue::Date32(Some(days(spec.period_end))));
        df = df.filter(ident(pc).gt_eq(from).and(ident(pc).lt_eq(to)))?;
    }
    let cols: Vec<&str> = read_cols.iter().map(String::as_str).collect();
    df = df.select_columns(&cols)?;
    let in_schema = Arc::new(df.schema().as_arrow().clone());
    let approved_idx: Vec<usize> = t
        .columns
        .iter()
        .map(|c| in_schema.index_of(c))
        .collect::<Result<_, _>>()?;
    let approved_schema = Arc::new(in_schema.project(&approved_idx)?);
    let out_schema = crate::pseudonymised_schema(&approved_schema, &t.person_columns);
    // Rows grouped by year of the period column when the project receives
    // it, so that a query on a year reads that year's row groups only.
    let layout = t.period_column.as_deref().map_or(Layout::AsWritten, |pc| {
        Layout::by_year_if_dated(&out_schema, pc)
    });
    let mut writer = lake.table_writer_with(staging, &t.name, out_schema.clone(), &layout)?;
    let mut stream = df.execute_stream().await?;
    let mut rows = 0u64;
    let mut opposed_rows = 0u64;
    let mut persons: HashSet<u128> = HashSet::new();
    let mut first: Option<i32> = None;
    let mut last: Option<i32> = None;
    let mut converter: Option<RowConverter> = None;
    let track_persons = matches!(
        restriction,
        Restriction::Person(_) | Restriction::Linked(..)
    );
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        let n = batch.num_rows();
        let mut keep = vec![true; n];
        let mut row_person: Vec<Option<u128>> = vec![None; n];
        match &restriction {
            Restriction::Person(p) => {
                let col = text(batch.column(in_schema.index_of(p)?))?;
                for i in 0..n {
                    let person = if col.is_null(i) {
                        None
                    } else {
                        build.linker.link(&key_id, col.value(i))
                    };
                    row_person[i] = person;
                    keep[i] = match person {
                        Some(p) if build.oppositions.is_opposed(&t.dataset_id, p) => {
                            opposed_rows += 1;
                            false
                        }
                        Some(p) => population.is_none_or(|pop| pop.contains(&p)),
                        None => population.is_none(),
                    };
                }
            }
            Restriction::Linked(cols, map, _) => {
                let arrays: Vec<ArrayRef> = cols
                    .iter()
                    .map(|c| in_schema.index_of(c).map(|i| batch.column(i).clone()))
                    .collect::<Result<_, _>>()?;
                let conv = match &mut converter {
                    Some(c) => c,
                    None => converter.insert(RowConverter::new(
                        arrays
                            .iter()
                            .map(|a| SortField::new(a.data_type().clone()))
                            .collect(),
                    )?),
                };
                let encoded = conv.convert_columns(&arrays)?;
                for (i, row) in encoded.iter().enumerate() {
                    let person = map.get(&key_hash(row.as_ref())).copied();
                    row_person[i] = person;
                    keep[i] = match person {
                        Some(p) if build.oppositions.is_opposed(&t.dataset_id, p) => {
                            opposed_rows += 1;
                            false
                        }
                        Some(p) => population.is_none_or(|pop| pop.contains(&p)),
                        None => population.is_none(),
                    };
                }
            }
            _ => {}
        }
        let mask = BooleanArray::from(keep.clone());
        let kept = filter_record_batch(&batch, &mask)?;
        if track_persons {
            persons.extend(
                row_person
                    .iter()
                    .zip(&keep)
                    .filter(|(_, k)| **k)
                    .filter_map(|(p, _)| *p),
            );
        }
        if let Some(pc) = &t.period_column
            && let Some(d) = kept
                .column(in_schema.index_of(pc)?)
                .as_any()
                .downcast_ref::<Date32Array>()
        {
            if let Some(m) = datafusion::arrow::compute::min(d) {
                first = Some(first.map_or(m, |f| f.min(m)));
            }
            if let Some(m) = datafusion::arrow::compute::max(d) {
                last = Some(last.map_or(m, |l| l.max(m)));
            }
        }
        let approved = kept.project(&approved_idx)?;
        let out = key
            .apply(&approved, &t.person_columns, &key_id)
            .map_err(|e| WorkspaceError::Spec(format!("table {}: {e}", t.name)))?;
        let out = RecordBatch::try_new(out_schema.clone(), out.columns().to_vec())?;
        rows += out.num_rows() as u64;
        writer.write(&out).await?;
        progress(rows);
    }
    lake.finish_table(staging, writer).await?;
    let restriction_text = match &restriction {
        Restriction::Person(_) => "person".to_string(),
        Restriction::Linked(_, _, via) => format!("linked to {via}"),
        Restriction::Unfiltered(s) => s.clone(),
        Restriction::None => "not restricted".to_string(),
    };
    Ok((
        TableReport {
            table: t.name.clone(),
            dataset: t.dataset_id.clone(),
            rows,
            persons: track_persons.then_some(persons.len() as u64),
            first_day: first.and_then(from_days),
            last_day: last.and_then(from_days),
            restriction: restriction_text,
            opposed_rows,
            sha256: String::new(),
            bytes: 0,
        },
        persons,
    ))
}
