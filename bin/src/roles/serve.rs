//! `microdash serve`: every role in one process; on the embedded default unless
//! `--database-url`/`--redis-url` say otherwise. Its builder is [`App::build`], which builds
//! every role's part with the builders of the sibling modules.

use anyhow::Context;
use microdash_domain::token::TokenSecret;

use super::{announce, announce_mqtt, shutdown_signal};
use crate::app::App;
use crate::config::ServeArgs;

/// Runs the embedded deployment until SIGTERM or Ctrl-C.
///
/// # Errors
/// When start-up fails (database, port) or the server fails.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let app = App::build(&args).await?;
    let url = format!("http://{}", app.http_addr().context("serve always listens")?);
    if let Some((tenant, secret)) = app.admin().ensure_demo_tenant().await? {
        welcome(&url, tenant.slug.as_str(), &secret);
    }
    announce(&url);
    announce_mqtt(&app);
    app.run(shutdown_signal()).await
}

#[allow(clippy::print_stdout)]
fn welcome(url: &str, tenant: &str, secret: &TokenSecret) {
    let token = secret.expose();
    println!(
        "\nFirst start: created tenant '{tenant}' and an API token for it (shown only now, keep it):\n\n    {token}\n\n\
         Push a sample and read it back:\n\n    \
         curl -X POST {url}/api/v1/metrics -H 'Authorization: Bearer {token}' \\\n        \
         -H 'Content-Type: application/json' -d '{{\"metric_name\":\"cpu\",\"value\":42.5,\"agent_id\":\"laptop\"}}'\n    \
         curl '{url}/api/v1/metrics/query?name=cpu' -H 'Authorization: Bearer {token}'\n\n\
         More tokens: microdash token create --tenant {tenant}\n"
    );
}
