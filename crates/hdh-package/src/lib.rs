//! The delivery package: what a producer's tool (`hdh producer prepare`)
//! writes on the producer's premises and the hub ingests.
//!
//! ```text
//! <package dir>/
//!   manifest.json   {"format": "hdh-package/1", "dataset_id", "producer",
//!                    "producer_key" (Ed25519 public key, hex), "level1_key_id",
//!                    "created_at" (RFC 3339), "tables": [{"name", "data",
//!                    "schema", "rows"}], "files": [{"path", "bytes", "sha256"}],
//!                    "summary": {…}}
//!   manifest.sig    base64 Ed25519 signature of the exact bytes of manifest.json
//!   T.parquet       one per table (level-1 pseudonyms, no direct identifier)
//!   T.schema.json   the published Table Schema of T
//!   dataset.json    optional catalogue metadata
//! ```
//!
//! Every file but the manifest and its signature is listed in `files` with
//! its size and SHA-256, so the signature covers the whole package. File
//! names are plain (no directory, no `..`, no hidden file).
//!
//! Pure: no I/O beyond the [`Read`]/[`Write`] values handed in. Secrets
//! ([`ProducerIdentity`]) are zeroised on drop and redacted in `Debug`.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// The `format` of packages made by this version.
pub const FORMAT: &str = "hdh-package/1";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The signature's file name.
pub const SIGNATURE_FILE: &str = "manifest.sig";
/// The optional catalogue metadata's file name.
pub const METADATA_FILE: &str = "dataset.json";
/// Where the producer's tool keeps the state of an upload in progress (a
/// hidden file: never part of the package).
pub const UPLOAD_STATE_FILE: &str = ".upload-state.json";
/// Longest file name in a package.
pub const MAX_PATH_LEN: usize = 128;
/// Most files in a package.
pub const MAX_FILES: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("not a valid manifest (JSON line {line}, column {column}): {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "unsafe file name {0:?}: a file of a package has a plain name ([A-Za-z0-9_][A-Za-z0-9_.-]*, no directory, not hidden)"
    )]
    UnsafePath(String),
    #[error("the signature is not base64 of 64 bytes")]
    SignatureEncoding,
    #[error("the signature does not verify: the manifest was altered or signed with another key")]
    BadSignature,
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("producer identity: {0}")]
    Identity(String),
}

/// One table of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTable {
    /// The table name (a safe identifier).
    pub name: String,
    /// The Parquet file (`T.parquet`).
    pub data: String,
    /// The published Table Schema (`T.schema.json`).
    pub schema: String,
    pub rows: u64,
}

/// One file of the package, with its size and digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    pub path: String,
    pub bytes: u64,
    /// SHA-256, 64 lowercase hex characters.
    pub sha256: String,
}

/// What preparing one table found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableSummary {
    /// The input file the table was prepared from (its name only).
    pub source: String,
    /// Data rows read from the input.
    pub rows_read: u64,
    /// Rows written to the package.
    pub rows_written: u64,
    /// Rows left out as invalid (a package is only written when there are
    /// none; kept for the record).
    pub invalid_rows: u64,
    /// Temporary (provisional) NIRs, per identifier field.
    pub provisional_nirs: BTreeMap<String, u64>,
}

/// Counts over the whole package.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub rows_read: u64,
    pub rows_written: u64,
    pub invalid_rows: u64,
    pub provisional_nirs: u64,
    /// How the level-1 pseudonyms were computed: `"key-package"` (offline)
    /// or `"ttp"` (online).
    pub level1_source: String,
    pub tables: BTreeMap<String, TableSummary>,
}

/// The signed description of a package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    pub dataset_id: String,
    /// The producer's name.
    pub producer: String,
    /// The producer's Ed25519 public key (64 hex characters) that signed.
    pub producer_key: String,
    /// The id of the level-1 key the pseudonyms were computed with.
    pub level1_key_id: String,
    pub created_at: DateTime<Utc>,
    pub tables: Vec<ManifestTable>,
    /// Every file of the package but the manifest and its signature.
    pub files: Vec<ManifestFile>,
    #[serde(default)]
    pub summary: Summary,
}

/// Whether `path` is a plain, visible file name: `[A-Za-z0-9_][A-Za-z0-9_.-]*`,
/// at most [`MAX_PATH_LEN`] bytes, not `.`/`..` and without `..` inside.
pub fn is_safe_file_name(path: &str) -> bool {
    let mut bytes = path.bytes();
    match bytes.next() {
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        _ => return false,
    }
    path.len() <= MAX_PATH_LEN
        && !path.contains("..")
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `[A-Za-z0-9_-]{1,64}`: the hub's dataset ids, key ids, producer names.
pub fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

impl Manifest {
    /// Parses and checks a manifest: format, ids, public key, safe and
    /// unique file names, digests, every table's data and schema listed in
    /// `files` (and not shared), unique table names, at least one table.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, PackageError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| PackageError::Json {
            line: e.line(),
            column: e.column(),
            message: {
                let full = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                full.strip_suffix(&suffix).unwrap_or(&full).to_owned()
            },
        })?;
        m.check()?;
        Ok(m)
    }

    /// The checks of [`Manifest::parse`], on a value built in memory.
    pub fn check(&self) -> Result<(), PackageError> {
        let invalid = |m: String| Err(PackageError::Invalid(m));
        if self.format != FORMAT {
            return invalid(format!(
                "format {:?} is not {FORMAT:?} (made by another version of the tool?)",
                truncate(&self.format)
            ));
        }
        if !is_safe_id(&self.dataset_id) {
            return invalid(format!(
                "dataset_id {:?}: use letters, digits, '-' or '_' (at most 64)",
                truncate(&self.dataset_id)
            ));
        }
        if !is_safe_id(&self.producer) {
            return invalid(format!(
                "producer {:?}: use letters, digits, '-' or '_' (at most 64)",
                truncate(&self.producer)
            ));
        }
        if !is_safe_id(&self.level1_key_id) {
            return invalid(format!(
                "level1_key_id {:?}: use letters, digits, '-' or '_' (at most 64)",
                truncate(&self.level1_key_id)
            ));
        }
        self.producer_verifying_key()?;
        if self.files.len() > MAX_FILES {
            return invalid(format!(
                "{} files listed, at most {MAX_FILES}",
                self.files.len()
            ));
        }
        let mut paths = HashSet::new();
        for f in &self.files {
            if !is_safe_file_name(&f.path) {
                return Err(PackageError::UnsafePath(truncate(&f.path)));
            }
            if f.path == MANIFEST_FILE || f.path == SIGNATURE_FILE {
                return invalid(format!(
                    "files: {} cannot list itself or its signature",
                    f.path
                ));
            }
            if !paths.insert(f.path.as_str()) {
                return invalid(format!("files: {} is listed twice", f.path));
            }
            if !is_sha256_hex(&f.sha256) {
                return invalid(format!(
                    "files: the sha256 of {} is not 64 lowercase hex characters",
                    f.path
                ));
            }
        }
        if self.tables.is_empty() {
            return invalid("the package lists no table".to_owned());
        }
        let mut names = HashSet::new();
        let mut used = HashSet::new();
        for t in &self.tables {
            if !hdh_model::schema::is_safe_identifier(&t.name) {
                return invalid(format!(
                    "table name {:?} is not a safe identifier",
                    truncate(&t.name)
                ));
            }
            if !names.insert(t.name.as_str()) {
                return invalid(format!("table {} is listed twice", t.name));
            }
            for (what, path) in [("data", &t.data), ("schema", &t.schema)] {
                if !is_safe_file_name(path) {
                    return Err(PackageError::UnsafePath(truncate(path)));
                }
                if !paths.contains(path.as_str()) {
                    return invalid(format!(
                        "table {}: its {what} file {path} is not listed in files",
                        t.name
                    ));
                }
                if !used.insert(path.as_str()) {
                    return invalid(format!("table {}: the file {path} is used twice", t.name));
                }
            }
        }
        Ok(())
    }

    /// The manifest's bytes as written to `manifest.json` (pretty JSON and a
    /// final line break). Sign exactly these bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Plain strings, integers, maps with string keys: cannot fail.
        let mut v = serde_json::to_vec_pretty(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// The producer's Ed25519 public key.
    pub fn producer_verifying_key(&self) -> Result<VerifyingKey, PackageError> {
        verifying_key_from_hex(&self.producer_key)
    }

    /// The entry of a file, by name.
    pub fn file(&self, path: &str) -> Option<&ManifestFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}

/// Parses an Ed25519 public key from 64 hex characters.
pub fn verifying_key_from_hex(s: &str) -> Result<VerifyingKey, PackageError> {
    let bytes: [u8; 32] = hex::decode(s.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            PackageError::Invalid("a public key must be 64 hexadecimal characters".to_owned())
        })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| PackageError::Invalid("the public key is not a valid Ed25519 key".to_owned()))
}

/// The signature of the exact bytes of a manifest (base64, standard, padded),
/// as written to `manifest.sig`.
pub fn sign(manifest_bytes: &[u8], key: &SigningKey) -> String {
    let sig: Signature = key.sign(manifest_bytes);
    B64.encode(sig.to_bytes())
}

/// Checks a signature made by [`sign`] (surrounding whitespace ignored).
pub fn verify(
    manifest_bytes: &[u8],
    signature_b64: &str,
    key: &VerifyingKey,
) -> Result<(), PackageError> {
    let bytes: [u8; 64] = B64
        .decode(signature_b64.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PackageError::SignatureEncoding)?;
    key.verify_strict(manifest_bytes, &Signature::from_bytes(&bytes))
        .map_err(|_| PackageError::BadSignature)
}

/// Reads `reader` to its end and checks its size and SHA-256 against the
/// manifest's entry.
pub fn check_file<R: Read>(entry: &ManifestFile, reader: R) -> Result<(), PackageError> {
    let mut r = HashingReader::new(reader);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(PackageError::Io {
                    path: entry.path.clone(),
                    source,
                });
            }
        }
        if r.byte_count() > entry.bytes {
            break;
        }
    }
    let (bytes, digest) = r.finish();
    if bytes != entry.bytes {
        return Err(PackageError::File {
            path: entry.path.clone(),
            reason: if bytes > entry.bytes {
                format!("longer than the {} bytes the manifest says", entry.bytes)
            } else {
                format!("{bytes} bytes, the manifest says {}", entry.bytes)
            },
        });
    }
    if digest != entry.sha256 {
        return Err(PackageError::File {
            path: entry.path.clone(),
            reason: "its SHA-256 differs from the manifest's: the file was altered".to_owned(),
        });
    }
    Ok(())
}

/// A writer that computes the SHA-256 and size of what goes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes written so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, the size and the SHA-256 (lowercase hex).
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that computes the SHA-256 and size of what is read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn byte_count(&self) -> u64 {
        self.bytes
    }

    /// The size and the SHA-256 (lowercase hex) of what was read.
    pub fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// The SHA-256 (lowercase hex) of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `format` of identity files.
pub const IDENTITY_FORMAT: &str = "hdh-producer-identity/1";

/// A producer's keys: Ed25519 to sign manifests, X25519 to open the sealed
/// level-1 key packages the trusted third party issues to it. Zeroised on
/// drop, redacted in `Debug`.
pub struct ProducerIdentity {
    name: String,
    signing: SigningKey,
    x25519: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for ProducerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerIdentity")
            .field("name", &self.name)
            .field("ed25519_public", &self.ed25519_public_hex())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityFile {
    format: String,
    name: String,
    ed25519_secret: String,
    x25519_secret: String,
    ed25519_public: String,
    x25519_public: String,
}

impl Drop for IdentityFile {
    fn drop(&mut self) {
        self.ed25519_secret.zeroize();
        self.x25519_secret.zeroize();
    }
}

fn secret_from_hex(s: &str, what: &str) -> Result<Zeroizing<[u8; 32]>, PackageError> {
    let mut out = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(s.trim(), out.as_mut_slice())
        .map_err(|_| PackageError::Identity(format!("{what} must be 64 hexadecimal characters")))?;
    Ok(out)
}

impl ProducerIdentity {
    /// Fresh keys from the operating system's randomness. `name` (the
    /// producer's name, `[A-Za-z0-9_-]{1,64}`) goes into manifests.
    pub fn generate(name: &str) -> Result<ProducerIdentity, PackageError> {
        if !is_safe_id(name) {
            return Err(PackageError::Identity(
                "a producer name must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'"
                    .to_owned(),
            ));
        }
        Ok(ProducerIdentity {
            name: name.to_owned(),
            signing: hdh_pseudo::sealed::generate_signing_key(),
            x25519: hdh_pseudo::sealed::x25519_generate(),
        })
    }

    /// From the raw secret keys.
    pub fn from_secrets(
        name: &str,
        ed25519_secret: &[u8; 32],
        x25519_secret: &[u8; 32],
    ) -> Result<ProducerIdentity, PackageError> {
        if !is_safe_id(name) {
            return Err(PackageError::Identity(
                "a producer name must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'"
                    .to_owned(),
            ));
        }
        Ok(ProducerIdentity {
            name: name.to_owned(),
            signing: SigningKey::from_bytes(ed25519_secret),
            x25519: Zeroizing::new(*x25519_secret),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The X25519 secret, to open sealed key packages.
    pub fn x25519_secret(&self) -> &[u8; 32] {
        &self.x25519
    }

    /// The Ed25519 public key, 64 hex characters (register it with the hub).
    pub fn ed25519_public_hex(&self) -> String {
        hex::encode(self.signing.verifying_key().as_bytes())
    }

    /// The X25519 public key, 64 hex characters (give it to the trusted
    /// third party, which seals key packages to it).
    pub fn x25519_public_hex(&self) -> String {
        hex::encode(hdh_pseudo::sealed::x25519_public(&self.x25519))
    }

    /// The identity file (JSON; holds the secrets: write it with mode 0600).
    pub fn to_file_text(&self) -> Zeroizing<String> {
        let mut ed = Zeroizing::new(self.signing.to_bytes());
        let file = IdentityFile {
            format: IDENTITY_FORMAT.to_owned(),
            name: self.name.clone(),
            ed25519_secret: hex::encode(ed.as_slice()),
            x25519_secret: hex::encode(self.x25519.as_slice()),
            ed25519_public: self.ed25519_public_hex(),
            x25519_public: self.x25519_public_hex(),
        };
        ed.zeroize();
        let mut text = Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default());
        text.push('\n');
        text
    }

    /// Reads an identity file; the public keys it lists must match its
    /// secrets.
    pub fn from_file_text(text: &str) -> Result<ProducerIdentity, PackageError> {
        let file: IdentityFile = serde_json::from_str(text).map_err(|e| {
            // The message of a serde error may quote a value: keep only where.
            PackageError::Identity(format!(
                "not a producer identity file (JSON line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if file.format != IDENTITY_FORMAT {
            return Err(PackageError::Identity(format!(
                "format is not {IDENTITY_FORMAT}"
            )));
        }
        let ed = secret_from_hex(&file.ed25519_secret, "ed25519_secret")?;
        let x = secret_from_hex(&file.x25519_secret, "x25519_secret")?;
        let id = ProducerIdentity::from_secrets(&file.name, &ed, &x)?;
        if !id
            .ed25519_public_hex()
            .eq_ignore_ascii_case(file.ed25519_public.trim())
            || !id
                .x25519_public_hex()
                .eq_ignore_ascii_case(file.x25519_public.trim())
        {
            return Err(PackageError::Identity(
                "the public keys do not match the secret keys (a damaged file?)".to_owned(),
            ));
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests;
