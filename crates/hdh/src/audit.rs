//! `hdh audit …`: export a segment of the tamper-evident audit log with its
//! signed checkpoints, verify an export without the hub, print the public key.

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Writes entries FROM..=TO (default: all) as JSON Lines with the
    /// checkpoints among them, after signing a checkpoint of the last one.
    Export {
        #[command(flatten)]
        store: crate::StoreArgs,
        #[arg(long, default_value_t = 1)]
        from: i64,
        /// Last entry (default: the log's end).
        #[arg(long)]
        to: Option<i64>,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verifies an export without the hub: every hash, every link, every
    /// sequence number, every checkpoint against the public key, and the
    /// checkpoints a witness kept (`--witness`, JSON Lines). Exit 1 on any
    /// problem.
    Verify {
        /// One export, or consecutive ones (archived segments, then the
        /// rest): their entries are verified as one chain.
        #[arg(required = true)]
        export: Vec<PathBuf>,
        /// The hub's checkpoint key (hex), as published.
        #[arg(long)]
        public_key: String,
        /// Checkpoints kept outside the hub (lines of an export, or of
        /// `/audit/checkpoints.json` written one per line).
        #[arg(long)]
        witness: Vec<PathBuf>,
    },
    /// Keeps a copy of the hub's signed checkpoints, as an outside witness:
    /// fetches the published ones, checks each signature and that none the
    /// witness holds was changed or removed (exit 1 if so), and appends the
    /// new ones to the witness's file (the `--witness` of `verify`).
    Witness {
        /// The hub's `/audit/checkpoints.json` (a URL, or a saved copy).
        source: String,
        /// The hub's checkpoint key (hex), as the witness got it once.
        #[arg(long)]
        public_key: String,
        /// The witness's file of checkpoints (JSON Lines; created on first use).
        #[arg(long)]
        keep: PathBuf,
    },
    /// Moves the oldest entries out of the database into an archive file
    /// (an export with its checkpoints, verified before anything is
    /// deleted); the chain goes on from the archive's last hash, so
    /// `verify ARCHIVE… CURRENT` still checks the whole log.
    Archive {
        #[command(flatten)]
        store: crate::StoreArgs,
        /// Archive the entries up to and including this one.
        #[arg(
            long,
            conflicts_with = "older_than_days",
            required_unless_present = "older_than_days"
        )]
        through: Option<i64>,
        /// Archive the entries older than this many days.
        #[arg(long)]
        older_than_days: Option<u32>,
        /// Directory the archive file is written to.
        #[arg(long)]
        to: PathBuf,
    },
    /// Prints the hub's checkpoint public key (hex).
    PublicKey {
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

pub async fn run(command: AuditCommand) -> Result<()> {
    match command {
        AuditCommand::Export {
            store,
            from,
            to,
            out,
        } => {
            let (db, key) = store_and_key(&store).await?;
            let (head, _) = db.audit_head().await?;
            let to = to.unwrap_or(head).min(head);
            if from < 1 || from > to.max(1) {
                bail!("--from {from}: the log holds entries 1 to {head}");
            }
            let entries = db.audit_entries(from, to).await?;
            if let Some(last) = entries.last() {
                let c = hdh_audit::Checkpoint::sign(&key, last.seq, &last.hash, &hdh_store::now());
                db.add_checkpoint(&c).await?;
            }
            let checkpoints = db.audit_checkpoints(from, to).await?;
            // The hash the first exported entry follows (an archived
            // segment's last, when the entries before it were archived).
            let first = entries.first().map_or(from, |e| e.seq);
            if first > from {
                eprintln!(
                    "entries {from} to {} are archived (hdh audit archive): the export starts at {first}",
                    first - 1
                );
            }
            let prev = db.audit_hash_before(first).await?;
            let text = hdh_audit::write_export(&prev, &key.verifying_key(), &entries, &checkpoints);
            match out {
                Some(p) => std::fs::write(&p, text)
                    .with_context(|| format!("cannot write {}", p.display()))?,
                None => std::io::stdout().write_all(text.as_bytes())?,
            }
            eprintln!(
                "{} entries ({from}–{to}), {} checkpoints",
                entries.len(),
                checkpoints.len()
            );
            Ok(())
        }
        AuditCommand::Verify {
            export,
            public_key,
            witness,
        } => {
            let key = hdh_audit::public_key(&public_key).map_err(|e| anyhow::anyhow!(e))?;
            let mut entries = Vec::new();
            let mut checkpoints = Vec::new();
            let mut prev_of_first = None;
            for (i, path) in export.iter().enumerate() {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let ex = hdh_audit::read_export(&text, true)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                if i == 0 {
                    prev_of_first = ex.prev_hash.clone();
                }
                // Consecutive segments are one chain: each entry's link to
                // the one before is checked across files too.
                entries.extend(ex.entries);
                checkpoints.extend(ex.checkpoints);
            }
            let mut witnessed = Vec::new();
            for w in &witness {
                let text = std::fs::read_to_string(w)
                    .with_context(|| format!("cannot read {}", w.display()))?;
                let ws = hdh_audit::read_export(&text, false)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", w.display()))?;
                witnessed.extend(ws.checkpoints);
            }
            let started = std::time::Instant::now();
            let report = hdh_audit::verify(
                &entries,
                &checkpoints,
                &witnessed,
                &key,
                prev_of_first.as_deref(),
            );
            let took = started.elapsed();
            for p in &report.problems {
                println!("TAMPERED {p}");
            }
            println!(
                "{} entries ({}–{}), {} checkpoints verified, {} problems ({:.0} entries/s)",
                report.entries,
                report.first.unwrap_or(0),
                report.last.unwrap_or(0),
                report.checkpoints,
                report.problems.len(),
                report.entries as f64 / took.as_secs_f64().max(1e-9)
            );
            if !report.ok() {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Witness {
            source,
            public_key,
            keep,
        } => witness(&source, &public_key, &keep).await,
        AuditCommand::Archive {
            store,
            through,
            older_than_days,
            to,
        } => archive(&store, through, older_than_days, &to).await,
        AuditCommand::PublicKey { store } => {
            let cfg = crate::config(&store);
            let key = hdh_server::audit_log::load_or_create_key(&cfg.data_dir)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{}", hex::encode(key.verifying_key().to_bytes()));
            Ok(())
        }
    }
}

/// The store and the checkpoint key only (not the hub): these commands may
/// run beside a serving hub.
async fn store_and_key(
    store: &crate::StoreArgs,
) -> Result<(hdh_store::Store, ed25519_dalek::SigningKey)> {
    let cfg = crate::config(store);
    let db = match &cfg.database_url {
        Some(url) => hdh_store::Store::connect(url).await?,
        None => hdh_store::Store::open_sqlite(&cfg.data_dir.join("hdh.db")).await?,
    };
    let key = hdh_server::audit_log::load_or_create_key(&cfg.data_dir)
        .map_err(|e| anyhow::anyhow!(e.message))?;
    Ok((db, key))
}

async fn witness(source: &str, public_key: &str, keep: &std::path::Path) -> Result<()> {
    let key = hdh_audit::public_key(public_key).map_err(|e| anyhow::anyhow!(e))?;
    let body = if source.starts_with("http://") || source.starts_with("https://") {
        let r = reqwest::get(source)
            .await
            .with_context(|| format!("cannot fetch {source}"))?;
        if !r.status().is_success() {
            bail!("{source}: HTTP {}", r.status());
        }
        r.text()
            .await
            .with_context(|| format!("cannot read {source}"))?
    } else {
        std::fs::read_to_string(source).with_context(|| format!("cannot read {source}"))?
    };
    #[derive(serde::Deserialize)]
    struct Published {
        public_key: String,
        checkpoints: Vec<hdh_audit::Checkpoint>,
    }
    let published: Published = serde_json::from_str(&body)
        .with_context(|| format!("{source}: not the hub's checkpoints"))?;
    if published.public_key != hex::encode(key.to_bytes()) {
        eprintln!(
            "warning: {source} announces key {}, not the one you hold; checking against yours",
            published.public_key
        );
    }
    let held = match std::fs::read_to_string(keep) {
        Ok(text) => {
            hdh_audit::read_export(&text, false)
                .map_err(|e| anyhow::anyhow!("{}: {e}", keep.display()))?
                .checkpoints
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", keep.display())),
    };
    match hdh_audit::witness(&held, &published.checkpoints, &key) {
        Ok(new) => {
            let mut all = held.clone();
            all.extend(new.iter().cloned());
            crate::write_atomic(keep, hdh_audit::write_checkpoints(&all).as_bytes())?;
            println!(
                "{} new checkpoints kept ({} held), last at entry {}",
                new.len(),
                all.len(),
                all.iter().map(|c| c.seq).max().unwrap_or(0)
            );
            Ok(())
        }
        Err(problems) => {
            for p in &problems {
                println!("TAMPERED {p}");
            }
            println!(
                "{} problems: {} left unchanged",
                problems.len(),
                keep.display()
            );
            std::process::exit(1);
        }
    }
}

async fn archive(
    store: &crate::StoreArgs,
    through: Option<i64>,
    older_than_days: Option<u32>,
    to: &std::path::Path,
) -> Result<()> {
    let (db, key) = store_and_key(store).await?;
    let (head, _) = db.audit_head().await?;
    let Some(first) = db.audit_first().await? else {
        bail!("the log holds no entries to archive");
    };
    let last = match (through, older_than_days) {
        (Some(t), _) => t,
        (None, Some(days)) => {
            let cut = (chrono::Utc::now() - chrono::Duration::days(i64::from(days)))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            match db.audit_last_before(&cut).await? {
                Some(l) => l,
                None => {
                    println!("no entry older than {days} days: nothing archived");
                    return Ok(());
                }
            }
        }
        (None, None) => bail!("say --through SEQ or --older-than-days N"),
    };
    if last < first || last > head {
        bail!("--through {last}: the database holds entries {first} to {head}");
    }
    let entries = db.audit_entries(first, last).await?;
    let Some(end) = entries.last() else {
        bail!("entries {first} to {last} are not in the database");
    };
    // A checkpoint of the archive's last entry, so that the file proves
    // its own end.
    let c = hdh_audit::Checkpoint::sign(&key, end.seq, &end.hash, &hdh_store::now());
    db.add_checkpoint(&c).await?;
    let checkpoints = db.audit_checkpoints(first, last).await?;
    let prev = db.audit_hash_before(first).await?;
    let text = hdh_audit::write_export(&prev, &key.verifying_key(), &entries, &checkpoints);
    let name = format!("audit-{first:012}-{last:012}.jsonl");
    let path = to.join(&name);
    if path.exists() {
        bail!("{} exists: archive elsewhere", path.display());
    }
    crate::write_atomic(&path, text.as_bytes())?;
    // Read back what the disk holds and verify it before deleting anything.
    let back = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read back {}", path.display()))?;
    let ex = hdh_audit::read_export(&back, true)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let report = hdh_audit::verify(
        &ex.entries,
        &ex.checkpoints,
        &[],
        &key.verifying_key(),
        Some(&prev),
    );
    if !report.ok() || report.entries != entries.len() {
        let _ = std::fs::remove_file(&path);
        bail!(
            "the archive does not verify ({} problems): nothing deleted; verify the log first",
            report.problems.len()
        );
    }
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(back.as_bytes()));
    let archive = hdh_store::AuditArchive {
        first_seq: first,
        last_seq: last,
        last_hash: end.hash.clone(),
        file_name: name.clone(),
        sha256: sha256.clone(),
        archived_at: hdh_store::now(),
    };
    let mut tx = db.begin().await?;
    let deleted = tx.archive_audit_segment(&archive).await?;
    tx.audit(
        &hdh_model::AuditEvent::new("audit.archive", "audit_log").details(serde_json::json!({
            "first": first, "last": last, "file": name, "sha256": sha256, "entries": deleted,
        })),
    )
    .await?;
    tx.commit().await?;
    println!(
        "{deleted} entries ({first}–{last}) archived to {} (sha256 {sha256}), {} checkpoints",
        path.display(),
        checkpoints.len()
    );
    Ok(())
}
