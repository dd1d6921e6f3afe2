//! The TTP's audit log: `audit.jsonl` in the key store, one JSON object per
//! line, appended and fsynced before the answer leaves. A record says who
//! (producer, client address), what (action, item count) and how it ended;
//! it never holds an identifier, a pseudonym, a token or a key.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::TtpError;

/// File name of the audit log inside the key store.
pub const AUDIT_FILE: &str = "audit.jsonl";

#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC.
    pub time: String,
    pub producer: Option<String>,
    pub action: String,
    pub items: Option<usize>,
    pub outcome: String,
    pub client: Option<String>,
}

impl AuditRecord {
    pub fn new(action: &str, outcome: &str) -> Self {
        AuditRecord {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            producer: None,
            action: action.to_string(),
            items: None,
            outcome: outcome.to_string(),
            client: None,
        }
    }

    pub fn producer(mut self, p: Option<&str>) -> Self {
        self.producer = p.map(str::to_string);
        self
    }

    pub fn items(mut self, n: usize) -> Self {
        self.items = Some(n);
        self
    }

    pub fn client(mut self, c: Option<String>) -> Self {
        self.client = c;
        self
    }
}

/// Appends `rec` to the audit log of `dir` and syncs it to disk.
pub fn append(dir: &Path, rec: &AuditRecord) -> Result<(), TtpError> {
    let path = dir.join(AUDIT_FILE);
    let mut line =
        serde_json::to_vec(rec).map_err(|e| TtpError::Invalid(format!("audit record: {e}")))?;
    line.push(b'\n');
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(&path)
        .map_err(|e| TtpError::io(format!("cannot open {}", path.display()), e))?;
    f.write_all(&line)
        .and_then(|()| f.sync_data())
        .map_err(|e| TtpError::io(format!("cannot append to {}", path.display()), e))
}
