//! The options of `microdash-loadgen`, their parsing and their validation.

use std::convert::Infallible;
use std::time::Duration;

use microdash_domain::MetricName;
use microdash_domain::duration::parse_duration;
use microdash_domain::token::TokenSecret;

/// Most samples one request may carry: the server's default `max_items`.
const MAX_BATCH: usize = 10_000;

/// Options of `microdash-loadgen`.
#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Base URL of the server to load.
    #[arg(long, env = "MICRODASH_LOADGEN_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,

    /// API token to push and query with (`serve` prints one on its first start).
    #[arg(long, env = "MICRODASH_TOKEN", value_parser = parse_token)]
    pub token: TokenSecret,

    /// Samples to send in all.
    #[arg(long, default_value_t = 2_000_000)]
    pub samples: u64,

    /// Samples per request (1 to 10,000).
    #[arg(long, default_value_t = 1_000)]
    pub batch: usize,

    /// Requests in flight at once, each on its own keep-alive connection.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,

    /// Target rate in samples per second; requests are paced to hold it and the visibility
    /// latency (202 to queryable) is measured. Without it, samples are sent as fast as the
    /// server takes them.
    #[arg(long)]
    pub rate: Option<f64>,

    /// Stop sending after this long even if fewer than `--samples` were sent, e.g. `30s`, `2m`.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Distinct series to spread the samples over, sent as agents `loadgen-0`, `loadgen-1`, ...
    #[arg(long, default_value_t = 100)]
    pub series: u64,

    /// Metric name to send; default `loadgen.<run id>`, new for every run so that a run counts
    /// only its own samples.
    #[arg(long)]
    pub metric: Option<String>,

    /// Give every sample a unique `dedupe_id`, to measure the cost of deduplication.
    #[arg(long)]
    pub dedupe: bool,

    /// Process id of the server, when it runs on this machine: its CPU time and memory
    /// (peak and current RSS, from `/proc`) are added to the report.
    #[arg(long)]
    pub server_pid: Option<u32>,

    /// How long to wait, after the last sample was accepted, for everything to be queryable
    /// before reporting the missing samples as an error, e.g. `120s`.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub drain_timeout: Duration,

    /// Print the report as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,

    /// Live-stream mode: keep this many SSE streams open (opened with stream tickets, like a
    /// browser) while sending one sample per request at `--rate` (default 1000/s) for
    /// `--duration` (default 30s); report the time from each 202 to the sample's arrival on
    /// every stream and, with `--server-pid`, the server's RSS with the streams open and idle.
    /// `--samples` and `--batch` do not apply.
    #[arg(long, value_name = "STREAMS")]
    pub sse: Option<usize>,

    /// MQTT mode (`--mqtt` and its options).
    #[command(flatten)]
    pub mqtt: super::mqtt::MqttArgs,
}

impl LoadgenArgs {
    /// Checks what clap cannot, with messages that say what to change.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> anyhow::Result<()> {
        let check = |ok: bool, message: String| if ok { Ok(()) } else { Err(anyhow::anyhow!(message)) };
        check(self.url.starts_with("http://"), format!("--url '{}' must start with http://", self.url))?;
        check(self.samples > 0, "--samples must be at least 1".into())?;
        check(
            (1..=MAX_BATCH).contains(&self.batch),
            format!("--batch {} must be between 1 and {MAX_BATCH}", self.batch),
        )?;
        check(self.concurrency > 0, "--concurrency must be at least 1".into())?;
        check(self.series > 0, "--series must be at least 1".into())?;
        check(self.sse != Some(0), "--sse must be at least 1 stream".into())?;
        if let Some(rate) = self.rate {
            check(rate.is_finite() && rate > 0.0, format!("--rate {rate} must be a positive number"))?;
        }
        if let Some(d) = self.duration {
            check(!d.is_zero(), "--duration must be longer than zero".into())?;
        }
        if let Some(name) = &self.metric {
            MetricName::new(name.as_str()).map_err(|e| anyhow::anyhow!("--metric '{name}' {}", e.message))?;
        }
        Ok(())
    }

    /// The metric name of this run: `--metric`, or a fresh `loadgen.<run id>`.
    pub fn metric_name(&self) -> String {
        self.metric.clone().unwrap_or_else(|| {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S");
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("loadgen.{stamp}_{}", &random[..8])
        })
    }

    /// The URL without a trailing slash, ready to append API paths to.
    pub fn base_url(&self) -> &str {
        self.url.trim_end_matches('/')
    }
}

fn parse_token(text: &str) -> Result<TokenSecret, Infallible> {
    Ok(TokenSecret::new(text))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: LoadgenArgs,
    }

    #[test]
    fn defaults_match_the_documented_run() {
        let w = Wrapper::try_parse_from(["x", "--token", "mdt_x"]).unwrap();
        let a = w.args;
        assert_eq!((a.samples, a.batch, a.concurrency, a.series), (2_000_000, 1_000, 4, 100));
        assert_eq!(a.drain_timeout, Duration::from_secs(120));
        assert!(a.rate.is_none() && a.duration.is_none());
        assert!(a.validate().is_ok());
        assert!(!format!("{a:?}").contains("mdt_x"), "the token must not be printed");
    }

    #[test]
    fn validation_names_the_bad_flag() {
        let parse = |extra: &[&str]| {
            let argv = [&["x", "--token", "t"], extra].concat();
            Wrapper::try_parse_from(argv).unwrap().args.validate().unwrap_err().to_string()
        };
        assert!(parse(&["--batch", "20000"]).contains("--batch"));
        assert!(parse(&["--rate", "0"]).contains("--rate"));
        assert!(parse(&["--metric", "1bad"]).contains("--metric"));
        assert!(parse(&["--url", "https://x"]).contains("http://"));
    }

    #[test]
    fn default_metric_names_are_valid_and_differ_between_runs() {
        let a = Wrapper::try_parse_from(["x", "--token", "t"]).unwrap().args;
        let (one, two) = (a.metric_name(), a.metric_name());
        assert_ne!(one, two);
        assert!(MetricName::new(one).is_ok());
    }
}
