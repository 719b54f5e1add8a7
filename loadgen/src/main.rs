//! The `microdash-loadgen` binary: parse the command line, start logging, run the load.

use std::process::ExitCode;

use clap::Parser;
use microdash_loadgen::cli::{Cli, init_logging};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match init_logging(cli.log_format, &cli.log) {
        Ok(()) => microdash_loadgen::run(cli.args).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("microdash-loadgen: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
