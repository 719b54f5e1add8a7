//! The `microdash` binary: parse the command line, start logging, run the chosen command.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = microdash::cli::Cli::parse();
    microdash::telemetry::init(cli.log_format, &cli.log)?;
    microdash::run(cli).await
}
