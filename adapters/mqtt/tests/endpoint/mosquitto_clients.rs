//! Mosquitto's command-line clients (Debian `mosquitto-clients`) against the endpoint: another
//! MQTT implementation than rumqttc, in both protocol versions.

use std::path::Path;
use std::process::Output;

use microdash_adapter_mqtt::DropReason;
use tokio::process::Command;

use crate::helpers::*;

/// Runs a mosquitto client; fails the test with the fix when the program is missing.
async fn run(program: &str, app: &TestEndpoint, user: &str, password: &str, args: &[&str]) -> Output {
    let path = Path::new("/usr/bin").join(program);
    assert!(
        path.exists() || which(program),
        "`{program}` is not installed; these tests need it (Debian: apt-get install mosquitto-clients)"
    );
    let port = app.addr.port().to_string();
    let mut cmd = Command::new(program);
    cmd.args(["-h", "127.0.0.1", "-p", &port, "-u", user, "-P", password, "-i", "mosquitto-client"])
        .args(args);
    tokio::time::timeout(WITHIN, cmd.output()).await.expect("the client hung").unwrap()
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).exists()))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test]
async fn mosquitto_pub_publishes_a_bare_number_that_is_stored() {
    let app = spawn_endpoint().await;
    for version in ["mqttv311", "mqttv5"] {
        let topic = format!("metrics/alpha/mosq-{}/temp", &version[4..]);
        let out = run(
            "mosquitto_pub",
            &app,
            "alpha",
            &app.alpha.token,
            &["-V", version, "-q", "1", "-t", &topic, "-m", "21.5"],
        )
        .await;
        assert!(out.status.success(), "{version}: {}", text(&out));
    }
    let points = app.stored_eventually(&app.alpha, "temp", 2).await;
    let mut agents: Vec<_> = points.iter().map(|p| (p.0.as_str(), p.2)).collect();
    agents.sort_by(|a, b| a.0.cmp(b.0));
    assert_eq!(agents, vec![("mosq-v311", 21.5), ("mosq-v5", 21.5)]);
}

#[tokio::test]
async fn mosquitto_pub_with_a_wrong_token_is_refused_and_says_why() {
    let app = spawn_endpoint().await;
    let out = run(
        "mosquitto_pub",
        &app,
        "alpha",
        "mdt_wrong",
        &["-q", "1", "-t", "metrics/alpha/d/cpu", "-m", "1"],
    )
    .await;
    assert!(!out.status.success());
    assert!(text(&out).to_lowercase().contains("bad user name or password"), "{}", text(&out));
}

#[tokio::test]
async fn mosquitto_pub_into_another_tenant_stores_nothing_there() {
    let app = spawn_endpoint().await;
    let _ = run(
        "mosquitto_pub",
        &app,
        "alpha",
        &app.alpha.token,
        &["-q", "1", "-t", "metrics/beta/d/cpu", "-m", "1"],
    )
    .await;
    eventually("the cross-tenant publish counted", || app.metrics.dropped(DropReason::CrossTenant) == 1)
        .await;
    assert!(app.stored(&app.beta, "cpu").await.is_empty());
}

#[tokio::test]
async fn mosquitto_sub_is_refused_every_subscription() {
    let app = spawn_endpoint().await;
    let out =
        run("mosquitto_sub", &app, "alpha", &app.alpha.token, &["-t", "metrics/#", "-C", "1", "-W", "5"])
            .await;
    // mosquitto_sub exits at once, with status 0, saying so.
    assert!(text(&out).contains("All subscription requests were denied"), "{}", text(&out));
    assert_eq!(app.metrics.subscribes_refused(), 1);
}
