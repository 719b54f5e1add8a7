//! Contract of [`LeaderLock`]: at most one holder, a lease that the holder renews and that
//! passes to another contender when it is not renewed or is released.
//!
//! Each function takes two contenders `a` and `b` for the same, initially free, lock.

use super::*;

/// How long the expiry test waits at most for a lapsed lease to pass to the other contender.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(5);

/// One holder at a time: the second contender is refused while the first holds the lease, and
/// the holder's own `acquire` renews it.
pub async fn leader_lock_admits_one_holder_that_renews_its_lease(a: &dyn LeaderLock, b: &dyn LeaderLock) {
    let ttl = Duration::from_secs(30);
    assert!(a.acquire(ttl).await.unwrap(), "a free lock is taken");
    assert!(!b.acquire(ttl).await.unwrap(), "b must wait while a holds it");
    assert!(a.acquire(ttl).await.unwrap(), "a renews its own lease");
    assert!(!b.acquire(ttl).await.unwrap(), "still a's after the renewal");
}

/// A lease its holder stops renewing lapses after its time to live; the other contender then
/// takes it, and the former holder has lost it.
pub async fn leader_lock_lease_that_is_not_renewed_passes_to_another(a: &dyn LeaderLock, b: &dyn LeaderLock) {
    assert!(a.acquire(Duration::from_secs(1)).await.unwrap());
    assert!(!b.acquire(Duration::from_secs(30)).await.unwrap(), "not before the lease lapses");
    // The lease lapses on the backend's clock, so poll with a deadline rather than guess.
    let started = std::time::Instant::now();
    while !b.acquire(Duration::from_secs(30)).await.unwrap() {
        assert!(started.elapsed() < EXPIRY_DEADLINE, "a lapsed lease must pass to b");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!a.acquire(Duration::from_secs(30)).await.unwrap(), "a lost it to b");
}

/// Releasing frees the lock at once, but only the holder can release it.
pub async fn leader_lock_release_frees_the_lock_only_for_its_holder(a: &dyn LeaderLock, b: &dyn LeaderLock) {
    let ttl = Duration::from_secs(30);
    assert!(a.acquire(ttl).await.unwrap());
    b.release().await.unwrap();
    assert!(!b.acquire(ttl).await.unwrap(), "b cannot release a's lock");
    a.release().await.unwrap();
    assert!(b.acquire(ttl).await.unwrap(), "free at once after a released it");
    assert!(!a.acquire(ttl).await.unwrap(), "and now b's");
}
