//! The command line of `microdash-loadgen` and its logging set-up: the load options of
//! [`LoadgenArgs`] plus `--log`/`--log-format`, which read the same `MICRODASH_*` variables as
//! the server's. Logs go to stderr; stdout is for the report.

use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::LoadgenArgs;

/// Push synthetic samples at a running microdash server and measure throughput and latency.
#[derive(Debug, Parser)]
#[command(name = "microdash-loadgen", version)]
pub struct Cli {
    /// Log line format.
    #[arg(long, env = "MICRODASH_LOG_FORMAT", value_enum, default_value = "human")]
    pub log_format: LogFormat,

    /// Which log lines to show, as `tracing` filter directives (e.g. `warn`, `info,reqwest=debug`).
    #[arg(long, env = "MICRODASH_LOG", default_value = "info")]
    pub log: String,

    /// What to send, where, and how to report it.
    #[command(flatten)]
    pub args: LoadgenArgs,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber, writing to stderr. Call once, first thing in `main`.
///
/// # Errors
/// When `filter` is not a valid `tracing` filter directive.
pub fn init_logging(format: LogFormat, filter: &str) -> anyhow::Result<()> {
    let filter = EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("invalid --log filter '{filter}': {e} (example: info,reqwest=debug)"))?;
    let colour =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn load_options_parse_at_the_top_level() {
        let cli =
            Cli::try_parse_from(["microdash-loadgen", "--token", "t", "--samples", "10", "--log", "warn"])
                .expect("parses");
        assert_eq!((cli.args.samples, cli.log.as_str()), (10, "warn"));
        assert_eq!(cli.log_format, LogFormat::Human);
    }
}
