//! `hdh linkage …`: record linkage of CSV files (the I/O edge of
//! `hdh_linkage`): exact on several keys, or probabilistic with a model
//! trained on the files themselves.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hdh_linkage::model::Linker;
use hdh_linkage::{LinkType, Records, Settings};
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum LinkageCommand {
    /// Links two files on keys that must all agree (the holder's
    /// pseudonym, birth date, sex, rank…); reports collisions, records
    /// with a key missing, ambiguous and unmatched records.
    Deterministic {
        #[arg(long)]
        left: PathBuf,
        #[arg(long)]
        right: PathBuf,
        /// The key columns, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        on: Vec<String>,
        /// The column that identifies a record in each file.
        #[arg(long)]
        id: String,
        /// The links (left_id,right_id), CSV.
        #[arg(long)]
        out: PathBuf,
    },
    /// Fellegi–Sunter linkage (or deduplication) configured by a TOML file:
    /// trains the model on the files (u from random pairs, m by EM, λ from
    /// the deterministic rules), scores the blocked pairs and writes those
    /// at or above the threshold, with their weight, probability and cluster.
    Probabilistic {
        /// The settings (docs/linkage.md).
        #[arg(long)]
        settings: PathBuf,
        #[arg(long)]
        left: PathBuf,
        /// The second file (not for a deduplication).
        #[arg(long)]
        right: Option<PathBuf>,
        /// The column that identifies a record in each file.
        #[arg(long)]
        id: String,
        /// The links (left_id,right_id,weight,probability,cluster), CSV.
        #[arg(long)]
        out: PathBuf,
        /// The trained model (m, u, λ, EM sessions), JSON.
        #[arg(long)]
        model: Option<PathBuf>,
    },
}

/// Reads a CSV file into records (every column; empty cells are missing).
pub fn read_csv(path: &Path, id: &str) -> Result<Records> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers: Vec<String> = rdr
        .headers()
        .with_context(|| format!("{}: no header line", path.display()))?
        .iter()
        .map(str::to_string)
        .collect();
    let Some(id_col) = headers.iter().position(|h| h == id) else {
        bail!(
            "{}: no column {id:?} (the header has {})",
            path.display(),
            headers.join(", ")
        );
    };
    let mut ids = Vec::new();
    let mut columns: Vec<Vec<Option<String>>> = vec![Vec::new(); headers.len()];
    for (n, row) in rdr.records().enumerate() {
        let row = row.with_context(|| format!("{}: line {}", path.display(), n + 2))?;
        for (c, v) in row.iter().enumerate() {
            let v = v.trim();
            columns[c].push((!v.is_empty()).then(|| v.to_string()));
        }
        ids.push(row.get(id_col).unwrap_or_default().to_string());
    }
    let mut r = Records::new(ids);
    for (h, values) in headers.iter().zip(columns) {
        r = r
            .with_column(h, values)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(r)
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

pub fn run(command: LinkageCommand) -> Result<()> {
    match command {
        LinkageCommand::Deterministic {
            left,
            right,
            on,
            id,
            out,
        } => {
            let (l, r) = (read_csv(&left, &id)?, read_csv(&right, &id)?);
            let report = hdh_linkage::deterministic::link(&l, &r, &on)?;
            let mut w = csv::Writer::from_path(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            w.write_record(["left_id", "right_id"])?;
            for &(i, j) in &report.links {
                w.write_record([&l.ids[i as usize], &r.ids[j as usize]])?;
            }
            w.flush()?;
            let groups = |g: &[Vec<u32>]| g.iter().map(Vec::len).sum::<usize>();
            println!(
                "{} links; left: {} records in {} colliding keys, {} with a key missing, {} ambiguous, {} unmatched; right: {} in {} colliding keys, {} with a key missing, {} ambiguous, {} unmatched",
                report.links.len(),
                groups(&report.collisions_left),
                report.collisions_left.len(),
                report.incomplete_left.len(),
                report.ambiguous_left.len(),
                report.unmatched_left.len(),
                groups(&report.collisions_right),
                report.collisions_right.len(),
                report.incomplete_right.len(),
                report.ambiguous_right.len(),
                report.unmatched_right.len(),
            );
            Ok(())
        }
        LinkageCommand::Probabilistic {
            settings,
            left,
            right,
            id,
            out,
            model,
        } => {
            let text = std::fs::read_to_string(&settings)
                .with_context(|| format!("cannot read {}", settings.display()))?;
            let s = Settings::from_toml(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", settings.display()))?;
            let started = std::time::Instant::now();
            let l = read_csv(&left, &id)?;
            let r = match (&right, s.link_type) {
                (Some(p), LinkType::LinkOnly) => read_csv(p, &id)?,
                (None, LinkType::DedupeOnly) => l.clone(),
                (None, LinkType::LinkOnly) => bail!("link_only: say --right"),
                (Some(_), LinkType::DedupeOnly) => {
                    bail!("dedupe_only: one file (--left), no --right")
                }
            };
            let linker = Linker::new(&s, &l, &r)?;
            let pb = spinner("training: u from random pairs, m by EM");
            let trained = linker.train()?;
            pb.set_message("blocking and scoring");
            let pairs = linker.blocked_pairs()?;
            let scored = linker.score(&trained, &pairs);
            let links: Vec<_> = scored
                .iter()
                .filter(|x| x.probability >= s.threshold)
                .collect();
            let pairs_linked: Vec<_> = links.iter().map(|x| x.pair).collect();
            let cluster =
                hdh_linkage::cluster::clusters(l.len(), r.len(), &pairs_linked, s.link_type);
            pb.finish_and_clear();
            let w = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("cannot write {}", out.display()))?,
            );
            let mut csvw = csv::Writer::from_writer(w);
            csvw.write_record(["left_id", "right_id", "weight", "probability", "cluster"])?;
            for x in &links {
                let (i, j) = (x.pair.0 as usize, x.pair.1 as usize);
                csvw.write_record([
                    l.ids[i].as_str(),
                    r.ids[j].as_str(),
                    &format!("{:.4}", x.weight),
                    &format!("{:.6}", x.probability),
                    &cluster[i].to_string(),
                ])?;
            }
            csvw.flush()?;
            if let Some(p) = &model {
                std::fs::write(p, serde_json::to_string_pretty(&trained)?)
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            println!(
                "λ = {:.3e}; {} candidate pairs, {} links at p ≥ {}, {} clusters; {:.2} s",
                trained.lambda,
                pairs.len(),
                links.len(),
                s.threshold,
                cluster.iter().max().map_or(0, |m| m + 1),
                started.elapsed().as_secs_f64()
            );
            for c in &trained.comparisons {
                let parts: Vec<String> = c
                    .levels
                    .iter()
                    .zip(c.m.iter().zip(&c.u))
                    .map(|(l, (m, u))| format!("{l}: m={m:.3} u={u:.2e}"))
                    .collect();
                println!("  {}: {}", c.name, parts.join("; "));
            }
            Ok(())
        }
    }
}
