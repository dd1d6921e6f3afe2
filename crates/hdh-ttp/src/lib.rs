//! The trusted third party (TTP) of the pseudonymisation chain.
//!
//! It holds the level-1 key (see `hdh_pseudo::level1`) and nothing else of
//! the hub: producers send it already-normalised identifying fields over
//! HTTP and get level-1 pseudonyms back ([`server`], [`TtpClient`]), or, to
//! work offline, receive the key in a sealed package signed by the TTP
//! ([`issue_key_package`]). The hub never links this crate into its server.
//!
//! Everything lives in one directory (the key store, see [`store`]): the
//! level-1 key and the TTP's Ed25519 signing key (files of mode 0600), the
//! producers (names and SHA-256 of their bearer tokens) and an append-only
//! audit log (one JSON line per action, fsynced, never an identifier, a
//! token or a key).

pub mod audit;
pub mod client;
pub mod server;
pub mod store;

use std::path::PathBuf;

pub use client::TtpClient;
pub use hdh_pseudo::sealed::SealedKeyPackage;
pub use server::{TtpConfig, TtpState, router, serve, serve_listener};
pub use store::{InitOutcome, add_producer, init, issue_key_package, public_key_hex};

/// Most items in one `POST /v1/pseudonymise` request (the client splits).
pub const MAX_ITEMS: usize = 10_000;
/// Most parts in one item.
pub const MAX_PARTS: usize = 8;
/// Most bytes (UTF-8) in one part.
pub const MAX_PART_BYTES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum TtpError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the key store {0} already holds keys; refusing to overwrite them")]
    AlreadyInitialised(PathBuf),
    #[error("the key store {0} has no keys (run `hdh ttp init` first)")]
    NotInitialised(PathBuf),
    #[error("{0} is readable by other users (mode {1:o}); a key file must be 0600")]
    KeyFileMode(PathBuf, u32),
    #[error(transparent)]
    Pseudo(#[from] hdh_pseudo::PseudoError),
    #[error("a producer name must be 1 to 64 characters among A-Z, a-z, 0-9, '_' and '-'")]
    BadProducerName,
    #[error("the producer {0} already exists")]
    ProducerExists(String),
    #[error("unknown producer {0}: add it first (`hdh ttp add-producer`)")]
    UnknownProducer(String),
    #[error("the producers file is invalid: {0}")]
    ProducersFile(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the trusted third party refused the token (401)")]
    Unauthorised,
    #[error("the trusted third party answered {status}: {message}")]
    Refused { status: u16, message: String },
    #[error("the trusted third party could not be reached: {0}")]
    Transport(String),
    #[error("the trusted third party's answer is invalid: {0}")]
    BadResponse(String),
}

impl TtpError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        TtpError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Checks one item of a pseudonymisation request; the message names the
/// part, never its value.
pub(crate) fn check_item(parts: &[String]) -> Result<(), String> {
    if parts.is_empty() {
        return Err("has no parts".into());
    }
    if parts.len() > MAX_PARTS {
        return Err(format!(
            "has {} parts, at most {MAX_PARTS} allowed",
            parts.len()
        ));
    }
    for (j, p) in parts.iter().enumerate() {
        if p.is_empty() {
            return Err(format!("part {j} is empty"));
        }
        if p.len() > MAX_PART_BYTES {
            return Err(format!(
                "part {j} is {} bytes, at most {MAX_PART_BYTES} allowed",
                p.len()
            ));
        }
    }
    Ok(())
}
