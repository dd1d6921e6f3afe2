//! `hdh`: the health data hub's command line.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use hdh_server::{AppState, Config};
use std::io::BufRead;
use std::path::PathBuf;

mod producer;

mod audit;
mod linkage;
mod ops;
mod sdc;

#[derive(Parser)]
#[command(name = "hdh", version, about = "hdh — an open-source health data hub")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub(crate) struct StoreArgs {
    /// Directory holding all the hub's state (store, lake, secrets).
    #[arg(long, env = "HDH_DATA_DIR", default_value = "./hdh-data")]
    data_dir: PathBuf,
    /// Metadata store URL (postgres://…); default: SQLite in the data directory.
    #[arg(long, env = "HDH_DATABASE_URL")]
    database_url: Option<String>,
}

/// Sessions, sign-in protection, request time limits, the terms of use and
/// the yearly review of accounts.
#[derive(clap::Args)]
struct AccountArgs {
    /// A session unused this many minutes ends.
    #[arg(long, env = "HDH_SESSION_IDLE_MINUTES", default_value_t = 30)]
    session_idle_minutes: i64,
    /// A session ends at the latest this many hours after sign-in.
    #[arg(long, env = "HDH_SESSION_HOURS", default_value_t = 12)]
    session_hours: i64,
    /// Failed sign-ins for one account name before it is locked for the
    /// window.
    #[arg(
        long,
        env = "HDH_SIGN_IN_MAX_FAILURES_PER_ACCOUNT",
        default_value_t = 5
    )]
    sign_in_max_failures_per_account: i64,
    /// Failed sign-ins from one address before it is locked for the window.
    #[arg(
        long,
        env = "HDH_SIGN_IN_MAX_FAILURES_PER_ADDRESS",
        default_value_t = 30
    )]
    sign_in_max_failures_per_address: i64,
    /// The window over which failed sign-ins are counted, in minutes.
    #[arg(long, env = "HDH_SIGN_IN_WINDOW_MINUTES", default_value_t = 15)]
    sign_in_window_minutes: i64,
    /// Accounts are reviewed at least this often (days)...
    #[arg(long, env = "HDH_REVIEW_EVERY_DAYS", default_value_t = 365)]
    review_every_days: i64,
    /// ...and suspended this many days after their review fell due.
    #[arg(long, env = "HDH_REVIEW_GRACE_DAYS", default_value_t = 30)]
    review_grace_days: i64,
    /// Longest a request may take to be received and answered, in seconds
    /// (deliveries excepted; workspace queries have their own limit).
    #[arg(long, env = "HDH_REQUEST_TIMEOUT_SECS", default_value_t = 120)]
    request_timeout_secs: u64,
    /// The hub's own terms of use (UTF-8 text: paragraphs, `#`/`##` headings,
    /// `- ` items) instead of the ones shipped; every account accepts them
    /// again whenever their text changes.
    #[arg(long, env = "HDH_TERMS_FILE")]
    terms_file: Option<PathBuf>,
    /// Their French version (default: the same text in both languages).
    #[arg(long, env = "HDH_TERMS_FILE_FR", requires = "terms_file")]
    terms_file_fr: Option<PathBuf>,
}

impl AccountArgs {
    fn apply(&self, cfg: &mut hdh_server::Config) -> anyhow::Result<()> {
        for (name, v) in [
            ("--session-idle-minutes", self.session_idle_minutes),
            ("--session-hours", self.session_hours),
            (
                "--sign-in-max-failures-per-account",
                self.sign_in_max_failures_per_account,
            ),
            (
                "--sign-in-max-failures-per-address",
                self.sign_in_max_failures_per_address,
            ),
            ("--sign-in-window-minutes", self.sign_in_window_minutes),
            ("--review-every-days", self.review_every_days),
        ] {
            if v < 1 {
                bail!("{name}: at least 1");
            }
        }
        if self.review_grace_days < 0 {
            bail!("--review-grace-days: 0 or more");
        }
        if self.request_timeout_secs < 1 {
            bail!("--request-timeout-secs: at least 1");
        }
        cfg.request_timeout = std::time::Duration::from_secs(self.request_timeout_secs);
        cfg.session_hours = self.session_hours;
        let a = &mut cfg.accounts;
        a.session_idle_minutes = self.session_idle_minutes;
        a.max_failures_per_account = self.sign_in_max_failures_per_account;
        a.max_failures_per_address = self.sign_in_max_failures_per_address;
        a.sign_in_window_minutes = self.sign_in_window_minutes;
        a.review_every_days = self.review_every_days;
        a.review_grace_days = self.review_grace_days;
        if let Some(path) = &self.terms_file {
            cfg.terms = hdh_server::terms::Terms::from_files(path, self.terms_file_fr.as_deref())
                .map_err(|e| anyhow::anyhow!("--terms-file: {}", e.message))?;
        }
        Ok(())
    }
}

/// The desk's working-day calendar and the delays of its review steps.
#[derive(clap::Args)]
struct DeskArgs {
    /// Public holidays: `france` (metropolitan) or `alsace-moselle`.
    #[arg(long, env = "HDH_CALENDAR", default_value = "france")]
    calendar: String,
    /// Holidays added to the calendar (e.g. good_friday, st_stephen).
    #[arg(long = "add-holiday", env = "HDH_ADD_HOLIDAYS", value_delimiter = ',')]
    add_holidays: Vec<String>,
    /// Holidays removed from the calendar (e.g. whit_monday).
    #[arg(
        long = "remove-holiday",
        env = "HDH_REMOVE_HOLIDAYS",
        value_delimiter = ','
    )]
    remove_holidays: Vec<String>,
    /// Days the desk is closed besides holidays (YYYY-MM-DD).
    #[arg(long = "closed-day", env = "HDH_CLOSED_DAYS", value_delimiter = ',')]
    closed_days: Vec<String>,
    /// Working days for the completeness check (statute: 7).
    #[arg(long, env = "HDH_COMPLETENESS_DAYS", default_value_t = 7)]
    completeness_days: u32,
    /// Working days for the ethics committee's opinion (statute: one month).
    #[arg(long, env = "HDH_ETHICS_DAYS", default_value_t = 22)]
    ethics_days: u32,
    /// Working days for the authority's decision (statute: two months).
    #[arg(long, env = "HDH_AUTHORITY_DAYS", default_value_t = 44)]
    authority_days: u32,
    /// Working days for the producers' agreement to provide their data.
    #[arg(long, env = "HDH_AGREEMENT_DAYS", default_value_t = 10)]
    agreement_days: u32,
    /// A clock with at most this many working days left is shown as due soon.
    #[arg(long, env = "HDH_DUE_SOON_DAYS", default_value_t = 2)]
    due_soon_days: u32,
    /// Legal routes besides `standard`, as NAME[:no-committee][:no-agreement]
    /// (default: reference_methodology:no-committee).
    #[arg(long = "route", env = "HDH_ROUTES", value_delimiter = ',')]
    routes: Vec<String>,
    /// SMTP server for notifications (smtp://host:port, or smtps://user:pass@host
    /// for TLS); without it notifications stay in the in-app inbox.
    #[arg(long, env = "HDH_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender address of notifications.
    #[arg(long, env = "HDH_MAIL_FROM", default_value = "hdh <desk@hdh.invalid>")]
    mail_from: String,
    /// Largest attachment to a request, in MiB.
    #[arg(long, env = "HDH_ATTACHMENT_MAX_MB", default_value_t = 20)]
    attachment_max_mb: usize,
    /// A command that scans an attachment given on its standard input and
    /// exits 0 when clean, 1 when infected (e.g. `clamdscan --no-summary -`).
    #[arg(long, env = "HDH_VIRUS_SCAN")]
    virus_scan: Option<String>,
    /// Attachment kinds a request must carry to be submitted (protocol,
    /// data_management_plan).
    #[arg(
        long = "require-attachment",
        env = "HDH_REQUIRE_ATTACHMENTS",
        value_delimiter = ','
    )]
    require_attachments: Vec<String>,
}

/// The audit log's checkpoints, alert rules and SIEM export.
#[derive(clap::Args)]
struct AuditArgs {
    /// The alert rules over the audit log (TOML `[[rule]]` tables;
    /// docs/audit.md lists the defaults).
    #[arg(long, env = "HDH_ALERT_RULES")]
    alert_rules: Option<PathBuf>,
    /// Seconds between signed checkpoints of the audit log (when it grew).
    #[arg(long, env = "HDH_AUDIT_CHECKPOINT_SECONDS", default_value_t = 60)]
    audit_checkpoint_seconds: u64,
    /// Also sign a checkpoint as soon as the log grew by this many events.
    #[arg(long, env = "HDH_AUDIT_CHECKPOINT_EVENTS")]
    audit_checkpoint_events: Option<u64>,
    /// Append the audit events and alerts, as Elastic Common Schema JSON
    /// Lines, to this file.
    #[arg(long, env = "HDH_SIEM_FILE")]
    siem_file: Option<PathBuf>,
    /// Send them as syslog messages (RFC 5424 over TCP) to HOST:PORT.
    #[arg(long, env = "HDH_SIEM_SYSLOG")]
    siem_syslog: Option<String>,
    /// The private enterprise number of the syslog structured data
    /// (default: 32473, the documentation number).
    #[arg(long, env = "HDH_SIEM_ENTERPRISE", default_value_t = hdh_audit::siem::DEFAULT_ENTERPRISE)]
    siem_enterprise: u32,
}

impl AuditArgs {
    fn apply(&self, cfg: &mut hdh_server::Config) -> Result<()> {
        if let Some(path) = &self.alert_rules {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            cfg.alert_rules = hdh_alerts::parse_rules(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        }
        if self.audit_checkpoint_seconds == 0 {
            bail!("--audit-checkpoint-seconds: at least 1");
        }
        if self.audit_checkpoint_events == Some(0) {
            bail!("--audit-checkpoint-events: at least 1");
        }
        cfg.audit_checkpoint_every = std::time::Duration::from_secs(self.audit_checkpoint_seconds);
        cfg.audit_checkpoint_events = self.audit_checkpoint_events;
        if let Some(addr) = &self.siem_syslog
            && addr
                .rsplit_once(':')
                .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
        {
            bail!("--siem-syslog {addr:?}: expected HOST:PORT");
        }
        cfg.siem.file = self.siem_file.clone();
        cfg.siem.syslog = self.siem_syslog.clone();
        cfg.siem.enterprise = self.siem_enterprise;
        Ok(())
    }
}

/// The project workspaces' limits and the Flight SQL endpoint.
#[derive(clap::Args)]
struct WorkspaceArgs {
    /// Memory one workspace query may use, in MiB (beyond it, it is cancelled).
    #[arg(long, env = "HDH_QUERY_MEMORY_MB", default_value_t = 2048)]
    query_memory_mb: usize,
    /// Wall-clock limit of one workspace query, in seconds.
    #[arg(long, env = "HDH_QUERY_TIMEOUT_S", default_value_t = 300)]
    query_timeout_s: u64,
    /// Rows of a result shown in the console or the API.
    #[arg(long, env = "HDH_MAX_RESULT_ROWS", default_value_t = 10_000)]
    max_result_rows: usize,
    /// Queries one project may run at the same time.
    #[arg(long, env = "HDH_PROJECT_QUERIES", default_value_t = 4)]
    project_queries: usize,
    /// Space of a project's derived (scratch) tables, in MiB.
    #[arg(long, env = "HDH_SCRATCH_QUOTA_MB", default_value_t = 1024)]
    scratch_quota_mb: u64,
    /// Address of the Arrow Flight SQL endpoint (e.g. 127.0.0.1:50051); off when absent.
    #[arg(long, env = "HDH_FLIGHT_LISTEN")]
    flight_listen: Option<String>,
}

impl WorkspaceArgs {
    fn apply(&self, cfg: &mut hdh_server::Config) {
        cfg.workspace_limits.memory_bytes = self.query_memory_mb.saturating_mul(1024 * 1024);
        cfg.workspace_limits.timeout = std::time::Duration::from_secs(self.query_timeout_s);
        cfg.max_result_rows = self.max_result_rows;
        cfg.project_concurrent_queries = self.project_queries.max(1);
        cfg.scratch_quota_bytes = self.scratch_quota_mb.saturating_mul(1024 * 1024);
    }
}

impl DeskArgs {
    fn apply(&self, cfg: &mut hdh_server::Config) -> anyhow::Result<()> {
        cfg.calendar = hdh_desk::Calendar::configured(
            &self.calendar,
            &self.add_holidays,
            &self.remove_holidays,
            &self.closed_days,
        )?;
        cfg.deadlines = hdh_desk::Deadlines {
            completeness: self.completeness_days,
            ethics: self.ethics_days,
            authority: self.authority_days,
            agreement: self.agreement_days,
            due_soon: self.due_soon_days,
        };
        if !self.routes.is_empty() {
            cfg.routes = vec![hdh_model::request::Route::standard()];
            for r in &self.routes {
                cfg.routes.push(hdh_server::config::parse_route(r)?);
            }
        }
        cfg.mail = self
            .smtp_url
            .clone()
            .map(|url| hdh_server::config::MailConfig {
                url,
                from: self.mail_from.clone(),
            });
        cfg.attachment_max_bytes = self.attachment_max_mb.saturating_mul(1024 * 1024);
        cfg.virus_scan = match &self.virus_scan {
            Some(cmd) => Some(
                shell_words::split(cmd)
                    .map_err(|e| anyhow::anyhow!("--virus-scan {cmd:?}: {e}"))?,
            ),
            None => None,
        };
        for k in &self.require_attachments {
            hdh_desk::attachment::AttachmentKind::parse(k)
                .map_err(|e| anyhow::anyhow!("--require-attachment: {e}"))?;
        }
        cfg.required_attachments = self.require_attachments.clone();
        Ok(())
    }
}

// Parsed once at start: the size of `serve`'s options does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Runs the hub's web server.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// Address to listen on.
        #[arg(long, env = "HDH_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Seed demo accounts and the demo dataset into an empty hub.
        #[arg(long)]
        demo: bool,
        /// Persons in the demo dataset.
        #[arg(long, default_value_t = 10_000)]
        demo_persons: u64,
        /// Allow `--demo` on an address other than loopback (its accounts
        /// share a published password: for a closed network only).
        #[arg(long, requires = "demo")]
        demo_on_public_address: bool,
        /// Smallest count a released cell may show (the disclosure rules'
        /// threshold unless their file sets one).
        #[arg(long, env = "HDH_RELEASE_THRESHOLD", default_value_t = 10)]
        release_threshold: u64,
        /// The output checker's rules (TOML: threshold, zeros, dominance,
        /// rounding, degrees of freedom, differencing; per-dataset sections).
        #[arg(long, env = "HDH_DISCLOSURE_RULES")]
        disclosure_rules: Option<PathBuf>,
        /// Independent output checkers who must approve a release.
        #[arg(long, env = "HDH_RELEASE_REVIEWS", default_value_t = 2)]
        release_reviews: usize,
        #[command(flatten)]
        audit: AuditArgs,
        /// Mark session cookies `Secure` (set this when the hub is served over HTTPS).
        #[arg(long, env = "HDH_SECURE_COOKIES")]
        secure_cookies: bool,
        #[command(flatten)]
        accounts: AccountArgs,
        #[command(flatten)]
        desk: DeskArgs,
        #[command(flatten)]
        workspace: WorkspaceArgs,
    },
    /// Manages accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Demo data.
    Demo {
        #[command(subcommand)]
        command: DemoCommand,
    },
    /// The catalogue: import Frictionless packages, search, export as RDF.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The trusted third party: holds the level-1 pseudonymisation key, in its own process.
    Ttp {
        #[command(subcommand)]
        command: ops::TtpCommand,
    },
    /// The hub's level-2 pseudonymisation keys: rotation without re-delivery.
    Keys {
        #[command(subcommand)]
        command: ops::KeysCommand,
    },
    /// The opposition register: persons who objected to research uses.
    Opposition {
        #[command(subcommand)]
        command: ops::OppositionCommand,
    },
    /// The producer's tool: keygen, prepare (pseudonymise + sign a package), verify, send.
    Producer {
        #[command(subcommand)]
        command: producer::ProducerCommand,
    },
    /// The tamper-evident audit log: export with signed checkpoints, verify without the hub.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Statistical disclosure control: the hub's output checker on a file.
    Sdc {
        #[command(subcommand)]
        command: sdc::SdcCommand,
    },
    /// Record linkage of CSV files: deterministic on keys, or probabilistic
    /// (Fellegi–Sunter) configured by a TOML file.
    Linkage {
        #[command(subcommand)]
        command: linkage::LinkageCommand,
    },
    /// Delivers a directory of tables (T.csv + T.schema.json, optional dataset.json) to a running hub.
    Deliver {
        /// Directory holding the files to deliver.
        dir: PathBuf,
        /// Dataset identifier in the catalogue.
        #[arg(long)]
        dataset: String,
        /// Base URL of the hub.
        #[arg(long, env = "HDH_URL", default_value = "http://127.0.0.1:8080")]
        hub: String,
        /// Producer account.
        #[arg(long, env = "HDH_USER")]
        user: String,
        /// Read the password from the first line of standard input (otherwise HDH_PASSWORD).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Adds an account. The password is read from standard input (first line).
    Add {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long, default_value = "")]
        organisation: String,
        /// Comma-separated roles: producer, researcher, secretariat, committee, authority, checker, security_officer, admin.
        #[arg(long)]
        roles: String,
        /// Where the desk's notifications are e-mailed (optional).
        #[arg(long)]
        email: Option<String>,
    },
    /// Lists accounts.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Imports a Frictionless Table Schema package (schemas/<product>/<TABLE>.json and
    /// nomenclatures/<source>/<NAME>.json + .csv, like the SNDS's schema-snds). All or
    /// nothing; importing the same files again changes nothing.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        /// The package's root directory.
        dir: PathBuf,
        /// Name of the package (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Searches the catalogue; prints the top hits, one a line (kind, title, link).
    Search {
        #[command(flatten)]
        store: StoreArgs,
        /// Words to search for.
        #[arg(required = true)]
        words: Vec<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Writes the catalogue as HealthDCAT-AP RDF to standard output.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long, value_enum, default_value = "turtle")]
        format: RdfFormatArg,
        /// Base URL of the hub, used in the identifiers.
        #[arg(long, env = "HDH_PUBLIC_URL", default_value = "http://127.0.0.1:8080")]
        base_url: String,
        /// Only this dataset.
        #[arg(long)]
        dataset: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RdfFormatArg {
    Turtle,
    Jsonld,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Writes the synthetic SNDS-shaped demo dataset (CSV + Table Schema) to a directory.
    Generate {
        #[arg(long, default_value = "./hdh-demo-data")]
        out: PathBuf,
        #[arg(long, default_value_t = 10_000)]
        persons: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

pub(crate) fn config(store: &StoreArgs) -> Config {
    let mut c = Config::new(store.data_dir.clone());
    c.database_url = store.database_url.clone();
    c
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let p = line.trim_end_matches(['\n', '\r']).to_string();
        if p.is_empty() {
            bail!("empty password on standard input");
        }
        return Ok(p);
    }
    std::env::var("HDH_PASSWORD").context("set HDH_PASSWORD or pass --password-stdin")
}

fn bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(total);
    pb.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    pb.set_message(what.to_string());
    pb
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HDH_LOG")
                .unwrap_or_else(|_| "info,sqlx=error,tower_http=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve {
            store,
            listen,
            demo,
            demo_persons,
            demo_on_public_address,
            release_threshold,
            disclosure_rules,
            release_reviews,
            audit,
            secure_cookies,
            accounts,
            desk,
            workspace,
        } => {
            if demo && !demo_on_public_address {
                refuse_demo_off_loopback(&listen).await?;
            }
            let mut cfg = config(&store);
            workspace.apply(&mut cfg);
            cfg.release_threshold = release_threshold;
            cfg.disclosure.hub.threshold = release_threshold;
            if let Some(path) = &disclosure_rules {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                cfg.disclosure = hdh_release::RuleSet::from_toml(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            }
            if release_reviews == 0 {
                bail!("--release-reviews: at least 1");
            }
            cfg.release_reviews_required = release_reviews;
            audit.apply(&mut cfg)?;
            cfg.secure_cookies = secure_cookies;
            accounts.apply(&mut cfg)?;
            desk.apply(&mut cfg)?;
            // The Flight SQL endpoint, when asked for, on its own port.
            let flight = match &workspace.flight_listen {
                Some(addr) => {
                    let l = tokio::net::TcpListener::bind(addr)
                        .await
                        .with_context(|| format!("cannot listen on {addr} for Flight SQL"))?;
                    cfg.flight_uri = Some(format!("grpc://{}", l.local_addr()?));
                    Some(l)
                }
                None => None,
            };
            let state = AppState::open(cfg).await?;
            if let Some(l) = flight {
                println!(
                    "Flight SQL endpoint on {}",
                    state.config.flight_uri.clone().unwrap_or_default()
                );
                let st = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = hdh_server::flight::serve(st, l, std::future::pending()).await {
                        eprintln!("Flight SQL endpoint stopped: {e}");
                    }
                });
            }
            if demo {
                let pb = bar(demo_persons, "generating and delivering the demo dataset");
                let seeded = hdh_server::seed::seed_demo(&state, demo_persons, &mut |done, _| {
                    pb.set_position(done)
                })
                .await?;
                pb.finish_and_clear();
                if seeded {
                    hdh_server::seed::seed_demo_requests(&state).await?;
                    let cohort = hdh_server::seed::seed_demo_cohort(
                        &state,
                        demo_persons,
                        hdh_server::seed::demo_cohort_size(demo_persons),
                    )
                    .await?;
                    eprintln!(
                        "Demo data delivered (snds-demo, {demo_persons} persons; cohort-demo, {cohort} participants to link on /linkage), with access requests in several states."
                    );
                }
                eprintln!(
                    "Demo accounts (password for all: {}):",
                    hdh_server::seed::DEMO_PASSWORD
                );
                for (u, name, _, roles) in hdh_server::seed::DEMO_ACCOUNTS {
                    eprintln!(
                        "  {u:<12} {:<18} {name}",
                        hdh_model::role::format_roles(roles)
                    );
                }
            }
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            println!("hdh is listening on http://{addr}/");
            hdh_server::serve_until(state, listener, shutdown_signal()).await?;
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    store,
                    username,
                    display_name,
                    organisation,
                    roles,
                    email,
                },
        } => {
            if let Some(e) = &email
                && e.parse::<lettre::Address>().is_err()
            {
                bail!("--email {e:?}: not an e-mail address");
            }
            let roles = hdh_model::role::parse_roles(&roles)?;
            if roles.is_empty() {
                bail!("--roles: give at least one role");
            }
            let password = read_password(true)?;
            hdh_server::password::check(
                &password,
                &username,
                hdh_server::config::AccountPolicy::default().min_password_chars,
            )
            .map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let state = AppState::open(config(&store)).await?;
            let u = hdh_server::seed::add_user(
                &state,
                &hdh_store::NewUser {
                    display_name: display_name.unwrap_or_else(|| username.clone()),
                    username,
                    organisation,
                    roles,
                    password,
                },
                Some("cli"),
            )
            .await?;
            if let Some(e) = &email {
                hdh_server::seed::set_email(&state, &u, e).await?;
            }
            println!(
                "created {} ({})",
                u.username,
                hdh_model::role::format_roles(&u.roles)
            );
            Ok(())
        }
        Command::User {
            command: UserCommand::List { store },
        } => {
            let state = AppState::open(config(&store)).await?;
            for u in state.store.users().await? {
                println!(
                    "{}\t{}\t{}",
                    u.username,
                    hdh_model::role::format_roles(&u.roles),
                    u.display_name
                );
            }
            Ok(())
        }
        Command::Catalog { command } => catalog_command(command).await,
        Command::Producer { command } => producer::run(command).await,
        Command::Ttp { command } => ops::ttp(command).await,
        Command::Keys { command } => ops::keys(command).await,
        Command::Opposition { command } => ops::opposition(command).await,
        Command::Sdc { command } => sdc::run(command),
        Command::Linkage { command } => linkage::run(command),
        Command::Audit { command } => audit::run(command).await,
        Command::Demo {
            command: DemoCommand::Generate { out, persons, seed },
        } => {
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let pb = bar(persons, "generating");
            let summary = hdh_demo::generate(
                &hdh_demo::DemoOptions { persons, seed },
                &out,
                &mut |p: hdh_demo::Progress| pb.set_position(p.persons_done),
            )?;
            pb.finish_and_clear();
            for (t, n) in &summary.tables {
                println!("{t}\t{n}");
            }
            Ok(())
        }
        Command::Deliver {
            dir,
            dataset,
            hub,
            user,
            password_stdin,
        } => deliver(dir, dataset, hub, user, read_password(password_stdin)?).await,
    }
}

/// Ctrl-C or SIGTERM: stop accepting connections, finish the requests in flight.
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("hdh: shutting down");
}

/// The demo accounts share a published password: `--demo` listens on
/// loopback only, unless told otherwise.
async fn refuse_demo_off_loopback(listen: &str) -> Result<()> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .with_context(|| format!("--listen {listen:?}: not an address"))?
        .collect();
    if let Some(public) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        bail!(
            "--demo: the demo accounts share the published password {:?}, and --listen {listen} ({}) is reachable from other machines; listen on 127.0.0.1 or [::1], or add --demo-on-public-address for a closed network",
            hdh_server::seed::DEMO_PASSWORD,
            public.ip()
        );
    }
    Ok(())
}

async fn deliver(
    dir: PathBuf,
    dataset: String,
    hub: String,
    user: String,
    password: String,
) -> Result<()> {
    let client = reqwest::Client::new();
    let hub = hub.trim_end_matches('/').to_string();
    let login: serde_json::Value = client
        .post(format!("{hub}/api/login"))
        .json(&serde_json::json!({ "username": user, "password": password }))
        .send()
        .await
        .with_context(|| format!("cannot reach the hub at {hub}"))?
        .json()
        .await?;
    let Some(token) = login["token"].as_str() else {
        bail!("sign-in refused: {}", login["error"]["message"])
    };
    if login["terms"]["accepted"] == serde_json::json!(false) {
        bail!(
            "{user} has not accepted the hub's terms of use (version {}): sign in once at {hub}/terms, read and accept them, then deliver again",
            login["terms"]["version"].as_str().unwrap_or("?")
        );
    }
    let mut form = reqwest::multipart::Form::new();
    let mut n = 0;
    let pb = indicatif::ProgressBar::new(0);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "uploading [{bar:40}] {bytes}/{total_bytes} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !(name.ends_with(".csv") || name.ends_with(".json")) {
            continue;
        }
        // Streamed from disk: a delivery of any size is sent with bounded memory.
        let file = tokio::fs::File::open(entry.path())
            .await
            .with_context(|| format!("cannot read {}", entry.path().display()))?;
        let len = file.metadata().await?.len();
        pb.inc_length(len);
        let pb2 = pb.clone();
        let stream =
            tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect(move |chunk| {
                if let Ok(c) = chunk {
                    pb2.inc(c.len() as u64);
                }
            });
        let body = reqwest::Body::wrap_stream(stream);
        form = form.part(
            "files",
            reqwest::multipart::Part::stream_with_length(body, len).file_name(name),
        );
        n += 1;
    }
    eprintln!("uploading {n} files to {hub} …");
    let resp = client
        .post(format!("{hub}/api/datasets/{dataset}/deliveries"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await?;
    pb.finish_and_clear();
    eprintln!("validating and converting on the hub …");
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    let d = &body["delivery"];
    if status.is_success() && d["accepted"].as_bool() == Some(true) {
        println!("accepted: {dataset} v{}", d["version"]);
        return Ok(());
    }
    if d.is_null() {
        bail!("delivery refused ({status}): {}", body["error"]["message"]);
    }
    for e in d["errors"].as_array().into_iter().flatten() {
        eprintln!("{}", e.as_str().unwrap_or_default());
    }
    for t in d["tables"].as_array().into_iter().flatten() {
        for e in t["errors"].as_array().into_iter().flatten() {
            eprintln!(
                "{}:{}:{}: {}: {}",
                e["file"].as_str().unwrap_or(""),
                e["line"],
                e["column"],
                e["field"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or("")
            );
        }
        if t["error_count"].as_u64().unwrap_or(0)
            > t["errors"].as_array().map(|a| a.len() as u64).unwrap_or(0)
        {
            eprintln!(
                "{}: {} errors in total",
                t["file"].as_str().unwrap_or(""),
                t["error_count"]
            );
        }
    }
    bail!("the delivery was rejected: nothing was loaded")
}

async fn catalog_command(command: CatalogCommand) -> Result<()> {
    match command {
        CatalogCommand::Import { store, dir, name } => {
            let name = match name {
                Some(n) => n,
                None => std::fs::canonicalize(&dir)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().to_string()))
                    .unwrap_or_else(|| "package".into()),
            };
            let state = AppState::open(config(&store)).await?;
            let files = hdh_server::catalog::read_package_dir(&dir)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            eprintln!("read {} files from {}", files.len(), dir.display());
            let pb = bar(0, "importing");
            let summary = hdh_server::catalog::import_package(
                &state,
                &name,
                files,
                "cli",
                &mut |what, done, total| {
                    pb.set_length(total);
                    pb.set_position(done);
                    pb.set_message(format!("importing {what}"));
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            pb.finish_and_clear();
            if summary.unchanged {
                println!(
                    "{name}: unchanged since the last import (sha256 {}), nothing to do",
                    &summary.sha256[..12]
                );
            } else {
                println!(
                    "{name}: {} datasets, {} tables, {} variables, {} foreign keys, {} nomenclatures, {} codes",
                    summary.datasets.len(),
                    summary.tables,
                    summary.variables,
                    summary.foreign_keys,
                    summary.nomenclatures,
                    summary.codes
                );
            }
            let pb = bar(0, "indexing for search");
            let started = std::time::Instant::now();
            let rebuilt = hdh_server::catalog::sync_search(&state, &mut |n| {
                pb.set_length(n as u64);
                pb.set_position(n as u64);
            })
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            pb.finish_and_clear();
            if rebuilt {
                println!(
                    "search index rebuilt: {} documents in {:.1} s",
                    state.search.doc_count(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(())
        }
        CatalogCommand::Search {
            store,
            words,
            limit,
        } => {
            let state = AppState::open(config(&store)).await?;
            hdh_server::catalog::sync_search(&state, &mut |_| {})
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let r = state
                .search
                .search(&hdh_search::SearchQuery {
                    text: words.join(" "),
                    limit,
                    ..Default::default()
                })
                .context("search")?;
            for h in &r.hits {
                println!("{}\t{}\t{}", h.kind.as_str(), h.title, h.url);
            }
            eprintln!("{} hit(s)", r.total);
            Ok(())
        }
        CatalogCommand::Export {
            store,
            format,
            base_url,
            dataset,
        } => {
            let state = AppState::open(config(&store)).await?;
            let format = match format {
                RdfFormatArg::Turtle => hdh_catalog::dcat::RdfFormat::Turtle,
                RdfFormatArg::Jsonld => hdh_catalog::dcat::RdfFormat::JsonLd,
            };
            let text = hdh_server::catalog::export_rdf(
                &state,
                &base_url,
                dataset.as_deref(),
                None,
                usize::MAX,
                format,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("writing to standard output")?;
            Ok(())
        }
    }
}

/// Writes `bytes` to `path` durably and atomically (a temporary file in the
/// same directory, synced, renamed over).
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("hdh")
    ));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
