//! `hdh sdc check`: the hub's output checker on a Parquet file of microdata,
//! for tests and for producers preparing open data. One CSV line per cell:
//! `row,col,value,outcome,rule`.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use hdh_release::{Agg, Record, Rules, TableSpec};
use hdh_workspace::microdata::MicrodataColumns;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum SdcCommand {
    /// Computes a table from microdata and checks every cell: threshold,
    /// dominance ((n, k) and p %), non-zero contributors, secondary
    /// suppression of the margins. Prints `row,col,value,outcome,rule`.
    Check(CheckArgs),
}

#[derive(Args)]
pub struct CheckArgs {
    /// The microdata (Parquet), one row per record.
    #[arg(long)]
    microdata: PathBuf,
    /// Row variables, comma-separated (their values are joined by `|`).
    #[arg(long, value_delimiter = ',', required = true)]
    rows: Vec<String>,
    /// Column variables, comma-separated.
    #[arg(long, value_delimiter = ',')]
    cols: Vec<String>,
    /// The variable a magnitude table sums or averages.
    #[arg(long)]
    value: Option<String>,
    /// count, sum or mean (count without --value; sum with it unless given).
    #[arg(long)]
    agg: Option<String>,
    /// The column identifying persons: thresholds count distinct persons and
    /// dominance adds up each person's records (otherwise each row is a unit).
    #[arg(long)]
    person: Option<String>,
    /// Add margins: a total per row, per column and overall.
    #[arg(long)]
    totals: bool,
    /// The rules (TOML; see `hdh_release::rules`); the documented defaults otherwise.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Apply a dataset's overrides from the rules file.
    #[arg(long)]
    dataset: Option<String>,
    /// Print each suppressed or flagged cell's reasons on standard error.
    #[arg(long)]
    explain: bool,
}

pub fn run(command: SdcCommand) -> Result<()> {
    match command {
        SdcCommand::Check(args) => check(args),
    }
}

fn rules(args: &CheckArgs) -> Result<Rules> {
    let Some(path) = &args.config else {
        return Ok(Rules::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let set = hdh_release::RuleSet::from_toml(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(match &args.dataset {
        Some(d) => set.for_datasets(&[d]),
        None => set.hub,
    })
}

fn check(args: CheckArgs) -> Result<()> {
    let rules = rules(&args)?;
    let agg: Agg = match (&args.agg, &args.value) {
        (Some(a), _) => a.parse().map_err(|e| anyhow::anyhow!("--agg: {e}"))?,
        (None, Some(_)) => Agg::Sum,
        (None, None) => Agg::Count,
    };
    if agg.is_magnitude() && args.value.is_none() {
        bail!("--agg {}: give the variable with --value", agg.as_str());
    }
    let spec = TableSpec {
        name: args
            .microdata
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        population: args.microdata.display().to_string(),
        rows: args.rows.clone(),
        cols: args.cols.clone(),
        value: args.value.clone(),
        agg,
        totals: args.totals,
    };
    let (records, skipped) = read(&args, &spec)?;
    let table = hdh_release::table::build(&spec, &records)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.microdata.display()))?;
    let verdict = hdh_release::check_release(std::slice::from_ref(&table), &rules, &[]);
    let stdout = std::io::stdout();
    let mut out = csv::Writer::from_writer(stdout.lock());
    out.write_record(["row", "col", "value", "outcome", "rule"])?;
    for c in &verdict.tables[0].cells {
        let value = match (c.value, agg) {
            (None, _) => String::new(),
            (Some(v), Agg::Count) => format!("{}", v as u64),
            (Some(v), _) => format!("{v}"),
        };
        let rule = c
            .rules
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(";");
        out.write_record([
            c.row.as_str(),
            c.col.as_str(),
            &value,
            c.outcome.as_str(),
            &rule,
        ])?;
    }
    out.flush()?;
    drop(out);
    let mut err = std::io::stderr().lock();
    if skipped > 0 {
        writeln!(
            err,
            "{skipped} records with an empty key left out (as pandas does)"
        )?;
    }
    writeln!(
        err,
        "{} cells: {} ok, {} primary, {} secondary, {} flagged",
        verdict.tables[0].cells.len(),
        verdict.count(hdh_release::Outcome::Ok),
        verdict.count(hdh_release::Outcome::Primary),
        verdict.count(hdh_release::Outcome::Secondary),
        verdict.count(hdh_release::Outcome::Flagged),
    )?;
    if args.explain {
        for c in verdict.tables[0]
            .cells
            .iter()
            .filter(|c| !c.reasons.is_empty())
        {
            writeln!(
                err,
                "{}/{}: {}: {}",
                c.row,
                c.col,
                c.outcome.as_str(),
                c.reasons.join("; ")
            )?;
        }
    }
    if !verdict.unprotected.is_empty() {
        writeln!(
            err,
            "still recomputable, a checker must look: {}",
            verdict.unprotected.join("; ")
        )?;
    }
    Ok(())
}

/// Reads the records of the table from the Parquet file; rows with an empty
/// key are left out (counted).
fn read(args: &CheckArgs, spec: &TableSpec) -> Result<(Vec<Record>, u64)> {
    let path = &args.microdata;
    let at =
        |e: hdh_workspace::microdata::MicrodataError| anyhow::anyhow!("{}: {e}", path.display());
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .with_context(|| format!("{}: not a Parquet file", path.display()))?;
    let columns = MicrodataColumns {
        rows: spec.rows.clone(),
        cols: spec.cols.clone(),
        value: args.value.clone(),
        person: args.person.clone(),
    };
    let schema = builder.schema().clone();
    hdh_workspace::microdata::check_schema(&schema, &columns).map_err(at)?;
    let roots: Vec<usize> = columns
        .all()
        .iter()
        .filter_map(|n| schema.index_of(n).ok())
        .collect();
    let total = builder.metadata().file_metadata().num_rows().max(0) as u64;
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
    let reader = builder
        .with_projection(mask)
        .build()
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let bar = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} rows")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("reading");
    let (mut records, mut skipped, mut row) = (Vec::new(), 0u64, 0u64);
    for batch in reader {
        let batch = batch.with_context(|| format!("{}: cannot read", path.display()))?;
        skipped += hdh_workspace::microdata::add_records(&batch, &columns, &mut row, &mut records)
            .map_err(at)?;
        bar.set_position(row);
    }
    bar.finish_and_clear();
    Ok((records, skipped))
}
