use std::time::Duration;

use super::*;
use crate::time::Timestamp;
use crate::wire::OutgoingSample;

const NOW: i64 = 1_795_000_000_000;

fn ctx() -> ValidationContext {
    ValidationContext { now: Timestamp::from_millis(NOW), max_age: Duration::from_secs(30 * 86_400) }
}

fn parse(topic: &str, payload: &str) -> Result<Vec<Sample>, WireError> {
    MetricsTopic::parse(topic).unwrap().parse_payload(payload.as_bytes(), &ctx(), 100)
}

fn invalid_fields(topic: &str, payload: &str) -> Vec<(usize, Field)> {
    match parse(topic, payload) {
        Err(WireError::Invalid(e)) => e.iter().map(|e| (e.index, e.field)).collect(),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn both_topic_forms_name_tenant_agent_and_optionally_the_metric() {
    let t = MetricsTopic::parse("metrics/acme/web-1/cpu.usage").unwrap();
    assert_eq!((t.tenant.as_str(), t.agent.as_str()), ("acme", "web-1"));
    assert_eq!(t.metric.unwrap().as_str(), "cpu.usage");
    let t = MetricsTopic::parse("metrics/acme/web-1").unwrap();
    assert_eq!(t.metric, None);
}

#[test]
fn topics_of_other_shapes_or_with_invalid_levels_are_refused_with_the_level_named() {
    assert_eq!(MetricsTopic::parse("devices/acme/x"), Err(TopicError::Foreign));
    assert_eq!(MetricsTopic::parse("metrics/acme"), Err(TopicError::Shape { levels: 2 }));
    assert_eq!(MetricsTopic::parse("metrics/acme/a/b/c"), Err(TopicError::Shape { levels: 5 }));
    assert!(matches!(MetricsTopic::parse("metrics/Acme/a"), Err(TopicError::Tenant(_))));
    assert!(matches!(MetricsTopic::parse("metrics/acme/+"), Err(TopicError::Agent(_))));
    assert!(matches!(MetricsTopic::parse("metrics/acme/a/9cpu"), Err(TopicError::Metric(_))));
    assert!(matches!(MetricsTopic::parse("metrics/acme//cpu"), Err(TopicError::Agent(_))));
}

#[test]
fn the_tenant_level_is_read_even_from_otherwise_invalid_topics() {
    assert_eq!(MetricsTopic::tenant_level("metrics/beta/a/b/c/d"), Some("beta"));
    assert_eq!(MetricsTopic::tenant_level("metrics/beta"), Some("beta"));
    assert_eq!(MetricsTopic::tenant_level("metrics"), None);
    assert_eq!(MetricsTopic::tenant_level("metricsx/beta"), None);
    assert_eq!(MetricsTopic::tenant_level("other/beta/a"), None);
}

#[test]
fn a_bare_number_becomes_a_sample_of_the_topics_agent_and_metric_at_receive_time() {
    let s = parse("metrics/acme/web-1/cpu", " 42.5 ").unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].series.metric.as_str(), "cpu");
    assert_eq!(s[0].series.agent.as_ref().unwrap().as_str(), "web-1");
    assert_eq!((s[0].value, s[0].timestamp.as_millis()), (42.5, NOW));
}

#[test]
fn an_object_on_a_metric_topic_keeps_timestamp_tags_and_dedupe_id() {
    let json = format!(r#"{{"value":1,"timestamp":{},"tags":{{"core":"0"}},"dedupe_id":"d1"}}"#, NOW - 10);
    let s = parse("metrics/acme/web-1/cpu", &json).unwrap();
    assert_eq!(s[0].timestamp.as_millis(), NOW - 10);
    assert_eq!(s[0].series.tags.iter().collect::<Vec<_>>(), vec![("core", "0")]);
    assert_eq!(s[0].dedupe_id.as_ref().unwrap().as_str(), "d1");
}

#[test]
fn the_metric_topic_refuses_what_http_refuses() {
    assert_eq!(invalid_fields("metrics/acme/a/cpu", r#"{"value":"x"}"#), vec![(0, Field::Value)]);
    assert_eq!(invalid_fields("metrics/acme/a/cpu", r#"{"value":1,"colour":"red"}"#), vec![(0, Field::Item)]);
    let future = NOW + 11 * 60_000;
    let json = format!(r#"{{"value":1,"timestamp":{future}}}"#);
    assert_eq!(invalid_fields("metrics/acme/a/cpu", &json), vec![(0, Field::Timestamp)]);
    assert_eq!(
        invalid_fields("metrics/acme/a/cpu", r#"{"tags":{"k":1}}"#),
        vec![(0, Field::Value), (0, Field::Tags)]
    );
    // As over HTTP, a field given twice is an error, not "the last one wins".
    assert_eq!(invalid_fields("metrics/acme/a/cpu", r#"{"value":1,"value":2}"#), vec![(0, Field::Value)]);
    let twice = format!(r#"{{"value":1,"ts":{},"timestamp":{}}}"#, NOW - 2_000, NOW - 1_000);
    assert_eq!(invalid_fields("metrics/acme/a/cpu", &twice), vec![(0, Field::Timestamp)]);
    for malformed in ["", "  ", "{", "NaN", "\"42\"", "[1]", "true", "null"] {
        assert!(
            matches!(parse("metrics/acme/a/cpu", malformed), Err(WireError::Malformed(_))),
            "{malformed:?}"
        );
    }
}

#[test]
fn an_empty_payload_is_told_apart_from_broken_json() {
    let Err(WireError::Malformed(m)) = parse("metrics/acme/a/cpu", "") else { panic!() };
    assert!(m.contains("empty"), "{m}");
}

#[test]
fn the_payload_may_not_contradict_the_topic() {
    assert_eq!(
        invalid_fields("metrics/acme/a/cpu", r#"{"value":1,"name":"mem"}"#),
        vec![(0, Field::MetricName)]
    );
    assert_eq!(
        invalid_fields("metrics/acme/a/cpu", r#"{"value":1,"agent_id":"b"}"#),
        vec![(0, Field::AgentId)]
    );
    assert!(parse("metrics/acme/a/cpu", r#"{"value":1,"agent_id":"a"}"#).is_ok());
    assert_eq!(
        invalid_fields("metrics/acme/a", r#"[{"name":"m","value":1},{"name":"m","value":2,"agent_id":"b"}]"#),
        vec![(1, Field::AgentId)]
    );
}

#[test]
fn the_agents_batch_is_accepted_and_every_sample_gets_the_topics_agent() {
    let batch = vec![
        OutgoingSample {
            metric_name: "system.load.1m".into(),
            value: 0.5,
            timestamp: Some(NOW - 1000),
            agent_id: Some("web-1".into()),
            tags: Default::default(),
            dedupe_id: Some("web-1-1-0".into()),
        },
        OutgoingSample {
            metric_name: "system.load.5m".into(),
            value: 0.4,
            timestamp: Some(NOW - 1000),
            agent_id: None,
            tags: Default::default(),
            dedupe_id: None,
        },
    ];
    let json = serde_json::to_string(&batch).unwrap();
    let s = parse("metrics/acme/web-1", &json).unwrap();
    assert_eq!(s.len(), 2);
    assert!(s.iter().all(|s| s.series.agent.as_ref().unwrap().as_str() == "web-1"));
}

#[test]
fn the_batch_topic_refuses_what_http_refuses() {
    assert!(matches!(parse("metrics/acme/a", "[]"), Err(WireError::Empty)));
    assert!(matches!(parse("metrics/acme/a", "42"), Err(WireError::Malformed(_))));
    let many = format!("[{}]", vec![r#"{"name":"m","value":1}"#; 101].join(","));
    assert!(matches!(parse("metrics/acme/a", &many), Err(WireError::TooManyItems { count: 101, max: 100 })));
    assert_eq!(
        invalid_fields("metrics/acme/a", r#"[{"name":"m","value":1},{"name":"9m","value":1}]"#),
        vec![(1, Field::MetricName)]
    );
}

#[test]
fn broker_urls_give_host_port_and_tls() {
    let u = BrokerUrl::parse("mqtt://127.0.0.1:1884").unwrap();
    assert_eq!((u.host.as_str(), u.port, u.tls), ("127.0.0.1", 1884, false));
    let u = BrokerUrl::parse("mqtts://broker.example/").unwrap();
    assert_eq!((u.host.as_str(), u.port, u.tls), ("broker.example", 8883, true));
    let u = BrokerUrl::parse("mqtt://[::1]").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 1883));
    let u = BrokerUrl::parse("mqtt://[::1]:1999").unwrap();
    assert_eq!((u.host.as_str(), u.port), ("::1", 1999));
}

#[test]
fn broker_urls_with_other_schemes_bad_ports_or_no_host_are_refused_with_the_reason() {
    assert!(BrokerUrl::parse("http://x:1").unwrap_err().contains("unknown scheme"));
    assert!(BrokerUrl::parse("mqtt://x:port").unwrap_err().contains("bad port"));
    assert!(BrokerUrl::parse("mqtt://").unwrap_err().contains("no host"));
    assert!(BrokerUrl::parse("mqtt://[::1").unwrap_err().contains("unclosed"));
}
