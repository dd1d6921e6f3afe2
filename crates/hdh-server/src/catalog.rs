//! The catalogue's services (C1): importing a Frictionless package, keeping the
//! search index in sync with the store, statistics computed from published
//! data, and the views the pages, the API and the RDF export share.
//!
//! Reading the catalogue is public (a citizen may see what data exists); every
//! change is made in one store transaction with its audit event, then the
//! search index is brought up to date (it is derived data: a stale index is
//! rebuilt from the store, see [`sync_search`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hdh_catalog::metadata::{DatasetMetadata, coding_system_of};
use hdh_catalog::package::{PackageFile, TableDescription, parse_package};
use hdh_catalog::products::Products;
use hdh_catalog::stats::{TableStatistics, VariableStatistics, VersionStatistics};
use hdh_model::AuditEvent;
use hdh_model::schema::{FieldType, TableSchema};
use hdh_search::{DocKind, SearchDoc};
use hdh_store::{CatalogImport, CatalogTable, Dataset, NomenclatureCode, NomenclatureRecord, now};
use serde::Serialize;
use sha2::Digest;

use crate::{AppError, AppState};

/// Largest package accepted by an import (all files together).
const MAX_PACKAGE_BYTES: u64 = 512 * 1024 * 1024;

// ---------------------------------------------------------------- import

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub package: String,
    pub sha256: String,
    /// Nothing changed: the same package was imported before.
    pub unchanged: bool,
    pub datasets: Vec<String>,
    pub tables: usize,
    pub variables: usize,
    pub foreign_keys: usize,
    pub nomenclatures: usize,
    pub codes: usize,
}

/// Reads every regular file under `dir` (relative paths with `/`), skipping
/// hidden files. Symbolic links are not followed.
pub fn read_package_dir(dir: &Path) -> Result<Vec<PackageFile>, AppError> {
    let meta = std::fs::metadata(dir)
        .map_err(|e| AppError::bad_request(format!("{}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(AppError::bad_request(format!(
            "{}: not a directory",
            dir.display()
        )));
    }
    let mut files = Vec::new();
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| AppError::bad_request(format!("{}: {e}", d.display())))?;
        for e in entries {
            let e = e.map_err(|e| AppError::bad_request(format!("{}: {e}", d.display())))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') {
                continue;
            }
            let p = e.path();
            let ft = e
                .file_type()
                .map_err(|e| AppError::bad_request(format!("{}: {e}", p.display())))?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p
                    .strip_prefix(dir)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                if !(rel.ends_with(".json") || rel.ends_with(".csv")) {
                    continue;
                }
                let bytes = std::fs::read(&p)
                    .map_err(|e| AppError::bad_request(format!("{}: {e}", p.display())))?;
                total += bytes.len() as u64;
                if total > MAX_PACKAGE_BYTES {
                    return Err(AppError::bad_request(format!(
                        "{}: the package is larger than {} MiB",
                        dir.display(),
                        MAX_PACKAGE_BYTES >> 20
                    )));
                }
                files.push(PackageFile { path: rel, bytes });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn package_digest(files: &[PackageFile]) -> String {
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update((f.path.len() as u64).to_le_bytes());
        h.update(f.path.as_bytes());
        h.update((f.bytes.len() as u64).to_le_bytes());
        h.update(&f.bytes);
    }
    hex::encode(h.finalize())
}

/// Imports a package (`schemas/…/*.json`, `nomenclatures/<source>/*.json|csv`)
/// into the catalogue, all or nothing. `package` names it (`schema-snds`);
/// re-importing the same files changes nothing. `actor` is written in the
/// audit event (`cli` from the command line).
pub async fn import_package(
    state: &AppState,
    package: &str,
    files: Vec<PackageFile>,
    actor: &str,
    progress: &mut (dyn FnMut(&str, u64, u64) + Send),
) -> Result<ImportSummary, AppError> {
    let sha256 = package_digest(&files);
    let mut event = AuditEvent::new("catalog.import", "package").object(package);
    event.actor_name = Some(actor.to_string());
    let parsed = match parse_package(files) {
        Ok(p) => p,
        Err(errors) => {
            let mut ev = event.clone().outcome(hdh_model::Outcome::Failed);
            ev = ev.details(serde_json::json!({ "errors": errors.len() }));
            state.store.audit(&ev).await?;
            let shown: Vec<String> = errors.iter().take(50).map(|e| e.to_string()).collect();
            let more = errors.len().saturating_sub(shown.len());
            let mut msg = format!(
                "the package has {} fault(s); nothing was imported:\n  {}",
                errors.len(),
                shown.join("\n  ")
            );
            if more > 0 {
                msg.push_str(&format!("\n  … and {more} more"));
            }
            return Err(AppError::bad_request(msg));
        }
    };
    let products = Products::snds();
    let mut summary = ImportSummary {
        package: package.to_string(),
        sha256: sha256.clone(),
        unchanged: false,
        datasets: vec![],
        tables: parsed.tables.len(),
        variables: parsed.tables.iter().map(|t| t.schema.fields.len()).sum(),
        foreign_keys: parsed
            .tables
            .iter()
            .map(|t| t.schema.foreign_keys.len())
            .sum(),
        nomenclatures: parsed.nomenclatures.len(),
        codes: parsed.nomenclatures.iter().map(|n| n.rows.len()).sum(),
    };
    let source = format!("import:{package}");
    let mut tx = state.store.begin().await?;
    if let Some(prev) = tx.catalog_import(package).await?
        && prev.sha256 == sha256
    {
        summary.unchanged = true;
        summary.datasets = parsed
            .products()
            .iter()
            .map(|(p, _)| products.dataset_for(p, package).0)
            .collect();
        tx.audit(&event.details(serde_json::json!({ "unchanged": true, "sha256": sha256 })))
            .await?;
        tx.commit().await?;
        return Ok(summary);
    }
    let product_list = parsed.products();
    let total = (product_list.len() + parsed.nomenclatures.len()) as u64;
    let mut done = 0u64;
    for (product, tables) in &product_list {
        let (id, meta) = products.dataset_for(product, package);
        let existing = state.store.dataset(&id).await?;
        if let Some(d) = &existing
            && d.owner_id != "system"
        {
            tx.rollback().await?;
            return Err(AppError::conflict(format!(
                "dataset {id} exists and belongs to a producer: an import cannot replace it"
            )));
        }
        let d = Dataset {
            id: id.clone(),
            title_fr: meta.title.get("fr").to_string(),
            title_en: meta.title.get("en").to_string(),
            description_fr: meta.description.get("fr").to_string(),
            description_en: meta.description.get("en").to_string(),
            producer_name: meta.producer_name().to_string(),
            owner_id: "system".into(),
            metadata: meta.to_json_value(),
            created_at: existing.map(|d| d.created_at).unwrap_or_else(now),
        };
        tx.upsert_dataset(&d).await?;
        tx.touch_dataset(&id, &source).await?;
        let rows: Vec<CatalogTable> = tables
            .iter()
            .enumerate()
            .map(|(i, t)| CatalogTable {
                dataset_id: id.clone(),
                table_name: t.schema.name.clone(),
                position: i as i64,
                title: t.title(),
                product: t.product.clone(),
                source: source.clone(),
                source_path: t.path.clone(),
                schema: t.raw.clone(),
                variable_count: t.schema.fields.len() as i64,
            })
            .collect();
        tx.replace_catalog_tables(&id, &source, &rows).await?;
        summary.datasets.push(id);
        done += 1;
        progress(product, done, total);
    }
    let imported_at = now();
    for n in &parsed.nomenclatures {
        let codes: Vec<NomenclatureCode> = n
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| NomenclatureCode {
                nomenclature: n.name.clone(),
                ordinal: i as i64,
                code: n.display_code(r),
                label: n.label(r),
                values: r.clone(),
            })
            .collect();
        tx.replace_nomenclature(
            &NomenclatureRecord {
                name: n.name.clone(),
                source: n.source.clone(),
                package: package.to_string(),
                title: n.title.clone(),
                columns: n.columns.clone(),
                code_column: n.code_column.clone(),
                label_column: n.label_column.clone().unwrap_or_default(),
                schema: n.raw.clone(),
                row_count: n.rows.len() as i64,
                imported_at: imported_at.clone(),
            },
            &codes,
        )
        .await?;
        done += 1;
        progress(&n.name, done, total);
    }
    tx.record_catalog_import(&CatalogImport {
        package: package.to_string(),
        sha256: sha256.clone(),
        imported_at,
        summary: serde_json::to_value(&summary).unwrap_or_default(),
    })
    .await?;
    tx.bump_catalog_generation().await?;
    tx.audit(&event.details(serde_json::json!({
        "sha256": sha256,
        "datasets": summary.datasets,
        "tables": summary.tables,
        "variables": summary.variables,
        "nomenclatures": summary.nomenclatures,
        "codes": summary.codes,
    })))
    .await?;
    tx.commit().await?;
    Ok(summary)
}

// ---------------------------------------------------------------- search index

/// The stamp an index built from the store's current state carries.
async fn current_stamp(state: &AppState) -> Result<String, AppError> {
    Ok(format!(
        "generation:{}",
        state.store.catalog_generation().await?
    ))
}

/// [`sync_search`] for the search path: checks the store at most once a
/// second per process (changes made by this process re-index at once; an
/// import by another process shows within a second).
pub async fn sync_search_soon(state: &AppState) -> Result<(), AppError> {
    {
        let mut last = state
            .search_checked
            .lock()
            .map_err(|_| AppError::internal("search sync lock poisoned"))?;
        if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
            return Ok(());
        }
        *last = Some(std::time::Instant::now());
    }
    sync_search(state, &mut |_| {}).await.map(|_| ())
}

/// Rebuilds the search index when it was built from an older catalogue
/// generation (or never). Returns whether it rebuilt.
pub async fn sync_search(
    state: &AppState,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<bool, AppError> {
    let stamp = current_stamp(state).await?;
    if state.search.stamp().as_deref() == Some(stamp.as_str()) {
        // Up to date on disk (perhaps written by another process): make sure
        // this process's reader sees it.
        state
            .search
            .reload()
            .map_err(|e| AppError::internal(format!("search index: {e}")))?;
        return Ok(false);
    }
    rebuild_search(state, &stamp, progress).await?;
    Ok(true)
}

async fn rebuild_search(
    state: &AppState,
    stamp: &str,
    progress: &mut (dyn FnMut(usize) + Send),
) -> Result<usize, AppError> {
    let mut docs = Vec::new();
    for d in state.store.datasets().await? {
        docs.extend(dataset_docs(state, &d).await?);
    }
    let nomenclatures = state.store.nomenclatures().await?;
    for n in &nomenclatures {
        docs.push(nomenclature_doc(n));
    }
    let by_name: BTreeMap<&str, &NomenclatureRecord> =
        nomenclatures.iter().map(|n| (n.name.as_str(), n)).collect();
    for c in state.store.all_nomenclature_codes().await? {
        if let Some(n) = by_name.get(c.nomenclature.as_str()) {
            docs.push(code_doc(n, &c));
        }
    }
    let index = state.search.clone();
    let stamp = stamp.to_string();
    // tantivy indexing is CPU-bound: keep it off the async workers.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let handle = tokio::task::spawn_blocking(move || {
        let r = index.replace_all(docs, &stamp, &mut |n| {
            let _ = tx.send(n);
        });
        // Let another process (the CLI, a second server) write next.
        index.release_writer();
        r
    });
    while let Some(n) = rx.recv().await {
        progress(n);
    }
    let n = handle
        .await
        .map_err(|e| AppError::internal(format!("search indexing: {e}")))?
        .map_err(|e| AppError::internal(format!("search indexing: {e}")))?;
    Ok(n)
}

/// Re-indexes one dataset after a change (falls back to a full rebuild when
/// the index had fallen behind by more than this change).
pub async fn reindex_dataset(state: &AppState, dataset_id: &str) -> Result<(), AppError> {
    let stamp = current_stamp(state).await?;
    let Some(d) = state.store.dataset(dataset_id).await? else {
        return Ok(());
    };
    let docs = dataset_docs(state, &d).await?;
    let index = state.search.clone();
    let id = dataset_id.to_string();
    tokio::task::spawn_blocking(move || {
        let r = index.replace_group(&id, docs, &stamp);
        index.release_writer();
        r
    })
    .await
    .map_err(|e| AppError::internal(format!("search indexing: {e}")))?
    .map_err(|e| AppError::internal(format!("search indexing: {e}")))?;
    Ok(())
}

fn metadata_of(d: &Dataset) -> DatasetMetadata {
    DatasetMetadata::from_json_value(&d.metadata)
        .unwrap_or_else(|_| DatasetMetadata::untitled(&d.id, &d.producer_name))
}

fn dataset_facets(d: &Dataset, m: &DatasetMetadata) -> Vec<(String, String)> {
    let mut f = vec![("producer".to_string(), d.producer_name.clone())];
    if let Some(p) = &m.product {
        f.push(("product".into(), p.clone()));
    }
    for t in &m.themes {
        f.push(("theme".into(), t.clone()));
    }
    for c in &m.coding_systems {
        f.push(("coding_system".into(), c.clone()));
    }
    f
}

pub fn dataset_url(id: &str) -> String {
    format!("/catalogue/datasets/{}", seg(id))
}
pub fn table_url(id: &str, table: &str) -> String {
    format!("/catalogue/datasets/{}/tables/{}", seg(id), seg(table))
}
pub fn variable_url(id: &str, table: &str, var: &str) -> String {
    format!(
        "/catalogue/datasets/{}/tables/{}/variables/{}",
        seg(id),
        seg(table),
        seg(var)
    )
}
pub fn nomenclature_url(name: &str) -> String {
    format!("/catalogue/nomenclatures/{}", seg(name))
}

pub use hdh_catalog::dcat::segment as seg;

async fn dataset_docs(state: &AppState, d: &Dataset) -> Result<Vec<SearchDoc>, AppError> {
    let m = metadata_of(d);
    let facets = dataset_facets(d, &m);
    let mut docs = vec![SearchDoc {
        kind: DocKind::Dataset,
        key: format!("dataset:{}", d.id),
        group: d.id.clone(),
        title: m.title.get("fr").to_string(),
        code: Some(d.id.clone()),
        text: [
            m.title.en.as_str(),
            m.description.fr.as_str(),
            m.description.en.as_str(),
            &m.keywords.join(" · "),
            d.producer_name.as_str(),
        ]
        .join("\n"),
        url: dataset_url(&d.id),
        facets: facets.clone(),
        boost: 3.0,
    }];
    for t in state.store.catalog_tables_of(&d.id).await? {
        let Ok(desc) = TableDescription::from_value(&t.source_path, t.schema.clone(), &t.product)
        else {
            continue;
        };
        let mut tfacets = facets.clone();
        let systems: BTreeSet<&str> = desc
            .schema
            .fields
            .iter()
            .filter_map(|f| desc.nomenclature_of(&f.name))
            .filter_map(|n| coding_system_of(n).map(|c| c.code))
            .collect();
        for s in &systems {
            if !m.coding_systems.iter().any(|c| c == s) {
                tfacets.push(("coding_system".into(), s.to_string()));
            }
        }
        docs.push(SearchDoc {
            kind: DocKind::Table,
            key: format!("table:{}/{}", d.id, t.table_name),
            group: d.id.clone(),
            title: format!("{} — {}", t.table_name, t.title),
            code: Some(t.table_name.clone()),
            text: [
                t.title.as_str(),
                desc.schema.description.as_deref().unwrap_or(""),
                m.title.get("fr"),
            ]
            .join("\n"),
            url: table_url(&d.id, &t.table_name),
            facets: tfacets,
            boost: 2.0,
        });
        for f in &desc.schema.fields {
            let nomenclature = desc.nomenclature_of(&f.name);
            let mut vfacets = facets.clone();
            if let Some(cs) = nomenclature.and_then(coding_system_of)
                && !m.coding_systems.iter().any(|c| c == cs.code)
            {
                vfacets.push(("coding_system".into(), cs.code.to_string()));
            }
            docs.push(SearchDoc {
                kind: DocKind::Variable,
                key: format!("variable:{}/{}/{}", d.id, t.table_name, f.name),
                group: d.id.clone(),
                title: format!("{}.{}", t.table_name, f.name),
                code: Some(f.name.clone()),
                text: [
                    f.description.as_deref().unwrap_or(""),
                    f.title.as_deref().unwrap_or(""),
                    nomenclature.unwrap_or(""),
                ]
                .join("\n"),
                url: variable_url(&d.id, &t.table_name, &f.name),
                facets: vfacets,
                boost: 1.2,
            });
        }
    }
    Ok(docs)
}

fn nomenclature_facets(n: &NomenclatureRecord) -> Vec<(String, String)> {
    let mut f = vec![
        ("nomenclature".to_string(), n.name.clone()),
        ("producer".to_string(), n.source.clone()),
    ];
    if let Some(cs) = coding_system_of(&n.name) {
        f.push(("coding_system".into(), cs.code.to_string()));
    }
    f
}

fn nomenclature_doc(n: &NomenclatureRecord) -> SearchDoc {
    SearchDoc {
        kind: DocKind::Table,
        key: format!("nomenclature:{}", n.name),
        group: format!("nomenclature:{}", n.name),
        title: format!("{} — {}", n.name, n.title),
        code: Some(n.name.clone()),
        text: format!("{}\nnomenclature {} ({})", n.title, n.source, n.row_count),
        url: nomenclature_url(&n.name),
        facets: nomenclature_facets(n),
        boost: 2.0,
    }
}

fn code_doc(n: &NomenclatureRecord, c: &NomenclatureCode) -> SearchDoc {
    SearchDoc {
        kind: DocKind::Code,
        key: format!("code:{}/{}", n.name, c.ordinal),
        group: format!("nomenclature:{}", n.name),
        title: format!("{} {}", c.code, c.label),
        code: Some(c.code.clone()),
        text: c.label.clone(),
        url: format!("{}?code={}", nomenclature_url(&n.name), seg(&c.code)),
        facets: nomenclature_facets(n),
        boost: 0.8,
    }
}

// ---------------------------------------------------------------- statistics

/// Which role each column of a delivered table plays in its statistics.
pub fn profile_columns(schema: &TableSchema) -> Vec<hdh_workspace::profile::ProfileColumn> {
    use hdh_workspace::profile::{ColumnRole, ProfileColumn};
    schema
        .fields
        .iter()
        .map(|f| ProfileColumn {
            name: f.name.clone(),
            role: if f.is_person_identifier() {
                ColumnRole::Person
            } else {
                match f.field_type {
                    FieldType::Date | FieldType::DateTime => ColumnRole::Temporal,
                    FieldType::Integer | FieldType::Number
                        if f.nomenclature.as_deref().is_none_or(|n| n == "-") =>
                    {
                        ColumnRole::Numeric
                    }
                    _ => ColumnRole::Categorical,
                }
            },
        })
        .collect()
}

/// Computes a version's statistics from its published tables.
pub async fn compute_statistics(
    state: &AppState,
    version: i64,
    tables: &[(TableSchema, String)],
) -> Result<VersionStatistics, AppError> {
    let specs: Vec<hdh_workspace::profile::ProfileTable> = tables
        .iter()
        .map(|(s, path)| hdh_workspace::profile::ProfileTable {
            name: s.name.clone(),
            object_path: path.clone(),
            columns: profile_columns(s),
            period_column: s.period_field.clone(),
        })
        .collect();
    hdh_workspace::profile::profile_version(
        &state.lake,
        version,
        &specs,
        state.config.release_threshold,
    )
    .await
    .map_err(|e| AppError::internal(format!("statistics: {e}")))
}

/// The statistics of a dataset's latest version, if it has data.
pub async fn latest_statistics(
    state: &AppState,
    dataset_id: &str,
) -> Result<Option<VersionStatistics>, AppError> {
    let Some(v) = state.store.latest_version(dataset_id).await? else {
        return Ok(None);
    };
    Ok(state
        .store
        .statistics(dataset_id, v.version)
        .await?
        .and_then(|s| serde_json::from_value(s).ok()))
}

// ---------------------------------------------------------------- views

/// A variable as the catalogue shows it.
#[derive(Debug, Clone, Serialize)]
pub struct VariableView {
    pub name: String,
    pub position: usize,
    #[serde(rename = "type")]
    pub field_type: String,
    pub description: String,
    pub unit: Option<String>,
    pub nomenclature: Option<String>,
    /// The nomenclature is in the catalogue (browsable).
    pub nomenclature_known: bool,
    pub coding_system: Option<String>,
    pub primary_key: bool,
    /// Referenced tables (`TABLE.FIELD`).
    pub references: Vec<String>,
    pub person_identifier: bool,
    pub required: bool,
    pub length: Option<String>,
    pub created: Option<String>,
    pub deleted: Option<String>,
    pub rule: Option<String>,
    pub observation: Option<String>,
    pub stats: Option<VariableStatistics>,
}

/// A foreign key, resolved to the catalogue page of its target when known.
#[derive(Debug, Clone, Serialize)]
pub struct ForeignKeyView {
    pub fields: Vec<String>,
    pub table: String,
    pub target_fields: Vec<String>,
    /// Page of the referenced table or nomenclature.
    pub href: Option<String>,
    pub target_kind: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableView {
    pub dataset_id: String,
    pub name: String,
    pub title: String,
    pub description: String,
    pub product: String,
    pub source: String,
    pub primary_key: Vec<String>,
    pub foreign_keys: Vec<ForeignKeyView>,
    /// Tables that reference this one.
    pub referenced_by: Vec<ForeignKeyView>,
    pub variables: Vec<VariableView>,
    pub stats: Option<TableStatistics>,
    pub period_field: Option<String>,
}

/// Where each table name of the catalogue lives: the same dataset first, then
/// datasets of the same source (one imported package).
pub struct TableDirectory {
    tables: Vec<CatalogTable>,
    nomenclatures: BTreeSet<String>,
}

impl TableDirectory {
    pub async fn load(state: &AppState) -> Result<TableDirectory, AppError> {
        Ok(TableDirectory {
            tables: state.store.catalog_tables().await?,
            nomenclatures: state
                .store
                .nomenclatures()
                .await?
                .into_iter()
                .map(|n| n.name)
                .collect(),
        })
    }

    pub fn tables(&self) -> &[CatalogTable] {
        &self.tables
    }

    /// The dataset holding `table` as seen from `from`.
    pub fn resolve(&self, from: &CatalogTable, table: &str) -> Option<&CatalogTable> {
        self.tables
            .iter()
            .find(|t| t.dataset_id == from.dataset_id && t.table_name == table)
            .or_else(|| {
                self.tables
                    .iter()
                    .find(|t| t.source == from.source && t.table_name == table)
            })
    }

    /// Whether `from` has a foreign key to `to`.
    pub fn references(&self, from: &CatalogTable, to: &CatalogTable) -> bool {
        TableSchema::from_json_value(&from.schema).is_ok_and(|s| {
            s.foreign_keys.iter().any(|fk| {
                self.resolve(from, &fk.reference.resource)
                    .is_some_and(|x| x.dataset_id == to.dataset_id && x.table_name == to.table_name)
            })
        })
    }

    /// The other tables `t` references or is referenced by.
    pub fn neighbours(&self, t: &CatalogTable) -> Vec<&CatalogTable> {
        self.tables
            .iter()
            .filter(|o| !(o.dataset_id == t.dataset_id && o.table_name == t.table_name))
            .filter(|o| self.references(o, t) || self.references(t, o))
            .collect()
    }

    pub fn is_nomenclature(&self, name: &str) -> bool {
        self.nomenclatures.contains(name)
    }

    fn fk_view(&self, from: &CatalogTable, fk: &hdh_model::schema::ForeignKey) -> ForeignKeyView {
        let target = &fk.reference.resource;
        let (href, kind) = if let Some(t) = self.resolve(from, target) {
            (Some(table_url(&t.dataset_id, &t.table_name)), "table")
        } else if self.is_nomenclature(target) {
            (Some(nomenclature_url(target)), "nomenclature")
        } else if target.is_empty() {
            (Some(table_url(&from.dataset_id, &from.table_name)), "table")
        } else {
            (None, "unknown")
        };
        ForeignKeyView {
            fields: fk.fields.clone(),
            table: if target.is_empty() {
                from.table_name.clone()
            } else {
                target.clone()
            },
            target_fields: fk.reference.fields.clone(),
            href,
            target_kind: kind,
        }
    }

    /// The diagram of the given tables and the foreign keys between them
    /// (only table-to-table keys, resolved as above).
    pub fn diagram(&self, tables: &[&CatalogTable]) -> hdh_catalog::diagram::Diagram {
        use hdh_catalog::diagram::{Diagram, DiagramEdge, DiagramTable};
        let mut out = Diagram::default();
        let keys: BTreeSet<(String, String)> = tables
            .iter()
            .map(|t| (t.dataset_id.clone(), t.table_name.clone()))
            .collect();
        let name_of = |t: &CatalogTable| -> String {
            // Table names are unique within a source; prefix only on clashes.
            if tables
                .iter()
                .filter(|o| o.table_name == t.table_name)
                .count()
                > 1
            {
                format!("{}/{}", t.dataset_id, t.table_name)
            } else {
                t.table_name.clone()
            }
        };
        for t in tables {
            out.tables.push(DiagramTable {
                name: name_of(t),
                group: t.product.clone(),
                title: t.title.clone(),
                href: Some(table_url(&t.dataset_id, &t.table_name)),
            });
            let Ok(schema) = TableSchema::from_json_value(&t.schema) else {
                continue;
            };
            for fk in &schema.foreign_keys {
                let Some(target) = self.resolve(t, &fk.reference.resource) else {
                    continue;
                };
                if !keys.contains(&(target.dataset_id.clone(), target.table_name.clone())) {
                    continue;
                }
                out.edges.push(DiagramEdge {
                    from: name_of(t),
                    to: name_of(target),
                    label: fk.fields.join(", "),
                });
            }
        }
        out.centre = tables
            .iter()
            .find(|t| t.table_name == "IR_BEN_R")
            .map(|t| name_of(t));
        out
    }
}

fn field_type_name(t: FieldType) -> String {
    t.as_str().to_string()
}

/// Builds the view of one described table.
pub async fn table_view(
    state: &AppState,
    dir: &TableDirectory,
    t: &CatalogTable,
) -> Result<TableView, AppError> {
    let desc = TableDescription::from_value(&t.source_path, t.schema.clone(), &t.product)
        .map_err(|e| AppError::internal(format!("stored schema of {}: {e}", t.table_name)))?;
    let stats = latest_statistics(state, &t.dataset_id)
        .await?
        .and_then(|s| s.table(&t.table_name).cloned());
    let schema = &desc.schema;
    let foreign_keys: Vec<ForeignKeyView> = schema
        .foreign_keys
        .iter()
        .map(|fk| dir.fk_view(t, fk))
        .collect();
    let mut referenced_by = Vec::new();
    for other in dir.tables() {
        let Ok(s) = TableSchema::from_json_value(&other.schema) else {
            continue;
        };
        for fk in &s.foreign_keys {
            if let Some(target) = dir.resolve(other, &fk.reference.resource)
                && target.dataset_id == t.dataset_id
                && target.table_name == t.table_name
                && !(other.dataset_id == t.dataset_id && other.table_name == t.table_name)
            {
                referenced_by.push(ForeignKeyView {
                    fields: fk.fields.clone(),
                    table: other.table_name.clone(),
                    target_fields: fk.reference.fields.clone(),
                    href: Some(table_url(&other.dataset_id, &other.table_name)),
                    target_kind: "table",
                });
            }
        }
    }
    let variables = schema
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let nomenclature = desc.nomenclature_of(&f.name).map(str::to_string);
            let notes = desc.notes.get(i).cloned().unwrap_or_default();
            VariableView {
                name: f.name.clone(),
                position: i + 1,
                field_type: field_type_name(f.field_type),
                description: f
                    .description
                    .clone()
                    .or(f.title.clone())
                    .unwrap_or_default(),
                unit: f.unit.clone(),
                nomenclature_known: nomenclature
                    .as_deref()
                    .is_some_and(|n| dir.is_nomenclature(n)),
                coding_system: nomenclature
                    .as_deref()
                    .and_then(coding_system_of)
                    .map(|c| c.code.to_string()),
                nomenclature,
                primary_key: schema.primary_key.contains(&f.name),
                references: foreign_keys
                    .iter()
                    .filter(|fk| fk.fields.contains(&f.name))
                    .map(|fk| {
                        let pos = fk.fields.iter().position(|x| *x == f.name).unwrap_or(0);
                        format!(
                            "{}.{}",
                            fk.table,
                            fk.target_fields.get(pos).cloned().unwrap_or_default()
                        )
                    })
                    .collect(),
                person_identifier: f.is_person_identifier(),
                required: schema.is_required(&f.name),
                length: notes.length,
                created: notes.created,
                deleted: notes.deleted,
                rule: notes.rule,
                observation: notes.observation,
                stats: stats.as_ref().and_then(|s| s.variable(&f.name).cloned()),
            }
        })
        .collect();
    Ok(TableView {
        dataset_id: t.dataset_id.clone(),
        name: t.table_name.clone(),
        title: t.title.clone(),
        description: schema.description.clone().unwrap_or_default(),
        product: t.product.clone(),
        source: t.source.clone(),
        primary_key: schema.primary_key.clone(),
        foreign_keys,
        referenced_by,
        variables,
        stats,
        period_field: schema.period_field.clone(),
    })
}

/// The catalogue entry of a delivered version: its tables become the
/// dataset's described tables (replacing those of the previous delivery).
pub fn delivered_tables(
    dataset_id: &str,
    product: &str,
    schemas: &[TableSchema],
) -> Vec<CatalogTable> {
    schemas
        .iter()
        .enumerate()
        .map(|(i, s)| CatalogTable {
            dataset_id: dataset_id.to_string(),
            table_name: s.name.clone(),
            position: i as i64,
            title: s
                .title
                .clone()
                .or(s.description.clone())
                .unwrap_or_else(|| s.name.clone()),
            product: product.to_string(),
            source: "delivery".into(),
            source_path: format!("{}.schema.json", s.name),
            schema: serde_json::from_str(&s.to_json()).unwrap_or_default(),
            variable_count: s.fields.len() as i64,
        })
        .collect()
}

// ---------------------------------------------------------------- RDF export

pub fn catalog_info(base_url: &str) -> hdh_catalog::dcat::CatalogInfo {
    use hdh_catalog::Localized;
    use hdh_catalog::metadata::Agent;
    hdh_catalog::dcat::CatalogInfo {
        base_url: base_url.to_string(),
        title: Localized::new(
            "Catalogue de la plateforme des données de santé",
            "Health data hub catalogue",
        ),
        description: Localized::new(
            "Les jeux de données de santé disponibles pour la recherche d'intérêt public, leurs tables, variables et nomenclatures.",
            "The health datasets available for research in the public interest, with their tables, variables and nomenclatures.",
        ),
        publisher: Agent {
            name: "Plateforme des données de santé (hdh)".into(),
            homepage: Some(base_url.to_string()),
            email: Some("catalogue@hdh.example".into()),
        },
        homepage: base_url.to_string(),
        modified: None,
    }
}

fn parse_time(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default()
}

pub async fn dcat_entry(
    state: &AppState,
    d: &Dataset,
) -> Result<hdh_catalog::dcat::DatasetEntry, AppError> {
    use hdh_catalog::dcat::{DatasetEntry, TableEntry, VersionEntry};
    let prov = state.store.dataset_provenance(&d.id).await?;
    let mut versions: Vec<VersionEntry> = state
        .store
        .versions(&d.id)
        .await?
        .into_iter()
        .map(|v| VersionEntry {
            version: v.version,
            published_at: parse_time(&v.published_at),
            records: v.row_count.max(0) as u64,
        })
        .collect();
    versions.reverse();
    Ok(DatasetEntry {
        id: d.id.clone(),
        metadata: metadata_of(d),
        issued: parse_time(&d.created_at),
        modified: parse_time(
            prov.as_ref()
                .map(|p| p.modified_at.as_str())
                .unwrap_or(&d.created_at),
        ),
        versions,
        stats: latest_statistics(state, &d.id).await?,
        tables: state
            .store
            .catalog_tables_of(&d.id)
            .await?
            .into_iter()
            .map(|t| TableEntry {
                name: t.table_name,
                title: t.title,
                variables: t.variable_count.max(0) as usize,
            })
            .collect(),
    })
}

/// The catalogue (one page of datasets) or one dataset as RDF.
pub async fn export_rdf(
    state: &AppState,
    base_url: &str,
    dataset: Option<&str>,
    page: Option<usize>,
    page_size: usize,
    format: hdh_catalog::dcat::RdfFormat,
) -> Result<String, AppError> {
    use hdh_catalog::dcat::{Page, catalog_graph, dataset_graph, serialize};
    let info = catalog_info(base_url);
    if let Some(id) = dataset {
        let d = state
            .store
            .dataset(id)
            .await?
            .ok_or_else(|| AppError::not_found(format!("dataset {id}")))?;
        let e = dcat_entry(state, &d).await?;
        return Ok(serialize(&dataset_graph(&info, &e), format));
    }
    let all = state.store.datasets().await?;
    let (slice, page) = match page {
        Some(n) => {
            let size = page_size.max(1);
            let p = Page {
                number: n.max(1),
                size,
                total_datasets: all.len(),
            };
            if p.number > p.last().max(1) {
                return Err(AppError::not_found(format!(
                    "catalogue page {} (there are {})",
                    p.number,
                    p.last().max(1)
                )));
            }
            let start = (p.number - 1) * size;
            (
                all.iter()
                    .skip(start)
                    .take(size)
                    .cloned()
                    .collect::<Vec<_>>(),
                Some(p),
            )
        }
        None => (all, None),
    };
    let mut entries = Vec::new();
    for d in &slice {
        entries.push(dcat_entry(state, d).await?);
    }
    Ok(serialize(
        &catalog_graph(&info, &entries, page.as_ref()),
        format,
    ))
}
