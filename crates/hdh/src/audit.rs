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
        export: PathBuf,
        /// The hub's checkpoint key (hex), as published.
        #[arg(long)]
        public_key: String,
        /// Checkpoints kept outside the hub (lines of an export, or of
        /// `/audit/checkpoints.json` written one per line).
        #[arg(long)]
        witness: Vec<PathBuf>,
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
            // The store and the key only: an export may run beside a serving hub.
            let cfg = crate::config(&store);
            let db = match &cfg.database_url {
                Some(url) => hdh_store::Store::connect(url).await?,
                None => hdh_store::Store::open_sqlite(&cfg.data_dir.join("hdh.db")).await?,
            };
            let key = hdh_server::audit_log::load_or_create_key(&cfg.data_dir)
                .map_err(|e| anyhow::anyhow!(e.message))?;
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
            let prev = db.audit_hash_before(from).await?;
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
            let text = std::fs::read_to_string(&export)
                .with_context(|| format!("cannot read {}", export.display()))?;
            let ex = hdh_audit::read_export(&text, true)
                .map_err(|e| anyhow::anyhow!("{}: {e}", export.display()))?;
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
                &ex.entries,
                &ex.checkpoints,
                &witnessed,
                &key,
                ex.prev_hash.as_deref(),
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
        AuditCommand::PublicKey { store } => {
            let cfg = crate::config(&store);
            let key = hdh_server::audit_log::load_or_create_key(&cfg.data_dir)
                .map_err(|e| anyhow::anyhow!(e.message))?;
            println!("{}", hex::encode(key.verifying_key().to_bytes()));
            Ok(())
        }
    }
}
