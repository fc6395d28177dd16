//! The behaviour every [`TaskStore`] must have, as one suite any backend's tests can run.
//!
//! Each check takes a fresh, empty store and panics with a description when the store breaks
//! the contract. Kept in the library (not `tests/`) so every backend crate can call it.

use crate::{Failure, Heartbeat, NewKey, NewTask, State, TaskStore};

fn task(id: &str, submit_ms: i64) -> NewTask {
    NewTask {
        id: id.into(),
        key_id: "k1".into(),
        spec_json: format!("{{\"id\":\"{id}\"}}"),
        seed: 7,
        submit_ms,
        max_attempts: 2,
    }
}

fn beat(lease_until_ms: i64, progress: u32) -> Heartbeat {
    Heartbeat { lease_until_ms, progress, eta_s: 3 }
}

/// Runs every check, each on a store made by `fresh`.
pub async fn run_all<S: TaskStore, F, Fut>(fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    keys_are_found_by_digest(&fresh().await).await;
    tasks_are_claimed_oldest_first_and_once(&fresh().await).await;
    heartbeats_record_progress_for_the_owner_only(&fresh().await).await;
    completed_tasks_are_never_claimed_again(&fresh().await).await;
    expired_leases_are_requeued_until_attempts_run_out(&fresh().await).await;
    transient_failures_retry_after_their_time(&fresh().await).await;
    final_failures_keep_their_reason(&fresh().await).await;
}

async fn keys_are_found_by_digest(store: &impl TaskStore) {
    assert_eq!(store.count_keys().await.unwrap(), 0);
    let key = NewKey { id: "k1".into(), name: "ci".into(), key_hash: "abc".into(), created_ms: 1 };
    store.insert_key(&key).await.unwrap();
    assert_eq!(store.find_key("abc").await.unwrap().unwrap().name, "ci");
    assert!(store.find_key("abd").await.unwrap().is_none());
    assert_eq!(store.count_keys().await.unwrap(), 1);
}

async fn tasks_are_claimed_oldest_first_and_once(store: &impl TaskStore) {
    store.submit(&task("b", 20)).await.unwrap();
    store.submit(&task("a", 10)).await.unwrap();
    let first = store.claim("w1", 100, 1000).await.unwrap().expect("a queued task");
    assert_eq!(first.record.id, "a");
    assert_eq!(first.record.state, State::Processing);
    assert_eq!(first.record.attempts, 1);
    assert_eq!(first.record.execute_ms, Some(100));
    assert_eq!(first.spec_json, "{\"id\":\"a\"}");
    let second = store.claim("w2", 100, 1000).await.unwrap().unwrap();
    assert_eq!(second.record.id, "b");
    assert!(store.claim("w3", 100, 1000).await.unwrap().is_none());
}

async fn heartbeats_record_progress_for_the_owner_only(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("w1", 100, 1000).await.unwrap().unwrap();
    assert!(store.heartbeat("a", "w1", &beat(2000, 40)).await.unwrap());
    assert!(!store.heartbeat("a", "w2", &beat(2000, 90)).await.unwrap());
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!((rec.progress, rec.eta_s), (40, 3));
    // The renewed lease holds past the old expiry.
    assert_eq!(store.reclaim_expired(1500).await.unwrap(), 0);
}

async fn completed_tasks_are_never_claimed_again(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("w1", 100, 1000).await.unwrap().unwrap();
    assert!(store.complete("a", "w1", "videos/a.mp4", 500).await.unwrap());
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(rec.state, State::Succeed);
    assert_eq!((rec.progress, rec.complete_ms), (100, Some(500)));
    assert_eq!(rec.output_key.as_deref(), Some("videos/a.mp4"));
    assert_eq!(store.reclaim_expired(i64::MAX).await.unwrap(), 0);
    assert!(store.claim("w2", 10_000, 20_000).await.unwrap().is_none());
    assert!(!store.complete("a", "w1", "again", 600).await.unwrap());
}

async fn expired_leases_are_requeued_until_attempts_run_out(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("dead", 100, 1000).await.unwrap().unwrap();
    assert_eq!(store.reclaim_expired(999).await.unwrap(), 0);
    assert_eq!(store.reclaim_expired(1001).await.unwrap(), 1);
    assert_eq!(store.get("a").await.unwrap().unwrap().state, State::Queued);
    // The dead worker can no longer touch it.
    assert!(!store.heartbeat("a", "dead", &beat(5000, 50)).await.unwrap());
    let again = store.claim("w2", 1100, 2000).await.unwrap().unwrap();
    assert_eq!(again.record.attempts, 2);
    assert!(!store.complete("a", "dead", "x", 1200).await.unwrap());
    // Second expiry with max_attempts = 2: the task fails for good, with a reason.
    assert_eq!(store.reclaim_expired(2001).await.unwrap(), 1);
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(rec.state, State::Failed);
    assert!(!rec.reason.is_empty());
}

async fn transient_failures_retry_after_their_time(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("w1", 100, 1000).await.unwrap().unwrap();
    let retry = Failure { reason: "blob store down".into(), now_ms: 200, retry_at_ms: Some(5000) };
    assert!(store.fail("a", "w1", &retry).await.unwrap());
    assert_eq!(store.get("a").await.unwrap().unwrap().state, State::Queued);
    assert!(store.claim("w1", 4999, 9000).await.unwrap().is_none());
    assert!(store.claim("w1", 5000, 9000).await.unwrap().is_some());
}

async fn final_failures_keep_their_reason(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("w1", 100, 1000).await.unwrap().unwrap();
    let fatal = Failure { reason: "image 1 is too small".into(), now_ms: 300, retry_at_ms: None };
    assert!(store.fail("a", "w1", &fatal).await.unwrap());
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!((rec.state, rec.reason.as_str(), rec.complete_ms), (State::Failed, "image 1 is too small", Some(300)));
    assert!(store.claim("w1", 10_000, 20_000).await.unwrap().is_none());
}
