//! The hub's side of `bench/workspace` (see bench/workspace/README.md).
//!
//! ```text
//! workspace_bench generate <csv-dir> <persons>         synthetic SNDS (hdh-demo), CSV + Table Schemas
//! workspace_bench prepare <csv-dir> <lake-dir>         CSV → dataset version → project extraction
//! workspace_bench run <lake-dir> <sql-file> <repeats> [result.json]
//! workspace_bench explain <lake-dir> <sql-file>        EXPLAIN ANALYZE in the project session
//! workspace_bench relayout <src-lake> <dst-lake>       investigation: other sort orders, writer properties
//! ```
//!
//! `prepare` writes the files as a project's extraction is written: each CSV
//! is read in file order with the Arrow types of its Table Schema
//! (`hdh_ingest::arrow_schema`, as ingestion does), person identifiers are
//! replaced by the project's pseudonyms (`ProjectPseudonymiser`, as
//! provisioning does), and the rows go through `Lake::table_writer` /
//! `finish_table` and `publish` under `projects/bench/extraction/` (all
//! tables, all columns, all rows).
//!
//! `run` opens one `project_session` over that extraction and times
//! `run_query` (planning, execution and formatting of the result), `repeats`
//! times, inside the process. It prints one JSON line: the times in ms, the
//! number of rows, and the peak resident memory of the process (VmHWM).
//!
//! `HDH_BENCH_MEMORY_MB` sets the session's memory limit (default: the hub's,
//! 2048). For investigations only, `HDH_BENCH_SET="key=value,…"` changes
//! session settings and registers the tables again, as if `engine()` set them;
//! `HDH_BENCH_NO_REORDER=1` removes the session's join-reordering rule
//! (`hdh_workspace::reorder`), and `HDH_BENCH_INLINE_CTES=1` turns off the
//! computing of shared subqueries once (`hdh_workspace::shared`), to
//! measure what they bring. `prepare` lays the tables with a period column
//! out by year, as the extraction does (`hdh_lake::Layout::ByYear`);
//! `HDH_BENCH_AS_WRITTEN=1` keeps the delivery's order instead.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig};
use futures::StreamExt;
use hdh_lake::{Lake, Manifest};
use hdh_workspace::{Limits, ProjectTable};

type Error = Box<dyn std::error::Error + Send + Sync>;

const PROJECT: &str = "bench";
/// Where `prepare` publishes the extraction (read by both engines).
const PREFIX: &str = "projects/bench/extraction";
const MAX_ROWS: usize = 1_000_000;

fn usage() -> Error {
    "usage: workspace_bench generate <csv-dir> <persons> | prepare <csv-dir> <lake-dir> | \
     run <lake-dir> <sql-file> <repeats> [result.json] | explain <lake-dir> <sql-file>"
        .into()
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() == 3 => generate(Path::new(&args[1]), args[2].parse()?),
        Some("prepare") if args.len() == 3 => {
            prepare(Path::new(&args[1]), Path::new(&args[2])).await
        }
        Some("run") if args.len() == 4 || args.len() == 5 => {
            let out = args.get(4).map(PathBuf::from);
            run(
                Path::new(&args[1]),
                Path::new(&args[2]),
                args[3].parse()?,
                out.as_deref(),
            )
            .await
        }
        Some("relayout") if args.len() == 3 => {
            relayout(Path::new(&args[1]), Path::new(&args[2])).await
        }
        Some("explain") if args.len() == 3 => {
            explain(Path::new(&args[1]), Path::new(&args[2])).await
        }
        _ => Err(usage()),
    }
}

// ---------------------------------------------------------------- generate

fn generate(out: &Path, persons: u64) -> Result<(), Error> {
    let t = Instant::now();
    let opts = hdh_demo::DemoOptions {
        persons,
        ..Default::default()
    };
    let summary = hdh_demo::generate(&opts, out, &mut |p| {
        if p.persons_done % 100_000 == 0 || p.persons_done == p.persons_total {
            eprintln!("  {}/{} persons", p.persons_done, p.persons_total);
        }
    })?;
    for (table, rows) in &summary.tables {
        println!("{table:10} {rows:>12}");
    }
    eprintln!(
        "generated {persons} persons in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

// ---------------------------------------------------------------- prepare

struct Source {
    schema: hdh_model::schema::TableSchema,
    csv: PathBuf,
}

fn sources(csv_dir: &Path) -> Result<Vec<Source>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(csv_dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(table) = name.strip_suffix(".schema.json") else {
            continue;
        };
        let schema = hdh_model::schema::TableSchema::from_json(&std::fs::read(&path)?)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        out.push(Source {
            schema,
            csv: csv_dir.join(format!("{table}.csv")),
        });
    }
    out.sort_by(|a, b| a.schema.name.cmp(&b.schema.name));
    if out.is_empty() {
        return Err(format!("no *.schema.json in {}", csv_dir.display()).into());
    }
    Ok(out)
}

async fn prepare(csv_dir: &Path, lake_dir: &Path) -> Result<(), Error> {
    let t = Instant::now();
    let lake = Lake::open_local(lake_dir)?;
    lake.delete_prefix("projects").await?;
    lake.clean_staging().await?;
    let secret = hdh_pseudo::HubSecret::from_bytes(&[7u8; 32])?;
    let project_key = secret.project_key(PROJECT);
    let level2 = HashMap::new();
    let key = hdh_workspace::pseudonyms::ProjectPseudonymiser {
        project: &project_key,
        level2: &level2,
        bridge: None,
    };
    // One partition: rows keep the order of the delivery, as an extraction
    // (which reads its sources in file order) does.
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    let mut staging = lake.begin_staging();
    for s in sources(csv_dir)? {
        let arrow = Arc::new(hdh_ingest::arrow_schema(&s.schema));
        let persons: Vec<String> = s
            .schema
            .person_fields()
            .iter()
            .map(|f| f.name.clone())
            .collect();
        // The extraction's schema: person columns hold project pseudonyms.
        let out_schema: SchemaRef = Arc::new(Schema::new(
            arrow
                .fields()
                .iter()
                .map(|f| {
                    if persons.contains(f.name()) {
                        Field::new(f.name(), DataType::Utf8, f.is_nullable())
                    } else {
                        f.as_ref().clone()
                    }
                })
                .collect::<Vec<_>>(),
        ));
        let csv = s.csv.to_str().ok_or("CSV path is not UTF-8")?;
        let df = ctx
            .read_csv(
                csv,
                CsvReadOptions::new()
                    .has_header(true)
                    .schema(&arrow)
                    .file_extension(".csv"),
            )
            .await?;
        let mut stream = df.execute_stream().await?;
        // As the extraction lays a table out: by year of its period column.
        let layout = match &s.schema.period_field {
            Some(pc) if std::env::var_os("HDH_BENCH_AS_WRITTEN").is_none() => {
                hdh_lake::Layout::by_year_if_dated(&out_schema, pc)
            }
            _ => hdh_lake::Layout::AsWritten,
        };
        let mut writer =
            lake.table_writer_with(&staging, &s.schema.name, out_schema.clone(), &layout)?;
        while let Some(batch) = stream.next().await {
            let batch = key.apply(&batch?, &persons, "")?;
            let batch = RecordBatch::try_new(out_schema.clone(), batch.columns().to_vec())?;
            writer.write(&batch).await?;
        }
        let entry = lake.finish_table(&mut staging, writer).await?;
        eprintln!(
            "  {:10} {:>12} rows {:>14} bytes  ({:.1} s)",
            entry.table,
            entry.rows,
            entry.bytes,
            t.elapsed().as_secs_f64()
        );
    }
    let manifest = Manifest {
        kind: "extraction".into(),
        id: PROJECT.into(),
        version: 1,
        created_at: chrono::Utc::now().to_rfc3339(),
        files: vec![],
        metadata: serde_json::Value::Null,
    };
    let manifest = lake.publish(staging, PREFIX, manifest).await?;
    for f in &manifest.files {
        println!("{}", lake_dir.join(&f.path).display());
    }
    eprintln!("extraction written in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------- relayout

/// Investigation only: rewrites the extraction of `src` into `dst`, sorted
/// (`HDH_BENCH_SORT="ER_PRS_F=EXE_SOI_DTD;T_MCO23C=EXE_SOI_DTD"`) and/or with
/// other Parquet properties than the hub's writer
/// (`HDH_BENCH_WRITER="rg=1048576,compression=none,dict=off,stats=chunk,version=2"`;
/// unset: the hub's writer).
async fn relayout(src: &Path, dst: &Path) -> Result<(), Error> {
    use datafusion::parquet::arrow::AsyncArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::{
        EnabledStatistics, WriterProperties, WriterVersion,
    };
    let t = Instant::now();
    let src_lake = Lake::open_local(src)?;
    let manifest = src_lake
        .manifest(PREFIX)
        .await?
        .ok_or("no extraction in the source lake")?;
    let dst_lake = Lake::open_local(dst)?;
    dst_lake.delete_prefix("projects").await?;
    let sorts: HashMap<String, Vec<String>> = std::env::var("HDH_BENCH_SORT")
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.split(',').map(|c| c.trim().to_string()).collect(),
            )
        })
        .collect();
    let custom = std::env::var("HDH_BENCH_WRITER")
        .ok()
        .filter(|s| !s.is_empty());
    let props = |spec: &str| -> Result<WriterProperties, Error> {
        let mut b = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(256 * 1024));
        for kv in spec.split(',') {
            let (k, v) = kv.split_once('=').ok_or("HDH_BENCH_WRITER: key=value,…")?;
            b = match k {
                "rg" => b.set_max_row_group_row_count(Some(v.parse()?)),
                "compression" if v == "none" => b.set_compression(Compression::UNCOMPRESSED),
                "compression" => b.set_compression(Compression::SNAPPY),
                "dict" => b.set_dictionary_enabled(v == "on"),
                "stats" => b.set_statistics_enabled(match v {
                    "none" => EnabledStatistics::None,
                    "chunk" => EnabledStatistics::Chunk,
                    _ => EnabledStatistics::Page,
                }),
                "version" if v == "2" => b.set_writer_version(WriterVersion::PARQUET_2_0),
                "version" => b.set_writer_version(WriterVersion::PARQUET_1_0),
                "pagerows" => b.set_data_page_row_count_limit(v.parse()?),
                "bloom" => b.set_column_bloom_filter_enabled(v.into(), true),
                _ => return Err(format!("HDH_BENCH_WRITER: unknown {k}").into()),
            };
        }
        Ok(b.build())
    };
    // One sorter, spilling beyond 10 GiB.
    let ctx = SessionContext::new_with_config_rt(
        SessionConfig::new().with_target_partitions(1),
        datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
            .with_memory_limit(10 << 30, 1.0)
            .build_arc()?,
    );
    let mut staging = dst_lake.begin_staging();
    let mut files = Vec::new();
    for f in &manifest.files {
        let mut df = ctx
            .read_parquet(
                src.join(&f.path).to_str().ok_or("path")?,
                ParquetReadOptions::default(),
            )
            .await?;
        if let Some(cols) = sorts.get(&f.table) {
            df = df.sort(
                cols.iter()
                    .map(|c| datafusion::prelude::col(format!("\"{c}\"")).sort(true, false))
                    .collect(),
            )?;
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let mut stream = df.execute_stream().await?;
        match &custom {
            None => {
                let mut w = dst_lake.table_writer(&staging, &f.table, schema)?;
                while let Some(b) = stream.next().await {
                    w.write(&b?).await?;
                }
                dst_lake.finish_table(&mut staging, w).await?;
            }
            Some(spec) => {
                let path = dst.join(PREFIX).join(format!("{}.parquet", f.table));
                std::fs::create_dir_all(path.parent().ok_or("path")?)?;
                let file = tokio::fs::File::create(&path).await?;
                let mut w = AsyncArrowWriter::try_new(file, schema, Some(props(spec)?))?;
                let mut rows = 0u64;
                while let Some(b) = stream.next().await {
                    let b = b?;
                    rows += b.num_rows() as u64;
                    w.write(&b).await?;
                }
                w.close().await?;
                files.push(hdh_lake::FileEntry {
                    table: f.table.clone(),
                    path: format!("{PREFIX}/{}.parquet", f.table),
                    rows,
                    bytes: std::fs::metadata(&path)?.len(),
                    sha256: String::new(),
                });
            }
        }
        eprintln!("  {:10} ({:.1} s)", f.table, t.elapsed().as_secs_f64());
    }
    let mut out = Manifest {
        files: vec![],
        ..manifest.clone()
    };
    if custom.is_none() {
        dst_lake.publish(staging, PREFIX, out).await?;
    } else {
        out.files = files;
        dst_lake
            .put_bytes(
                &format!("{PREFIX}/manifest.json"),
                serde_json::to_vec_pretty(&out)?,
            )
            .await?;
    }
    eprintln!("relayout in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}

// ---------------------------------------------------------------- run

fn limits(lake_dir: &Path) -> Result<Limits, Error> {
    let mut limits = Limits {
        timeout: Duration::from_secs(1800),
        spill_dir: Some(lake_dir.parent().unwrap_or(lake_dir).join("spill-hdh")),
        ..Limits::default()
    };
    if let Ok(mb) = std::env::var("HDH_BENCH_MEMORY_MB") {
        limits.memory_bytes = mb.parse::<usize>()? << 20;
    }
    Ok(limits)
}

async fn session(lake_dir: &Path) -> Result<SessionContext, Error> {
    let lake = Lake::open_local(lake_dir)?;
    let manifest = lake
        .manifest(PREFIX)
        .await?
        .ok_or_else(|| format!("no extraction under {}: run prepare", lake_dir.display()))?;
    let tables: Vec<ProjectTable> = manifest
        .files
        .iter()
        .map(|f| ProjectTable {
            name: f.table.clone(),
            object_path: f.path.clone(),
        })
        .collect();
    let ctx = hdh_workspace::project_session(&lake, &tables, &limits(lake_dir)?).await?;
    if std::env::var("HDH_BENCH_NO_REORDER").is_ok_and(|v| v == "1") {
        ctx.remove_optimizer_rule(hdh_workspace::reorder::SelectiveJoinsFirst::NAME);
    }
    if std::env::var("HDH_BENCH_INLINE_CTES").is_ok_and(|v| v == "1") {
        let state = ctx.state_ref();
        state
            .write()
            .config_mut()
            .set_extension(Arc::new(hdh_workspace::shared::SharedSubqueries::Inline));
    }
    if let Ok(settings) = std::env::var("HDH_BENCH_SET")
        && !settings.trim().is_empty()
    {
        {
            let state = ctx.state_ref();
            let mut state = state.write();
            for kv in settings.split(',') {
                let (k, v) = kv.split_once('=').ok_or("HDH_BENCH_SET: key=value,…")?;
                state.config_mut().options_mut().set(k.trim(), v.trim())?;
            }
        }
        // Parquet reading options are taken when a table is registered.
        for t in &tables {
            ctx.deregister_table(t.name.as_str())?;
            ctx.register_parquet(
                t.name.as_str(),
                lake.url(&t.object_path),
                ParquetReadOptions::default(),
            )
            .await?;
        }
    }
    Ok(ctx)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn run(
    lake_dir: &Path,
    sql_file: &Path,
    repeats: usize,
    out: Option<&Path>,
) -> Result<(), Error> {
    let sql = std::fs::read_to_string(sql_file)?;
    let name = sql_file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("query")
        .to_string();
    let ctx = session(lake_dir).await?;
    let timeout = limits(lake_dir)?.timeout;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let result = hdh_workspace::run_query(&ctx, &sql, MAX_ROWS, timeout)
            .await
            .map_err(|e| format!("{name}: {e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(result);
    }
    let result = last.ok_or("no run")?;
    if result.truncated {
        return Err(format!("{name}: more than {MAX_ROWS} rows").into());
    }
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_vec(&result)?)?;
    }
    println!(
        "{}",
        serde_json::json!({
            "engine": "hdh",
            "query": name,
            "ms": times,
            "rows": result.rows.len(),
            "peak_rss_kb": peak_rss_kb(),
        })
    );
    Ok(())
}

async fn explain(lake_dir: &Path, sql_file: &Path) -> Result<(), Error> {
    let sql = std::fs::read_to_string(sql_file)?;
    let ctx = session(lake_dir).await?;
    let t = Instant::now();
    // As the workspace runs it: shared subqueries computed first.
    let (state, plan) = ctx.sql(&sql).await?.into_parts();
    let (plan, shared) = hdh_workspace::shared::materialise(&ctx, plan).await?;
    eprintln!(
        "{} shared subqueries computed in {:.0} ms ({} bytes kept)",
        shared.plans.len(),
        t.elapsed().as_secs_f64() * 1000.0,
        shared.bytes()
    );
    datafusion::prelude::DataFrame::new(state, plan)
        .explain(false, true)?
        .show()
        .await?;
    eprintln!("{:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}
