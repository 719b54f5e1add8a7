//! Contract of [`RateLimiter`]: per-key budgets per minute, with refunds.

use super::*;

/// Budgets are per key, refill over the minute, and deny with a useful wait.
pub async fn rate_limiter_grants_up_to_the_budget_then_denies(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique_slug("rl"));
    assert_eq!(limiter.acquire(&key, 60, 100).await.unwrap(), Admission::Granted);
    assert_eq!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Granted);
    match limiter.acquire(&key, 30, 100).await.unwrap() {
        Admission::Denied { retry_after } => {
            assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(60), "{retry_after:?}")
        }
        Admission::Granted => panic!("budget exhausted, must deny"),
    }
    let other = format!("{key}:other");
    assert_eq!(limiter.acquire(&other, 100, 100).await.unwrap(), Admission::Granted, "keys are independent");
    assert!(matches!(
        limiter.acquire(&format!("{key}:big"), 101, 100).await.unwrap(),
        Admission::Denied { .. }
    ));
}

/// A refund gives back what was taken, never more than one minute's worth.
pub async fn rate_limiter_refunds_up_to_the_budget(limiter: &dyn RateLimiter) {
    let key = format!("contract:{}", unique_slug("rf"));
    assert_eq!(limiter.acquire(&key, 100, 100).await.unwrap(), Admission::Granted);
    assert!(matches!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Denied { .. }));
    limiter.refund(&key, 40, 100).await.unwrap();
    assert_eq!(limiter.acquire(&key, 40, 100).await.unwrap(), Admission::Granted, "the refund is spendable");
    assert!(matches!(limiter.acquire(&key, 30, 100).await.unwrap(), Admission::Denied { .. }));
    for _ in 0..3 {
        limiter.refund(&key, 100, 100).await.unwrap();
    }
    assert_eq!(limiter.acquire(&key, 100, 100).await.unwrap(), Admission::Granted);
    assert!(
        matches!(limiter.acquire(&key, 5, 100).await.unwrap(), Admission::Denied { .. }),
        "capped at 100"
    );
}
