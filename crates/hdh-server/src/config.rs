//! Run-time configuration and the hub secret.

use crate::AppError;
use hdh_model::request::Route;
use hdh_pseudo::HubSecret;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `None`: the embedded SQLite store in the data directory.
    pub database_url: Option<String>,
    /// Smallest count a released cell may show (also the catalogue's
    /// statistics); the disclosure rules' threshold by default.
    pub release_threshold: u64,
    /// The output checker's rules (hub-wide, and per dataset).
    pub disclosure: hdh_release::RuleSet,
    /// Independent output checkers who must approve a release.
    pub release_reviews_required: usize,
    /// How often the audit log's head is signed (when it grew).
    pub audit_checkpoint_every: std::time::Duration,
    /// Also sign once the log grew by this many events since the last
    /// checkpoint (`None`: by time only).
    pub audit_checkpoint_events: Option<u64>,
    /// Export of the audit log and alerts to a SIEM (off by default).
    pub siem: crate::siem::SiemConfig,
    /// The alert rules over the audit log.
    pub alert_rules: Vec<hdh_alerts::Rule>,
    /// How often new audit events are read by the alert rules.
    pub alert_every: std::time::Duration,
    /// Largest delivery (a form's files, a package's file).
    pub max_upload_bytes: usize,
    /// Largest body of any other request (forms, JSON).
    pub max_request_bytes: usize,
    /// Longest a request may take to be received and answered (deliveries
    /// excepted; workspace queries have their own limit).
    pub request_timeout: std::time::Duration,
    /// Rows a console query may return to the page.
    pub max_result_rows: usize,
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// A session's absolute lifetime, whatever its use.
    pub session_hours: i64,
    /// Sign-in and account rules (idle sessions, brute force, passwords,
    /// terms of use, yearly review).
    pub accounts: AccountPolicy,
    /// The terms of use every account accepts before its first use.
    pub terms: crate::terms::Terms,
    /// The hub's public base URL (`https://hub.example`), used in the RDF
    /// export's identifiers; by default derived from the request's Host.
    pub public_url: Option<String>,
    /// Memory and time a workspace query may use.
    pub workspace_limits: hdh_workspace::Limits,
    /// Queries one project may run at the same time.
    pub project_concurrent_queries: usize,
    /// Space a project's derived (scratch) tables may take.
    pub scratch_quota_bytes: u64,
    /// Longest validity of a Flight SQL token, in days.
    pub token_max_days: i64,
    /// The Flight SQL endpoint as clients reach it (`grpc://host:port`),
    /// shown on the project page; `None` when it is off.
    pub flight_uri: Option<String>,
    /// Working days of the desk's clocks (default: metropolitan France).
    pub calendar: hdh_desk::Calendar,
    /// Delays of the review steps, in working days.
    pub deadlines: hdh_desk::Deadlines,
    /// The legal routes an applicant may choose (the first is the default).
    pub routes: Vec<Route>,
    /// Where notifications are e-mailed; `None`: in-app inbox only.
    pub mail: Option<MailConfig>,
    /// Largest attachment to a request.
    pub attachment_max_bytes: usize,
    /// Command (program and arguments) that scans an attachment on its
    /// standard input: exit 0 clean, 1 infected, anything else an error.
    pub virus_scan: Option<Vec<String>>,
    /// Attachment kinds a request must carry to be submitted.
    pub required_attachments: Vec<String>,
}

/// Sign-in and account rules.
#[derive(Debug, Clone)]
pub struct AccountPolicy {
    /// A session unused this long ends.
    pub session_idle_minutes: i64,
    /// Failed sign-ins are counted over this window; a lock lifts at its end.
    pub sign_in_window_minutes: i64,
    /// Failed sign-ins for one account name (existing or not) before it is
    /// locked for the window.
    pub max_failures_per_account: i64,
    /// Failed sign-ins from one address (all names) before it is locked.
    pub max_failures_per_address: i64,
    /// Shortest password accepted when one is set.
    pub min_password_chars: usize,
    /// An account and its roles are reviewed by an administrator at least
    /// this often (days); past it, the account is listed as due.
    pub review_every_days: i64,
    /// Days after the review is due before the account is suspended.
    pub review_grace_days: i64,
}

impl Default for AccountPolicy {
    fn default() -> AccountPolicy {
        AccountPolicy {
            session_idle_minutes: 30,
            sign_in_window_minutes: 15,
            max_failures_per_account: 5,
            max_failures_per_address: 30,
            min_password_chars: 12,
            review_every_days: 365,
            review_grace_days: 30,
        }
    }
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://host:port` (plain, for a relay on loopback), or
    /// `smtp://user:pass@host:587?tls=required`, `smtps://…` (lettre's URL forms).
    pub url: String,
    /// The `From:` of every message.
    pub from: String,
}

/// Parses a route as `NAME[:no-committee][:no-agreement]`.
pub fn parse_route(spec: &str) -> Result<Route, AppError> {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or("").trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AppError::bad_request(format!(
            "route {spec:?}: expected NAME[:no-committee][:no-agreement], NAME in letters, digits, _ and -"
        )));
    }
    let mut route = Route {
        name: name.to_string(),
        committee: true,
        producer_agreement: true,
    };
    for p in parts {
        match p.trim() {
            "no-committee" => route.committee = false,
            "no-agreement" => route.producer_agreement = false,
            other => {
                return Err(AppError::bad_request(format!(
                    "route {spec:?}: unknown option {other:?} (expected no-committee or no-agreement)"
                )));
            }
        }
    }
    Ok(route)
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir: PathBuf = data_dir.into();
        Config {
            workspace_limits: hdh_workspace::Limits {
                spill_dir: Some(data_dir.join("tmp").join("spill")),
                ..Default::default()
            },
            data_dir,
            database_url: None,
            release_threshold: 10,
            disclosure: hdh_release::RuleSet::default(),
            release_reviews_required: 2,
            audit_checkpoint_every: std::time::Duration::from_secs(60),
            audit_checkpoint_events: None,
            siem: crate::siem::SiemConfig::off(),
            alert_rules: hdh_alerts::default_rules(),
            alert_every: std::time::Duration::from_secs(2),
            max_upload_bytes: 64 * 1024 * 1024 * 1024,
            max_request_bytes: 16 * 1024 * 1024,
            request_timeout: std::time::Duration::from_secs(120),
            max_result_rows: 10_000,
            project_concurrent_queries: 4,
            scratch_quota_bytes: 1 << 30,
            token_max_days: 90,
            flight_uri: None,
            secure_cookies: false,
            session_hours: 12,
            accounts: AccountPolicy::default(),
            terms: crate::terms::Terms::builtin(),
            public_url: None,
            calendar: hdh_desk::Calendar::france(),
            deadlines: hdh_desk::Deadlines::default(),
            routes: vec![Route::standard(), Route::reference_methodology()],
            mail: None,
            attachment_max_bytes: 20 * 1024 * 1024,
            virus_scan: None,
            required_attachments: Vec::new(),
        }
    }
}

/// Reads the hub secret from `HDH_HUB_SECRET` (hex) or from
/// `<data-dir>/secrets/hub.key`, creating the file (mode 0600) on first start.
/// The secret never enters the database or the logs.
pub fn load_or_create_secret(data_dir: &Path) -> Result<HubSecret, AppError> {
    if let Ok(hex) = std::env::var("HDH_HUB_SECRET") {
        return HubSecret::from_hex(&hex)
            .map_err(|e| AppError::internal(format!("HDH_HUB_SECRET: {e}")));
    }
    let path = data_dir.join("secrets").join("hub.key");
    if path.exists() {
        let text = crate::secret_file::read(&path)?;
        return HubSecret::from_hex(&text)
            .map_err(|e| AppError::internal(format!("{}: {e}", path.display())));
    }
    let mut bytes = [0u8; hdh_pseudo::SECRET_LEN];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let secret = HubSecret::from_bytes(&bytes).map_err(|e| AppError::internal(e.to_string()))?;
    crate::secret_file::create(&path, &secret.to_hex())?;
    Ok(secret)
}
