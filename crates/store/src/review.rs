//! The human-review queue: exchanges a guard layer escalated, waiting for a person to approve or
//! reject them.
//!
//! The guard calls [`Store::enqueue_review`] when a layer's verdict is *escalate*, then either
//! holds the request with [`Store::wait_review`] (which returns when someone decides, or at its
//! timeout with the item still pending) or answers at once with a holding message. A reviewer
//! decides with `emmental review approve|reject ID` or the proxy's `/emmental/review/…`
//! endpoints, both through [`Store::decide_review`]. Enqueueing and every decision append an
//! audit event (kind `review`) in the same transaction as the queue change, so the queue and the
//! audit chain never disagree.
//!
//! Unlike the audit chain, the queue holds the exchange itself, since a reviewer must read it;
//! a guard that must not keep some text (a secret it detected) redacts it before enqueueing.
//!
//! Ids are 12 lowercase hex digits, and every lookup accepts a unique prefix, as git does.

use std::fmt;
use std::hash::BuildHasher;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnection, SqliteRow};

use crate::audit::{AuditEvent, Prepared, append_on, chain_transaction, check_id, check_text};
use crate::clock::now_rfc3339;
use crate::{AMBIGUOUS_LIST_MAX, Store, StoreError};

/// The largest exchange (as JSON text) the queue accepts: 16 MiB.
pub const MAX_EXCHANGE_BYTES: usize = 16 << 20;

/// Hex digits in a review id.
const ID_LEN: usize = 12;

/// `wait_review` checks the store at least this often, for decisions made by another process.
const POLL_MAX: Duration = Duration::from_secs(1);
const POLL_FIRST: Duration = Duration::from_millis(50);

/// The review queue's columns, in the order the queries below select them.
macro_rules! columns {
    () => {
        "id, created_at, request_id, key_id, layer, reason, exchange, status, decided_at, \
         decided_by, note"
    };
}

const INSERT_REVIEW: &str = "INSERT INTO review_queue (id, created_at, request_id, key_id, \
     layer, reason, exchange, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending') \
     ON CONFLICT (id) DO NOTHING";

const REVIEWS_WITH_STATUS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM review_queue WHERE status = $1 ORDER BY created_at, id LIMIT $2"
);

const ALL_REVIEWS: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM review_queue ORDER BY created_at, id LIMIT $1"
);

/// Ids in `[$1, $2)`: a range on the primary key rather than `substr`, so a prefix lookup uses
/// the index (every id starting with a prefix sorts between it and it followed by U+10FFFF).
const REVIEWS_IN_RANGE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM review_queue WHERE id >= $1 AND id < $2 ORDER BY id LIMIT $3"
);

const REVIEW_BY_ID: &str = concat!("SELECT ", columns!(), " FROM review_queue WHERE id = $1");

/// The latest approval of an exchange with this fingerprint (see [`Store::approved_review`]).
const APPROVED_BY_FINGERPRINT: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM review_queue WHERE json_extract(exchange, '$.fingerprint') = $1 \
     AND status = 'approved' ORDER BY decided_at DESC, id LIMIT 1"
);

/// Decides only a pending item, so two racing decisions cannot both succeed.
const DECIDE_REVIEW: &str = concat!(
    "UPDATE review_queue SET status = $1, decided_at = $2, decided_by = $3, note = $4 \
     WHERE id = $5 AND status = 'pending' RETURNING ",
    columns!()
);

/// An exchange to put in front of a reviewer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewReview {
    /// The proxy's request id (the audit chain's records of this request share it).
    pub request_id: String,
    /// The caller's hashed API key id.
    pub key_id: Option<String>,
    /// The layer that escalated, a stable id such as `output.harm`.
    pub layer: String,
    /// Why, for the reviewer: a reason id or a short sentence with the score.
    pub reason: String,
    /// What the reviewer reads: the request, the response so far, the layers' findings.
    pub exchange: Value,
}

/// Where a review stands. Stored as its [`as_str`](ReviewStatus::as_str) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Waiting for a decision.
    Pending,
    Approved,
    Rejected,
    /// Nobody decided in time; the guard applied its default.
    Expired,
}

impl ReviewStatus {
    /// Every status.
    pub const ALL: [ReviewStatus; 4] = [
        ReviewStatus::Pending,
        ReviewStatus::Approved,
        ReviewStatus::Rejected,
        ReviewStatus::Expired,
    ];

    /// The stable name stored in the database and shown to users.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Pending => "pending",
            ReviewStatus::Approved => "approved",
            ReviewStatus::Rejected => "rejected",
            ReviewStatus::Expired => "expired",
        }
    }
}

impl fmt::Display for ReviewStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReviewStatus {
    type Err = ParseReviewStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReviewStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| ParseReviewStatusError(s.to_owned()))
    }
}

/// A string that is not one of the [`ReviewStatus`] names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown review status {0:?}; expected one of pending, approved, rejected, expired")]
pub struct ParseReviewStatusError(pub String);

/// What a reviewer (or the guard, for [`Expire`](ReviewDecision::Expire)) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewDecision {
    Approve,
    Reject,
    /// Nobody decided in time: the guard closes the item with its default.
    Expire,
}

impl ReviewDecision {
    /// The status the item takes.
    pub fn status(self) -> ReviewStatus {
        match self {
            ReviewDecision::Approve => ReviewStatus::Approved,
            ReviewDecision::Reject => ReviewStatus::Rejected,
            ReviewDecision::Expire => ReviewStatus::Expired,
        }
    }

    /// The audit verdict recorded for it.
    pub fn verdict(self) -> &'static str {
        match self {
            ReviewDecision::Approve => "approve",
            ReviewDecision::Reject => "reject",
            ReviewDecision::Expire => "expire",
        }
    }
}

/// A queued review, every column parsed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// 12 hex digits; lookups accept a unique prefix.
    pub id: String,
    /// RFC 3339 UTC, fixed width.
    pub created_at: String,
    pub status: ReviewStatus,
    pub decided_at: Option<String>,
    /// Who decided: a reviewer's name, or `guard` for an expiry.
    pub decided_by: Option<String>,
    pub note: Option<String>,
    pub request_id: String,
    pub key_id: Option<String>,
    pub layer: String,
    pub reason: String,
    pub exchange: Value,
}

impl Store {
    /// Queues an exchange for review and appends an audit event (kind `review`, verdict
    /// `escalate`, detail `{review_id, reason}`) in the same transaction. Returns the new id.
    pub async fn enqueue_review(&self, item: NewReview) -> Result<String, StoreError> {
        const OP: &str = "enqueue_review";
        let invalid = |field: &'static str, reason: String| StoreError::InvalidReview {
            path: self.path().to_owned(),
            field,
            reason,
        };
        check_text(&item.request_id, 256).map_err(|r| invalid("request_id", r))?;
        if let Some(key_id) = &item.key_id {
            check_text(key_id, 256).map_err(|r| invalid("key_id", r))?;
        }
        check_id(&item.layer).map_err(|r| invalid("layer", r))?;
        check_text(&item.reason, 2000).map_err(|r| invalid("reason", r))?;
        let exchange = item.exchange.to_string();
        if exchange.len() > MAX_EXCHANGE_BYTES {
            return Err(invalid(
                "exchange",
                format!(
                    "is {} bytes of JSON; at most {MAX_EXCHANGE_BYTES}",
                    exchange.len()
                ),
            ));
        }

        chain_transaction(
            self.path(),
            OP,
            self.writer(),
            self.audit_durability(),
            async |conn| {
                let created_at = now_rfc3339();
                let mut id = None;
                // 48 random bits: a collision is all but impossible, and is retried if it happens.
                for attempt in 0..8 {
                    let candidate = new_id(&item.request_id, attempt);
                    let done = sqlx::query(INSERT_REVIEW)
                        .bind(&candidate)
                        .bind(&created_at)
                        .bind(&item.request_id)
                        .bind(item.key_id.as_deref())
                        .bind(&item.layer)
                        .bind(&item.reason)
                        .bind(&exchange)
                        .execute(&mut *conn)
                        .await
                        .map_err(|e| self.query_error(OP, e))?;
                    if done.rows_affected() == 1 {
                        id = Some(candidate);
                        break;
                    }
                }
                let id = id.ok_or_else(|| invalid("id", "could not be made unique".into()))?;
                let mut event = AuditEvent::new(&item.request_id, "review", "escalate")
                    .layer(&item.layer)
                    .detail(json!({"review_id": id, "reason": item.reason}));
                event.key_id = item.key_id.clone();
                let event = Prepared::new(self, event)?;
                append_on(conn, &[&event])
                    .await
                    .map_err(|e| self.query_error(OP, e))?;
                Ok(id)
            },
        )
        .await
    }

    /// Up to `limit` reviews with this status (all of them for `None`), oldest first: the
    /// order in which they should be worked through.
    pub async fn review_items(
        &self,
        status: Option<ReviewStatus>,
        limit: usize,
    ) -> Result<Vec<ReviewItem>, StoreError> {
        const OP: &str = "review_items";
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match status {
            Some(status) => {
                sqlx::query(REVIEWS_WITH_STATUS)
                    .bind(status.as_str())
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
            }
            None => {
                sqlx::query(ALL_REVIEWS)
                    .bind(limit)
                    .fetch_all(self.reader())
                    .await
            }
        }
        .map_err(|e| self.query_error(OP, e))?;
        rows.iter()
            .map(|row| self.review_from_row(OP, row))
            .collect()
    }

    /// The review whose id is `id_or_prefix` or starts with it. No match is
    /// [`StoreError::NoReviewMatches`]; several are [`StoreError::AmbiguousReview`].
    pub async fn review_item(&self, id_or_prefix: &str) -> Result<ReviewItem, StoreError> {
        const OP: &str = "review_item";
        let no_match = || StoreError::NoReviewMatches {
            path: self.path().to_owned(),
            prefix: id_or_prefix.to_owned(),
        };
        if id_or_prefix.is_empty() {
            return Err(no_match());
        }
        let limit = i64::try_from(AMBIGUOUS_LIST_MAX + 1).unwrap_or(i64::MAX);
        let rows = sqlx::query(REVIEWS_IN_RANGE)
            .bind(id_or_prefix)
            .bind(format!("{id_or_prefix}\u{10ffff}"))
            .bind(limit)
            .fetch_all(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        let mut items = rows
            .iter()
            .map(|row| self.review_from_row(OP, row))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(exact) = items.iter().position(|item| item.id == id_or_prefix) {
            return Ok(items.swap_remove(exact));
        }
        match items.len() {
            0 => Err(no_match()),
            1 => Ok(items.remove(0)),
            n => Err(StoreError::AmbiguousReview {
                path: self.path().to_owned(),
                prefix: id_or_prefix.to_owned(),
                more: n > AMBIGUOUS_LIST_MAX,
                candidates: items
                    .into_iter()
                    .take(AMBIGUOUS_LIST_MAX)
                    .map(|item| item.id)
                    .collect(),
            }),
        }
    }

    /// The latest approved review whose exchange carries `"fingerprint": fingerprint`, if
    /// any: a retried request that a reviewer already approved.
    pub async fn approved_review(
        &self,
        fingerprint: &str,
    ) -> Result<Option<ReviewItem>, StoreError> {
        const OP: &str = "approved_review";
        let row = sqlx::query(APPROVED_BY_FINGERPRINT)
            .bind(fingerprint)
            .fetch_optional(self.reader())
            .await
            .map_err(|e| self.query_error(OP, e))?;
        row.map(|row| self.review_from_row(OP, &row)).transpose()
    }

    /// Decides a pending review (`id_or_prefix` as in [`review_item`](Self::review_item)) and
    /// appends an audit event (kind `review`, verdict `approve`/`reject`/`expire`, detail
    /// `{review_id, by, note}`) in the same transaction. A decision is final: deciding again is
    /// [`StoreError::AlreadyDecided`], and nothing is appended.
    pub async fn decide_review(
        &self,
        id_or_prefix: &str,
        decision: ReviewDecision,
        by: &str,
        note: Option<&str>,
    ) -> Result<ReviewItem, StoreError> {
        const OP: &str = "decide_review";
        let invalid = |field: &'static str, reason: String| StoreError::InvalidReview {
            path: self.path().to_owned(),
            field,
            reason,
        };
        check_text(by, 256).map_err(|r| invalid("by", r))?;
        if let Some(note) = note
            && note.len() > 4000
        {
            return Err(invalid(
                "note",
                format!("is {} bytes long; at most 4000", note.len()),
            ));
        }
        let id = self.review_item(id_or_prefix).await?.id;

        let item = chain_transaction(
            self.path(),
            OP,
            self.writer(),
            self.audit_durability(),
            async |conn| {
                let decided = sqlx::query(DECIDE_REVIEW)
                    .bind(decision.status().as_str())
                    .bind(now_rfc3339())
                    .bind(by)
                    .bind(note)
                    .bind(&id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err(|e| self.query_error(OP, e))?;
                let Some(row) = decided else {
                    let current = self.review_in(conn, &id, OP).await?;
                    return Err(StoreError::AlreadyDecided {
                        path: self.path().to_owned(),
                        id,
                        status: current.status,
                        decided_by: current.decided_by,
                        decided_at: current.decided_at,
                    });
                };
                let item = self.review_from_row(OP, &row)?;
                let mut detail = json!({"review_id": item.id, "by": by});
                if let Some(note) = note {
                    detail["note"] = Value::String(note.to_owned());
                }
                let mut event = AuditEvent::new(&item.request_id, "review", decision.verdict())
                    .layer(&item.layer)
                    .detail(detail);
                event.key_id = item.key_id.clone();
                let event = Prepared::new(self, event)?;
                append_on(conn, &[&event])
                    .await
                    .map_err(|e| self.query_error(OP, e))?;
                Ok(item)
            },
        )
        .await?;
        self.inner.audit.review_decided.notify_waiters();
        Ok(item)
    }

    /// Waits until the review `id` is decided, or `timeout` has passed, and returns it as it
    /// then stands (still [`Pending`](ReviewStatus::Pending) at the timeout). A decision made in
    /// this process wakes the waiter at once; one made by another process (the CLI) is seen at
    /// the next poll, at most a second later.
    pub async fn wait_review(&self, id: &str, timeout: Duration) -> Result<ReviewItem, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut poll = POLL_FIRST;
        loop {
            // Registered before the check, so a decision between the check and the wait is
            // not missed.
            let notified = self.inner.audit.review_decided.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let item = self.review_item(id).await?;
            let now = tokio::time::Instant::now();
            if item.status != ReviewStatus::Pending || now >= deadline {
                return Ok(item);
            }
            let wait = poll.min(deadline - now);
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep(wait) => {}
            }
            poll = (poll * 2).min(POLL_MAX);
        }
    }

    async fn review_in(
        &self,
        conn: &mut SqliteConnection,
        id: &str,
        op: &'static str,
    ) -> Result<ReviewItem, StoreError> {
        let row = sqlx::query(REVIEW_BY_ID)
            .bind(id)
            .fetch_one(conn)
            .await
            .map_err(|e| self.query_error(op, e))?;
        self.review_from_row(op, &row)
    }

    fn review_from_row(&self, op: &'static str, row: &SqliteRow) -> Result<ReviewItem, StoreError> {
        let status: String = self.get(op, row, "status")?;
        Ok(ReviewItem {
            id: self.get(op, row, "id")?,
            created_at: self.get(op, row, "created_at")?,
            status: status
                .parse()
                .map_err(|e: ParseReviewStatusError| self.corrupt(op, "status", e.to_string()))?,
            decided_at: self.get(op, row, "decided_at")?,
            decided_by: self.get(op, row, "decided_by")?,
            note: self.get(op, row, "note")?,
            request_id: self.get(op, row, "request_id")?,
            key_id: self.get(op, row, "key_id")?,
            layer: self.get(op, row, "layer")?,
            reason: self.get(op, row, "reason")?,
            exchange: self.json(op, row, "exchange")?,
        })
    }
}

/// A fresh id: 12 hex digits of SHA-256 over the time, the process, a counter and per-process
/// random keys, so ids neither repeat nor follow a guessable sequence.
fn new_id(request_id: &str, attempt: u32) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // std's RandomState is seeded from the OS's random source.
    let random = std::collections::hash_map::RandomState::new().hash_one((count, attempt));
    let mut h = Sha256::new();
    h.update(now_rfc3339().as_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(count.to_le_bytes());
    h.update(random.to_le_bytes());
    h.update(request_id.as_bytes());
    let mut id = hex::encode(h.finalize());
    id.truncate(ID_LEN);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_status_names_round_trip() {
        for status in ReviewStatus::ALL {
            assert_eq!(status.as_str().parse::<ReviewStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                Value::String(status.to_string())
            );
        }
        assert!(
            "done"
                .parse::<ReviewStatus>()
                .unwrap_err()
                .to_string()
                .contains("\"done\"")
        );
    }

    #[test]
    fn ids_are_twelve_hex_digits_and_do_not_repeat() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| new_id("req", 0)).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
