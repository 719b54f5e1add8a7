//! The in-process test harness shared by the whole-app tests (`bin/tests/api`) and the BDD
//! suite (`features/`): a real [`App`] built by [`App::build`] on a fresh SQLite database in a
//! temporary directory, on an ephemeral port, with typed helpers. Behind the `testing` cargo
//! feature, so that the binary neither compiles it nor links its HTTP client.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::cli::{Cli, Command};
use crate::config::ServeArgs;

/// `serve` options for a test: ephemeral port, data in `dir`, everything else default.
///
/// # Panics
/// When `dir` is not valid UTF-8.
pub fn serve_args(dir: &Path, extra: &[&str]) -> ServeArgs {
    let base =
        ["microdash", "serve", "--http-addr", "127.0.0.1:0", "--data-dir", dir.to_str().expect("utf-8 path")];
    match Cli::parse_from(base.iter().chain(extra)).command {
        Command::Serve(args) => args,
        _ => unreachable!("parsed a serve command"),
    }
}

/// A running application and an HTTP client for it.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// Token of the `demo` tenant.
    pub token: String,
    /// HTTP client.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    app_admin: microdash_usecases::AdminService,
    _dir: TempDir,
}

/// Builds and starts an application on a fresh database with a `demo` tenant.
///
/// # Panics
/// When the application cannot be built: a test cannot go on without it.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with further `serve` flags.
///
/// # Panics
/// As [`spawn_app`].
pub async fn spawn_app_with(extra: &[&str]) -> TestApp {
    let dir = TempDir::new().expect("temporary directory");
    let args = serve_args(dir.path(), extra);
    let app = App::build(&args).await.expect("app builds");
    let (_, secret) = app.admin().ensure_demo_tenant().await.expect("store answers").expect("fresh database");
    // A second admin over the same database, for test set-up while the app runs.
    let app_admin = crate::admin::open_admin(&args.store).await.expect("admin opens the database");
    let url = format!("http://{}", app.http_addr().expect("serve listens"));
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    TestApp {
        url,
        token: secret.expose().to_string(),
        client: reqwest::Client::new(),
        stop: Some(stop),
        handle: Some(handle),
        app_admin,
        _dir: dir,
    }
}

impl TestApp {
    /// Creates a tenant and returns a new token for it.
    ///
    /// # Panics
    /// When the tenant cannot be created.
    pub async fn tenant_with_token(&self, slug: &str) -> String {
        self.app_admin.create_tenant(slug, None).await.expect("tenant created");
        let (_, secret) = self.app_admin.create_token(slug, "test").await.expect("token created");
        secret.expose().to_string()
    }

    /// `POST /api/v1/metrics` with a bearer token; returns status and JSON body.
    ///
    /// # Panics
    /// When the server does not answer with JSON.
    pub async fn post_metrics(&self, token: &str, body: &str) -> (u16, Value) {
        let resp = self
            .client
            .post(format!("{}/api/v1/metrics", self.url))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("server answers");
        (resp.status().as_u16(), resp.json().await.expect("JSON reply"))
    }

    /// `GET /api/v1/metrics/query?{params}`; returns status and JSON body.
    ///
    /// # Panics
    /// When the server does not answer with JSON.
    pub async fn query(&self, token: &str, params: &str) -> (u16, Value) {
        get_json(&self.client, &format!("{}/api/v1/metrics/query?{params}", self.url), token).await
    }

    /// How many points of `metric` the token's tenant can read (over the last day).
    ///
    /// # Panics
    /// When the query fails.
    pub async fn count(&self, token: &str, metric: &str) -> u64 {
        let since = chrono::Utc::now().timestamp_millis() - 86_400_000;
        let (status, q) = self.query(token, &format!("name={metric}&start={since}&limit=1")).await;
        assert_eq!(status, 200, "query failed: {q}");
        q["total"].as_u64().expect("total")
    }

    /// Stops the app the way SIGTERM would, and waits until it has drained.
    ///
    /// # Panics
    /// When the shutdown is not clean.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle.await.expect("app task").expect("clean shutdown");
        }
    }
}

/// `GET` with `X-API-Token`; returns status and JSON body.
///
/// # Panics
/// When the server does not answer with JSON.
pub async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let resp = client.get(url).header("X-API-Token", token).send().await.expect("server answers");
    (resp.status().as_u16(), resp.json().await.expect("JSON reply"))
}

/// Polls `check` until it returns `Some`, for at most `within`: waiting for a result without
/// a fixed sleep.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
