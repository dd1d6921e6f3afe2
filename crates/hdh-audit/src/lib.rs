//! The audit log made tamper-evident, as pure functions (no I/O).
//!
//! * Every [`Entry`] carries the SHA-256 of the one before it
//!   (`prev_hash`) and its own (`hash`, over a canonical encoding of all its
//!   fields and `prev_hash`): changing, deleting, inserting or reordering an
//!   entry breaks the chain from there on.
//! * A [`Checkpoint`] is the hub's Ed25519 signature over a sequence number
//!   and the chain's hash at it. Someone who rewrites the chain from some
//!   point on (recomputing every hash) cannot forge the checkpoints after
//!   it; copies of the checkpoints kept by outsiders (witnesses) also catch
//!   a tail that was cut off with its checkpoints.
//! * An export is JSON Lines (`format`: [`FORMAT`]): a header, the entries,
//!   the checkpoints; [`verify`] checks one without the hub.

pub mod siem;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The export format's name and version.
pub const FORMAT: &str = "hdh-audit/1";

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// An audit event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: i64,
    /// RFC 3339, as stored.
    pub at: String,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub object_type: String,
    pub object_id: Option<String>,
    pub project_id: Option<String>,
    pub outcome: String,
    pub client_addr: Option<String>,
    /// The details as stored (JSON text), hashed byte for byte.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl Entry {
    /// The SHA-256 of the entry's fields and `prev_hash` (not `hash`),
    /// encoded as a JSON array: unambiguous whatever the fields hold.
    pub fn compute_hash(&self) -> String {
        let mut buf = Vec::with_capacity(512);
        self.canonical(&mut buf);
        hex::encode(Sha256::digest(&buf))
    }

    /// `[FORMAT, seq, at, actor_id, …, details, prev_hash]` as compact JSON
    /// (strings escaped by serde_json, `null` for a missing value).
    fn canonical(&self, out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, s: &str) {
            // Writing JSON into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *out, s);
        }
        fn opt(out: &mut Vec<u8>, s: &Option<String>) {
            match s {
                Some(s) => text(out, s),
                None => out.extend_from_slice(b"null"),
            }
        }
        let comma = |out: &mut Vec<u8>| out.push(b',');
        out.push(b'[');
        text(out, FORMAT);
        comma(out);
        out.extend_from_slice(self.seq.to_string().as_bytes());
        comma(out);
        text(out, &self.at);
        for o in [&self.actor_id, &self.actor_name, &self.role] {
            comma(out);
            opt(out, o);
        }
        for t in [&self.action, &self.object_type] {
            comma(out);
            text(out, t);
        }
        for o in [&self.object_id, &self.project_id] {
            comma(out);
            opt(out, o);
        }
        comma(out);
        text(out, &self.outcome);
        comma(out);
        opt(out, &self.client_addr);
        for t in [&self.details, &self.prev_hash] {
            comma(out);
            text(out, t);
        }
        out.push(b']');
    }

    /// Links the entry after `prev_hash` and sets its hash.
    pub fn seal(mut self, prev_hash: &str) -> Entry {
        self.prev_hash = prev_hash.to_string();
        self.hash = self.compute_hash();
        self
    }
}

/// The hub's signature over the chain's state at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    /// The hash of entry `seq`.
    pub hash: String,
    pub at: String,
    /// Ed25519 signature of [`Checkpoint::message`], hex.
    pub signature: String,
}

impl Checkpoint {
    pub fn message(seq: i64, hash: &str, at: &str) -> Vec<u8> {
        format!("{FORMAT} checkpoint\n{seq}\n{hash}\n{at}\n").into_bytes()
    }

    pub fn sign(key: &SigningKey, seq: i64, hash: &str, at: &str) -> Checkpoint {
        let sig = key.sign(&Checkpoint::message(seq, hash, at));
        Checkpoint {
            seq,
            hash: hash.to_string(),
            at: at.to_string(),
            signature: hex::encode(sig.to_bytes()),
        }
    }

    pub fn verify(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(&Checkpoint::message(self.seq, &self.hash, &self.at), &sig)
            .is_ok()
    }
}

/// What is wrong with a log, at which entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The entry's content does not match its hash: a field was changed.
    Changed { seq: i64 },
    /// The entry does not follow the one before it: an entry was inserted,
    /// deleted or moved here.
    Unlinked { seq: i64 },
    /// Sequence numbers jump: entries between were deleted.
    Gap { after: i64, next: i64 },
    /// A sequence number repeats or goes back: an entry was inserted or moved.
    OutOfOrder { seq: i64, after: i64 },
    /// A checkpoint's signature is not the hub's.
    BadSignature { seq: i64 },
    /// A signed checkpoint names another hash for this entry: the chain was
    /// rewritten from here or before.
    CheckpointMismatch { seq: i64 },
    /// A signed checkpoint (the export's own, or a witness's) names an entry
    /// the log no longer has: the tail was cut off.
    Truncated { seq: i64, last: i64 },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Changed { seq } => write!(
                f,
                "entry {seq}: its content does not match its hash (changed)"
            ),
            Problem::Unlinked { seq } => write!(
                f,
                "entry {seq}: does not follow the entry before it (inserted, deleted or moved)"
            ),
            Problem::Gap { after, next } => write!(
                f,
                "entries {}–{} are missing (deleted)",
                after + 1,
                next - 1
            ),
            Problem::OutOfOrder { seq, after } => write!(
                f,
                "entry {seq} comes after entry {after} (inserted or moved)"
            ),
            Problem::BadSignature { seq } => write!(
                f,
                "checkpoint at entry {seq}: the signature is not the hub's"
            ),
            Problem::CheckpointMismatch { seq } => write!(
                f,
                "checkpoint at entry {seq}: the signed hash differs from the log's (rewritten)"
            ),
            Problem::Truncated { seq, last } => write!(
                f,
                "checkpoint at entry {seq}, but the log ends at entry {last} (truncated)"
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub entries: usize,
    pub first: Option<i64>,
    pub last: Option<i64>,
    /// Checkpoints whose signature and hash were both verified.
    pub checkpoints: usize,
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a segment of the log: every entry's hash, the links between
/// consecutive entries (and the first one's, to `prev_of_first` when the
/// segment's predecessor is known: [`GENESIS`] for a log from its start),
/// the sequence numbers, every checkpoint of the export and of `witnessed`
/// (copies kept outside the hub) against the key and the entries.
pub fn verify(
    entries: &[Entry],
    checkpoints: &[Checkpoint],
    witnessed: &[Checkpoint],
    key: &VerifyingKey,
    prev_of_first: Option<&str>,
) -> Report {
    let mut problems = Vec::new();
    let sound = hashes_match(entries);
    let mut prev: Option<&Entry> = None;
    for (e, sound) in entries.iter().zip(&sound) {
        if !sound {
            problems.push(Problem::Changed { seq: e.seq });
        }
        match prev {
            Some(p) => {
                if e.seq <= p.seq {
                    problems.push(Problem::OutOfOrder {
                        seq: e.seq,
                        after: p.seq,
                    });
                } else if e.seq > p.seq + 1 {
                    problems.push(Problem::Gap {
                        after: p.seq,
                        next: e.seq,
                    });
                }
                if e.prev_hash != p.hash {
                    problems.push(Problem::Unlinked { seq: e.seq });
                }
            }
            None => {
                if let Some(h) = prev_of_first
                    && e.prev_hash != h
                {
                    problems.push(Problem::Unlinked { seq: e.seq });
                }
            }
        }
        prev = Some(e);
    }
    let last = entries.last().map(|e| e.seq);
    let first = entries.first().map(|e| e.seq);
    let mut by_seq = std::collections::HashMap::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        by_seq.entry(e.seq).or_insert(i);
    }
    let mut verified = 0;
    for c in checkpoints.iter().chain(witnessed) {
        if !c.verify(key) {
            problems.push(Problem::BadSignature { seq: c.seq });
            continue;
        }
        if last.is_some_and(|l| c.seq > l) || (last.is_none() && c.seq > 0) {
            problems.push(Problem::Truncated {
                seq: c.seq,
                last: last.unwrap_or(0),
            });
            continue;
        }
        if first.is_some_and(|f| c.seq < f) {
            // Before this segment: nothing to compare with.
            continue;
        }
        // The checkpoint's entry, found by its sequence number (the first
        // one carrying it, whatever the order problems above).
        match by_seq.get(&c.seq) {
            Some(&i) if entries[i].hash == c.hash && sound[i] => verified += 1,
            _ => problems.push(Problem::CheckpointMismatch { seq: c.seq }),
        }
    }
    problems.dedup();
    Report {
        entries: entries.len(),
        first,
        last,
        checkpoints: verified,
        problems,
    }
}

/// Whether each entry's content matches its hash, computed on every core
/// (the bulk of a verification).
fn hashes_match(entries: &[Entry]) -> Vec<bool> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || entries.len() < 4096 {
        return entries.iter().map(|e| e.compute_hash() == e.hash).collect();
    }
    let chunk = entries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = entries
            .chunks(chunk)
            .map(|part| {
                let handle = s.spawn(move || {
                    part.iter()
                        .map(|e| e.compute_hash() == e.hash)
                        .collect::<Vec<bool>>()
                });
                (part.len(), handle)
            })
            .collect();
        // A thread that failed proves nothing: its entries count as changed.
        parts
            .into_iter()
            .flat_map(|(n, h)| h.join().unwrap_or_else(|_| vec![false; n]))
            .collect()
    })
}

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Line {
    Header {
        format: String,
        /// The hash the first entry follows ([`GENESIS`] from the log's start).
        prev_hash: String,
        /// The hub's public key (hex), for information: verify against the
        /// key you hold, not this one.
        public_key: String,
    },
    Entry(Box<Entry>),
    Checkpoint(Checkpoint),
}

/// A parsed export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Export {
    pub prev_hash: Option<String>,
    pub public_key: Option<String>,
    pub entries: Vec<Entry>,
    pub checkpoints: Vec<Checkpoint>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ExportError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("line 1: not an audit export (expected a {FORMAT} header)")]
    NoHeader,
}

/// Writes an export: its header, the entries, the checkpoints.
pub fn write_export(
    prev_hash: &str,
    public_key: &VerifyingKey,
    entries: &[Entry],
    checkpoints: &[Checkpoint],
) -> String {
    let mut out = String::new();
    let mut push = |l: &Line| {
        out.push_str(&serde_json::to_string(l).unwrap_or_default());
        out.push('\n');
    };
    push(&Line::Header {
        format: FORMAT.to_string(),
        prev_hash: prev_hash.to_string(),
        public_key: hex::encode(public_key.to_bytes()),
    });
    for e in entries {
        push(&Line::Entry(Box::new(e.clone())));
    }
    for c in checkpoints {
        push(&Line::Checkpoint(c.clone()));
    }
    out
}

/// Reads an export (or a witness's file of checkpoints, which has no
/// header); errors name the line. Lines are parsed on every core.
pub fn read_export(text: &str, header_required: bool) -> Result<Export, ExportError> {
    let lines: Vec<&str> = text.lines().collect();
    let parsed = parse_lines(&lines);
    let mut out = Export::default();
    for (i, parsed) in parsed.into_iter().enumerate() {
        let line = i + 1;
        let parsed = match parsed {
            None => continue,
            Some(Ok(l)) => l,
            Some(Err(message)) => return Err(ExportError::Line { line, message }),
        };
        match parsed {
            Line::Header {
                format,
                prev_hash,
                public_key,
            } => {
                if format != FORMAT {
                    return Err(ExportError::Line {
                        line,
                        message: format!("format {format:?}, this verifier reads {FORMAT}"),
                    });
                }
                out.prev_hash = Some(prev_hash);
                out.public_key = Some(public_key);
            }
            Line::Entry(e) => out.entries.push(*e),
            Line::Checkpoint(c) => out.checkpoints.push(c),
        }
        if line == 1 && header_required && out.prev_hash.is_none() {
            return Err(ExportError::NoHeader);
        }
    }
    if header_required && out.prev_hash.is_none() {
        return Err(ExportError::NoHeader);
    }
    Ok(out)
}

type Parsed = Option<Result<Line, String>>;

/// Each line parsed (`None` for a blank one), in order, on every core.
fn parse_lines(lines: &[&str]) -> Vec<Parsed> {
    let one = |raw: &&str| -> Parsed {
        if raw.trim().is_empty() {
            return None;
        }
        // Entries, as written, open with their tag: read them straight into
        // an `Entry` (the tag is an ignored field), skipping the buffering
        // an internally tagged enum needs (twice as fast).
        if raw.starts_with(r#"{"type":"entry","#) {
            return Some(
                serde_json::from_str::<Entry>(raw)
                    .map(|e| Line::Entry(Box::new(e)))
                    .map_err(|e| e.to_string()),
            );
        }
        Some(serde_json::from_str::<Line>(raw).map_err(|e| e.to_string()))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || lines.len() < 4096 {
        return lines.iter().map(one).collect();
    }
    let chunk = lines.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = lines
            .chunks(chunk)
            .map(|part| {
                (
                    part,
                    s.spawn(move || part.iter().map(one).collect::<Vec<_>>()),
                )
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|(part, h)| {
                // A thread that failed: parse its part again here.
                h.join().unwrap_or_else(|_| part.iter().map(one).collect())
            })
            .collect()
    })
}

/// What a witness finds wrong when it compares the checkpoints it holds
/// with those the hub publishes now.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WitnessError {
    #[error("checkpoint {seq}: the signature is not the hub's key")]
    BadSignature { seq: i64 },
    #[error(
        "checkpoint {seq}: the hub now publishes hash {published} where the witness holds {held}: the log was rewritten"
    )]
    Fork {
        seq: i64,
        held: String,
        published: String,
    },
    #[error(
        "checkpoint {seq} held by the witness is no longer published (the hub's last is {last}): the log was cut or rolled back"
    )]
    Missing { seq: i64, last: i64 },
}

/// A witness's step: checks every published checkpoint against the key and
/// against the checkpoints it already holds (same sequence number, same
/// hash; none of its own gone), and returns the new ones to keep. Any
/// problem is returned as is, and nothing should be kept.
pub fn witness(
    held: &[Checkpoint],
    published: &[Checkpoint],
    key: &VerifyingKey,
) -> Result<Vec<Checkpoint>, Vec<WitnessError>> {
    let mut problems = Vec::new();
    let mut by_seq = std::collections::BTreeMap::new();
    for c in published {
        if c.verify(key) {
            by_seq.insert(c.seq, c);
        } else {
            problems.push(WitnessError::BadSignature { seq: c.seq });
        }
    }
    let last = by_seq.keys().next_back().copied().unwrap_or(0);
    let mut known = std::collections::HashSet::new();
    for h in held {
        known.insert(h.seq);
        match by_seq.get(&h.seq) {
            Some(p) if p.hash == h.hash => {}
            Some(p) => problems.push(WitnessError::Fork {
                seq: h.seq,
                held: h.hash.clone(),
                published: p.hash.clone(),
            }),
            None => problems.push(WitnessError::Missing { seq: h.seq, last }),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(by_seq
        .into_values()
        .filter(|c| !known.contains(&c.seq))
        .cloned()
        .collect())
}

/// Checkpoints as a witness keeps them: one export line each.
pub fn write_checkpoints(checkpoints: &[Checkpoint]) -> String {
    let mut out = String::new();
    for c in checkpoints {
        out.push_str(&serde_json::to_string(&Line::Checkpoint(c.clone())).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// Parses a hex Ed25519 public key.
pub fn public_key(hex_key: &str) -> Result<VerifyingKey, String> {
    let bytes = hex::decode(hex_key.trim()).map_err(|e| format!("public key: not hex: {e}"))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "public key: 32 bytes expected".to_string())?;
    VerifyingKey::from_bytes(&arr).map_err(|e| format!("public key: {e}"))
}

#[cfg(test)]
mod tests;
