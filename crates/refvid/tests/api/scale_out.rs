//! Many workers on PostgreSQL: one API node, two worker processes, one killed mid-task with
//! SIGKILL; every task still ends SUCCEED, and ends exactly once.

use crate::helpers::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn admin_url() -> String {
    std::env::var("REFVID_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A fresh database for this test, or `None` when PostgreSQL is absent and skipping is allowed.
async fn fresh_database() -> Option<String> {
    let admin = match sqlx::PgPool::connect(&admin_url()).await {
        Ok(pool) => pool,
        Err(e) => {
            assert_eq!(
                std::env::var("REFVID_SKIP_POSTGRES").as_deref(),
                Ok("1"),
                "no PostgreSQL ({e}); set REFVID_SKIP_POSTGRES=1 to skip"
            );
            eprintln!("SKIPPED: no PostgreSQL: {e}");
            return None;
        }
    };
    let name = format!("refvid_scale_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&admin)
    .await
    .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    let base = admin_url();
    Some(format!("{}/{name}", &base[..base.rfind('/').unwrap()]))
}

fn spawn(args: &[&str], data_dir: &Path, db: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_refvid"))
        .args(args)
        .args([
            "--lease-secs",
            "2",
            "--heartbeat-ms",
            "200",
            "--database-url",
            db,
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn api_url(child: &mut Child) -> String {
    let stdout = BufReader::new(child.stdout.take().unwrap());
    for line in stdout.lines() {
        if let Some(url) = line.unwrap().strip_prefix("refvid listening on ") {
            return url.trim().to_string();
        }
    }
    panic!("the API server did not report its address");
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn two_workers_one_killed_mid_task_every_task_succeeds_exactly_once() {
    let Some(db) = fresh_database().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut api = spawn(
        &["serve", "--no-worker", "--listen", "127.0.0.1:0"],
        dir.path(),
        &db,
    );
    let base = api_url(&mut api);
    let store = refvid::connect_store(Some(&db), dir.path()).await.unwrap();
    let key = refvid::keys_cmd::create_key(store.as_ref(), dir.path(), "scale")
        .await
        .unwrap();
    let mut workers = [
        spawn(&["worker"], dir.path(), &db),
        spawn(&["worker"], dir.path(), &db),
    ];
    let client = http_client();
    let mut ids = Vec::new();
    for seed in 1..=6 {
        let mut body = two_subject_body();
        body["seed"] = json!(seed);
        body["duration"] = json!(3);
        body["extra"] = json!({"webhook": {"url": "http://127.0.0.1:9/unreachable"}});
        let response = client
            .post(format!("{base}/v3/async/viduq2-pro-fast"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        ids.push(
            response.json::<Value>().await.unwrap()["task_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let victim = wait_for_a_running_worker(&pool, &workers).await;
    kill(&mut workers[victim]);
    for id in &ids {
        let last = wait_for(Duration::from_secs(300), &client, &base, &key, id)
            .await
            .pop()
            .unwrap();
        assert_eq!(last["task"]["status"], "TASK_STATUS_SUCCEED", "{last}");
        let events = store.deliveries_of(id).await.unwrap();
        assert_eq!(
            events.len(),
            1,
            "task {id} turned terminal {} times",
            events.len()
        );
    }
    let retried: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE attempts > 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(retried >= 1, "the killed worker's task ran again");
    for w in &mut workers {
        kill(w);
    }
    kill(&mut api);
}

/// Waits until one of the workers holds a lease mid-render; returns its index.
async fn wait_for_a_running_worker(pool: &sqlx::PgPool, workers: &[Child; 2]) -> usize {
    let start = Instant::now();
    loop {
        let owners: Vec<String> = sqlx::query_scalar(
            "SELECT lease_owner FROM tasks WHERE status = 'PROCESSING' AND progress > 10 AND lease_owner IS NOT NULL",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        for owner in owners {
            if let Some(i) = workers
                .iter()
                .position(|w| owner.contains(&format!("-{}-", w.id())))
            {
                return i;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no worker started a task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
