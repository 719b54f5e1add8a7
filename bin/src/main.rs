//! The `microdash` binary: parse the command line, start logging, run the chosen command.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = microdash::cli::Cli::parse();
    let result = match microdash::telemetry::init(cli.log_format, &cli.log) {
        Ok(()) => microdash::run(cli).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line; never a backtrace for a user error.
            eprintln!("microdash: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
