use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use microdash_adapter_memory::MemoryLeaderLock;
use microdash_usecases::{Job, JobError, SchedulerOptions, SchedulerService};
use tokio::sync::oneshot;

/// Counts its runs.
struct Counting {
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl Job for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }
    async fn run(&self) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn scheduler(lock: MemoryLeaderLock) -> (SchedulerService, Arc<AtomicUsize>) {
    let runs = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(Counting { runs: runs.clone() });
    (SchedulerService::new(Arc::new(lock), vec![job], SchedulerOptions::default()), runs)
}

#[tokio::test(start_paused = true)]
async fn only_one_of_two_schedulers_runs_the_jobs_and_the_other_takes_over_when_it_stops() {
    let lock = MemoryLeaderLock::new();
    let (first, first_runs) = scheduler(lock.handle("a"));
    let (second, second_runs) = scheduler(lock.handle("b"));
    let (stop_first, first_stopped) = oneshot::channel::<()>();
    let first =
        tokio::spawn(async move { first.run(async { first_stopped.await.ok().unwrap_or(()) }).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = tokio::spawn(async move { second.run(std::future::pending()).await });

    tokio::time::sleep(Duration::from_secs(30)).await;
    assert!(first_runs.load(Ordering::SeqCst) >= 25, "the leader runs its job every second");
    assert_eq!(second_runs.load(Ordering::SeqCst), 0, "the standby runs nothing");

    // A clean stop releases the lock: the standby takes over at its next poll.
    stop_first.send(()).unwrap();
    first.await.unwrap();
    let stopped_at = first_runs.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(second_runs.load(Ordering::SeqCst) >= 1, "the standby took over within seconds");
    assert_eq!(first_runs.load(Ordering::SeqCst), stopped_at);
    second.abort();
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_dies_without_releasing_is_replaced_once_its_lease_runs_out() {
    let lock = MemoryLeaderLock::new();
    let (first, _) = scheduler(lock.handle("a"));
    let (second, second_runs) = scheduler(lock.handle("b"));
    let first = tokio::spawn(async move { first.run(std::future::pending()).await });
    tokio::time::sleep(Duration::from_millis(10)).await;
    let second = tokio::spawn(async move { second.run(std::future::pending()).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(second_runs.load(Ordering::SeqCst), 0);

    first.abort(); // like a SIGKILL: no release
    let lease = SchedulerOptions::default().lease;
    tokio::time::sleep(lease / 2).await;
    assert_eq!(second_runs.load(Ordering::SeqCst), 0, "the lease still holds");
    tokio::time::sleep(lease).await;
    assert!(second_runs.load(Ordering::SeqCst) >= 1, "taken over once the lease ran out");
    second.abort();
}

#[tokio::test(start_paused = true)]
async fn a_scheduler_without_jobs_waits_quietly_for_shutdown_and_releases_the_lock() {
    let lock = MemoryLeaderLock::new();
    let idle = SchedulerService::new(Arc::new(lock.handle("a")), Vec::new(), SchedulerOptions::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let run = tokio::spawn(async move { idle.run(async { stopped.await.ok().unwrap_or(()) }).await });
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(1), run).await.expect("stops on shutdown").unwrap();
    let (other, other_runs) = scheduler(lock.handle("b"));
    let other = tokio::spawn(async move { other.run(std::future::pending()).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(other_runs.load(Ordering::SeqCst), 1, "the released lock is free at once");
    other.abort();
}
