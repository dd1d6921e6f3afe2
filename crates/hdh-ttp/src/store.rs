//! The TTP's key store: one directory (mode 0700) holding
//!
//! * `level1.key`: the level-1 key (`hdh-key v1`, kind `level1`), mode 0600;
//! * `ttp-signing.key`: the TTP's Ed25519 signing key (kind
//!   `ed25519-signing`), mode 0600;
//! * `producers.json`: the producers and the SHA-256 of their bearer tokens;
//! * `audit.jsonl`: the audit log (see [`crate::audit`]).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use hdh_pseudo::keyfile;
use hdh_pseudo::level1::Level1Key;
use hdh_pseudo::sealed::{self, SealedKeyPackage, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::TtpError;
use crate::audit::{self, AuditRecord};

pub const LEVEL1_KEY_FILE: &str = "level1.key";
pub const SIGNING_KEY_FILE: &str = "ttp-signing.key";
pub const PRODUCERS_FILE: &str = "producers.json";
/// `kind` of the TTP's signing key file.
pub const SIGNING_KEY_KIND: &str = "ed25519-signing";
/// Longest validity of a key package, in days.
pub const MAX_VALID_DAYS: u32 = 3660;

/// What [`init`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOutcome {
    pub dir: PathBuf,
    /// Id of the new level-1 key (`l1-<yyyymmdd>`).
    pub key_id: String,
    /// Hex of the TTP's Ed25519 verifying key, to give producers.
    pub public_key_hex: String,
}

/// One producer allowed to call the TTP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producer {
    pub name: String,
    /// Hex SHA-256 of the bearer token (the token itself is never stored).
    pub token_sha256: String,
    pub added_at: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Producers {
    pub producers: Vec<Producer>,
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> TtpError {
    move |e| TtpError::io(context, e)
}

/// Creates a file that must not exist yet, with mode 0600, and syncs it.
fn create_private(path: &Path, contents: &[u8]) -> Result<(), TtpError> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .map_err(io(format!("cannot create {}", path.display())))?;
    f.write_all(contents)
        .and_then(|()| f.sync_all())
        .map_err(io(format!("cannot write {}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<(), TtpError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(format!("cannot sync {}", dir.display())))?;
    Ok(())
}

/// Reads a key file, refusing one that others may read.
fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, TtpError> {
    let meta = fs::metadata(path).map_err(io(format!("cannot read {}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TtpError::KeyFileMode(path.to_path_buf(), mode));
        }
    }
    #[cfg(not(unix))]
    let _ = meta;
    let bytes =
        Zeroizing::new(fs::read(path).map_err(io(format!("cannot read {}", path.display())))?);
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| TtpError::Pseudo(hdh_pseudo::PseudoError::KeyFile("not UTF-8 text".into())))?;
    Ok(Zeroizing::new(text.to_string()))
}

fn require_initialised(dir: &Path) -> Result<(), TtpError> {
    if dir.join(LEVEL1_KEY_FILE).exists() && dir.join(SIGNING_KEY_FILE).exists() {
        Ok(())
    } else {
        Err(TtpError::NotInitialised(dir.to_path_buf()))
    }
}

/// Loads the level-1 key of the store.
pub fn load_level1_key(dir: &Path) -> Result<Level1Key, TtpError> {
    require_initialised(dir)?;
    let text = read_secret_file(&dir.join(LEVEL1_KEY_FILE))?;
    Ok(Level1Key::from_key_file(&text)?)
}

/// Loads the TTP's Ed25519 signing key.
pub fn load_signing_key(dir: &Path) -> Result<SigningKey, TtpError> {
    require_initialised(dir)?;
    let text = read_secret_file(&dir.join(SIGNING_KEY_FILE))?;
    let (_, bytes) = keyfile::decode(&text, SIGNING_KEY_KIND, 32)?;
    let mut arr = Zeroizing::new([0u8; 32]);
    arr.copy_from_slice(&bytes);
    Ok(SigningKey::from_bytes(&arr))
}

/// Creates the key store: the directory (0700), a fresh level-1 key
/// (`l1-<yyyymmdd>`) and Ed25519 signing key (files of mode 0600), an empty
/// producers file and the audit log. Refuses to overwrite existing keys.
pub fn init(dir: &Path) -> Result<InitOutcome, TtpError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(io(format!("cannot create {}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(io(format!("cannot restrict {}", dir.display())))?;
    }
    if dir.join(LEVEL1_KEY_FILE).exists() || dir.join(SIGNING_KEY_FILE).exists() {
        return Err(TtpError::AlreadyInitialised(dir.to_path_buf()));
    }
    let today = Utc::now().format("%Y%m%d").to_string();
    let key_id = format!("l1-{today}");
    let signing = sealed::generate_signing_key();
    let public_key_hex = hex::encode(signing.verifying_key().to_bytes());
    {
        let secret = Zeroizing::new(signing.to_bytes());
        let text = Zeroizing::new(keyfile::encode(
            SIGNING_KEY_KIND,
            &format!("ttp-{today}"),
            secret.as_slice(),
        ));
        create_private(&dir.join(SIGNING_KEY_FILE), text.as_bytes())?;
    }
    {
        let key = Level1Key::generate(&key_id);
        let text = Zeroizing::new(key.to_key_file());
        create_private(&dir.join(LEVEL1_KEY_FILE), text.as_bytes())?;
    }
    let producers = dir.join(PRODUCERS_FILE);
    if !producers.exists() {
        write_producers(dir, &Producers::default())?;
    }
    sync_dir(dir)?;
    audit::append(dir, &AuditRecord::new("init", "ok"))?;
    tracing::info!(key_id = %key_id, dir = %dir.display(), "TTP key store created");
    Ok(InitOutcome {
        dir: dir.to_path_buf(),
        key_id,
        public_key_hex,
    })
}

/// The producers of the store.
pub fn read_producers(dir: &Path) -> Result<Producers, TtpError> {
    let path = dir.join(PRODUCERS_FILE);
    let bytes = fs::read(&path).map_err(io(format!("cannot read {}", path.display())))?;
    serde_json::from_slice(&bytes).map_err(|e| TtpError::ProducersFile(e.to_string()))
}

/// Replaces the producers file atomically (temporary file, fsync, rename).
fn write_producers(dir: &Path, p: &Producers) -> Result<(), TtpError> {
    let path = dir.join(PRODUCERS_FILE);
    let tmp = dir.join(format!("{PRODUCERS_FILE}.tmp"));
    let mut json =
        serde_json::to_vec_pretty(p).map_err(|e| TtpError::ProducersFile(e.to_string()))?;
    json.push(b'\n');
    // A temporary file left by a crash is stale: replace it.
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(TtpError::io(format!("cannot remove {}", tmp.display()), e)),
    }
    create_private(&tmp, &json)?;
    fs::rename(&tmp, &path).map_err(io(format!("cannot replace {}", path.display())))?;
    sync_dir(dir)
}

/// Hex SHA-256 of a bearer token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Registers a producer and returns its bearer token, shown once: only its
/// SHA-256 is stored.
pub fn add_producer(dir: &Path, name: &str) -> Result<String, TtpError> {
    if !keyfile::valid_id(name) {
        return Err(TtpError::BadProducerName);
    }
    require_initialised(dir)?;
    let mut producers = read_producers(dir)?;
    if producers.producers.iter().any(|p| p.name == name) {
        return Err(TtpError::ProducerExists(name.to_string()));
    }
    let mut raw = Zeroizing::new([0u8; 32]);
    let rng_ok = rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, raw.as_mut_slice());
    if rng_ok.is_err() {
        return Err(TtpError::Invalid(
            "the operating system's random source failed".into(),
        ));
    }
    let token = format!(
        "hdh-ttp-{}",
        Zeroizing::new(hex::encode(raw.as_slice())).as_str()
    );
    producers.producers.push(Producer {
        name: name.to_string(),
        token_sha256: hex::encode(token_hash(&token)),
        added_at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    });
    write_producers(dir, &producers)?;
    audit::append(
        dir,
        &AuditRecord::new("add-producer", "ok").producer(Some(name)),
    )?;
    tracing::info!(producer = name, "TTP producer added");
    Ok(token)
}

/// Hex of the TTP's Ed25519 verifying key, to give producers (they check key
/// packages with it).
pub fn public_key_hex(dir: &Path) -> Result<String, TtpError> {
    Ok(hex::encode(
        load_signing_key(dir)?.verifying_key().to_bytes(),
    ))
}

/// Seals the level-1 key for `producer` (a registered producer) to the
/// X25519 public key `recipient_public_hex`, valid `valid_days` days from
/// now, signed by the TTP. Audited, refusals included.
pub fn issue_key_package(
    dir: &Path,
    producer: &str,
    recipient_public_hex: &str,
    valid_days: u32,
) -> Result<SealedKeyPackage, TtpError> {
    let result = issue(dir, producer, recipient_public_hex, valid_days);
    let outcome = match &result {
        Ok(_) => "ok",
        Err(_) => "refused",
    };
    let name = keyfile::valid_id(producer).then_some(producer);
    audit::append(
        dir,
        &AuditRecord::new("issue-key-package", outcome).producer(name),
    )?;
    if let Ok(pkg) = &result {
        tracing::info!(producer, key_id = %pkg.key_id, expires_at = %pkg.expires_at, "TTP key package issued");
    }
    result
}

fn issue(
    dir: &Path,
    producer: &str,
    recipient_public_hex: &str,
    valid_days: u32,
) -> Result<SealedKeyPackage, TtpError> {
    if !keyfile::valid_id(producer) {
        return Err(TtpError::BadProducerName);
    }
    if !(1..=MAX_VALID_DAYS).contains(&valid_days) {
        return Err(TtpError::Invalid(format!(
            "a key package is valid 1 to {MAX_VALID_DAYS} days"
        )));
    }
    let recipient: [u8; 32] = hex::decode(recipient_public_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            TtpError::Invalid("the recipient's X25519 public key must be 64 hex characters".into())
        })?;
    require_initialised(dir)?;
    if !read_producers(dir)?
        .producers
        .iter()
        .any(|p| p.name == producer)
    {
        return Err(TtpError::UnknownProducer(producer.to_string()));
    }
    let key = load_level1_key(dir)?;
    let signing = load_signing_key(dir)?;
    let now = Utc::now();
    let expires = now + chrono::Duration::days(i64::from(valid_days));
    Ok(sealed::seal(
        &key, producer, &recipient, &signing, now, expires,
    )?)
}
