//! `hdh-producer`: the producer's tool alone (no DataFusion, no hub), with
//! exactly the commands of `hdh producer …`.

use clap::Parser;
use hdh_producer::cli::{ProducerCommand, run};

#[derive(Parser)]
#[command(
    name = "hdh-producer",
    version,
    about = "hdh producer tool — prepare, verify and send delivery packages"
)]
struct Cli {
    #[command(subcommand)]
    command: ProducerCommand,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
