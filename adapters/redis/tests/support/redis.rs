//! Test harness: a unique key prefix per test on the real Redis, deleted again on drop (also
//! when the test panics).

use std::time::Duration;

use microdash_adapter_redis::RedisOptions;

/// Where the tests find Redis.
pub fn redis_url() -> String {
    std::env::var("MICRODASH_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A test's private corner of Redis.
pub struct TestRedis {
    pub options: RedisOptions,
}

impl TestRedis {
    /// Options with a fresh prefix and short timeouts.
    ///
    /// # Panics
    /// When Redis cannot be reached: these tests must fail, not pass, without it.
    pub fn new() -> Self {
        let url = redis_url();
        let reachable = redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if let Err(e) = reachable {
            panic!("Redis is not reachable at {url} (set MICRODASH_TEST_REDIS_URL): {e}");
        }
        let options = RedisOptions {
            url,
            key_prefix: format!("microdash-test:{}:", uuid::Uuid::new_v4()),
            stream_max_len: 10_000,
            consumer_group: "workers".into(),
            consumer_name: "c1".into(),
            claim_idle: Duration::from_millis(200),
            max_deliveries: 3,
            response_timeout: Duration::from_secs(2),
        };
        Self { options }
    }

    /// The same options under another consumer name.
    pub fn consumer(&self, name: &str) -> RedisOptions {
        RedisOptions { consumer_name: name.into(), ..self.options.clone() }
    }

    /// A plain connection for poking at keys directly.
    pub fn raw(&self) -> redis::Connection {
        redis::Client::open(self.options.url.as_str()).unwrap().get_connection().unwrap()
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let Ok(mut con) = redis::Client::open(self.options.url.as_str()).and_then(|c| c.get_connection())
        else {
            return;
        };
        let pattern = format!("{}*", self.options.key_prefix);
        let keys: Vec<String> =
            match redis::cmd("SCAN").cursor_arg(0).arg("MATCH").arg(&pattern).clone().iter(&mut con) {
                Ok(iter) => iter.filter_map(Result::ok).collect(),
                Err(_) => return,
            };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut con);
        }
    }
}

/// Polls `check` until it returns `Some`, failing the test after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
