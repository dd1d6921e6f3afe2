//! `hdh linkage …`: record linkage of CSV files (the I/O edge of
//! `hdh_linkage`): exact on several keys, or probabilistic with a model
//! trained on the files themselves.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use hdh_linkage::model::Linker;
use hdh_linkage::{LinkType, Records, Settings, Values};
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
    /// Encodes a CSV file as Bloom filters under a shared secret (what each
    /// party runs on its own data before privacy-preserving linkage): one
    /// line `id,clk` per record, the filter in hex; no value leaves in clear.
    Encode {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        id: String,
        /// The fields, each NAME[:Q[:K]] (q-grams of Q characters, K bits
        /// each; default 2 and 20), comma-separated. Each field's q-grams are
        /// salted by its name.
        #[arg(long, value_delimiter = ',', required = true)]
        fields: Vec<String>,
        /// The shared secret: a file both parties hold (never on the command line).
        #[arg(long)]
        secret_file: PathBuf,
        /// Bits of a filter.
        #[arg(long, default_value_t = 1024)]
        bits: usize,
        /// Balance the filters (the filter and its complement, shuffled by
        /// the secret): every encoding has the same number of ones.
        #[arg(long)]
        balance: bool,
        #[arg(long)]
        out: PathBuf,
    },
    /// Links two encoded files by Dice similarity (no clear value needed).
    Dice {
        #[arg(long)]
        left: PathBuf,
        #[arg(long)]
        right: PathBuf,
        /// Smallest Dice similarity of a link.
        #[arg(long, default_value_t = 0.8)]
        threshold: f64,
        /// Blocking on the encodings: compare only filters that agree on
        /// every sampled bit of one of N bands (0: compare every pair whose
        /// counts of ones can reach the threshold).
        #[arg(long, default_value_t = 0)]
        lsh_bands: usize,
        /// Bits sampled per band (1 to 64).
        #[arg(long, default_value_t = 16)]
        lsh_bits: usize,
        /// The links (left_id,right_id,dice), CSV.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The two HMAC keys and the balancing seed, derived from the shared secret.
fn derive(secret: &[u8]) -> (Vec<u8>, Vec<u8>, u64) {
    use sha2::Digest;
    let part = |label: &str| -> Vec<u8> {
        let mut h = sha2::Sha256::new();
        h.update(b"hdh-pprl/1 ");
        h.update(label.as_bytes());
        h.update(secret);
        h.finalize().to_vec()
    };
    let seed = part("balance");
    let mut s = [0u8; 8];
    s.copy_from_slice(&seed[..8]);
    (part("sha1"), part("md5"), u64::from_le_bytes(s))
}

/// Reads `id,clk` lines written by `encode`.
fn read_encodings(path: &Path) -> Result<(Vec<String>, Vec<hdh_linkage::pprl::Filter>)> {
    let mut rdr =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (mut ids, mut filters) = (Vec::new(), Vec::new());
    for (n, row) in rdr.records().enumerate() {
        let row = row.with_context(|| format!("{}: line {}", path.display(), n + 2))?;
        let (Some(id), Some(hex_clk)) = (row.get(0), row.get(1)) else {
            bail!("{}: line {}: expected id,clk", path.display(), n + 2);
        };
        let bytes = hex::decode(hex_clk)
            .with_context(|| format!("{}: line {}: clk is not hex", path.display(), n + 2))?;
        let f = hdh_linkage::pprl::Filter::from_msb_bytes(&bytes);
        if let Some(first) = filters.first().map(|f: &hdh_linkage::pprl::Filter| f.bits)
            && first != f.bits
        {
            bail!(
                "{}: line {}: {} bits where the others have {first}",
                path.display(),
                n + 2,
                f.bits
            );
        }
        ids.push(id.to_string());
        filters.push(f);
    }
    Ok((ids, filters))
}

fn filter_hex(f: &hdh_linkage::pprl::Filter) -> String {
    hex::encode(f.to_msb_bytes())
}

/// Reads a CSV file into records (every column; empty cells are missing).
///
/// A file without any quote has one record per line: it is then cut at
/// line ends into one part per core, read side by side.
pub fn read_csv(path: &Path, id: &str) -> Result<Records> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(bytes.as_slice());
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
    let body_start = usize::try_from(rdr.position().byte())?;
    let body = &bytes[body_start.min(bytes.len())..];
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let parts = if threads > 1 && body.len() > 1 << 20 && !body.contains(&b'"') {
        split_at_lines(body, threads)
    } else {
        vec![body]
    };
    // The line of each part's first record (the header is line 1).
    let mut first_lines = Vec::with_capacity(parts.len());
    let mut line = 2;
    for part in &parts {
        first_lines.push(line);
        line += part.iter().filter(|&&b| b == b'\n').count();
    }
    let read = |part: &[u8], first_line: usize| -> Result<(Vec<String>, Vec<Values>)> {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(part);
        let mut ids = Vec::new();
        let mut columns: Vec<Values> = vec![Values::default(); headers.len()];
        let mut row = csv::StringRecord::new();
        loop {
            let more = match rdr.read_record(&mut row) {
                Ok(more) => more,
                Err(e) => {
                    // The reader's lines count from the part's first one.
                    let at = e.position().map_or(rdr.position().line(), |p| p.line()) as usize;
                    let what = match e.kind() {
                        csv::ErrorKind::Utf8 { err, .. } => format!(
                            "column {:?} is not valid UTF-8",
                            headers.get(err.field()).map_or("?", String::as_str)
                        ),
                        _ => e.to_string(),
                    };
                    bail!(
                        "{}: line {}: {what}",
                        path.display(),
                        first_line + at.saturating_sub(1)
                    )
                }
            };
            if !more {
                break;
            }
            if row.len() != headers.len() {
                let at = row.position().map_or(0, |p| p.line() as usize);
                bail!(
                    "{}: line {}: {} fields, the header has {}",
                    path.display(),
                    first_line + at.saturating_sub(1),
                    row.len(),
                    headers.len()
                );
            }
            for (c, v) in row.iter().enumerate() {
                columns[c].push(Some(v.trim()));
            }
            ids.push(row.get(id_col).unwrap_or_default().to_string());
        }
        Ok((ids, columns))
    };
    let parts: Vec<(&[u8], usize)> = parts.into_iter().zip(first_lines).collect();
    let results = side_by_side(&parts, |&(part, first)| read(part, first));
    let mut ids = Vec::new();
    let mut columns: Vec<Values> = vec![Values::default(); headers.len()];
    for result in results {
        let (part_ids, part_columns) = result?;
        ids.extend(part_ids);
        for (c, v) in columns.iter_mut().zip(part_columns) {
            c.append(v);
        }
    }
    let mut r = Records::new(ids);
    for (h, values) in headers.iter().zip(columns) {
        r = r
            .with_values(h, values)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(r)
}

/// `body` cut into about `n` parts, each ending at a line end.
fn split_at_lines(body: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (body.len() * k / n).max(start);
        let Some(nl) = body[target..].iter().position(|&b| b == b'\n') else {
            break;
        };
        let end = target + nl + 1;
        parts.push(&body[start..end]);
        start = end;
    }
    parts.push(&body[start..]);
    parts
}

/// Adds `c_basin` and `c_sector` for each commune column `c` of the
/// settings, from the SNDS commune table (`IR_GEO_V`, vendored); says how
/// many codes the table does not know.
pub fn with_communes(records: Records, columns: &[String], path: &Path) -> Result<Records> {
    if columns.is_empty() {
        return Ok(records);
    }
    let table = hdh_refdata::communes::communes();
    let (records, unknown) = records
        .with_places(columns, |code| {
            table
                .get(code)
                .map(|c| (c.basin.as_str(), c.sector.as_str()))
        })
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if unknown > 0 {
        eprintln!(
            "{}: {unknown} commune codes not in IR_GEO_V (département + commune, 6 characters): their basin and sector are missing",
            path.display()
        );
    }
    Ok(records)
}

/// Writes the links as CSV (left_id, right_id, weight, probability,
/// cluster), each core formatting a share of the lines.
fn write_links(
    path: &Path,
    links: &[&hdh_linkage::model::Scored],
    left: &Records,
    right: &Records,
    cluster: &[usize],
) -> Result<()> {
    // Each line written straight into the part's bytes (numbers by `itoa`,
    // ids quoted as the csv crate quotes them, only where needed): the csv
    // writer's per-field checks were most of the writing's time.
    let format = |part: &[&hdh_linkage::model::Scored]| -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(part.len() * 48);
        let mut n = itoa::Buffer::new();
        for x in part {
            let (i, j) = (x.pair.0 as usize, x.pair.1 as usize);
            push_field(&mut out, &left.ids[i]);
            out.push(b',');
            push_field(&mut out, &right.ids[j]);
            out.push(b',');
            push_fixed(&mut out, x.weight, 4);
            out.push(b',');
            push_fixed(&mut out, x.probability, 6);
            out.push(b',');
            out.extend_from_slice(n.format(cluster[i]).as_bytes());
            out.push(b'\n');
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let size = links.len().div_ceil(threads).max(1);
    let parts: Vec<&[&hdh_linkage::model::Scored]> = links.chunks(size).collect();
    let mut text = b"left_id,right_id,weight,probability,cluster\n".to_vec();
    for part in side_by_side(&parts, |part| format(part)) {
        text.extend(part?);
    }
    crate::write_atomic(path, &text)
}

/// `f` on each part, each part on a thread of its own; the results in the
/// parts' order.
fn side_by_side<P: Sync, T: Send>(
    parts: &[P],
    f: impl Fn(&P) -> Result<T> + Sync,
) -> Vec<Result<T>> {
    if parts.len() == 1 {
        return vec![f(&parts[0])];
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = parts.iter().map(|p| s.spawn(move || f(p))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a thread failed")))
            })
            .collect()
    })
}

fn spinner(msg: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// A CSV field as the csv crate writes it by default: quoted (quotes
/// doubled) only when it holds a comma, a quote or a line end.
fn push_field(out: &mut Vec<u8>, v: &str) {
    if v.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for b in v.bytes() {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v.as_bytes());
    }
}

/// `x` with `decimals` digits after the point, as `{:.N}` prints it (but
/// from integers: the standard formatter's exact mode falls back to big
/// numbers on many weights), `-0.0000` as `0.0000`.
fn push_fixed(out: &mut Vec<u8>, x: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let scaled = (x.abs() * scale as f64).round();
    if !x.is_finite() || scaled >= 1e18 {
        out.extend_from_slice(format!("{:.*}", decimals as usize, x).as_bytes());
        return;
    }
    let scaled = scaled as u64;
    if x < 0.0 && scaled != 0 {
        out.push(b'-');
    }
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(n.format(scaled / scale).as_bytes());
    out.push(b'.');
    let frac = n.format(scaled % scale);
    out.extend(std::iter::repeat_n(
        b'0',
        (decimals as usize).saturating_sub(frac.len()),
    ));
    out.extend_from_slice(frac.as_bytes());
}

pub fn run(command: LinkageCommand) -> Result<()> {
    match command {
        LinkageCommand::Encode {
            input,
            id,
            fields,
            secret_file,
            bits,
            balance,
            out,
        } => {
            use hdh_linkage::pprl::{FieldEncoding, Secret, encode};
            let secret = std::fs::read(&secret_file)
                .with_context(|| format!("cannot read {}", secret_file.display()))?;
            if secret.len() < 16 {
                bail!(
                    "{}: a shared secret of at least 16 bytes",
                    secret_file.display()
                );
            }
            if !(64..=65536).contains(&bits) {
                bail!("--bits {bits}: between 64 and 65536");
            }
            let (key_sha1, key_md5, seed) = derive(&secret);
            let secret = Secret {
                key_sha1,
                key_md5,
                bits,
            };
            let records = read_csv(&input, &id)?;
            let mut specs = Vec::new();
            for f in &fields {
                let mut parts = f.split(':');
                let name = parts.next().unwrap_or("").trim().to_string();
                let num = |p: Option<&str>, default: usize, what: &str| -> Result<usize> {
                    match p {
                        None => Ok(default),
                        Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            anyhow::anyhow!("--fields {f:?}: {what} must be a positive number")
                        }),
                    }
                };
                let q = num(parts.next(), 2, "Q")?;
                let k = num(parts.next(), 20, "K")?;
                let column = records
                    .column(&name)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", input.display()))?;
                specs.push((
                    column,
                    FieldEncoding {
                        q,
                        k,
                        salt: Some(format!("{name}:")),
                    },
                ));
            }
            let mut w = csv::Writer::from_path(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            w.write_record(["id", "clk"])?;
            for r in 0..records.len() {
                let values: Vec<(Option<&str>, &FieldEncoding)> = specs
                    .iter()
                    .map(|(c, how)| (records.get(*c, r), how))
                    .collect();
                let mut f = encode(&secret, &values);
                if balance {
                    f = hdh_linkage::pprl::balance(&f, seed);
                }
                w.write_record([records.ids[r].as_str(), &filter_hex(&f)])?;
            }
            w.flush()?;
            println!(
                "{} records encoded ({} bits each)",
                records.len(),
                if balance { bits * 2 } else { bits }
            );
            Ok(())
        }
        LinkageCommand::Dice {
            left,
            right,
            threshold,
            lsh_bands,
            lsh_bits,
            out,
        } => {
            if !(threshold > 0.0 && threshold <= 1.0) {
                bail!("--threshold {threshold}: in (0, 1]");
            }
            let (lids, l) = read_encodings(&left)?;
            let (rids, r) = read_encodings(&right)?;
            if let (Some(a), Some(b)) = (l.first(), r.first())
                && a.bits != b.bits
            {
                bail!(
                    "the files' filters differ in length ({} and {} bits): not encoded alike",
                    a.bits,
                    b.bits
                );
            }
            let started = std::time::Instant::now();
            let pairs = if lsh_bands == 0 {
                hdh_linkage::pprl::link(&l, &r, threshold)
            } else {
                if !(1..=64).contains(&lsh_bits) {
                    bail!("--lsh-bits {lsh_bits}: between 1 and 64");
                }
                let lsh = hdh_linkage::pprl::LshBlocking {
                    bands: lsh_bands,
                    bits: lsh_bits,
                    ..Default::default()
                };
                hdh_linkage::pprl::link_blocked(&l, &r, threshold, &lsh).ok_or_else(|| {
                    anyhow::anyhow!("--lsh-bits {lsh_bits}: more than the filters' bits")
                })?
            };
            let mut w = csv::Writer::from_path(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            w.write_record(["left_id", "right_id", "dice"])?;
            for (i, j, d) in &pairs {
                w.write_record([&lids[*i as usize], &rids[*j as usize], &format!("{d:.4}")])?;
            }
            w.flush()?;
            println!(
                "{} links at Dice ≥ {threshold} among {} × {} encodings; {:.2} s",
                pairs.len(),
                l.len(),
                r.len(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
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
            let l = with_communes(read_csv(&left, &id)?, &s.communes, &left)?;
            // A deduplication compares the records with themselves: the same
            // records, not a copy (the linker then builds each column's
            // dictionary once).
            let right_records;
            let r = match (&right, s.link_type) {
                (Some(p), LinkType::LinkOnly) => {
                    right_records = with_communes(read_csv(p, &id)?, &s.communes, p)?;
                    &right_records
                }
                (None, LinkType::DedupeOnly) => &l,
                (None, LinkType::LinkOnly) => bail!("link_only: say --right"),
                (Some(_), LinkType::DedupeOnly) => {
                    bail!("dedupe_only: one file (--left), no --right")
                }
            };
            // Where the time goes, phase by phase (printed at the end).
            let mut phases: Vec<(&str, f64)> = Vec::new();
            let mut lap = started;
            let mut mark = |phase: &'static str| {
                phases.push((phase, lap.elapsed().as_secs_f64()));
                lap = std::time::Instant::now();
            };
            mark("reading");
            let linker = Linker::new(&s, &l, r)?;
            mark("dictionaries");
            let pb = spinner("training: u from random pairs, m by EM");
            let trained = linker.train()?;
            mark("training");
            pb.set_message("blocking and weighing");
            let found = linker.links(&trained, s.threshold)?;
            mark("blocking and weighing");
            let links: Vec<_> = found.links.iter().collect();
            let pairs_linked: Vec<_> = links.iter().map(|x| x.pair).collect();
            let cluster =
                hdh_linkage::cluster::clusters(l.len(), r.len(), &pairs_linked, s.link_type);
            pb.finish_and_clear();
            mark("clusters");
            write_links(&out, &links, &l, r, &cluster)?;
            if let Some(p) = &model {
                crate::write_atomic(p, serde_json::to_string_pretty(&trained)?.as_bytes())?;
            }
            mark("writing");
            println!(
                "λ = {:.3e}; {} candidate pairs, {} links at p ≥ {}, {} clusters; {:.2} s",
                trained.lambda,
                found.candidates,
                links.len(),
                s.threshold,
                cluster.iter().max().map_or(0, |m| m + 1),
                started.elapsed().as_secs_f64()
            );
            let phases: Vec<String> = phases
                .iter()
                .map(|(p, t)| format!("{p} {t:.2} s"))
                .collect();
            println!("  ({})", phases.join(", "));
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

#[cfg(test)]
mod tests {
    /// A file without quotes is read in parts (one per core), a file with
    /// quotes by one reader: the same records either way, and a faulty
    /// line named by its number in the file.
    #[test]
    fn csv_read_in_parts_is_read_whole_and_faults_are_numbered() {
        let dir = tempfile::tempdir().unwrap();
        let mut plain = String::from("id,name,dob\n");
        for k in 0..60_000 {
            plain.push_str(&format!(
                "r{k},NAME {},{}\n",
                k % 977,
                if k % 5 == 0 { "" } else { "1980-01-02" }
            ));
        }
        assert!(plain.len() > 1 << 20);
        let quoted = plain.replacen("NAME 0,", "\"NAME 0\",", 1);
        let (p, q) = (dir.path().join("p.csv"), dir.path().join("q.csv"));
        std::fs::write(&p, &plain).unwrap();
        std::fs::write(&q, &quoted).unwrap();
        let (a, b) = (
            super::read_csv(&p, "id").unwrap(),
            super::read_csv(&q, "id").unwrap(),
        );
        assert_eq!(a.len(), 60_000);
        assert_eq!(a.ids, b.ids);
        for c in ["id", "name", "dob"] {
            let (ca, cb) = (a.column(c).unwrap(), b.column(c).unwrap());
            for r in [0, 1, 5, 29_999, 30_000, 30_001, 59_999] {
                assert_eq!(a.get(ca, r), b.get(cb, r), "{c} {r}");
            }
        }
        assert_eq!(a.get(a.column("name").unwrap(), 59_999), Some("NAME 402"));
        assert_eq!(a.get(a.column("dob").unwrap(), 5), None);
        // Line 30 001 (record 29 999) loses a field, in both layouts.
        for (text, name) in [(&plain, "bad_p.csv"), (&quoted, "bad_q.csv")] {
            let bad = text.replacen("r29999,NAME 689,1980-01-02", "r29999,NAME 689", 1);
            assert_ne!(&bad, text);
            let path = dir.path().join(name);
            std::fs::write(&path, bad).unwrap();
            let e = super::read_csv(&path, "id").unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("line 30001"), "{e}");
        }
        // A value that is not UTF-8 on line 1 001: named by line and column.
        let mut bytes =
            plain.as_bytes()[..plain.match_indices('\n').nth(999).unwrap().0 + 1].to_vec();
        bytes.extend(b"x1,NAME \xff,1980-01-02\n");
        let path = dir.path().join("utf8.csv");
        std::fs::write(&path, bytes).unwrap();
        let e = super::read_csv(&path, "id").unwrap_err().to_string();
        assert!(
            e.contains("line 1001: column \"name\" is not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn numbers_print_as_the_standard_formatter() {
        for &x in &[
            0.0,
            1.0,
            58.66444,
            -3.25,
            -0.00001,
            0.9999996,
            1e-7,
            123456.5,
            f64::NAN,
        ] {
            let mut s = Vec::new();
            super::push_fixed(&mut s, x, 4);
            let expected = format!("{x:.4}").replace("-0.0000", "0.0000");
            assert_eq!(String::from_utf8(s).unwrap(), expected, "{x}");
        }
        let mut s = Vec::new();
        super::push_fixed(&mut s, 0.9999996, 6);
        assert_eq!(s, b"1.000000");
    }

    /// The links' ids written by hand are quoted as the csv crate quotes
    /// them: only where needed.
    #[test]
    fn links_ids_are_quoted_as_the_csv_writer_quotes_them() {
        for id in ["r1", "a,b", "say \"hi\"", "two\nlines", "é", " padded "] {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::new());
            w.write_record([id, "x"]).unwrap();
            let expected = w.into_inner().unwrap();
            let mut got = Vec::new();
            super::push_field(&mut got, id);
            got.extend_from_slice(b",x\n");
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(expected).unwrap(),
                "{id:?}"
            );
        }
    }
}
