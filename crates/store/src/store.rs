//! [`Store`] and its operations.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqlitePool, SqliteRow};

use crate::clock::now_rfc3339;
use crate::{NewRun, RunRow, RunStatus, SampleRow, StoreError, sql, sqlite};

/// How many matching ids an ambiguous [`Store::find_run`] error lists.
pub const AMBIGUOUS_LIST_MAX: usize = 10;

/// A handle on one store file. Cloning is cheap (an `Arc`); clones share the connections, so
/// hand one to every task that needs it.
///
/// Every write method returns after its transaction has committed: a row whose write returned
/// `Ok` is in the file even if the process is killed at the next instruction.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    path: PathBuf,
    /// The path made absolute when the store was opened: connections opened later must find
    /// the same file even if the working directory changed.
    pub(crate) absolute: PathBuf,
    pools: sqlite::Pools,
    pub(crate) audit: crate::audit::AuditState,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store file at `path`, creating it and its parent directories if needed, and
    /// migrates it to the current schema.
    ///
    /// Fails with [`StoreError::NotADatabase`] for a file that is not SQLite,
    /// [`StoreError::ForeignDatabase`] for another program's SQLite file, and
    /// [`StoreError::SchemaTooNew`] for a store written by a newer Emmental.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        // Connections are opened later too (readers on demand, the audit writer on the first
        // append): all of them must find this file whatever the working directory is then.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let pools = sqlite::open(&absolute).await?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                absolute,
                pools,
                audit: Default::default(),
            }),
        })
    }

    /// The store file's path, as given to [`Store::open`].
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Closes the connections of this store and all its clones, the audit writer's included,
    /// checkpointing the write-ahead log into the main file. Dropping the last clone also
    /// closes them, in the background; call this where the process is about to exit and the
    /// file should be tidy.
    pub async fn close(&self) {
        self.close_audit().await;
        self.inner.pools.reader.close().await;
        self.inner.pools.writer.close().await;
    }

    /// Records a new run with status [`RunStatus::Running`]. An id already taken is
    /// [`StoreError::DuplicateRun`].
    pub async fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        const OP: &str = "create_run";
        let tasks = serde_json::to_string(&run.tasks).expect("a list of strings serializes");
        let done = sqlx::query(sql::INSERT_RUN)
            .bind(&run.id)
            .bind(now_rfc3339())
            .bind(&run.model)
            .bind(tasks)
            .bind(run.config.to_string())
            .bind(RunStatus::Running.as_str())
            .execute(self.writer())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::DuplicateRun {
                path: self.inner.path.clone(),
                id: run.id.clone(),
            });
        }
        Ok(())
    }

    /// Sets a run's status and its summary; `None` clears the summary, so a resumed run does not
    /// show the summary of its interrupted attempt. An unknown id is [`StoreError::UnknownRun`].
    pub async fn set_run_status(
        &self,
        id: &str,
        status: RunStatus,
        summary: Option<&Value>,
    ) -> Result<(), StoreError> {
        const OP: &str = "set_run_status";
        let done = sqlx::query(sql::SET_RUN_STATUS)
            .bind(status.as_str())
            .bind(summary.map(Value::to_string))
            .bind(now_rfc3339())
            .bind(id)
            .execute(self.writer())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        if done.rows_affected() == 0 {
            return Err(self.unknown_run(id));
        }
        Ok(())
    }

    /// The run with exactly this id, if any.
    pub async fn run(&self, id: &str) -> Result<Option<RunRow>, StoreError> {
        const OP: &str = "run";
        let row = sqlx::query(sql::SELECT_RUN)
            .bind(id)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        row.map(|row| self.run_from_row(OP, &row)).transpose()
    }

    /// The one run whose id starts with `prefix`, as git resolves a short commit id. An id equal
    /// to `prefix` wins even if longer ids also start with it. No match is
    /// [`StoreError::NoRunMatches`]; several are [`StoreError::AmbiguousRun`], which lists them.
    pub async fn find_run(&self, prefix: &str) -> Result<RunRow, StoreError> {
        const OP: &str = "find_run";
        if prefix.is_empty() {
            return Err(StoreError::NoRunMatches {
                path: self.inner.path.clone(),
                prefix: String::new(),
            });
        }
        // One more than we list, to know whether there are more.
        let limit = i64::try_from(AMBIGUOUS_LIST_MAX + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(sql::SELECT_RUNS_BY_PREFIX)
            .bind(prefix)
            .bind(limit)
            .fetch_all(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        let mut runs = rows
            .iter()
            .map(|row| self.run_from_row(OP, row))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(exact) = runs.iter().position(|run| run.id == prefix) {
            return Ok(runs.swap_remove(exact));
        }
        match runs.len() {
            0 => Err(StoreError::NoRunMatches {
                path: self.inner.path.clone(),
                prefix: prefix.to_owned(),
            }),
            1 => Ok(runs.remove(0)),
            n => Err(StoreError::AmbiguousRun {
                path: self.inner.path.clone(),
                prefix: prefix.to_owned(),
                more: n > AMBIGUOUS_LIST_MAX,
                candidates: runs
                    .into_iter()
                    .take(AMBIGUOUS_LIST_MAX)
                    .map(|run| run.id)
                    .collect(),
            }),
        }
    }

    /// Up to `limit` runs, newest first.
    pub async fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, StoreError> {
        const OP: &str = "list_runs";
        let rows = sqlx::query(sql::LIST_RUNS)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        rows.iter().map(|row| self.run_from_row(OP, row)).collect()
    }

    /// Writes one sample, replacing any row with the same `(run_id, task, sample, epoch)`: a
    /// sample that failed and is retried on resume overwrites its failure. The run must exist
    /// ([`StoreError::UnknownRun`] otherwise).
    pub async fn put_sample(&self, s: &SampleRow) -> Result<(), StoreError> {
        self.put_samples(std::slice::from_ref(s)).await
    }

    /// Writes several samples in one transaction: all of them land, or none does. One commit
    /// for many rows is what keeps a fast evaluation from spending its time in SQLite.
    pub async fn put_samples(&self, rows: &[SampleRow]) -> Result<(), StoreError> {
        const OP: &str = "put_samples";
        let mut tx = self
            .writer()
            .begin()
            .await
            .map_err(|e| self.query_error(OP, e))?;
        for s in rows {
            sqlx::query(sql::UPSERT_SAMPLE)
                .bind(&s.run_id)
                .bind(&s.task)
                .bind(&s.sample)
                .bind(i64::from(s.epoch))
                .bind(s.record.to_string())
                .bind(s.score)
                .bind(s.error.as_deref())
                .bind(now_rfc3339())
                .execute(&mut *tx)
                .await
                .map_err(|e| match &e {
                    sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
                        self.unknown_run(&s.run_id)
                    }
                    _ => self.query_error(OP, e),
                })?;
        }
        tx.commit().await.map_err(|e| self.query_error(OP, e))?;
        Ok(())
    }

    /// Every sample of a run, ordered by task, sample, then epoch.
    pub async fn samples(&self, run_id: &str) -> Result<Vec<SampleRow>, StoreError> {
        const OP: &str = "samples";
        let rows = sqlx::query(sql::SELECT_SAMPLES)
            .bind(run_id)
            .fetch_all(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        rows.iter()
            .map(|row| {
                Ok(SampleRow {
                    run_id: self.get(OP, row, "run_id")?,
                    task: self.get(OP, row, "task")?,
                    sample: self.get(OP, row, "sample")?,
                    epoch: self.epoch(OP, row)?,
                    record: self.json(OP, row, "record")?,
                    score: self.get(OP, row, "score")?,
                    error: self.get(OP, row, "error")?,
                })
            })
            .collect()
    }

    /// The `(task, sample, epoch)` keys of a run that finished without error: what a resumed run
    /// skips. Failed samples are left out, so a resume retries them.
    pub async fn finished_keys(
        &self,
        run_id: &str,
    ) -> Result<HashSet<(String, String, u32)>, StoreError> {
        const OP: &str = "finished_keys";
        let rows = sqlx::query(sql::SELECT_FINISHED_KEYS)
            .bind(run_id)
            .fetch_all(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        rows.iter()
            .map(|row| {
                Ok((
                    self.get(OP, row, "task")?,
                    self.get(OP, row, "sample")?,
                    self.epoch(OP, row)?,
                ))
            })
            .collect()
    }

    /// The cached response under `key`, counting the hit. The key is the caller's hash of the
    /// request (hex SHA-256); the store does not interpret it.
    pub async fn cache_get(&self, key: &str) -> Result<Option<Value>, StoreError> {
        const OP: &str = "cache_get";
        // A write, because it counts the hit: it goes through the write connection.
        let row = sqlx::query(sql::CACHE_HIT)
            .bind(key)
            .fetch_optional(self.writer())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        row.map(|row| self.json(OP, &row, "response")).transpose()
    }

    /// Caches `response` to `request` under `key`, replacing an entry with the same key (its hit
    /// count is kept).
    pub async fn cache_put(
        &self,
        key: &str,
        model: &str,
        request: &Value,
        response: &Value,
    ) -> Result<(), StoreError> {
        const OP: &str = "cache_put";
        sqlx::query(sql::CACHE_PUT)
            .bind(key)
            .bind(model)
            .bind(request.to_string())
            .bind(response.to_string())
            .bind(now_rfc3339())
            .execute(self.writer())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        Ok(())
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.inner.pools.writer
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.inner.pools.reader
    }

    fn run_from_row(&self, op: &'static str, row: &SqliteRow) -> Result<RunRow, StoreError> {
        let tasks: String = self.get(op, row, "tasks")?;
        let status: String = self.get(op, row, "status")?;
        let summary: Option<String> = self.get(op, row, "summary")?;
        Ok(RunRow {
            id: self.get(op, row, "id")?,
            created_at: self.get(op, row, "created_at")?,
            updated_at: self.get(op, row, "updated_at")?,
            model: self.get(op, row, "model")?,
            tasks: serde_json::from_str(&tasks)
                .map_err(|e| self.corrupt(op, "tasks", e.to_string()))?,
            config: self.json(op, row, "config")?,
            status: status.parse().map_err(|e: crate::ParseRunStatusError| {
                self.corrupt(op, "status", e.to_string())
            })?,
            summary: summary
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| self.corrupt(op, "summary", e.to_string()))?,
        })
    }

    pub(crate) fn get<T>(
        &self,
        op: &'static str,
        row: &SqliteRow,
        column: &'static str,
    ) -> Result<T, StoreError>
    where
        T: for<'r> sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        row.try_get(column)
            .map_err(|e| self.corrupt(op, column, e.to_string()))
    }

    pub(crate) fn json(
        &self,
        op: &'static str,
        row: &SqliteRow,
        column: &'static str,
    ) -> Result<Value, StoreError> {
        let text: String = self.get(op, row, column)?;
        serde_json::from_str(&text).map_err(|e| self.corrupt(op, column, e.to_string()))
    }

    fn epoch(&self, op: &'static str, row: &SqliteRow) -> Result<u32, StoreError> {
        let epoch: i64 = self.get(op, row, "epoch")?;
        u32::try_from(epoch).map_err(|_| self.corrupt(op, "epoch", format!("{epoch} is not a u32")))
    }

    pub(crate) fn corrupt(
        &self,
        operation: &'static str,
        column: &'static str,
        detail: String,
    ) -> StoreError {
        StoreError::Corrupt {
            path: self.inner.path.clone(),
            operation,
            column,
            detail,
        }
    }

    fn unknown_run(&self, id: &str) -> StoreError {
        StoreError::UnknownRun {
            path: self.inner.path.clone(),
            id: id.to_owned(),
        }
    }

    pub(crate) fn query_error(&self, operation: &'static str, source: sqlx::Error) -> StoreError {
        StoreError::Query {
            path: self.inner.path.clone(),
            operation,
            source,
        }
    }
}
