//! `microdash serve`: every role in one process; on the embedded default unless
//! `--database-url`/`--redis-url` say otherwise.

use anyhow::Context;
use microdash_domain::token::TokenSecret;

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

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "Cannot listen for Ctrl-C.");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "Cannot listen for SIGTERM.");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down."),
        () = term => tracing::info!("SIGTERM received; shutting down."),
    }
}

/// Prints where devices publish, when this process runs the MQTT endpoint.
#[allow(clippy::print_stdout)]
pub(crate) fn announce_mqtt(app: &App) {
    if let Some(addr) = app.mqtt_addr() {
        let tls = app.mqtts_addr().map_or(String::new(), |a| format!(" and mqtts://{a}"));
        println!("MQTT device endpoint on mqtt://{addr}{tls} (user name: tenant slug, password: API token)");
    }
}

// The banner and the address line are the command's output, for people and for scripts.
#[allow(clippy::print_stdout)]
pub(crate) fn announce(url: &str) {
    println!("microdash listening on {url} (API docs: {url}/docs)");
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
