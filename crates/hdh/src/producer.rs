//! `hdh producer …`: the producer's tool (the same commands as the
//! standalone `hdh-producer` binary; the definitions live in `hdh-producer`).

use anyhow::{Context, Result};

pub use hdh_producer::cli::ProducerCommand;

/// Runs a producer command off the async runtime (it blocks: file I/O,
/// blocking HTTP clients).
pub async fn run(command: ProducerCommand) -> Result<()> {
    tokio::task::spawn_blocking(move || hdh_producer::cli::run(command))
        .await
        .context("the producer command stopped unexpectedly")?
        .map_err(anyhow::Error::from)
}
