//! The SQLite task store: one file in the data directory, WAL mode, every commit synced.
//!
//! Claims are one `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING`, which SQLite runs under
//! its single writer lock, so two workers (threads or processes) never claim the same task.

use crate::{
    ClaimedTask, Delivery, DeliveryOutcome, DeliveryRecord, Failure, Heartbeat, KeyRecord, NewKey,
    NewTask, Outputs, Result, StoreError, TaskRecord, TaskStore, rows,
};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::Path;
use std::time::Duration;

/// Columns of a [`TaskRecord`], as read by [`rows::task_record`] (a macro so that queries stay
/// `&'static str` literals, which sqlx requires of SQL text).
macro_rules! record_columns {
    () => {
        "id, key_id, seed, status, reason, progress, eta_s, submit_ms, execute_ms, complete_ms, \
         attempts, output_key, cover_key, request_info"
    };
}

/// A [`TaskStore`] on a SQLite file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migration)?;
        Ok(Self { pool })
    }

    /// Closes every connection (used before a simulated crash in tests, and at shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl TaskStore for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn insert_key(&self, key: &NewKey) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, name, key_hash, created_ms) VALUES (?, ?, ?, ?)")
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
            sqlx::query("SELECT id, name FROM api_keys WHERE key_hash = ? AND revoked_ms IS NULL")
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
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_ms = ? WHERE (id = ? OR name = ?) AND revoked_ms IS NULL",
        )
        .bind(now_ms)
        .bind(id_or_name)
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
        let inserted = sqlx::query(
            "INSERT INTO tasks (id, key_id, spec, seed, status, reason, submit_ms, complete_ms, \
               max_attempts, run_after_ms, webhook_url) \
             SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE (SELECT COUNT(*) FROM tasks \
               WHERE key_id = ? AND status IN ('QUEUED', 'PROCESSING')) < ?",
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
        .bind(&task.key_id)
        .bind(task.max_active_for_key.map_or(i64::MAX, i64::from))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Ok(false);
        }
        if let (Some(url), Some(mock)) = (&task.webhook_url, &task.mock_status) {
            sqlx::query(
                "INSERT INTO webhook_deliveries (task_id, url, mock_status, next_attempt_ms, created_ms) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .bind(&task.id)
            .bind(url)
            .bind(mock)
            .bind(task.submit_ms)
            .bind(task.submit_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn cancel(&self, id: &str, key_id: &str, now_ms: i64) -> Result<Option<TaskRecord>> {
        sqlx::query(
            "UPDATE tasks SET status = 'FAILED', reason = ?, complete_ms = ?, eta_s = 0, \
               lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = ? AND key_id = ? AND status IN ('QUEUED', 'PROCESSING')",
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
        let sql = concat!("SELECT ", record_columns!(), " FROM tasks WHERE id = ?");
        let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::task_record).transpose()
    }

    async fn get_spec(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT spec FROM tasks WHERE id = ?")
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
            "UPDATE tasks SET status = 'PROCESSING', lease_owner = ?, lease_expires_ms = ?, \
               attempts = attempts + 1, progress = 0, execute_ms = COALESCE(execute_ms, ?) \
             WHERE id = (SELECT id FROM tasks WHERE status = 'QUEUED' AND run_after_ms <= ? \
                         ORDER BY run_after_ms, submit_ms LIMIT 1) \
             RETURNING ",
            record_columns!(),
            ", spec"
        );
        let row = sqlx::query(sql)
            .bind(worker)
            .bind(lease_until_ms)
            .bind(now_ms)
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
            "UPDATE tasks SET lease_expires_ms = ?, progress = ?, eta_s = ? \
             WHERE id = ? AND lease_owner = ? AND status = 'PROCESSING'",
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
            "UPDATE tasks SET status = 'SUCCEED', progress = 100, eta_s = 0, output_key = ?, cover_key = ?, \
               complete_ms = ?, lease_owner = NULL, lease_expires_ms = NULL, reason = '', request_info = ? \
             WHERE id = ? AND lease_owner = ? AND status = 'PROCESSING'",
        )
        .bind(&outputs.video_key)
        .bind(&outputs.cover_key)
        .bind(now_ms)
        .bind(&outputs.request_info)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn fail(&self, id: &str, worker: &str, failure: &Failure) -> Result<bool> {
        let retry_at = failure.retry_at_ms.unwrap_or(-1);
        let done = sqlx::query(
            "UPDATE tasks SET \
               status = CASE WHEN ? >= 0 AND attempts < max_attempts THEN 'QUEUED' ELSE 'FAILED' END, \
               run_after_ms = CASE WHEN ? >= 0 THEN ? ELSE run_after_ms END, \
               complete_ms = CASE WHEN ? >= 0 AND attempts < max_attempts THEN NULL ELSE ? END, \
               reason = CASE WHEN ? >= 0 AND attempts < max_attempts THEN '' ELSE ? END, \
               request_info = CASE WHEN ? >= 0 AND attempts < max_attempts THEN '' ELSE ? END, \
               eta_s = 0, lease_owner = NULL, lease_expires_ms = NULL \
             WHERE id = ? AND lease_owner = ? AND status = 'PROCESSING'",
        )
        .bind(retry_at)
        .bind(retry_at)
        .bind(retry_at)
        .bind(retry_at)
        .bind(failure.now_ms)
        .bind(retry_at)
        .bind(&failure.reason)
        .bind(retry_at)
        .bind(&failure.request_info)
        .bind(id)
        .bind(worker)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn reclaim_expired(&self, now_ms: i64) -> Result<u64> {
        let done = sqlx::query(
            "UPDATE tasks SET \
               status = CASE WHEN attempts < max_attempts THEN 'QUEUED' ELSE 'FAILED' END, \
               reason = CASE WHEN attempts < max_attempts THEN '' ELSE ? END, \
               complete_ms = CASE WHEN attempts < max_attempts THEN NULL ELSE ? END, \
               progress = 0, eta_s = 0, lease_owner = NULL, lease_expires_ms = NULL \
             WHERE status = 'PROCESSING' AND lease_expires_ms < ?",
        )
        .bind(crate::INTERRUPTED_REASON)
        .bind(now_ms)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn claim_delivery(&self, now_ms: i64, lease_until_ms: i64) -> Result<Option<Delivery>> {
        let row = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_ms = ? \
             WHERE id = (SELECT id FROM webhook_deliveries WHERE state = 'PENDING' \
                         AND next_attempt_ms <= ? ORDER BY next_attempt_ms, id LIMIT 1) \
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
            "UPDATE webhook_deliveries SET state = ?, \
               next_attempt_ms = COALESCE(?, next_attempt_ms), last_error = ? WHERE id = ?",
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
            "SELECT state, attempts, last_error FROM webhook_deliveries WHERE task_id = ? ORDER BY id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        found.iter().map(rows::delivery_record).collect()
    }
}
