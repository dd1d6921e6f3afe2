//! Catalogue records: described tables, nomenclatures and their codes, package
//! imports, statistics of published versions, and the catalogue generation
//! (bumped by every change, so that a search index knows when it is stale).

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError, Tx};

/// Rows inserted per statement in bulk loads (5 values each: well under the
/// bind limits of SQLite and PostgreSQL).
const CHUNK: usize = 500;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogTable {
    pub dataset_id: String,
    pub table_name: String,
    pub position: i64,
    pub title: String,
    pub product: String,
    /// `import:<package>` or `delivery`.
    pub source: String,
    pub source_path: String,
    /// The Table Schema document as given (with any extra properties).
    pub schema: serde_json::Value,
    pub variable_count: i64,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn catalog_table_from(row: &AnyRow) -> Result<CatalogTable> {
    let schema: String = row.try_get("schema_json")?;
    Ok(CatalogTable {
        dataset_id: row.try_get("dataset_id")?,
        table_name: row.try_get("table_name")?,
        position: row.try_get("position")?,
        title: row.try_get("title")?,
        product: row.try_get("product")?,
        source: row.try_get("source")?,
        source_path: row.try_get("source_path")?,
        schema: serde_json::from_str(&schema).map_err(corrupt)?,
        variable_count: row.try_get("variable_count")?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NomenclatureRecord {
    pub name: String,
    pub source: String,
    pub package: String,
    pub title: String,
    pub columns: Vec<String>,
    pub code_column: String,
    pub label_column: String,
    pub schema: serde_json::Value,
    pub row_count: i64,
    pub imported_at: String,
}

fn nomenclature_from(row: &AnyRow) -> Result<NomenclatureRecord> {
    let columns: String = row.try_get("columns_json")?;
    let schema: String = row.try_get("schema_json")?;
    Ok(NomenclatureRecord {
        name: row.try_get("name")?,
        source: row.try_get("source")?,
        package: row.try_get("package")?,
        title: row.try_get("title")?,
        columns: serde_json::from_str(&columns).map_err(corrupt)?,
        code_column: row.try_get("code_column")?,
        label_column: row.try_get("label_column")?,
        schema: serde_json::from_str(&schema).map_err(corrupt)?,
        row_count: row.try_get("row_count")?,
        imported_at: row.try_get("imported_at")?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NomenclatureCode {
    pub nomenclature: String,
    pub ordinal: i64,
    pub code: String,
    pub label: String,
    pub values: Vec<String>,
}

fn code_from(row: &AnyRow) -> Result<NomenclatureCode> {
    let values: String = row.try_get("values_json")?;
    Ok(NomenclatureCode {
        nomenclature: row.try_get("nomenclature")?,
        ordinal: row.try_get("ordinal")?,
        code: row.try_get("code")?,
        label: row.try_get("label")?,
        values: serde_json::from_str(&values).map_err(corrupt)?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogImport {
    pub package: String,
    pub sha256: String,
    pub imported_at: String,
    pub summary: serde_json::Value,
}

impl Tx {
    /// Replaces the described tables of `dataset_id` that came from `source`.
    pub async fn replace_catalog_tables(
        &mut self,
        dataset_id: &str,
        source: &str,
        tables: &[CatalogTable],
    ) -> Result<()> {
        sqlx::query("DELETE FROM catalog_tables WHERE dataset_id = $1 AND source = $2")
            .bind(dataset_id.to_string())
            .bind(source.to_string())
            .execute(self.conn())
            .await?;
        for t in tables {
            sqlx::query("INSERT INTO catalog_tables (dataset_id, table_name, position, title, product, source, source_path, schema_json, variable_count) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)")
                .bind(t.dataset_id.clone())
                .bind(t.table_name.clone())
                .bind(t.position)
                .bind(t.title.clone())
                .bind(t.product.clone())
                .bind(t.source.clone())
                .bind(t.source_path.clone())
                .bind(t.schema.to_string())
                .bind(t.variable_count)
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Replaces a nomenclature and all its codes.
    pub async fn replace_nomenclature(
        &mut self,
        n: &NomenclatureRecord,
        codes: &[NomenclatureCode],
    ) -> Result<()> {
        sqlx::query("DELETE FROM nomenclature_codes WHERE nomenclature = $1")
            .bind(n.name.clone())
            .execute(self.conn())
            .await?;
        sqlx::query("DELETE FROM nomenclatures WHERE name = $1")
            .bind(n.name.clone())
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO nomenclatures (name, source, package, title, columns_json, code_column, label_column, schema_json, row_count, imported_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
            .bind(n.name.clone())
            .bind(n.source.clone())
            .bind(n.package.clone())
            .bind(n.title.clone())
            .bind(serde_json::to_string(&n.columns).map_err(corrupt)?)
            .bind(n.code_column.clone())
            .bind(n.label_column.clone())
            .bind(n.schema.to_string())
            .bind(n.row_count)
            .bind(n.imported_at.clone())
            .execute(self.conn())
            .await?;
        for chunk in codes.chunks(CHUNK) {
            let mut sql = String::from(
                "INSERT INTO nomenclature_codes (nomenclature, ordinal, code, label, values_json) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 5;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                ));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for c in chunk {
                q = q
                    .bind(c.nomenclature.clone())
                    .bind(c.ordinal)
                    .bind(c.code.clone())
                    .bind(c.label.clone())
                    .bind(serde_json::to_string(&c.values).map_err(corrupt)?);
            }
            q.execute(self.conn()).await?;
        }
        Ok(())
    }

    pub async fn catalog_import(&mut self, package: &str) -> Result<Option<CatalogImport>> {
        let row = sqlx::query("SELECT * FROM catalog_imports WHERE package = $1")
            .bind(package.to_string())
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(import_from).transpose()
    }

    pub async fn record_catalog_import(&mut self, i: &CatalogImport) -> Result<()> {
        sqlx::query("DELETE FROM catalog_imports WHERE package = $1")
            .bind(i.package.clone())
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO catalog_imports (package, sha256, imported_at, summary_json) VALUES ($1,$2,$3,$4)")
            .bind(i.package.clone())
            .bind(i.sha256.clone())
            .bind(i.imported_at.clone())
            .bind(i.summary.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    pub async fn save_statistics(
        &mut self,
        dataset_id: &str,
        version: i64,
        stats: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query("DELETE FROM version_statistics WHERE dataset_id = $1 AND version = $2")
            .bind(dataset_id.to_string())
            .bind(version)
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO version_statistics (dataset_id, version, stats_json, computed_at) VALUES ($1,$2,$3,$4)")
            .bind(dataset_id.to_string())
            .bind(version)
            .bind(stats.to_string())
            .bind(crate::now())
            .execute(self.conn())
            .await?;
        Ok(())
    }

    /// Records that the catalogue changed; returns the new generation.
    pub async fn bump_catalog_generation(&mut self) -> Result<i64> {
        sqlx::query("UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1")
            .execute(self.conn())
            .await?;
        let row = sqlx::query("SELECT generation FROM catalog_generation WHERE id = 1")
            .fetch_one(self.conn())
            .await?;
        Ok(row.try_get("generation")?)
    }

    /// Marks a dataset as changed now and records where it came from.
    pub async fn touch_dataset(&mut self, dataset_id: &str, source: &str) -> Result<()> {
        sqlx::query("UPDATE datasets SET modified_at = $2, source = $3 WHERE id = $1")
            .bind(dataset_id.to_string())
            .bind(crate::now())
            .bind(source.to_string())
            .execute(self.conn())
            .await?;
        Ok(())
    }
}

fn import_from(row: &AnyRow) -> Result<CatalogImport> {
    let summary: String = row.try_get("summary_json")?;
    Ok(CatalogImport {
        package: row.try_get("package")?,
        sha256: row.try_get("sha256")?,
        imported_at: row.try_get("imported_at")?,
        summary: serde_json::from_str(&summary).map_err(corrupt)?,
    })
}

/// How a dataset entered the catalogue and when it last changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetProvenance {
    pub source: String,
    pub modified_at: String,
}

impl Store {
    pub async fn catalog_generation(&self) -> Result<i64> {
        let row = sqlx::query("SELECT generation FROM catalog_generation WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get("generation")?)
    }

    pub async fn dataset_provenance(&self, dataset_id: &str) -> Result<Option<DatasetProvenance>> {
        let row = sqlx::query("SELECT source, modified_at, created_at FROM datasets WHERE id = $1")
            .bind(dataset_id.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let m: String = r.try_get("modified_at")?;
            let c: String = r.try_get("created_at")?;
            Ok(DatasetProvenance {
                source: r.try_get("source")?,
                modified_at: if m.is_empty() { c } else { m },
            })
        })
        .transpose()
    }

    /// Every described table, by dataset then position.
    pub async fn catalog_tables(&self) -> Result<Vec<CatalogTable>> {
        let rows =
            sqlx::query("SELECT * FROM catalog_tables ORDER BY dataset_id, position, table_name")
                .fetch_all(self.pool())
                .await?;
        rows.iter().map(catalog_table_from).collect()
    }

    pub async fn catalog_tables_of(&self, dataset_id: &str) -> Result<Vec<CatalogTable>> {
        let rows = sqlx::query(
            "SELECT * FROM catalog_tables WHERE dataset_id = $1 ORDER BY position, table_name",
        )
        .bind(dataset_id.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(catalog_table_from).collect()
    }

    pub async fn catalog_table(
        &self,
        dataset_id: &str,
        table: &str,
    ) -> Result<Option<CatalogTable>> {
        let row =
            sqlx::query("SELECT * FROM catalog_tables WHERE dataset_id = $1 AND table_name = $2")
                .bind(dataset_id.to_string())
                .bind(table.to_string())
                .fetch_optional(self.pool())
                .await?;
        row.as_ref().map(catalog_table_from).transpose()
    }

    pub async fn nomenclatures(&self) -> Result<Vec<NomenclatureRecord>> {
        let rows = sqlx::query("SELECT * FROM nomenclatures ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(nomenclature_from).collect()
    }

    pub async fn nomenclature(&self, name: &str) -> Result<Option<NomenclatureRecord>> {
        let row = sqlx::query("SELECT * FROM nomenclatures WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(nomenclature_from).transpose()
    }

    /// A page of a nomenclature's codes in file order.
    pub async fn nomenclature_codes(
        &self,
        name: &str,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<NomenclatureCode>> {
        let rows = sqlx::query("SELECT * FROM nomenclature_codes WHERE nomenclature = $1 ORDER BY ordinal LIMIT $2 OFFSET $3")
            .bind(name.to_string())
            .bind(limit)
            .bind(offset)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(code_from).collect()
    }

    /// The rows of a nomenclature whose code is `code`.
    pub async fn nomenclature_code(&self, name: &str, code: &str) -> Result<Vec<NomenclatureCode>> {
        let rows = sqlx::query(
            "SELECT * FROM nomenclature_codes WHERE nomenclature = $1 AND code = $2 ORDER BY ordinal",
        )
        .bind(name.to_string())
        .bind(code.to_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(code_from).collect()
    }

    /// Every code of every nomenclature, in batches (for the search index).
    pub async fn all_nomenclature_codes(&self) -> Result<Vec<NomenclatureCode>> {
        let rows = sqlx::query("SELECT * FROM nomenclature_codes ORDER BY nomenclature, ordinal")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(code_from).collect()
    }

    pub async fn catalog_imports(&self) -> Result<Vec<CatalogImport>> {
        let rows = sqlx::query("SELECT * FROM catalog_imports ORDER BY package")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(import_from).collect()
    }

    pub async fn statistics(
        &self,
        dataset_id: &str,
        version: i64,
    ) -> Result<Option<serde_json::Value>> {
        let row = sqlx::query(
            "SELECT stats_json FROM version_statistics WHERE dataset_id = $1 AND version = $2",
        )
        .bind(dataset_id.to_string())
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let s: String = r.try_get("stats_json")?;
            serde_json::from_str(&s).map_err(corrupt)
        })
        .transpose()
    }
}
