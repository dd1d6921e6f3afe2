//! `hdh ttp …` (the trusted third party, a separate process holding the
//! level-1 key) and `hdh keys …` (the hub's level-2 keys).

use anyhow::{Context, Result};
use clap::Subcommand;
use hdh_server::AppState;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TtpCommand {
    /// Creates the TTP's key store: the level-1 key, the TTP's signing key,
    /// its producer list and audit log (files 0600 in a 0700 directory).
    Init {
        #[arg(long, env = "HDH_TTP_DIR", default_value = "./hdh-ttp")]
        dir: PathBuf,
    },
    /// Runs the TTP's HTTP service (batched online pseudonymisation).
    Serve {
        #[arg(long, env = "HDH_TTP_DIR", default_value = "./hdh-ttp")]
        dir: PathBuf,
        #[arg(long, env = "HDH_TTP_LISTEN", default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Allows a producer to call the TTP; prints its bearer token (shown once).
    AddProducer {
        #[arg(long, env = "HDH_TTP_DIR", default_value = "./hdh-ttp")]
        dir: PathBuf,
        /// The producer's name.
        name: String,
    },
    /// Seals the level-1 key to a producer's X25519 public key for offline use.
    IssueKeyPackage {
        #[arg(long, env = "HDH_TTP_DIR", default_value = "./hdh-ttp")]
        dir: PathBuf,
        /// The producer's name (as given to add-producer).
        #[arg(long)]
        producer: String,
        /// The producer's X25519 public key, hex (printed by `hdh producer keygen`).
        #[arg(long)]
        recipient: String,
        #[arg(long, default_value_t = 365)]
        valid_days: u32,
        /// Where to write the package (JSON).
        #[arg(long)]
        out: PathBuf,
    },
    /// Prints the TTP's Ed25519 public key (producers check key packages with it).
    PublicKey {
        #[arg(long, env = "HDH_TTP_DIR", default_value = "./hdh-ttp")]
        dir: PathBuf,
    },
}

pub async fn ttp(command: TtpCommand) -> Result<()> {
    match command {
        TtpCommand::Init { dir } => {
            let out =
                hdh_ttp::init(&dir).with_context(|| format!("ttp init in {}", dir.display()))?;
            println!("key store\t{}", out.dir.display());
            println!("level-1 key\t{}", out.key_id);
            println!("public key\t{}", out.public_key_hex);
            Ok(())
        }
        TtpCommand::Serve { dir, listen } => {
            tracing::info!("trusted third party listening on {listen}");
            hdh_ttp::serve(hdh_ttp::TtpConfig { dir, listen }, crate::shutdown_signal())
                .await
                .context("ttp serve")
        }
        TtpCommand::AddProducer { dir, name } => {
            let token = hdh_ttp::add_producer(&dir, &name).context("ttp add-producer")?;
            println!("{token}");
            Ok(())
        }
        TtpCommand::IssueKeyPackage {
            dir,
            producer,
            recipient,
            valid_days,
            out,
        } => {
            let pkg = hdh_ttp::issue_key_package(&dir, &producer, &recipient, valid_days)
                .context("ttp issue-key-package")?;
            let text = serde_json::to_vec_pretty(&pkg)?;
            write_private(&out, &text)?;
            println!("{}", out.display());
            Ok(())
        }
        TtpCommand::PublicKey { dir } => {
            println!(
                "{}",
                hdh_ttp::public_key_hex(&dir).context("ttp public-key")?
            );
            Ok(())
        }
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Re-keys every dataset version under a new level-2 key and retires the
    /// old one, atomically; project pseudonyms and joins are unchanged.
    Rotate {
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Lists the level-2 keys (ids and dates; never the keys).
    List {
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

#[derive(Subcommand)]
pub enum OppositionCommand {
    /// Registers a person's opposition (by level-1 pseudonym, turned into
    /// level 2 at once; never stored) and flags the extractions it concerns.
    Add {
        #[command(flatten)]
        store: crate::StoreArgs,
        /// The person's level-1 pseudonym (32 hex characters).
        #[arg(long, conflicts_with = "level2")]
        level1: Option<String>,
        /// The person's level-2 pseudonym under the active key.
        #[arg(long)]
        level2: Option<String>,
        /// `all` (every research use) or a dataset id.
        #[arg(long, default_value = "all")]
        scope: String,
        /// The day the person objected (YYYY-MM-DD; default today).
        #[arg(long)]
        date: Option<String>,
    },
    /// Lists the register (sequence, scope, dates; never the pseudonyms).
    List {
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

pub async fn opposition(command: OppositionCommand) -> Result<()> {
    match command {
        OppositionCommand::Add {
            store,
            level1,
            level2,
            scope,
            date,
        } => {
            let state = AppState::open(crate::config(&store))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let person = match (level1, level2) {
                (Some(v), None) => hdh_server::provisioning::PersonRef::Level1(v),
                (None, Some(v)) => hdh_server::provisioning::PersonRef::Level2(v),
                _ => anyhow::bail!("give the person with --level1 or --level2"),
            };
            let mut actor = hdh_model::AuditEvent::new("opposition.add", "opposition");
            actor.actor_id = Some("system".into());
            actor.actor_name = Some(whoami());
            actor.role = Some("operator".into());
            let (o, flagged) = hdh_server::provisioning::add_opposition(
                &state,
                actor,
                person,
                &scope,
                date.as_deref(),
                "cli",
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            println!(
                "opposition {} (#{}) registered, scope {}, objected on {}; {} extraction(s) flagged for refresh{}",
                o.id,
                o.seq,
                o.scope,
                o.objected_on,
                flagged.len(),
                if flagged.is_empty() {
                    String::new()
                } else {
                    format!(": {}", flagged.join(", "))
                }
            );
            Ok(())
        }
        OppositionCommand::List { store } => {
            let state = AppState::open(crate::config(&store))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            for o in state
                .store
                .oppositions()
                .await
                .map_err(|e| anyhow::anyhow!(e.to_string()))?
            {
                println!(
                    "#{}\t{}\tscope {}\tobjected {}\tregistered {} ({})",
                    o.seq, o.id, o.scope, o.objected_on, o.registered_at, o.source
                );
            }
            Ok(())
        }
    }
}

pub async fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Rotate { store } => {
            let state = AppState::open(crate::config(&store))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let pb = indicatif::ProgressBar::new_spinner();
            pb.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} rows ({per_sec})")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            let mut actor = hdh_model::AuditEvent::new("keys.rotate", "level2_key");
            actor.actor_id = Some("system".into());
            actor.actor_name = Some(whoami());
            actor.role = Some("operator".into());
            let pb2 = pb.clone();
            let r = hdh_server::keys::rotate(&state, actor, &move |label: &str, rows: u64| {
                pb2.set_message(label.to_string());
                pb2.set_position(rows);
            })
            .await
            .map_err(|e| anyhow::anyhow!(e.message))?;
            pb.finish_and_clear();
            println!(
                "new key {}; retired {}; {} versions, {} tables, {} rows re-keyed",
                r.new_key,
                if r.retired.is_empty() {
                    "none".to_string()
                } else {
                    r.retired.join(", ")
                },
                r.versions,
                r.tables,
                r.rows
            );
            Ok(())
        }
        KeysCommand::List { store } => {
            let state = AppState::open(crate::config(&store))
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            for k in state
                .store
                .level2_keys()
                .await
                .map_err(|e| anyhow::anyhow!(e.to_string()))?
            {
                println!(
                    "{}\tcreated {}\t{}",
                    k.id,
                    k.created_at,
                    k.retired_at
                        .map(|r| format!("retired {r}"))
                        .unwrap_or_else(|| "active".into())
                );
            }
            Ok(())
        }
    }
}

/// The operating-system account running the command (for the audit trail).
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .map(|u| format!("operator:{u}"))
        .unwrap_or_else(|_| "operator".into())
}
