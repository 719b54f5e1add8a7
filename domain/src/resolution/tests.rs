use super::*;

const NOW: i64 = 1_795_341_600_000;
const H: i64 = 3_600_000;
const D: i64 = 24 * H;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

#[test]
fn names_parse_and_unknown_ones_are_refused() {
    assert_eq!(Requested::parse("auto"), Ok(Requested::Auto));
    for r in Resolution::ALL {
        assert_eq!(Requested::parse(r.as_str()), Ok(Requested::Fixed(r)));
    }
    assert_eq!(Requested::parse("10s"), Err(UnknownResolution("10s".into())));
    assert!(Resolution::parse("auto").is_err(), "auto is not a stored resolution");
}

#[test]
fn auto_picks_the_finest_retained_resolution_that_fits_the_budget() {
    let retention = Retention::default(); // raw 24 h, 1m 7 d, 5m 30 d
    // (what, range back from now, max_points, raw points probed, expected)
    let table: [(&str, i64, usize, Option<usize>, Resolution); 12] = [
        ("sparse hour fits raw", H, 1000, Some(60), Resolution::Raw),
        ("raw exactly at the budget", H, 1000, Some(1000), Resolution::Raw),
        ("dense hour: 1m has 61 points", H, 1000, Some(3600), Resolution::OneMinute),
        ("raw not probed", H, 1000, None, Resolution::OneMinute),
        ("12 h at 1000 points: 721 1m buckets", 12 * H, 1000, Some(43_200), Resolution::OneMinute),
        ("24 h at 1000 points: 5m", 24 * H, 1000, Some(86_400), Resolution::FiveMinutes),
        ("24 h at 1500 points: 1m fits", 24 * H, 1500, Some(86_400), Resolution::OneMinute),
        ("2 days: raw gone, even if the probe says few", 2 * D, 100_000, Some(10), Resolution::OneMinute),
        ("6 days at 10k points: 1m", 6 * D, 10_000, None, Resolution::OneMinute),
        ("8 days: 1m gone", 8 * D, 100_000, None, Resolution::FiveMinutes),
        ("7 days at 1000 points: nothing fits, 5m reduced", 7 * D, 1000, None, Resolution::FiveMinutes),
        ("older than everything kept: 5m", 60 * D, 1000, None, Resolution::FiveMinutes),
    ];
    for (what, back, max_points, raw, expected) in table {
        let start = ts(NOW - back);
        let got = choose(Requested::Auto, start, ts(NOW), ts(NOW), &retention, max_points, raw);
        assert_eq!(got, expected, "{what}");
    }
}

#[test]
fn a_fixed_resolution_is_honoured_even_when_auto_would_differ() {
    let r = Retention::default();
    let start = ts(NOW - 3 * D);
    for res in Resolution::ALL {
        assert_eq!(choose(Requested::Fixed(res), start, ts(NOW), ts(NOW), &r, 10, Some(1)), res);
    }
}

#[test]
fn raw_is_probed_only_for_auto_and_only_while_raw_is_kept() {
    let r = Retention::default();
    assert!(raw_is_candidate(Requested::Auto, ts(NOW - 23 * H), ts(NOW), &r));
    assert!(!raw_is_candidate(Requested::Auto, ts(NOW - 25 * H), ts(NOW), &r));
    assert!(!raw_is_candidate(Requested::Fixed(Resolution::Raw), ts(NOW - H), ts(NOW), &r));
    let short = Retention { raw: Duration::from_secs(3600), ..r };
    assert!(!raw_is_candidate(Requested::Auto, ts(NOW - 2 * H), ts(NOW), &short));
}

#[test]
fn reduction_merges_buckets_to_the_smallest_round_width_that_fits() {
    // (resolution, range, max_points, expected step)
    let table = [
        (Resolution::OneMinute, H, 1000, MINUTE_MS),
        (Resolution::OneMinute, 24 * H, 1000, 2 * MINUTE_MS),
        (Resolution::OneMinute, 24 * H, 100, 15 * MINUTE_MS),
        (Resolution::FiveMinutes, 7 * D, 1000, 15 * MINUTE_MS),
        (Resolution::FiveMinutes, 7 * D, 2100, 5 * MINUTE_MS),
        (Resolution::FiveMinutes, 30 * D, 1000, 60 * MINUTE_MS),
    ];
    for (res, back, max_points, expected) in table {
        let (start, end) = (ts(NOW - back), ts(NOW));
        let step = reduced_step(res, start, end, max_points).unwrap();
        assert_eq!(step, expected, "{res} over {back} ms in {max_points}");
        assert!(buckets_covering(start, end, step) <= max_points as i64);
        assert_eq!(step % res.bucket_ms().unwrap(), 0, "a multiple of the stored width");
    }
    assert_eq!(reduced_step(Resolution::Raw, ts(0), ts(1), 1), None);
}

#[test]
fn ranges_longer_than_every_round_width_still_fit() {
    let (start, end) = (ts(0), ts(3_650 * D));
    let step = reduced_step(Resolution::FiveMinutes, start, end, 10).unwrap();
    assert!(buckets_covering(start, end, step) <= 10, "{step}");
}

#[test]
fn covering_counts_the_partial_buckets_at_both_ends() {
    assert_eq!(buckets_covering(ts(30_000), ts(90_000), MINUTE_MS), 2);
    assert_eq!(buckets_covering(ts(0), ts(59_999), MINUTE_MS), 1);
    assert_eq!(buckets_covering(ts(10), ts(5), MINUTE_MS), 0);
}
