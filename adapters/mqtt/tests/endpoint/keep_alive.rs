//! A client silent for 1.5 × its keep-alive is disconnected; one that pings stays.

use std::time::{Duration, Instant};

use rumqttc::mqttbytes::v4::Packet;

use crate::helpers::*;

#[tokio::test]
async fn a_client_that_never_sends_pingreq_is_dropped_after_one_and_a_half_keep_alives() {
    let app = spawn_endpoint().await;
    let started = Instant::now();
    let (mut silent, _) =
        Raw::connect(app.addr, Raw::connect_packet("silent", "alpha", &app.alpha.token, 1, true)).await;
    let (mut pinging, _) =
        Raw::connect(app.addr, Raw::connect_packet("pinging", "alpha", &app.alpha.token, 1, true)).await;
    let pinger = tokio::spawn(async move {
        // Pings every 0.5 s for 3 s, well past the silent client's end.
        for _ in 0..6 {
            pinging.send(Packet::PingReq).await;
            if pinging.recv().await != Some(Packet::PingResp) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        true
    });
    assert_eq!(silent.recv().await, None, "the silent client was disconnected");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "not before 1.5 × 1 s: {:?}",
        started.elapsed()
    );
    assert!(pinger.await.unwrap(), "the client that pings was kept");
}
