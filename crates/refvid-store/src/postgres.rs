//! The PostgreSQL task store, for many API servers and workers sharing one database.
//!
//! Claims take the oldest runnable row with `FOR UPDATE SKIP LOCKED`, so concurrent workers
//! never wait on each other or take the same task. Inserting a queued task fires
//! `NOTIFY refvid_tasks`, which [`TaskStore::wait_for_work`] listens for; polling remains the
//! fallback when a notification is missed.

use crate::{
    ClaimedTask, Delivery, DeliveryOutcome, DeliveryRecord, Failure, Heartbeat, KeyRecord, NewKey,
    NewTask, Outputs, Result, StoreError, TaskRecord, TaskStore, rows,
};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Mutex;

macro_rules! record_columns {
    () => {
        "id, key_id, seed, status, reason, progress, eta_s, submit_ms, execute_ms, complete_ms, \
         attempts, output_key, cover_key, request_info"
    };
}

/// A [`TaskStore`] on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    listener: Mutex<Option<PgListener>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://…`), optionally inside `schema` (created if missing; used
    /// by tests to isolate runs), and applies migrations.
    pub async fn connect(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut options = PgConnectOptions::from_str(url)?;
        if let Some(schema) = schema {
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await?;
            let create = format!(
                "CREATE SCHEMA IF NOT EXISTS \"{}\"",
                schema.replace('"', "")
            );
            sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self {
            pool,
            listener: Mutex::new(None),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn listen(&self) -> Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen("refvid_tasks").await?;
        Ok(listener)
    }
}

#[async_trait]
impl TaskStore for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_key(&self, key: &NewKey) -> Result<()> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, key_hash, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(&key.key_hash)
        .bind(key.created_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>> {
        let row =
            sqlx::query("SELECT id, name FROM api_keys WHERE key_hash = $1 AND revoked_ms IS NULL")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok(KeyRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
            })
        })
        .transpose()
    }

    async fn queue_depth(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks WHERE status = 'QUEUED' AND run_after_ms < 9000000000000000000")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn count_by_state(&self) -> Result<Vec<(crate::State, u64)>> {
        let found = sqlx::query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::state_count).collect()
    }

    async fn revoke_key(&self, id_or_name: &str, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE api_keys SET revoked_ms = $1 WHERE (id = $2 OR name = $2) AND revoked_ms IS NULL")
            .bind(now_ms)
            .bind(id_or_name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn count_keys(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE revoked_ms IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    async fn submit(&self, task: &NewTask) -> Result<bool> {
        let (status, run_after, reason) = crate::initial_state(task);
        let mut tx = self.pool.begin().await?;
        // One key's submits queue behind each other so the quota check cannot race.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&task.key_id)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO tasks (id, key_id, spec, seed, status, reason, submit_ms, complete_ms, \
               max_attempts, run_after_ms, webhook_url) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 WHERE (SELECT COUNT(*) FROM tasks \
               WHERE key_id = $2 AND status IN ('QUEUED', 'PROCESSING')) < $12",
        )
        .bind(&task.id)
        .bind(&task.key_id)
        .bind(&task.spec_json)
        .bind(task.seed as i64)
        .bind(status)
        .bind(reason)
        .bind(task.submit_ms)
        .bind(task.mock_status.as_ref().map(|_| task.submit_ms))
        .bind(task.max_attempts as i64)
        .bind(run_after)
        .bind(&task.webhook_url)
        .bind(task.max_active_for_key.map_or(i64::MAX, i64::from))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        if let (Some(url), Some(mock)) = (&task.webhook_url, &task.mock_status) {
            sqlx::query(
                "INSERT INTO webhook_deliveries (task_id, url, mock_status, next_attempt_ms, created_ms) \
                 VALUES ($1, $2, $3, $4, $4)",
            )
            .bind(&task.id)
            .bind(url)
            .bind(mock)
            .bind(task.submit_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn cancel(&self, id: &str, key_id: &str, now_ms: i64) -> Result<Option<TaskRecord>> {
        sqlx::query(
            "UPDATE tasks SET status = 'FAILED', reason = $1, complete_ms = $2, eta_s = 0, \
               lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = $3 AND key_id = $4 AND status IN ('QUEUED', 'PROCESSING')",
        )
        .bind(crate::CANCELLED_REASON)
        .bind(now_ms)
        .bind(id)
        .bind(key_id)
        .execute(&self.pool)
        .await?;
        Ok(self.get(id).await?.filter(|r| r.key_id == key_id))
    }

    async fn get(&self, id: &str) -> Result<Option<TaskRecord>> {
        let sql = concat!("SELECT ", record_columns!(), " FROM tasks WHERE id = $1");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::task_record).transpose()
    }

    async fn get_spec(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT spec FROM tasks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("spec")).transpose()?)
    }

    async fn claim(
        &self,
        worker: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<Option<ClaimedTask>> {
        let sql = concat!(
            "UPDATE tasks SET status = 'PROCESSING', lease_owner = $1, lease_expires_ms = $2, \
               attempts = attempts + 1, progress = 0, execute_ms = COALESCE(execute_ms, $3) \
             WHERE id = (SELECT id FROM tasks WHERE status = 'QUEUED' AND run_after_ms <= $3 \
                         ORDER BY run_after_ms, submit_ms LIMIT 1 FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            record_columns!(),
            ", spec"
        );
        let row = sqlx::query(sql)
            .bind(worker)
            .bind(lease_until_ms)
            .bind(now_ms)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ClaimedTask {
            record: rows::task_record(&row)?,
            spec_json: row.try_get("spec")?,
            lease_until_ms,
        }))
    }

    async fn heartbeat(&self, id: &str, worker: &str, beat: &Heartbeat) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET lease_expires_ms = $1, progress = $2, eta_s = $3 \
             WHERE id = $4 AND lease_owner = $5 AND status = 'PROCESSING'",
        )
        .bind(beat.lease_until_ms)
        .bind(beat.progress.min(100) as i64)
        .bind(beat.eta_s as i64)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn complete(
        &self,
        id: &str,
        worker: &str,
        outputs: &Outputs,
        now_ms: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET status = 'SUCCEED', progress = 100, eta_s = 0, output_key = $1, \
               cover_key = $2, complete_ms = $3, lease_owner = NULL, lease_expires_ms = NULL, reason = '', \
               request_info = $6 \
             WHERE id = $4 AND lease_owner = $5 AND status = 'PROCESSING'",
        )
        .bind(&outputs.video_key)
        .bind(&outputs.cover_key)
        .bind(now_ms)
        .bind(id)
        .bind(worker)
        .bind(&outputs.request_info)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(&self, id: &str, worker: &str, failure: &Failure) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tasks SET \
               status = CASE WHEN $1 >= 0 AND attempts < max_attempts THEN 'QUEUED' ELSE 'FAILED' END, \
               run_after_ms = CASE WHEN $1 >= 0 THEN $1 ELSE run_after_ms END, \
               complete_ms = CASE WHEN $1 >= 0 AND attempts < max_attempts THEN NULL ELSE $2 END, \
               reason = CASE WHEN $1 >= 0 AND attempts < max_attempts THEN '' ELSE $3 END, \
               request_info = CASE WHEN $1 >= 0 AND attempts < max_attempts THEN '' ELSE $6 END, \
               eta_s = 0, lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = $4 AND lease_owner = $5 AND status = 'PROCESSING'",
        )
        .bind(failure.retry_at_ms.unwrap_or(-1))
        .bind(failure.now_ms)
        .bind(&failure.reason)
        .bind(id)
        .bind(worker)
        .bind(&failure.request_info)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reclaim_expired(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE tasks SET \
               status = CASE WHEN attempts < max_attempts THEN 'QUEUED' ELSE 'FAILED' END, \
               reason = CASE WHEN attempts < max_attempts THEN '' ELSE $2 END, \
               complete_ms = CASE WHEN attempts < max_attempts THEN NULL ELSE $1 END, \
               progress = 0, eta_s = 0, lease_owner = NULL, lease_expires_ms = NULL \
             WHERE status = 'PROCESSING' AND lease_expires_ms < $1",
        )
        .bind(now_ms)
        .bind(crate::INTERRUPTED_REASON)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim_delivery(&self, now_ms: i64, lease_until_ms: i64) -> Result<Option<Delivery>> {
        let row = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = $1 \
             WHERE id = (SELECT id FROM webhook_deliveries WHERE state = 'PENDING' \
                         AND next_attempt_ms <= $2 ORDER BY next_attempt_ms, id LIMIT 1 \
                         FOR UPDATE SKIP LOCKED) \
             RETURNING id, task_id, url, mock_status, attempts",
        )
        .bind(lease_until_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(rows::delivery(&row)?))
    }

    async fn finish_delivery(&self, id: i64, outcome: &DeliveryOutcome) -> Result<()> {
        let (state, next, error) = crate::delivery_update(outcome);
        sqlx::query(
            "UPDATE webhook_deliveries SET state = $1, \
               next_attempt_ms = COALESCE($2, next_attempt_ms), last_error = $3 WHERE id = $4",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn deliveries_of(&self, task_id: &str) -> Result<Vec<DeliveryRecord>> {
        let found = sqlx::query(
            "SELECT state, attempts, last_error FROM webhook_deliveries WHERE task_id = $1 ORDER BY id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::delivery_record).collect()
    }

    async fn wait_for_work(&self, max: Duration) {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            *guard = self.listen().await.ok();
        }
        let Some(listener) = guard.as_mut() else {
            tokio::time::sleep(max).await;
            return;
        };
        if let Ok(Err(_)) = tokio::time::timeout(max, listener.recv()).await {
            *guard = None; // reconnect next time; polling covers the gap
        }
    }
}
