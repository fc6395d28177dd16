//! The behaviour every [`TaskStore`] must have, as one suite any backend's tests can run.
//!
//! Each check takes a fresh, empty store and panics with a description when the store breaks
//! the contract. Kept in the library (not `tests/`) so every backend crate can call it.

use crate::{DeliveryOutcome, Failure, Heartbeat, NewKey, NewTask, Outputs, State, TaskStore};

fn task(id: &str, submit_ms: i64) -> NewTask {
    NewTask {
        id: id.into(),
        key_id: "k1".into(),
        spec_json: format!("{{\"id\":\"{id}\"}}"),
        seed: 7,
        submit_ms,
        max_attempts: 2,
        webhook_url: None,
        mock_status: None,
        max_active_for_key: None,
    }
}

fn out(video: &str) -> Outputs {
    Outputs {
        video_key: video.into(),
        cover_key: Some(format!("{video}.jpg")),
        request_info: r#"{"engine":"test"}"#.into(),
    }
}

fn beat(lease_until_ms: i64, progress: u32) -> Heartbeat {
    Heartbeat {
        lease_until_ms,
        progress,
        eta_s: 3,
    }
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
    terminal_tasks_queue_their_webhook_once(&fresh().await).await;
    deliveries_are_leased_retried_and_given_up(&fresh().await).await;
    test_mode_tasks_are_not_run_and_send_a_mock_event(&fresh().await).await;
    cancelled_tasks_fail_and_their_worker_loses_the_lease(&fresh().await).await;
    a_key_cannot_exceed_its_active_task_quota(&fresh().await).await;
}

fn hooked(id: &str) -> NewTask {
    NewTask {
        webhook_url: Some(format!("http://hook/{id}")),
        ..task(id, 10)
    }
}

async fn keys_are_found_by_digest(store: &impl TaskStore) {
    assert_eq!(store.count_keys().await.unwrap(), 0);
    let key = NewKey {
        id: "k1".into(),
        name: "ci".into(),
        key_hash: "abc".into(),
        created_ms: 1,
    };
    store.insert_key(&key).await.unwrap();
    assert_eq!(store.find_key("abc").await.unwrap().unwrap().name, "ci");
    assert!(store.find_key("abd").await.unwrap().is_none());
    assert_eq!(store.count_keys().await.unwrap(), 1);
    assert_eq!(store.revoke_key("ci", 5).await.unwrap(), 1);
    assert!(
        store.find_key("abc").await.unwrap().is_none(),
        "a revoked key no longer works"
    );
    assert_eq!(store.count_keys().await.unwrap(), 0);
    assert_eq!(store.revoke_key("ci", 6).await.unwrap(), 0);
}

async fn tasks_are_claimed_oldest_first_and_once(store: &impl TaskStore) {
    store.submit(&task("b", 20)).await.unwrap();
    store.submit(&task("a", 10)).await.unwrap();
    assert_eq!(store.queue_depth().await.unwrap(), 2);
    let first = store
        .claim("w1", 100, 1000)
        .await
        .unwrap()
        .expect("a queued task");
    assert_eq!(store.queue_depth().await.unwrap(), 1);
    let mut counts = store.count_by_state().await.unwrap();
    counts.sort_by_key(|(s, _)| s.as_str());
    assert_eq!(counts, vec![(State::Processing, 1), (State::Queued, 1)]);
    assert_eq!(first.record.id, "a");
    assert_eq!(first.record.state, State::Processing);
    assert_eq!(first.record.attempts, 1);
    assert_eq!(first.record.execute_ms, Some(100));
    assert_eq!(first.spec_json, "{\"id\":\"a\"}");
    assert_eq!(
        store.get_spec("b").await.unwrap().as_deref(),
        Some("{\"id\":\"b\"}")
    );
    assert_eq!(store.get_spec("nope").await.unwrap(), None);
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
    assert!(
        store
            .complete("a", "w1", &out("videos/a.mp4"), 500)
            .await
            .unwrap()
    );
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(rec.state, State::Succeed);
    assert_eq!((rec.progress, rec.complete_ms), (100, Some(500)));
    assert_eq!(
        rec.request_info, r#"{"engine":"test"}"#,
        "kept when it ends"
    );
    assert_eq!(rec.output_key.as_deref(), Some("videos/a.mp4"));
    assert_eq!(rec.cover_key.as_deref(), Some("videos/a.mp4.jpg"));
    assert_eq!(store.reclaim_expired(i64::MAX).await.unwrap(), 0);
    assert!(store.claim("w2", 10_000, 20_000).await.unwrap().is_none());
    assert!(!store.complete("a", "w1", &out("again"), 600).await.unwrap());
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
    assert!(!store.complete("a", "dead", &out("x"), 1200).await.unwrap());
    // Second expiry with max_attempts = 2: the task fails for good, with a reason.
    assert_eq!(store.reclaim_expired(2001).await.unwrap(), 1);
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(rec.state, State::Failed);
    assert!(!rec.reason.is_empty());
}

async fn transient_failures_retry_after_their_time(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    let claimed = store.claim("w1", 100, 1000).await.unwrap().unwrap();
    assert_eq!(claimed.record.request_info, "", "nothing until it ends");
    let retry = Failure {
        reason: "blob store down".into(),
        now_ms: 200,
        retry_at_ms: Some(5000),
        request_info: r#"{"engine":"test"}"#.into(),
    };
    assert!(store.fail("a", "w1", &retry).await.unwrap());
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(rec.state, State::Queued);
    assert_eq!(rec.request_info, "", "a queued task has not ended");
    assert!(store.claim("w1", 4999, 9000).await.unwrap().is_none());
    assert!(store.claim("w1", 5000, 9000).await.unwrap().is_some());
}

async fn final_failures_keep_their_reason(store: &impl TaskStore) {
    store.submit(&task("a", 10)).await.unwrap();
    store.claim("w1", 100, 1000).await.unwrap().unwrap();
    let fatal = Failure {
        reason: "image 1 is too small".into(),
        now_ms: 300,
        retry_at_ms: None,
        request_info: r#"{"engine":"test","model":"m"}"#.into(),
    };
    assert!(store.fail("a", "w1", &fatal).await.unwrap());
    let rec = store.get("a").await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.reason.as_str(), rec.complete_ms),
        (State::Failed, "image 1 is too small", Some(300))
    );
    assert_eq!(rec.request_info, r#"{"engine":"test","model":"m"}"#);
    assert!(store.claim("w1", 10_000, 20_000).await.unwrap().is_none());
}

async fn terminal_tasks_queue_their_webhook_once(store: &impl TaskStore) {
    store.submit(&hooked("a")).await.unwrap();
    store.submit(&task("plain", 11)).await.unwrap();
    store
        .submit(&NewTask {
            submit_ms: 12,
            ..hooked("dies")
        })
        .await
        .unwrap();
    assert!(
        store
            .claim_delivery(i64::MAX - 1, i64::MAX)
            .await
            .unwrap()
            .is_none()
    );
    let a = store.claim("w", 100, 1000).await.unwrap().unwrap();
    assert_eq!(a.record.id, "a");
    store.heartbeat("a", "w", &beat(900, 50)).await.unwrap();
    assert!(
        store.deliveries_of("a").await.unwrap().is_empty(),
        "no event before the end"
    );
    store
        .complete("a", "w", &out("videos/a.mp4"), 500)
        .await
        .unwrap();
    let plain = store.claim("w", 100, 1000).await.unwrap().unwrap();
    assert_eq!(plain.record.id, "plain");
    store
        .complete(&plain.record.id, "w", &out("videos/p.mp4"), 500)
        .await
        .unwrap();
    assert!(store.deliveries_of("plain").await.unwrap().is_empty());
    // A task failed by the reaper (out of attempts) sends its event too.
    for now in [2000, 4000] {
        store.claim("w", now, now + 10).await.unwrap().unwrap();
        store.reclaim_expired(now + 20).await.unwrap();
    }
    assert_eq!(
        store.get("dies").await.unwrap().unwrap().state,
        State::Failed
    );
    assert_eq!(store.deliveries_of("dies").await.unwrap().len(), 1);
    let first = store.claim_delivery(10_000, 20_000).await.unwrap().unwrap();
    assert_eq!(
        (first.task_id.as_str(), first.url.as_str(), first.attempts),
        ("a", "http://hook/a", 1)
    );
    assert_eq!(first.mock_status, None);
    let records = store.deliveries_of("a").await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].state, "PENDING");
}

async fn deliveries_are_leased_retried_and_given_up(store: &impl TaskStore) {
    store.submit(&hooked("a")).await.unwrap();
    store.claim("w", 100, 1000).await.unwrap().unwrap();
    store.complete("a", "w", &out("k"), 500).await.unwrap();
    let d = store.claim_delivery(600, 5000).await.unwrap().unwrap();
    assert!(
        store.claim_delivery(4999, 9000).await.unwrap().is_none(),
        "leased"
    );
    let retry = DeliveryOutcome::Retry {
        at_ms: 7000,
        error: "HTTP 500".into(),
    };
    store.finish_delivery(d.id, &retry).await.unwrap();
    assert!(store.claim_delivery(6999, 9000).await.unwrap().is_none());
    let again = store.claim_delivery(7000, 9000).await.unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (d.id, 2));
    store
        .finish_delivery(
            d.id,
            &DeliveryOutcome::GaveUp {
                error: "timeout".into(),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .claim_delivery(i64::MAX - 1, i64::MAX)
            .await
            .unwrap()
            .is_none()
    );
    let rec = &store.deliveries_of("a").await.unwrap()[0];
    assert_eq!(
        (rec.state.as_str(), rec.attempts, rec.last_error.as_str()),
        ("GAVE_UP", 2, "timeout")
    );
    // A crashed deliverer's lease runs out and the delivery is claimable again.
    store.submit(&hooked("b")).await.unwrap();
    store.claim("w", 100, 1000).await.unwrap().unwrap();
    store.complete("b", "w", &out("k"), 500).await.unwrap();
    let b = store.claim_delivery(600, 800).await.unwrap().unwrap();
    assert_eq!(
        store.claim_delivery(801, 900).await.unwrap().unwrap().id,
        b.id
    );
    store
        .finish_delivery(b.id, &DeliveryOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(
        store.deliveries_of("b").await.unwrap()[0].state,
        "DELIVERED"
    );
}

async fn test_mode_tasks_are_not_run_and_send_a_mock_event(store: &impl TaskStore) {
    let mock = NewTask {
        mock_status: Some("TASK_STATUS_SUCCEED".into()),
        ..hooked("m")
    };
    store.submit(&mock).await.unwrap();
    let queued = NewTask {
        mock_status: Some("TASK_STATUS_QUEUED".into()),
        ..hooked("q")
    };
    store.submit(&queued).await.unwrap();
    assert_eq!(store.get("m").await.unwrap().unwrap().state, State::Succeed);
    assert_eq!(store.get("q").await.unwrap().unwrap().state, State::Queued);
    assert!(
        store
            .claim("w", i64::MAX - 1, i64::MAX)
            .await
            .unwrap()
            .is_none(),
        "test-mode tasks never run"
    );
    let d = store.claim_delivery(10, 100).await.unwrap().unwrap();
    assert_eq!(
        (d.task_id.as_str(), d.mock_status.as_deref()),
        ("m", Some("TASK_STATUS_SUCCEED"))
    );
}

async fn cancelled_tasks_fail_and_their_worker_loses_the_lease(store: &impl TaskStore) {
    store.submit(&task("q", 10)).await.unwrap();
    store
        .submit(&NewTask {
            submit_ms: 5,
            ..hooked("r")
        })
        .await
        .unwrap();
    let running = store.claim("w", 100, 1000).await.unwrap().unwrap();
    assert_eq!(running.record.id, "r");
    assert!(
        store.cancel("r", "other-key", 200).await.unwrap().is_none(),
        "another key's task"
    );
    let rec = store.cancel("r", "k1", 200).await.unwrap().unwrap();
    assert_eq!(
        (rec.state, rec.reason.as_str(), rec.complete_ms),
        (State::Failed, "cancelled", Some(200))
    );
    assert!(
        !store.heartbeat("r", "w", &beat(2000, 60)).await.unwrap(),
        "the worker must stop"
    );
    assert!(!store.complete("r", "w", &out("late"), 300).await.unwrap());
    assert_eq!(
        store.deliveries_of("r").await.unwrap().len(),
        1,
        "cancellation sends the event"
    );
    assert_eq!(
        store.cancel("q", "k1", 200).await.unwrap().unwrap().state,
        State::Failed
    );
    assert!(store.claim("w", 10_000, 20_000).await.unwrap().is_none());
    // Cancelling an ended task changes nothing.
    let again = store.cancel("r", "k1", 999).await.unwrap().unwrap();
    assert_eq!(again.complete_ms, Some(200));
    assert!(store.cancel("missing", "k1", 1).await.unwrap().is_none());
}

async fn a_key_cannot_exceed_its_active_task_quota(store: &impl TaskStore) {
    let limited = |id: &str| NewTask {
        max_active_for_key: Some(2),
        ..task(id, 10)
    };
    assert!(store.submit(&limited("a")).await.unwrap());
    assert!(store.submit(&limited("b")).await.unwrap());
    assert!(!store.submit(&limited("c")).await.unwrap());
    assert!(
        store.get("c").await.unwrap().is_none(),
        "a refused task is not stored"
    );
    let other = NewTask {
        key_id: "k2".into(),
        ..limited("d")
    };
    assert!(store.submit(&other).await.unwrap(), "quotas are per key");
    let a = store.claim("w", 100, 1000).await.unwrap().unwrap();
    assert!(
        !store.submit(&limited("c")).await.unwrap(),
        "running tasks count too"
    );
    store
        .complete(&a.record.id, "w", &out("v"), 200)
        .await
        .unwrap();
    assert!(
        store.submit(&limited("c")).await.unwrap(),
        "finished tasks do not count"
    );
}
