//! Reading records out of result rows, shared by every SQL backend.

use crate::{Delivery, DeliveryRecord, Result, State, StoreError, TaskRecord};
use sqlx::{ColumnIndex, Database, Decode, Row, Type};

/// A row type whose columns decode into the plain types the records use.
pub(crate) trait PlainRow: Row
where
    Self: Sized,
{
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
}

impl<R> PlainRow for R
where
    R: Row,
    for<'a> &'a str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    R::Database: Database,
{
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }

    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }

    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }

    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
}

/// A task record from the columns named by each backend's `record_columns!`.
pub(crate) fn task_record(row: &impl PlainRow) -> Result<TaskRecord> {
    let status = row.text("status")?;
    let state =
        State::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?;
    Ok(TaskRecord {
        id: row.text("id")?,
        key_id: row.text("key_id")?,
        seed: row.int("seed")? as u32,
        state,
        reason: row.text("reason")?,
        progress: row.int("progress")? as u32,
        eta_s: row.int("eta_s")? as u64,
        submit_ms: row.int("submit_ms")?,
        execute_ms: row.opt_int("execute_ms")?,
        complete_ms: row.opt_int("complete_ms")?,
        attempts: row.int("attempts")? as u32,
        output_key: row.opt_text("output_key")?,
        cover_key: row.opt_text("cover_key")?,
        request_info: row.text("request_info")?,
    })
}

/// A claimed delivery from `id, task_id, url, mock_status, attempts`.
pub(crate) fn delivery(row: &impl PlainRow) -> Result<Delivery> {
    Ok(Delivery {
        id: row.int("id")?,
        task_id: row.text("task_id")?,
        url: row.text("url")?,
        mock_status: row.opt_text("mock_status")?,
        attempts: row.int("attempts")? as u32,
    })
}

/// A delivery's state from `state, attempts, last_error`.
pub(crate) fn delivery_record(row: &impl PlainRow) -> Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        state: row.text("state")?,
        attempts: row.int("attempts")? as u32,
        last_error: row.text("last_error")?,
    })
}

/// A `(status, n)` count.
pub(crate) fn state_count(row: &impl PlainRow) -> Result<(State, u64)> {
    let status = row.text("status")?;
    let state =
        State::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?;
    Ok((state, row.int("n")? as u64))
}
