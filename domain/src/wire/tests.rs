use super::batch::parse_general;
use super::*;

const NOW: i64 = 1_795_000_000_000; // 2026-11-18

fn ctx() -> ValidationContext {
    ValidationContext { now: Timestamp::from_millis(NOW), max_age: Duration::from_secs(30 * 86_400) }
}

fn parse(json: &str) -> Result<Vec<Sample>, WireError> {
    parse_batch(json.as_bytes(), &ctx(), 10_000)
}

fn errors(json: &str) -> Vec<ItemError> {
    match parse(json) {
        Err(WireError::Invalid(e)) => e,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn a_single_object_is_a_batch_of_one_stamped_with_receive_time() {
    let s = parse(r#"{"metric_name":"cpu","value":1.5}"#).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].series.metric.as_str(), "cpu");
    assert_eq!(s[0].value, 1.5);
    assert_eq!(s[0].timestamp.as_millis(), NOW);
    assert_eq!(s[0].series.agent, None);
}

#[test]
fn short_aliases_and_both_timestamp_forms_are_accepted() {
    let json = format!(
        r#"[{{"name":"a","value":1,"ts":{}}},{{"metric_name":"b","value":2,"timestamp":"2026-11-18T00:00:00Z","agent_id":"h1","tags":{{"core":"0"}},"dedupe_id":"x1"}}]"#,
        NOW - 5
    );
    let s = parse(&json).unwrap();
    assert_eq!(s[0].timestamp.as_millis(), NOW - 5);
    assert_eq!(s[1].timestamp.to_string(), "2026-11-18T00:00:00.000Z");
    assert_eq!(s[1].series.agent.as_ref().unwrap().as_str(), "h1");
    assert_eq!(s[1].series.tags.iter().collect::<Vec<_>>(), vec![("core", "0")]);
    assert_eq!(s[1].dedupe_id.as_ref().unwrap().as_str(), "x1");
}

#[test]
fn every_bad_item_and_field_is_reported_with_its_index() {
    let e = errors(
        r#"[{"metric_name":"ok","value":1},{"metric_name":"9bad","value":"x"},{"value":2,"agent_id":"a/b"}]"#,
    );
    let got: Vec<_> = e.iter().map(|e| (e.index, e.field)).collect();
    assert_eq!(
        got,
        vec![(1, Field::MetricName), (1, Field::Value), (2, Field::MetricName), (2, Field::AgentId)]
    );
}

#[test]
fn timestamps_too_far_in_the_future_or_past_are_refused() {
    let future = NOW + 11 * 60 * 1000;
    let e = errors(&format!(r#"{{"name":"a","value":1,"ts":{future}}}"#));
    assert!(e[0].message.contains("future"), "{}", e[0].message);
    let old = NOW - 31 * 86_400_000;
    let e = errors(&format!(r#"{{"name":"a","value":1,"ts":{old}}}"#));
    assert!(e[0].message.contains("retention"), "{}", e[0].message);
}

#[test]
fn epoch_seconds_get_a_hint() {
    let e = errors(r#"{"name":"a","value":1,"ts":1795000000}"#);
    assert!(e[0].message.contains("looks like seconds"), "{}", e[0].message);
}

#[test]
fn unknown_and_duplicated_fields_are_errors_not_silently_ignored() {
    let e = errors(r#"{"name":"a","vaule":1}"#);
    assert!(e.iter().any(|e| e.field == Field::Item && e.message.contains("vaule")));
    assert!(e.iter().any(|e| e.field == Field::Value && e.message == "is required"));
    let e = errors(r#"{"name":"a","metric_name":"b","value":1}"#);
    assert_eq!(e[0].field, Field::MetricName);
}

#[test]
fn malformed_json_empty_batches_and_oversized_batches_are_refused_whole() {
    assert!(matches!(parse("{nope"), Err(WireError::Malformed(_))));
    assert!(matches!(parse("42"), Err(WireError::Malformed(_))));
    assert!(matches!(parse("[]"), Err(WireError::Empty)));
    let e = parse_batch(br#"[{"name":"a","value":1},{"name":"a","value":2}]"#, &ctx(), 1);
    assert_eq!(e, Err(WireError::TooManyItems { count: 2, max: 1 }));
    let e = parse_batch(br#"[{"name":"a","value":1},5,[],{"x":1}]"#, &ctx(), 2);
    assert_eq!(e, Err(WireError::TooManyItems { count: 4, max: 2 }), "items past the limit are counted");
    for broken in [r#"[{"name":"a","value":1}] x"#, r#"[{"name":"a","value":1},"#, r#"{"name":"a","value":1"#]
    {
        assert!(matches!(parse(broken), Err(WireError::Malformed(_))), "{broken}");
    }
    let e = parse_batch(br#"[{"name":"a","value":1},{"name":"a","value":2}, {nope]"#, &ctx(), 1);
    assert!(matches!(e, Err(WireError::Malformed(_))), "a syntax error past the limit: {e:?}");
}

#[test]
fn non_object_items_and_bad_tag_values_are_item_errors() {
    let e = errors(r#"[5, {"name":"a","value":1,"tags":{"k":1}}, [1, 2], "x", null]"#);
    let found: Vec<_> = e.iter().map(|e| (e.index, e.field)).collect();
    let want = [(0, Field::Item), (1, Field::Tags), (2, Field::Item), (3, Field::Item), (4, Field::Item)];
    assert_eq!(found, want);
    assert!(e[0].message.contains("integer `5`") && e[0].message.contains("expected a JSON object"), "{e:?}");
    assert!(e[2].message.contains("nested arrays are not batches"), "{e:?}");
}

#[test]
fn a_tag_key_given_twice_is_refused_naming_the_key_on_both_readers() {
    // The first body has the fast reader's shape, the second (an escape) the general one's.
    for body in [
        r#"[{"name":"a","value":1,"tags":{"host":"x","host":"y"}}]"#,
        r#"[{"name":"a","value":1,"tags":{"host":"x","ho\u0073t":"y"}}]"#,
    ] {
        let e = errors(body);
        assert_eq!((e.len(), e[0].index, e[0].field), (1, 0, Field::Tags), "{body}: {e:?}");
        assert!(e[0].message.contains("tag key 'host' is given twice"), "{e:?}");
    }
}

#[test]
fn control_characters_are_refused_in_tag_keys_tag_values_and_dedupe_ids() {
    let e = errors(
        r#"[{"name":"a","value":1,"tags":{"k\u0000":"v"}},
            {"name":"a","value":1,"tags":{"k":"line\nbreak"}},
            {"name":"a","value":1,"dedupe_id":"id\u0000"},
            {"name":"a","value":1,"tags":{"k":"fine é ✓"},"dedupe_id":"fine-é"}]"#,
    );
    let found: Vec<_> = e.iter().map(|e| (e.index, e.field)).collect();
    assert_eq!(found, [(0, Field::Tags), (1, Field::Tags), (2, Field::DedupeId)], "{e:?}");
    assert!(e[0].message.contains(r"tag key 'k\0' must not contain control characters"), "{e:?}");
    assert!(e[1].message.contains("value of tag 'k' must not contain control characters"), "{e:?}");
    assert!(e[2].message.contains("control characters"), "{e:?}");
}

#[test]
fn outgoing_samples_parse_back() {
    let out = OutgoingSample {
        metric_name: "m".into(),
        value: 3.0,
        timestamp: Some(NOW),
        agent_id: Some("a".into()),
        tags: BTreeMap::from([("k".into(), "v".into())]),
        dedupe_id: Some("d".into()),
    };
    let s = parse(&serde_json::to_string(&vec![out]).unwrap()).unwrap();
    assert_eq!(s[0].value, 3.0);
    assert_eq!(s[0].timestamp.as_millis(), NOW);
}

#[test]
fn two_samples_of_one_series_at_one_millisecond_are_refused_not_collapsed() {
    let e = errors(r#"[{"name":"a","value":1},{"name":"b","value":2},{"name":"a","value":3}]"#);
    assert_eq!((e.len(), e[0].index, e[0].field), (1, 2, Field::Timestamp));
    assert!(e[0].message.contains("item 0"), "{}", e[0].message);
    // Different agents, tags or timestamps are different points.
    let ok = format!(
        r#"[{{"name":"a","value":1}},{{"name":"a","value":2,"agent_id":"x"}},{{"name":"a","value":3,"tags":{{"k":"v"}}}},{{"name":"a","value":4,"ts":{}}}]"#,
        NOW - 1
    );
    assert_eq!(parse(&ok).unwrap().len(), 4);
}

#[test]
fn two_points_of_one_series_at_one_millisecond_are_refused_naming_both_items() {
    let t = NOW - 1_000;
    let json = format!(
        r#"[{{"metric_name":"cpu","value":1,"ts":{t},"agent_id":"a"}},
            {{"metric_name":"cpu","value":2,"ts":{t},"agent_id":"b"}},
            {{"metric_name":"cpu","value":3,"ts":{t},"agent_id":"a","tags":{{"core":"1"}}}},
            {{"metric_name":"cpu","value":4,"ts":{},"agent_id":"a"}},
            {{"metric_name":"cpu","value":5,"ts":{t},"agent_id":"a"}},
            {{"metric_name":"mem","value":6,"ts":{t},"agent_id":"a"}},
            {{"metric_name":"cpu","value":7,"ts":{t},"agent_id":"a"}}]"#,
        t + 1
    );
    let errors = errors(&json);
    let found: Vec<_> = errors.iter().map(|e| (e.index, e.field)).collect();
    assert_eq!(found, vec![(4, Field::Timestamp), (6, Field::Timestamp)], "{errors:?}");
    assert!(errors.iter().all(|e| e.message.starts_with("item 0 has the same series")), "{errors:?}");

    let untimed = r#"[{"metric_name":"cpu","value":1},{"metric_name":"cpu","value":2,"agent_id":"x"},{"metric_name":"cpu","value":3}]"#;
    let found: Vec<_> = self::errors(untimed).iter().map(|e| e.index).collect();
    assert_eq!(found, vec![2], "samples without a timestamp all get the time of receipt");

    let distinct =
        r#"[{"metric_name":"cpu","value":1,"agent_id":"a"},{"metric_name":"cpu","value":2,"agent_id":"b"}]"#;
    assert_eq!(parse(distinct).unwrap().len(), 2);
}

#[test]
fn a_body_that_is_not_utf8_is_malformed() {
    let e = parse_batch(b"[{\"name\":\"a\xff\",\"value\":1}]", &ctx(), 10);
    assert!(matches!(&e, Err(WireError::Malformed(m)) if m.contains("UTF-8")), "{e:?}");
}

#[test]
fn a_wrong_json_type_is_an_error_of_its_field_saying_what_the_field_takes() {
    let e = errors(r#"{"name":5,"value":"x","ts":true,"agent_id":[1],"tags":"k","dedupe_id":{"a":1}}"#);
    let got: Vec<_> = e.iter().map(|e| (e.field, e.message.as_str())).collect();
    assert_eq!(
        got,
        vec![
            (Field::MetricName, "must be a string"),
            (Field::Value, "must be a number"),
            (Field::Timestamp, "must be an RFC 3339 string or integer epoch milliseconds"),
            (Field::AgentId, "must be a string"),
            (Field::DedupeId, "must be a string"),
            (Field::Tags, "must be an object of string values"),
        ]
    );
    // Nulls are absent fields; a float timestamp is rounded; escapes are read.
    let s =
        parse(r#"{"name":"a\u0062","value":2,"ts":1794999999999.6,"agent_id":null,"tags":null}"#).unwrap();
    assert_eq!((s[0].series.metric.as_str(), s[0].timestamp.as_millis()), ("ab", NOW));
    assert_eq!(s[0].series.agent, None);
    let e = errors(r#"{"name":"a","value":1,"tags":{"ok":"x","n":1,"b":true}}"#);
    assert_eq!(e[0].message, "value of tag 'n' must be a string");
}

/// Bodies near the common shape, with every kind of deviation the fast reader must hand over
/// to the general one: escapes, control characters, odd numbers, wrong types, unknown and
/// repeated fields, bad names, malformed JSON.
mod fast_reader {
    use proptest::prelude::*;

    use super::*;

    fn key() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            4 => Just("metric_name"),
            1 => Just("name"),
            4 => Just("value"),
            2 => Just("timestamp"),
            1 => Just("ts"),
            3 => Just("agent_id"),
            2 => Just("tags"),
            1 => Just("dedupe_id"),
            1 => Just("vaule"),
        ]
    }

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("cpu".to_owned()),
            Just("cpu.user_pct".to_owned()),
            Just("h-1".to_owned()),
            Just("9bad".to_owned()),
            Just(String::new()),
            Just("ü".to_owned()),
            Just("a\\u0062".to_owned()),
            Just("tab\there".to_owned()),
            Just("a\\\"b".to_owned()),
            Just("2026-11-18T00:00:00Z".to_owned()),
            Just("x".repeat(70)),
        ]
        .prop_map(|t| format!("\"{t}\""))
    }

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            (NOW - 5_000..NOW + 5_000).prop_map(|n| n.to_string()),
            (-1_000_000i64..1_000_000).prop_map(|n| n.to_string()),
            (-1e6f64..1e6).prop_map(|f| f.to_string()),
            any::<f64>().prop_map(|f| format!("{f:e}")),
            (0u32..40, -30i32..30).prop_map(|(m, e)| format!("{m}.{m}e{e}")),
            Just("-0".to_owned()),
            Just("-0.0".to_owned()),
            Just("0.0".to_owned()),
            Just("01".to_owned()),
            Just("1.".to_owned()),
            Just("-".to_owned()),
            Just("1e400".to_owned()),
            Just("1e-400".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("18446744073709551616".to_owned()),
            Just("1794999999999.6".to_owned()),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        let others = prop_oneof![
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("[1]".to_owned()),
            Just("{}".to_owned()),
            Just(r#"{"core":"1","mode":"idle"}"#.to_owned()),
            Just(r#"{"core":"1","core":"2"}"#.to_owned()),
            Just(r#"{"core":1}"#.to_owned()),
            Just(r#"{"bad key":"v"}"#.to_owned()),
            Just(r#"{"k":"v",}"#.to_owned()),
            Just("nul".to_owned()),
        ];
        prop_oneof![3 => text(), 3 => number(), 1 => others]
    }

    fn space() -> impl Strategy<Value = &'static str> {
        prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")]
    }

    /// Mostly valid items: each field's value is usually of its own kind (a name, a number, a
    /// tags object), with the edge cases of that kind, and now and then anything at all.
    fn item() -> impl Strategy<Value = String> {
        let name = prop_oneof![6 => Just("\"cpu\"".to_owned()), 2 => text(), 1 => value()];
        let num = prop_oneof![6 => number(), 1 => value()];
        // `TS` becomes a timestamp of the item's own, so that items are rarely the same point.
        let time = prop_oneof![4 => Just("TS".to_owned()), 2 => number(), 1 => value()];
        let agent = prop_oneof![6 => Just("\"h1\"".to_owned()), 2 => text(), 1 => value()];
        let tags = prop_oneof![
            2 => Just(r#"{"core":"1"}"#.to_owned()),
            2 => (text(), text()).prop_map(|(k, v)| format!("{{{k}:{v}}}")),
            1 => value(),
        ];
        let dedupe = prop_oneof![2 => text(), 1 => value()];
        let extra = (key(), value());
        (
            (prop_oneof![Just("metric_name"), Just("name")], name),
            num,
            prop::option::weighted(0.9, (prop_oneof![Just("timestamp"), Just("ts")], time)),
            prop::option::of(agent),
            prop::option::of(tags),
            prop::option::weighted(0.3, dedupe),
            prop::option::weighted(0.3, extra),
            space(),
        )
            .prop_map(|((name_key, name), value, time, agent, tags, dedupe, extra, s)| {
                let mut fields = vec![(name_key, name), ("value", value)];
                fields.extend(time);
                fields.extend(agent.map(|a| ("agent_id", a)));
                fields.extend(tags.map(|t| ("tags", t)));
                fields.extend(dedupe.map(|d| ("dedupe_id", d)));
                fields.extend(extra);
                let inner: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{s}\"{k}\"{s}:{s}{v}{s}")).collect();
                format!("{{{}}}", inner.join(","))
            })
    }

    /// An item of the common shape, which the fast reader must take.
    fn plain_item() -> impl Strategy<Value = String> {
        (0u32..5, 0u32..3, -1e9f64..1e9, 0i64..100).prop_map(|(m, a, v, t)| {
            format!(r#"{{"metric_name":"m{m}","value":{v},"timestamp":{},"agent_id":"a{a}"}}"#, NOW - t)
        })
    }

    fn same(a: &Result<Vec<Sample>, WireError>, b: &Result<Vec<Sample>, WireError>) -> bool {
        match (a, b) {
            (Ok(a), Ok(b)) => a == b && a.iter().zip(b).all(|(x, y)| x.value.to_bits() == y.value.to_bits()),
            _ => a == b,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn the_fast_reader_never_changes_an_answer(
            items in prop::collection::vec(item(), 0..4),
            array in any::<bool>(),
            tail in prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just(","), 1 => Just("]")],
            sep in space(),
        ) {
            let items: Vec<String> =
                items.iter().enumerate().map(|(i, item)| item.replace("TS", &(NOW - 1_000 - i as i64).to_string())).collect();
            let body = if array || items.len() != 1 {
                format!("[{sep}{}{sep}]{tail}", items.join(&format!("{sep},{sep}")))
            } else {
                format!("{}{tail}", items[0])
            };
            let (fast, general) = (parse_batch(body.as_bytes(), &ctx(), 3), parse_general(&body, &ctx(), 3));
            prop_assert!(same(&fast, &general), "{body}\nfast: {fast:?}\ngeneral: {general:?}");
        }

        #[test]
        fn the_fast_reader_takes_the_common_shape(items in prop::collection::vec(plain_item(), 1..20)) {
            let body = format!("[{}]", items.join(","));
            prop_assert!(fast::parse(&body, &ctx(), 100).is_some(), "{body}");
            let (fast, general) = (parse_batch(body.as_bytes(), &ctx(), 100), parse_general(&body, &ctx(), 100));
            prop_assert!(same(&fast, &general), "{body}\nfast: {fast:?}\ngeneral: {general:?}");
        }
    }
}

#[test]
fn what_the_fast_reader_hands_over_gets_the_general_readers_answer() {
    /// What the general reader must answer.
    enum Want {
        Malformed,
        Invalid(Field),
        Value(f64),
        Metric(&'static str),
    }
    for (body, want) in [
        (r#"[{"metric_name":"cpu","value":1,"value":2}]"#, Want::Invalid(Field::Value)),
        (r#"[{"metric_name":"cpu","name":"cpu","value":1}]"#, Want::Invalid(Field::MetricName)),
        (r#"[{"metric_name":"cpu","value":-0}]"#, Want::Value(-0.0)),
        (r#"[{"metric_name":"cpu","value":01}]"#, Want::Malformed),
        (r#"[{"metric_name":"cpu","value":1e400}]"#, Want::Malformed),
        (r#"[{"metric_name":"cpu","value":1e-400}]"#, Want::Value(0.0)),
        (r#"[{"metric_name":"cpu","value":9223372036854775808}]"#, Want::Value(9_223_372_036_854_775_808.0)),
        (r#"[{"metric_name":"c\u0070u","value":1}]"#, Want::Metric("cpu")),
        (r#"[{"metric_name":"cpu","value":1,"tags":{"k":"v",}}]"#, Want::Malformed),
        (r#"[{"metric_name":"cpu","value":1},]"#, Want::Malformed),
        (r#"[{"metric_name":"cpu","value":1}"#, Want::Malformed),
        (r#"{"metric_name":"cpu","value":1} x"#, Want::Malformed),
    ] {
        assert_eq!(fast::parse(body, &ctx(), 10), None, "{body}");
        let got = parse(body);
        let ok = match (&got, want) {
            (Err(WireError::Malformed(_)), Want::Malformed) => true,
            (Err(WireError::Invalid(e)), Want::Invalid(field)) => e[0].field == field,
            (Ok(s), Want::Value(v)) => s[0].value.to_bits() == v.to_bits(),
            (Ok(s), Want::Metric(m)) => s[0].series.metric.as_str() == m,
            _ => false,
        };
        assert!(ok, "{body}: {got:?}");
    }
    let one = r#"{"metric_name":"cpu","value":1}"#;
    assert_eq!(parse_batch(one.as_bytes(), &ctx(), 0), Err(WireError::TooManyItems { count: 1, max: 0 }));
}
