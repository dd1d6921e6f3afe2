//! The command line shared by `hdh producer …` and the standalone
//! `hdh-producer …` (one definition, so both stay identical).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::Utc;
use hdh_ingest::Encoding;
use hdh_package::{PackageError, ProducerIdentity};
use hdh_pseudo::level1::Level1Key;
use hdh_pseudo::sealed::SealedKeyPackage;
use indicatif::{ProgressBar, ProgressStyle};
use zeroize::Zeroizing;

use crate::prepare::{
    Dialect, Level1Source, PrepareError, PrepareOptions, Progress, TableInput, prepare,
};
use crate::send::{Auth, SendError, SendOptions, SendProgress, send};
use crate::verify::{VerifyError, verify_package};

/// The producer's commands.
#[derive(Debug, clap::Subcommand)]
pub enum ProducerCommand {
    /// Creates the producer's identity file (Ed25519 key to sign packages,
    /// X25519 key to receive sealed level-1 key packages), mode 0600, and
    /// prints both public keys: register the Ed25519 key with the hub, give
    /// the X25519 key to the trusted third party.
    Keygen {
        /// The identity file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// The producer's name, written in every manifest ([A-Za-z0-9_-], at most 64).
        #[arg(long, default_value = "producer")]
        name: String,
    },
    /// Prepares a delivery package on the producer's premises: validates each
    /// CSV against its schema, pseudonymises identifiers (level 1), drops
    /// direct identifiers, coarsens quasi-identifiers, writes Parquet and a
    /// signed manifest. Nothing is left behind on failure.
    Prepare(PrepareArgs),
    /// Registers the identity's Ed25519 public key with the hub (as the
    /// signed-in producer account): from then on the hub accepts only
    /// packages signed with it.
    RegisterKey(RegisterKeyArgs),
    /// Checks a package: signature, every file's size and SHA-256, schemas
    /// and Parquet columns.
    Verify {
        /// The package directory.
        package: PathBuf,
        /// The Ed25519 public key (hex) the package must be signed with.
        #[arg(long)]
        producer_key: Option<String>,
    },
    /// Sends a package to the hub (resumable: run it again after an
    /// interruption), then follows its ingestion. Fails unless the delivery
    /// is published.
    Send(SendArgs),
}

#[derive(Debug, clap::Args)]
pub struct PrepareArgs {
    /// Dataset identifier in the hub's catalogue.
    #[arg(long)]
    pub dataset: String,
    /// A table's input Table Schema (with hdh:pseudonymisation properties);
    /// repeat with --input, in the same order.
    #[arg(long = "schema", value_name = "T.schema.json")]
    pub schemas: Vec<PathBuf>,
    /// A table's CSV file; repeat with --schema, in the same order.
    #[arg(long = "input", value_name = "T.csv")]
    pub inputs: Vec<PathBuf>,
    /// A directory of T.csv + T.schema.json pairs (and an optional dataset.json).
    #[arg(long, conflicts_with_all = ["schemas", "inputs"])]
    pub dir: Option<PathBuf>,
    /// Catalogue metadata (dataset.json) to include.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// The producer's identity file (see `keygen`).
    #[arg(long)]
    pub identity: PathBuf,
    /// Offline: the sealed level-1 key package issued by the trusted third party.
    #[arg(long, requires = "ttp_public_key", conflicts_with = "ttp")]
    pub key_package: Option<PathBuf>,
    /// The trusted third party's Ed25519 public key (hex), to check the key package.
    #[arg(long)]
    pub ttp_public_key: Option<String>,
    /// Online: the trusted third party's URL.
    #[arg(long, requires = "ttp_token")]
    pub ttp: Option<String>,
    /// The producer's token at the trusted third party.
    #[arg(long, env = "HDH_TTP_TOKEN", hide_env_values = true)]
    pub ttp_token: Option<String>,
    /// The package directory to create (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Field delimiter: one ASCII character, or `tab`.
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// Character encoding of the CSV files.
    #[arg(long, value_enum, default_value = "utf8")]
    pub encoding: EncodingArg,
    /// The files have no header row (columns are the schema's fields, in order).
    #[arg(long)]
    pub no_header: bool,
    /// The files use no quoting.
    #[arg(long)]
    pub no_quote: bool,
    /// Rows per batch.
    #[arg(long, default_value_t = 65_536, hide = true)]
    pub batch_rows: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EncodingArg {
    Utf8,
    Latin1,
}

#[derive(Debug, clap::Args)]
pub struct RegisterKeyArgs {
    /// The producer's identity file (see `keygen`); only its public key is sent.
    #[arg(long)]
    pub identity: PathBuf,
    #[command(flatten)]
    pub hub: HubArgs,
}

/// Where the hub is and how to sign in to it.
#[derive(Debug, clap::Args)]
pub struct HubArgs {
    /// Base URL of the hub.
    #[arg(long, env = "HDH_URL", default_value = "http://127.0.0.1:8080")]
    pub hub: String,
    /// Producer account (signs in with its password; or give --token).
    #[arg(long, env = "HDH_USER")]
    pub user: Option<String>,
    /// Read the password from the first line of standard input (otherwise HDH_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
    /// A bearer token instead of signing in.
    #[arg(long, env = "HDH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl HubArgs {
    fn auth(&self) -> Result<Auth, CliError> {
        match (&self.token, &self.user) {
            (Some(t), _) => Ok(Auth::Token(Zeroizing::new(t.clone()))),
            (None, Some(user)) => Ok(Auth::Login {
                user: user.clone(),
                password: read_password(self.password_stdin)?,
            }),
            (None, None) => Err(CliError::Usage(
                "give --user (with --password-stdin or HDH_PASSWORD) or --token".to_owned(),
            )),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The package directory.
    pub package: PathBuf,
    #[command(flatten)]
    pub hub: HubArgs,
    /// Return once the ingestion is queued, without following it.
    #[arg(long)]
    pub no_wait: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    /// The delivery was not published.
    #[error("{0}")]
    NotPublished(String),
}

fn io(path: &Path, source: std::io::Error) -> CliError {
    CliError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Runs a producer command (blocking: call it outside an async runtime, or
/// in `spawn_blocking`).
pub fn run(command: ProducerCommand) -> Result<(), CliError> {
    match command {
        ProducerCommand::Keygen { out, name } => keygen(&out, &name),
        ProducerCommand::Prepare(args) => run_prepare(args),
        ProducerCommand::Verify {
            package,
            producer_key,
        } => {
            let expected = producer_key
                .as_deref()
                .map(hdh_package::verifying_key_from_hex)
                .transpose()?;
            let m = verify_package(&package, expected.as_ref())?;
            println!(
                "{}: valid package of dataset {} by {} ({} table(s), {} rows), signed with {}",
                package.display(),
                m.dataset_id,
                m.producer,
                m.tables.len(),
                m.tables.iter().map(|t| t.rows).sum::<u64>(),
                m.producer_key
            );
            Ok(())
        }
        ProducerCommand::Send(args) => run_send(args),
        ProducerCommand::RegisterKey(args) => {
            let identity = read_identity(&args.identity)?;
            let opts = SendOptions::new(&args.hub.hub, args.hub.auth()?);
            crate::send::register_key(&opts, &identity.ed25519_public_hex())?;
            println!(
                "key {} registered with {} for this producer account",
                identity.ed25519_public_hex(),
                opts.hub
            );
            Ok(())
        }
    }
}

fn keygen(out: &Path, name: &str) -> Result<(), CliError> {
    let id = ProducerIdentity::generate(name)?;
    let text = id.to_file_text();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(out).map_err(|e| io(out, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| io(out, e))?;
    println!(
        "identity written to {} (mode 0600; keep it secret)",
        out.display()
    );
    println!("producer:        {}", id.name());
    println!(
        "ed25519 public:  {}  (register it with the hub)",
        id.ed25519_public_hex()
    );
    println!(
        "x25519 public:   {}  (give it to the trusted third party)",
        id.x25519_public_hex()
    );
    Ok(())
}

/// Reads an identity file; refuses one that others may read.
pub fn read_identity(path: &Path) -> Result<ProducerIdentity, CliError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| io(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CliError::Usage(format!(
                "{} is readable by other users (mode {:o}): chmod 600 it",
                path.display(),
                mode & 0o777
            )));
        }
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| io(path, e))?);
    Ok(ProducerIdentity::from_file_text(&text)?)
}

fn delimiter(s: &str) -> Result<u8, CliError> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() => Ok(s.as_bytes()[0]),
        _ => Err(CliError::Usage(format!(
            "--delimiter {s:?}: one ASCII character (or `tab`) expected"
        ))),
    }
}

/// The tables of `--dir`: every `T.schema.json` with its `T.csv`.
fn tables_of_dir(dir: &Path) -> Result<(Vec<TableInput>, Option<PathBuf>), CliError> {
    let mut schemas = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io(dir, e))? {
        let entry = entry.map_err(|e| io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(table) = name.strip_suffix(".schema.json") {
            schemas.push(table.to_owned());
        }
    }
    schemas.sort();
    if schemas.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no T.schema.json file",
            dir.display()
        )));
    }
    let mut tables = Vec::new();
    for t in schemas {
        let csv = dir.join(format!("{t}.csv"));
        if !csv.is_file() {
            return Err(CliError::Usage(format!(
                "{}: {t}.schema.json has no {t}.csv beside it",
                dir.display()
            )));
        }
        tables.push(TableInput::from_files(
            &dir.join(format!("{t}.schema.json")),
            &csv,
        )?);
    }
    let meta = dir.join(hdh_package::METADATA_FILE);
    Ok((tables, meta.is_file().then_some(meta)))
}

fn open_key_package(
    path: &Path,
    ttp_public_hex: &str,
    identity: &ProducerIdentity,
) -> Result<Level1Key, CliError> {
    let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
    let pkg: SealedKeyPackage = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::Usage(format!(
            "{}: not a key package (JSON line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    let ttp = hdh_pseudo::sealed::verifying_key_from_hex(ttp_public_hex)
        .map_err(|e| CliError::Usage(format!("--ttp-public-key: {e}")))?;
    hdh_pseudo::sealed::open(&pkg, identity.x25519_secret(), &ttp, Utc::now())
        .map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))
}

/// Progress bars of a preparation (hidden when standard error is not a
/// terminal).
struct Bars {
    bar: Mutex<Option<(ProgressBar, Instant, u64)>>,
    quiet: bool,
}

impl Bars {
    fn style() -> ProgressStyle {
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {msg} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
    }
}

fn human(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.2} M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1} k", n / 1e3)
    } else {
        format!("{n:.0} ")
    }
}

impl Progress for Bars {
    fn table_started(&self, table: &str, input_bytes: u64) {
        if self.quiet {
            return;
        }
        let pb = ProgressBar::new(input_bytes);
        pb.set_style(Self::style());
        pb.set_prefix(table.to_owned());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some((pb, Instant::now(), 0));
        }
    }
    fn bytes_read(&self, n: u64) {
        if let Ok(b) = self.bar.lock()
            && let Some((pb, _, _)) = b.as_ref()
        {
            pb.inc(n);
        }
    }
    fn rows_done(&self, n: u64) {
        if let Ok(mut b) = self.bar.lock()
            && let Some((pb, start, rows)) = b.as_mut()
        {
            *rows += n;
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            pb.set_message(format!(
                "{}rows, {}rows/s",
                human(*rows as f64),
                human(*rows as f64 / secs)
            ));
        }
    }
    fn table_finished(&self, _table: &str, _rows: u64) {
        if let Ok(mut b) = self.bar.lock()
            && let Some((pb, _, _)) = b.take()
        {
            pb.finish_and_clear();
        }
    }
}

fn run_prepare(args: PrepareArgs) -> Result<(), CliError> {
    let (tables, dir_meta) = match &args.dir {
        Some(dir) => tables_of_dir(dir)?,
        None => {
            if args.schemas.is_empty() || args.schemas.len() != args.inputs.len() {
                return Err(CliError::Usage(
                    "give --schema and --input in pairs (or --dir)".to_owned(),
                ));
            }
            let tables = args
                .schemas
                .iter()
                .zip(&args.inputs)
                .map(|(s, i)| TableInput::from_files(s, i))
                .collect::<Result<Vec<_>, _>>()?;
            (tables, None)
        }
    };
    let identity = read_identity(&args.identity)?;
    let level1 = match (&args.key_package, &args.ttp) {
        (Some(pkg), None) => {
            let public = args.ttp_public_key.as_deref().unwrap_or_default();
            Level1Source::Key(open_key_package(pkg, public, &identity)?)
        }
        (None, Some(url)) => {
            let token = args.ttp_token.as_deref().unwrap_or_default();
            Level1Source::Ttp(hdh_ttp::TtpClient::new(url, token))
        }
        _ => {
            return Err(CliError::Usage(
                "give the level-1 key: --key-package FILE --ttp-public-key HEX (offline), or --ttp URL --ttp-token TOKEN (online)".to_owned(),
            ));
        }
    };
    let mut opts = PrepareOptions::new(&args.dataset);
    opts.metadata = args.metadata.clone().or(dir_meta);
    opts.batch_rows = args.batch_rows;
    opts.dialect = Dialect {
        delimiter: delimiter(&args.delimiter)?,
        has_header: !args.no_header,
        quote: (!args.no_quote).then_some(b'"'),
        encoding: match args.encoding {
            EncodingArg::Utf8 => Encoding::Utf8,
            EncodingArg::Latin1 => Encoding::Latin1,
        },
    };
    let bars = Bars {
        bar: Mutex::new(None),
        quiet: args.quiet,
    };
    let started = Instant::now();
    let prepared = prepare(&tables, &args.out, &opts, &identity, &level1, &bars)?;
    let secs = started.elapsed().as_secs_f64();
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let m = &prepared.manifest;
    for (name, t) in &m.summary.tables {
        let provisional: u64 = t.provisional_nirs.values().sum();
        println!(
            "{name}: {} rows from {} ({provisional} provisional NIR(s))",
            t.rows_written, t.source
        );
    }
    println!(
        "package {} written: dataset {}, {} rows in {secs:.1} s ({}rows/s), level-1 key {}, signed with {}",
        prepared.dir.display(),
        m.dataset_id,
        m.summary.rows_written,
        human(m.summary.rows_written as f64 / secs.max(1e-3)),
        m.level1_key_id,
        m.producer_key
    );
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<Zeroizing<String>, CliError> {
    if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| io(Path::new("standard input"), e))?;
        let p = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
        if p.is_empty() {
            return Err(CliError::Usage(
                "empty password on standard input".to_owned(),
            ));
        }
        return Ok(p);
    }
    std::env::var("HDH_PASSWORD")
        .map(Zeroizing::new)
        .map_err(|_| CliError::Usage("set HDH_PASSWORD or pass --password-stdin".to_owned()))
}

struct SendBars {
    upload: ProgressBar,
    ingest: ProgressBar,
}

impl SendProgress for SendBars {
    fn upload_started(&self, total: u64, already: u64) {
        self.upload.set_length(total);
        self.upload.set_position(already);
        if already > 0 {
            self.upload.println(format!(
                "resuming: the hub already has {already} of {total} bytes"
            ));
        }
    }
    fn uploaded(&self, position: u64) {
        self.upload.set_position(position);
    }
    fn retrying(&self, what: &str, attempt: u32) {
        self.upload
            .println(format!("{what}: connection problem, retry {attempt}"));
    }
    fn upload_finished(&self) {
        self.upload.finish_and_clear();
    }
    fn ingestion(&self, state: &str, rows_done: u64, rows_total: u64) {
        self.ingest.set_length(rows_total.max(1));
        self.ingest.set_position(rows_done);
        self.ingest.set_message(state.to_owned());
    }
}

fn run_send(args: SendArgs) -> Result<(), CliError> {
    let mut opts = SendOptions::new(&args.hub.hub, args.hub.auth()?);
    opts.wait = !args.no_wait;
    let (upload, ingest) = if args.quiet {
        (ProgressBar::hidden(), ProgressBar::hidden())
    } else {
        let upload = ProgressBar::new(0);
        upload.set_style(
            ProgressStyle::with_template(
                "uploading [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let ingest = ProgressBar::new(0);
        ingest.set_style(
            ProgressStyle::with_template("ingestion {msg} [{bar:30}] {pos}/{len} rows")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        (upload, ingest)
    };
    let bars = SendBars { upload, ingest };
    let outcome = send(&args.package, &opts, &bars)?;
    bars.ingest.finish_and_clear();
    match outcome.state.as_str() {
        "published" => {
            println!(
                "published: version {} (ingestion {}, {} bytes sent{})",
                outcome
                    .version
                    .map_or_else(|| "?".to_owned(), |v| v.to_string()),
                outcome.ingestion_id,
                outcome.bytes_sent,
                if outcome.resumed { ", resumed" } else { "" }
            );
            Ok(())
        }
        state if !opts.wait && !matches!(state, "rejected" | "failed") => {
            println!(
                "sent: ingestion {} is {state} ({} bytes sent)",
                outcome.ingestion_id, outcome.bytes_sent
            );
            Ok(())
        }
        state => {
            let mut lines = Vec::new();
            if let Some(e) = &outcome.error {
                lines.push(e.clone());
            }
            for e in outcome.report["errors"].as_array().into_iter().flatten() {
                lines.push(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
            }
            for t in outcome.report["tables"].as_array().into_iter().flatten() {
                for e in t["errors"].as_array().into_iter().flatten() {
                    lines.push(e.as_str().map_or_else(|| e.to_string(), str::to_owned));
                }
            }
            Err(CliError::NotPublished(format!(
                "the delivery was {state} (ingestion {}){}",
                outcome.ingestion_id,
                lines.iter().map(|l| format!("\n  {l}")).collect::<String>()
            )))
        }
    }
}
