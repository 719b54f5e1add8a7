//! The bridge against Mosquitto: the machine's (127.0.0.1:1883, anonymous), and one started
//! here with the configuration shipped in `deploy/mosquitto` (password file + ACL).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use microdash_adapter_mqtt::BridgeError;
use rumqttc::{ConnectionError, Packet, QoS};

use crate::harness::*;

/// The machine's Mosquitto, which these tests share with everything else on the machine.
const MACHINE_BROKER: u16 = 1883;

#[tokio::test]
async fn the_bridge_stores_messages_from_the_machines_mosquitto() {
    assert!(
        TcpStream::connect(("127.0.0.1", MACHINE_BROKER)).is_ok(),
        "no MQTT broker answers on 127.0.0.1:1883; this test needs the machine's Mosquitto \
         (Debian: apt-get install mosquitto, anonymous access on 127.0.0.1)"
    );
    let backend = Backend::new().await;
    let tenant = backend.unique_tenant().await;
    let mut options = bridge_options(MACHINE_BROKER);
    // A shared broker keeps persistent sessions, and their queued messages, forever.
    options.persistent_session = false;
    let mut bridge = backend.bridge(options).await.unwrap();
    let mut device = Publisher::connect(MACHINE_BROKER, None).await.unwrap();
    device.publish(&format!("metrics/{}/host-1/cpu", tenant.slug), "17.5").await;
    assert_eq!(
        backend.stored_eventually(&tenant, "cpu", 1).await[0],
        ("host-1".to_owned(), backend.now_ms(), 17.5)
    );
    bridge.stop().await;
}

/// A Mosquitto started from the shipped configuration on a free port; killed on drop.
struct ShippedMosquitto {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for ShippedMosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn program(name: &str, package: &str) -> PathBuf {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("`{name}` is not installed; this test needs it (Debian: apt-get install {package})")
    })
}

/// Starts Mosquitto with `deploy/mosquitto/{mosquitto.conf,acl}` and a password file holding `users`.
fn start_shipped(users: &[(&str, &str)]) -> ShippedMosquitto {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/mosquitto");
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    for (i, (user, password)) in users.iter().enumerate() {
        let mut cmd = Command::new(program("mosquitto_passwd", "mosquitto"));
        if i == 0 {
            cmd.arg("-c");
        }
        let status =
            cmd.arg("-b").arg(&passwd).arg(user).arg(password).stdout(Stdio::null()).status().unwrap();
        assert!(status.success(), "mosquitto_passwd failed for {user}");
    }
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let shipped = std::fs::read_to_string(deploy.join("mosquitto.conf")).unwrap();
    assert!(shipped.contains("listener 1883\n"), "the shipped configuration changed its listener line");
    let mut conf = shipped
        .replace("listener 1883\n", &format!("listener {port} 127.0.0.1\n"))
        .replace("/mosquitto/config/passwd", passwd.to_str().unwrap())
        .replace("/mosquitto/config/acl", deploy.join("acl").to_str().unwrap())
        .replace("/mosquitto/data/", &format!("{}/", dir.path().join("data").display()));
    // Started as root, Mosquitto would switch to its own user, who cannot read the temp dir.
    conf.push_str("user root\n");
    let conf_path = dir.path().join("mosquitto.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let log = std::fs::File::create(dir.path().join("log")).unwrap();
    let child = Command::new(program("mosquitto", "mosquitto"))
        .arg("-c")
        .arg(&conf_path)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let broker = ShippedMosquitto { port, child, _dir: dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(broker._dir.path().join("log")).unwrap_or_default();
        assert!(Instant::now() < deadline, "Mosquitto did not start with the shipped configuration:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    broker
}

#[tokio::test]
async fn the_shipped_mosquitto_config_lets_a_tenant_publish_only_under_its_own_topics() {
    // Arrange
    let backend = Backend::new().await;
    let (tenant, other) = (backend.unique_tenant().await, backend.unique_tenant().await);
    let token = backend.admin.create_token(tenant.slug.as_str(), "d").await.unwrap().1.expose().to_owned();
    let other_token =
        backend.admin.create_token(other.slug.as_str(), "d").await.unwrap().1.expose().to_owned();
    let broker = start_shipped(&[
        ("microdash-bridge", "bridge-secret"),
        (tenant.slug.as_str(), &token),
        (other.slug.as_str(), &other_token),
    ]);
    let mut options = bridge_options(broker.port);
    options.credentials = Some(("microdash-bridge".into(), "bridge-secret".into()));
    let mut bridge = backend.bridge(options).await.unwrap();
    let mut device = Publisher::connect(broker.port, Some((tenant.slug.as_str(), &token))).await.unwrap();

    // Act: a spy subscribes to everything; the device writes into the other tenant, then its own.
    let mut spy = Publisher::connect(broker.port, Some((other.slug.as_str(), &other_token))).await.unwrap();
    spy.client.subscribe("metrics/#", QoS::AtLeastOnce).await.unwrap();
    spy.next(|p| matches!(p, Packet::SubAck(_))).await;
    device.publish(&format!("metrics/{}/d1/cpu", other.slug), "666").await;
    device.publish(&format!("metrics/{}/d1/cpu", tenant.slug), "1").await;

    // Assert
    assert_eq!(backend.stored_eventually(&tenant, "cpu", 1).await[0].2, 1.0);
    assert!(backend.stored(&other, "cpu").await.is_empty(), "the ACL let a tenant write into another");
    // The spy's own publish is answered after anything the broker had sent it before.
    spy.publish(&format!("metrics/{}/d2/cpu", other.slug), "2").await;
    let received = spy.publishes_received();
    assert!(received.is_empty(), "a device received metrics: {received:?}");
    let wrong = Publisher::connect(broker.port, Some((tenant.slug.as_str(), "mdt_wrong"))).await;
    assert!(matches!(wrong, Err(ConnectionError::ConnectionRefused(_))), "a wrong token was let in");
    bridge.stop().await;
}

#[tokio::test]
async fn a_bridge_the_broker_refuses_fails_to_start_and_says_so() {
    let backend = Backend::new().await;
    let broker = start_shipped(&[("microdash-bridge", "bridge-secret")]);
    let mut options = bridge_options(broker.port);
    options.credentials = Some(("microdash-bridge".into(), "wrong".into()));
    let Err(error) = backend.bridge(options).await else {
        panic!("the bridge started with a wrong password")
    };
    assert!(matches!(error, BridgeError::Refused { .. }), "{error}");
}
