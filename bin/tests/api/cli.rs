use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::helpers::{eventually, microdash, start_server};

fn run_json(args: &[&str], dir: &std::path::Path) -> Value {
    let out = microdash(args, dir).output().unwrap();
    assert!(out.status.success(), "microdash {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {:?}", out.stdout))
}

#[tokio::test]
async fn tokens_made_by_the_cli_work_on_a_running_server_and_revocation_applies_within_a_second() {
    // Arrange
    let dir = TempDir::new().unwrap();
    let server = start_server(dir.path());
    let tenant = run_json(&["tenant", "create", "acme", "--name", "Acme Corp", "--json"], dir.path());
    assert_eq!((tenant["slug"].as_str(), tenant["name"].as_str()), (Some("acme"), Some("Acme Corp")));
    let token = run_json(&["token", "create", "--tenant", "acme", "--name", "ci", "--json"], dir.path());
    let secret = token["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("mdt_") && secret.len() >= 40);
    let client = reqwest::Client::new();
    let post = || async {
        client
            .post(format!("{}/api/v1/metrics", server.url))
            .header("X-API-Token", &secret)
            .header("Content-Type", "application/json")
            .body(r#"{"name":"m","value":1}"#)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(post().await, 202);

    // Act
    let listed = run_json(&["token", "list", "--tenant", "acme", "--json"], dir.path());
    assert_eq!(listed[0]["prefix"].as_str(), Some(&secret[..12]));
    assert!(listed[0].get("token").is_none(), "listings never show the secret");
    let id = listed[0]["id"].as_i64().unwrap().to_string();
    let revoked = run_json(&["token", "revoke", &id, "--json"], dir.path());
    assert!(revoked["revoked_at"].is_string());

    // Assert: refused within about a second (bounded wait, no fixed sleep).
    let refused = eventually(Duration::from_secs(3), || async { (post().await == 401).then_some(()) }).await;
    assert!(refused.is_some(), "a revoked token must be refused within a second");
}

#[test]
fn admin_commands_explain_what_is_wrong() {
    let dir = TempDir::new().unwrap();
    let out = microdash(&["token", "create", "--tenant", "nope"], dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no tenant 'nope'") && err.contains("tenant list"), "{err}");
    let out = microdash(&["tenant", "create", "Not A Slug"], dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase"), "slug rules are explained");
    let out = microdash(&["serve", "--database-url", "postgres://x"], dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite"), "unsupported URLs are explained");
}

#[test]
fn help_documents_every_option_with_its_environment_variable() {
    let dir = TempDir::new().unwrap();
    let out = microdash(&["serve", "--help"], dir.path()).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in
        ["--http-addr", "--data-dir", "--database-url", "--max-body-bytes", "--max-items", "--queue-capacity"]
    {
        assert!(help.contains(flag), "{flag} missing from serve --help");
    }
    assert!(help.contains("MICRODASH_HTTP_ADDR") && help.contains("MICRODASH_DATA_DIR"));
}

#[test]
fn the_production_setup_refuses_to_fall_back_to_in_process_parts_silently() {
    let dir = TempDir::new().unwrap();
    let out =
        microdash(&["serve", "--database-url", "mysql://root@127.0.0.1:1/x"], dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MariaDB database needs --redis-url"), "MariaDB without Redis: {err}");
    for role in ["api", "worker", "scheduler"] {
        let out = microdash(&[role], dir.path()).output().unwrap();
        assert!(!out.status.success(), "{role} without Redis must not start");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("the {role} role")) && err.contains("--redis-url"), "{role}: {err}");
    }
    let out = microdash(&["queue", "stats"], dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--redis-url"), "queue commands need Redis");
}

#[test]
fn an_unreachable_redis_is_a_clear_startup_error() {
    let dir = TempDir::new().unwrap();
    let out =
        microdash(&["serve", "--redis-url", "redis://127.0.0.1:1", "--http-addr", "127.0.0.1:0"], dir.path())
            .output()
            .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connecting to Redis") && err.contains("is it running?"), "{err}");
}
