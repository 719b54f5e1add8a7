use proptest::prelude::*;

use super::*;

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// Points of one series over ten minutes from 0, distinct timestamps (the store keeps one
/// value per series and millisecond), integer values so that every sum is exact whatever the
/// order of additions.
fn series() -> impl Strategy<Value = Vec<(Timestamp, f64)>> {
    proptest::collection::btree_map(0i64..10 * MINUTE_MS, -1_000_000i64..1_000_000, 1..300)
        .prop_map(|m| m.into_iter().map(|(t, v)| (ts(t), v as f64)).collect())
}

proptest! {
    #[test]
    fn folding_in_any_order_gives_the_same_bucket(points in series(), seed in any::<u64>()) {
        let mut shuffled = points.clone();
        // A deterministic shuffle driven by the seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(fold(points.iter().copied()), fold(shuffled.iter().copied()));
    }

    #[test]
    fn folding_in_any_split_gives_the_same_bucket(points in series(), cut in any::<prop::sample::Index>()) {
        let at = cut.index(points.len() + 1);
        let (left, right) = points.split_at(at);
        let whole = fold(points.iter().copied()).unwrap();
        let merged = match (fold(left.iter().copied()), fold(right.iter().copied())) {
            (Some(mut l), Some(r)) => { l.merge(&r); l }
            (Some(b), None) | (None, Some(b)) => b,
            (None, None) => unreachable!("at least one point"),
        };
        prop_assert_eq!(whole, merged);
        if let (Some(mut r), Some(l)) = (fold(right.iter().copied()), fold(left.iter().copied())) {
            r.merge(&l);
            prop_assert_eq!(whole, r, "merging is commutative");
        }
    }

    #[test]
    fn five_minute_buckets_from_one_minute_buckets_equal_five_minute_buckets_from_raw(points in series()) {
        let from_raw = fold_into_buckets(points.iter().copied(), FIVE_MINUTES_MS);
        let one_minute = fold_into_buckets(points.iter().copied(), MINUTE_MS);
        prop_assert_eq!(rebucket(one_minute, FIVE_MINUTES_MS), from_raw);
    }

    #[test]
    fn downsampling_keeps_the_extremes_time_order_and_the_budget(
        points in series(),
        max_points in 2usize..200,
    ) {
        let out = downsample_min_max(&points, ts(0), ts(10 * MINUTE_MS - 1), max_points);
        prop_assert!(out.len() <= max_points);
        prop_assert!(out.windows(2).all(|w| w[0].0 < w[1].0), "strictly in time order");
        prop_assert!(out.iter().all(|p| points.contains(p)), "only real points");
        let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(out.iter().any(|p| p.1 == min) && out.iter().any(|p| p.1 == max));
    }
}

#[test]
fn a_bucket_keeps_count_sum_min_max_and_the_newest_value() {
    let b = fold([(ts(30), 2.0), (ts(10), 8.0), (ts(20), -1.0)]).unwrap();
    assert_eq!(b, Bucket { count: 3, sum: 9.0, min: -1.0, max: 8.0, last: 2.0, last_at: ts(30) });
    assert_eq!(b.avg(), 3.0);
    assert_eq!(fold(std::iter::empty()), None);
}

#[test]
fn arbitrary_floats_fold_to_the_same_bucket_in_any_order_within_rounding() {
    let points: Vec<_> = (0..1000).map(|i| (ts(i), (i as f64 * 0.37).sin() * 1e3 + 0.1)).collect();
    let forward = fold(points.iter().copied()).unwrap();
    let backward = fold(points.iter().rev().copied()).unwrap();
    assert_eq!(
        (forward.count, forward.min, forward.max, forward.last),
        (1000, backward.min, backward.max, backward.last)
    );
    assert!((forward.sum - backward.sum).abs() <= 1e-9 * forward.sum.abs().max(1.0));
}

#[test]
fn buckets_are_aligned_on_the_epoch_also_before_it() {
    assert_eq!(bucket_start(ts(119_999), MINUTE_MS), ts(60_000));
    assert_eq!(bucket_start(ts(120_000), MINUTE_MS), ts(120_000));
    assert_eq!(bucket_start(ts(-1), MINUTE_MS), ts(-60_000));
    assert_eq!(bucket_start(ts(1_795_000_123_456), FIVE_MINUTES_MS), ts(1_795_000_200_000 - 300_000));
}

#[test]
fn ties_on_the_newest_time_keep_the_larger_value_whatever_the_order() {
    let mut a = Bucket::of(ts(5), 1.0);
    a.merge(&Bucket::of(ts(5), 3.0));
    let mut b = Bucket::of(ts(5), 3.0);
    b.merge(&Bucket::of(ts(5), 1.0));
    assert_eq!(a, b);
    assert_eq!(a.last, 3.0);
}

#[test]
fn downsampling_leaves_short_series_alone_and_keeps_a_lone_spike() {
    let few = vec![(ts(0), 1.0), (ts(1), 2.0)];
    assert_eq!(downsample_min_max(&few, ts(0), ts(1), 10), few);
    let mut flat: Vec<_> = (0..10_000).map(|i| (ts(i), 0.0)).collect();
    flat[7_777].1 = 99.0;
    let out = downsample_min_max(&flat, ts(0), ts(9_999), 100);
    assert!(out.len() <= 100);
    assert!(out.contains(&(ts(7_777), 99.0)), "the spike survives");
}
