//! The store conformance suite on SQLite, plus SQLite-specific durability checks.

use refvid_store::{NewTask, SqliteStore, State, TaskStore, conformance};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

#[tokio::test]
async fn sqlite_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = || {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = dir.path().join(format!("store{n}.db"));
        async move { SqliteStore::open(&path).await.unwrap() }
    };
    conformance::run_all(fresh).await;
}

#[tokio::test]
async fn tasks_survive_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let task = NewTask {
        id: "t".into(),
        key_id: "k".into(),
        spec_json: "{}".into(),
        seed: 1,
        submit_ms: 1,
        max_attempts: 3,
        webhook_url: None,
        mock_status: None,
        max_active_for_key: None,
    };
    store.submit(&task).await.unwrap();
    store.close().await;
    let reopened = SqliteStore::open(&path).await.unwrap();
    assert_eq!(
        reopened.get("t").await.unwrap().unwrap().state,
        State::Queued
    );
}

#[tokio::test]
async fn concurrent_claims_never_hand_out_a_task_twice() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("c.db")).await.unwrap();
    for i in 0..40 {
        let task = NewTask {
            id: format!("t{i:02}"),
            key_id: "k".into(),
            spec_json: "{}".into(),
            seed: 1,
            submit_ms: i,
            max_attempts: 3,
            webhook_url: None,
            mock_status: None,
            max_active_for_key: None,
        };
        store.submit(&task).await.unwrap();
    }
    let mut handles = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(c) = store.claim(&format!("w{w}"), 100, 10_000).await.unwrap() {
                got.push(c.record.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 40);
}
