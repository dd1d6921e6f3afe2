//! The producer's tool (`hdh producer …`, or the standalone `hdh-producer`
//! binary, which links neither DataFusion nor the hub).
//!
//! * [`prepare`]: on the producer's premises, reads each table's CSV as a
//!   stream against its *input* Table Schema (the one with
//!   `hdh:pseudonymisation` properties), validates it, normalises and
//!   pseudonymises the identifiers at level 1 (a sealed key package opened
//!   offline, or the trusted third party online), drops direct identifiers,
//!   coarsens quasi-identifiers, and writes a signed delivery package (see
//!   `hdh-package`): `T.parquet`, the published `T.schema.json`, the
//!   manifest and its signature. Memory is bounded by a few batches whatever
//!   the input's size; parsing and the rest run on two threads.
//! * [`verify`]: checks a package's signature and every file's checksum.
//! * [`send`]: uploads a package to the hub in resumable chunks, then follows
//!   its ingestion.
//! * [`cli`]: the command line shared by both binaries.
//!
//! No identifier value (NIR, name, …) ever appears in a message of this
//! crate: errors name the file, line, column, field and reason.

pub mod cli;
pub mod prepare;
pub mod send;
mod transform;
pub mod verify;

/// The text encoding of a [`Dialect`].
pub use hdh_ingest::Encoding;
pub use prepare::{
    Dialect, Level1Source, NoProgress, PrepareError, PrepareOptions, Prepared, Progress,
    TableInput, prepare, prepare_table,
};
pub use send::{Auth, SendError, SendOptions, SendOutcome, register_key, send};
pub use verify::{VerifyError, verify_package};
