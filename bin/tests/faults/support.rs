//! The production stack as real processes for the fault tests: a MariaDB database and a Redis
//! key prefix of the test's own (removed again on drop), `microdash` roles started from the
//! built binary, a load sender, and a TCP proxy that can cut a role off its database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// The MariaDB server (no database in the URL).
pub fn mysql_url() -> String {
    std::env::var("MICRODASH_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".to_owned())
}

/// The shared Redis.
pub fn redis_url() -> String {
    std::env::var("MICRODASH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn server() -> MySqlConnection {
    let url = mysql_url();
    MySqlConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("the fault tests need MariaDB at {url} (MICRODASH_TEST_MYSQL_URL): {e}"))
}

/// One test's database and key prefix, and the processes it started.
pub struct Stack {
    pub db: String,
    pub redis: String,
    pub prefix: String,
    pub dir: TempDir,
    roles: Vec<Role>,
}

impl Stack {
    /// A fresh database on the shared MariaDB and a fresh prefix on `redis` (the shared Redis
    /// unless a test brings its own).
    pub async fn new(redis: Option<String>) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!("md_fault_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let mut conn = server().await;
        sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`"))).execute(&mut conn).await.unwrap();
        Self {
            db: name,
            redis: redis.unwrap_or_else(redis_url),
            prefix: format!("microdash-fault:{}:", uuid::Uuid::new_v4()),
            dir: TempDir::new().unwrap(),
            roles: Vec::new(),
        }
    }

    /// The database URL of this test.
    pub fn db_url(&self) -> String {
        format!("{}/{}", mysql_url(), self.db)
    }

    /// `--database-url`, `--redis-url`, `--redis-prefix` and a short claim timeout, so a dead
    /// worker's batches are taken over in two seconds rather than thirty.
    pub fn common(&self, db_url: &str) -> Vec<String> {
        [
            "--database-url",
            db_url,
            "--redis-url",
            &self.redis,
            "--redis-prefix",
            &self.prefix,
            "--queue-claim-idle",
            "2",
            "--secret",
            "fault-tests-secret-of-at-least-32-characters",
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// Runs a `microdash` command to completion and returns its stdout.
    pub async fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_microdash")).args(args).output().await.unwrap();
        assert!(out.status.success(), "microdash {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A tenant and a token for it; the schema is created on the way.
    pub async fn token(&self) -> String {
        let db = self.db_url();
        self.cli(&["tenant", "create", "acme", "--database-url", &db]).await;
        self.cli(&[
            "tenant",
            "set-quota",
            "acme",
            "--samples-per-minute",
            "1000000000",
            "--database-url",
            &db,
        ])
        .await;
        let out = self.cli(&["token", "create", "--tenant", "acme", "--json", "--database-url", &db]).await;
        let v: Value = serde_json::from_str(&out).unwrap();
        v["token"].as_str().unwrap().to_string()
    }

    /// Starts a role on `db_url` (the test's database, or a proxy in front of it). An `api`
    /// role is returned once it listens.
    pub async fn start(&mut self, role: &str, db_url: &str) -> usize {
        let n = self.roles.len();
        let log = self.dir.path().join(format!("{role}-{n}.log"));
        let mut args = vec![role.to_string()];
        args.extend(self.common(db_url));
        if role == "api" {
            args.extend(["--http-addr".into(), "127.0.0.1:0".into()]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_microdash"))
            .args(&args)
            .env("MICRODASH_LOG", "info,sqlx=warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = if role == "api" {
            let line = tokio::time::timeout(Duration::from_secs(60), async {
                while let Some(line) = lines.next_line().await.unwrap() {
                    if let Some(rest) = line.strip_prefix("microdash listening on ") {
                        return Some(rest.split_whitespace().next().unwrap().to_string());
                    }
                }
                None
            })
            .await;
            match line {
                Ok(Some(url)) => Some(url),
                _ => panic!("{role} did not start: {}", std::fs::read_to_string(&log).unwrap_or_default()),
            }
        } else {
            None
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.roles.push(Role { child, url, log });
        n
    }

    /// The URL of the api role `n`.
    pub fn url(&self, n: usize) -> String {
        self.roles[n].url.clone().expect("an api role")
    }

    /// SIGKILL: no draining, no goodbye.
    pub async fn kill9(&mut self, n: usize) {
        self.roles[n].child.kill().await.unwrap();
    }

    /// SIGTERM, and waits for a clean exit.
    pub async fn stop(&mut self, n: usize) {
        let pid = self.roles[n].child.id().expect("running");
        Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.roles[n].child.wait()).await;
        assert!(matches!(status, Ok(Ok(s)) if s.success()), "role {n} exits cleanly: {status:?}");
    }

    /// The log of role `n`.
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(&self.roles[n].log).unwrap_or_default()
    }

    /// Rows in `table` of the test's database.
    pub async fn count(&self, table: &str) -> i64 {
        let mut conn = MySqlConnection::connect(&self.db_url()).await.unwrap();
        let n: (i64,) = sqlx::query_as(AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        n.0
    }

    /// Runs SQL on the test's database.
    pub async fn sql(&self, statement: &str) {
        let mut conn = MySqlConnection::connect(&self.db_url()).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(statement.to_string())).execute(&mut conn).await.unwrap();
    }

    /// Waits until the samples table holds `n` rows, and says what the roles logged if not.
    pub async fn wait_for_samples(&self, n: i64, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let have = self.count("samples").await;
            if have == n {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                let logs: Vec<String> = (0..self.roles.len()).map(|i| self.log(i)).collect();
                panic!("expected {n} stored samples, have {have}; logs:\n{}", logs.join("\n----\n"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for role in &mut self.roles {
            let _ = role.child.start_kill();
        }
        let (db, redis, prefix) = (self.db.clone(), self.redis.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                if let Ok(mut conn) = MySqlConnection::connect(&mysql_url()).await {
                    let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{db}`")))
                        .execute(&mut conn)
                        .await;
                }
            });
            if let Ok(mut con) = redis::Client::open(redis.as_str()).and_then(|c| c.get_connection()) {
                let keys: Vec<String> =
                    redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut con).unwrap_or_default();
                if !keys.is_empty() {
                    let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut con);
                }
            }
        })
        .join();
    }
}

/// A started role.
pub struct Role {
    child: Child,
    url: Option<String>,
    log: PathBuf,
}

/// The samples of batch `b`: its own series (agent `b<b>`), `per` distinct milliseconds, and a
/// dedupe id each, so "stored exactly once" is checkable in both tables.
pub fn batch_body(b: usize, per: usize) -> Value {
    let base = chrono::Utc::now().timestamp_millis() - 600_000;
    let items: Vec<Value> = (0..per)
        .map(|i| {
            json!({
                "metric_name": "load",
                "agent_id": format!("b{b}"),
                "value": i as f64,
                "timestamp": base + i as i64,
                "dedupe_id": format!("b{b}-{i}"),
            })
        })
        .collect();
    Value::Array(items)
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct Sent {
    /// Samples that got a 202.
    pub accepted: AtomicU64,
    /// Requests answered 503.
    pub unavailable: AtomicU64,
}

/// Posts batches `batches` (of `per` samples) to the api `urls` round-robin with `concurrency`
/// requests in flight. A 503 is retried after a pause when `retry` is set (so every batch ends
/// up accepted), otherwise counted and skipped. Any other answer fails the test.
pub async fn send(
    urls: Vec<String>,
    token: String,
    batches: std::ops::Range<usize>,
    per: usize,
    concurrency: usize,
    retry: bool,
    sent: Arc<Sent>,
) {
    let client = reqwest::Client::new();
    let next = Arc::new(Mutex::new(batches));
    let workers = (0..concurrency).map(|w| {
        let (client, next, urls, token, sent) =
            (client.clone(), next.clone(), urls.clone(), token.clone(), sent.clone());
        tokio::spawn(async move {
            loop {
                let Some(b) = next.lock().unwrap().next() else { return };
                let url = format!("{}/api/v1/metrics", urls[(b + w) % urls.len()]);
                let body = batch_body(b, per).to_string();
                loop {
                    let reply = client
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match reply.map(|r| r.status().as_u16()) {
                        Ok(202) => {
                            sent.accepted.fetch_add(per as u64, Ordering::SeqCst);
                            break;
                        }
                        Ok(503) | Err(_) => {
                            sent.unavailable.fetch_add(1, Ordering::SeqCst);
                            if !retry {
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Ok(other) => panic!("unexpected status {other} for batch {b}"),
                    }
                }
            }
        })
    });
    for w in futures::future::join_all(workers).await {
        w.unwrap();
    }
}

/// A TCP proxy in front of MariaDB that a test can take down (every connection closed, new
/// ones refused) and bring back, to play a database outage for one role only.
pub struct Proxy {
    pub addr: SocketAddr,
    down: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Forwards an ephemeral port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (d, c) = (down.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if d.load(Ordering::SeqCst) {
                    continue; // dropped: the client sees the connection closed at once
                }
                let upstream = upstream.clone();
                c.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { addr, down, conns, accept }
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// A Redis server of the test's own on a free port, which it can stop and start again with its
/// data (append-only file, fsync always).
pub struct OwnRedis {
    pub port: u16,
    dir: TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts `redis-server` on a free port.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut r = Self { port, dir: TempDir::new().unwrap(), child: None };
        r.up().await;
        r
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again), on the same port with the same data.
    pub async fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (Debian package redis-server)");
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// Stops it with SIGTERM (it writes its append-only file and exits).
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
