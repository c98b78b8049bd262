//! The review queue: enqueue, list, look up by prefix, decide once, wait for a decision; every
//! change audited in the same transaction.

mod common;

use std::time::{Duration, Instant};

use emmental_store::{
    AuditRecord, NewReview, ReviewDecision, ReviewItem, ReviewStatus, Store, StoreError,
};
use serde_json::json;

fn new_review(request: &str) -> NewReview {
    NewReview {
        request_id: request.into(),
        key_id: Some("k-3f2a9c".into()),
        layer: "output.harm".into(),
        reason: "harm score 0.91 ≥ escalate threshold 0.8".into(),
        exchange: json!({
            "messages": [{"role": "user", "content": "How do I pick a lock?"}],
            "response": "First, insert a tension wrench…",
            "findings": [{"layer": "output.harm", "score": 0.91}],
        }),
    }
}

async fn review_events(store: &Store) -> Vec<AuditRecord> {
    store
        .audit_records(0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.kind == "review")
        .collect()
}

#[tokio::test]
async fn an_enqueued_exchange_is_pending_and_its_escalation_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    let id = store.enqueue_review(new_review("req-1")).await.unwrap();
    assert_eq!(id.len(), 12);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));

    let item = store.review_item(&id).await.unwrap();
    let expected = new_review("req-1");
    assert_eq!(item.id, id);
    assert_eq!(item.status, ReviewStatus::Pending);
    assert_eq!(
        (item.decided_at, item.decided_by, item.note),
        (None, None, None)
    );
    assert_eq!(item.request_id, expected.request_id);
    assert_eq!(item.key_id, expected.key_id);
    assert_eq!(item.layer, expected.layer);
    assert_eq!(item.reason, expected.reason);
    assert_eq!(item.exchange, expected.exchange);

    let events = review_events(&store).await;
    assert_eq!(events.len(), 1);
    let e = &events[0].event;
    assert_eq!(
        (
            e.verdict.as_str(),
            e.layer.as_deref(),
            e.request_id.as_str()
        ),
        ("escalate", Some("output.harm"), "req-1")
    );
    assert_eq!(e.key_id.as_deref(), Some("k-3f2a9c"));
    assert_eq!(e.detail["review_id"], id.as_str());
    // The audit chain records the decision, never the exchange's text.
    assert!(!events[0].to_json_line().contains("lock"));
    assert!(store.verify_audit().await.unwrap().is_ok());

    // The queue is in the file, not in memory.
    drop(store);
    let store = Store::open(&path).await.unwrap();
    assert_eq!(
        store.review_item(&id).await.unwrap().status,
        ReviewStatus::Pending
    );
}

#[tokio::test]
async fn approving_records_who_when_and_why_and_audits_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let id = store.enqueue_review(new_review("req-1")).await.unwrap();

    let item = store
        .decide_review(
            &id[..6],
            ReviewDecision::Approve,
            "alice",
            Some("locksmith course"),
        )
        .await
        .unwrap();
    assert_eq!(item.id, id);
    assert_eq!(item.status, ReviewStatus::Approved);
    assert_eq!(item.decided_by.as_deref(), Some("alice"));
    assert_eq!(item.note.as_deref(), Some("locksmith course"));
    assert!(item.decided_at.as_deref().unwrap() > item.created_at.as_str());
    assert_eq!(store.review_item(&id).await.unwrap(), item);

    let events = review_events(&store).await;
    let verdicts: Vec<_> = events.iter().map(|r| r.event.verdict.as_str()).collect();
    assert_eq!(verdicts, ["escalate", "approve"]);
    let detail = &events[1].event.detail;
    assert_eq!(
        (&detail["review_id"], &detail["by"], &detail["note"]),
        (&json!(id), &json!("alice"), &json!("locksmith course"))
    );
    assert!(store.verify_audit().await.unwrap().is_ok());
}

#[tokio::test]
async fn a_decision_is_final_and_a_second_one_is_refused_without_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    for first in [
        ReviewDecision::Approve,
        ReviewDecision::Reject,
        ReviewDecision::Expire,
    ] {
        let id = store.enqueue_review(new_review("req-1")).await.unwrap();
        store.decide_review(&id, first, "bob", None).await.unwrap();
        let before = store.audit_head().await.unwrap();
        for second in [ReviewDecision::Approve, ReviewDecision::Reject] {
            let err = store
                .decide_review(&id, second, "carol", Some("changed my mind"))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::AlreadyDecided { status, decided_by, .. }
                    if *status == first.status() && decided_by.as_deref() == Some("bob")),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(
                message.contains(&id)
                    && message.contains(first.status().as_str())
                    && message.contains("bob"),
                "{message}"
            );
        }
        assert_eq!(store.audit_head().await.unwrap(), before);
        let item = store.review_item(&id).await.unwrap();
        assert_eq!(
            (item.status, item.decided_by.as_deref()),
            (first.status(), Some("bob"))
        );
    }
}

#[tokio::test]
async fn racing_reviewers_get_one_decision_and_one_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    // Two handles: two processes (the CLI and the proxy's endpoint) deciding at once.
    let a = Store::open(&path).await.unwrap();
    let b = Store::open(&path).await.unwrap();
    for round in 0..10 {
        let id = a
            .enqueue_review(new_review(&format!("req-{round}")))
            .await
            .unwrap();
        let (ra, rb) = tokio::join!(
            a.decide_review(&id, ReviewDecision::Approve, "alice", None),
            b.decide_review(&id, ReviewDecision::Reject, "bob", None),
        );
        assert!(ra.is_ok() != rb.is_ok(), "round {round}: {ra:?} / {rb:?}");
        let loser = ra.err().or(rb.err()).unwrap();
        assert!(
            matches!(loser, StoreError::AlreadyDecided { .. }),
            "{loser:?}"
        );
    }
    let decisions = review_events(&a)
        .await
        .iter()
        .filter(|r| r.event.verdict != "escalate")
        .count();
    assert_eq!(decisions, 10);
    assert!(a.verify_audit().await.unwrap().is_ok());
}

#[tokio::test]
async fn lists_filter_by_status_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            store
                .enqueue_review(new_review(&format!("req-{i}")))
                .await
                .unwrap(),
        );
    }
    store
        .decide_review(&ids[1], ReviewDecision::Approve, "a", None)
        .await
        .unwrap();
    store
        .decide_review(&ids[3], ReviewDecision::Reject, "a", None)
        .await
        .unwrap();

    let listed = |items: Vec<ReviewItem>| items.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(
        listed(
            store
                .review_items(Some(ReviewStatus::Pending), 100)
                .await
                .unwrap()
        ),
        [ids[0].clone(), ids[2].clone(), ids[4].clone()]
    );
    assert_eq!(
        listed(
            store
                .review_items(Some(ReviewStatus::Approved), 100)
                .await
                .unwrap()
        ),
        [ids[1].clone()]
    );
    assert_eq!(listed(store.review_items(None, 100).await.unwrap()), ids);
    assert_eq!(listed(store.review_items(None, 2).await.unwrap()), ids[..2]);
    assert!(
        store
            .review_items(Some(ReviewStatus::Expired), 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn ids_resolve_from_a_unique_prefix_and_ambiguous_or_unknown_ones_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(
            store
                .enqueue_review(new_review(&format!("req-{i}")))
                .await
                .unwrap(),
        );
    }
    // 40 ids over 16 first digits: some first digit is shared.
    let shared = (b'0'..=b'f')
        .map(char::from)
        .find(|c| ids.iter().filter(|id| id.starts_with(*c)).count() >= 2)
        .unwrap()
        .to_string();
    let err = store.review_item(&shared).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AmbiguousReview { candidates, .. }
            if candidates.len() >= 2 && candidates.iter().all(|c| c.starts_with(&shared))),
        "{err:?}"
    );
    assert!(err.to_string().contains("ambiguous"), "{err}");

    for id in &ids {
        assert_eq!(&store.review_item(id).await.unwrap().id, id);
        assert_eq!(&store.review_item(&id[..10]).await.unwrap().id, id);
    }
    for unknown in ["", "zz", "not-an-id", "%", "_"] {
        let err = store.review_item(unknown).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::NoReviewMatches { .. }),
            "{unknown}: {err:?}"
        );
        assert!(err.to_string().contains("no review id"), "{err}");
        let err = store
            .decide_review(unknown, ReviewDecision::Approve, "a", None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::NoReviewMatches { .. }),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn invalid_reviews_and_decisions_are_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    for (bad, field) in [
        (
            NewReview {
                request_id: " ".into(),
                ..new_review("r")
            },
            "request_id",
        ),
        (
            NewReview {
                layer: "Output Harm".into(),
                ..new_review("r")
            },
            "layer",
        ),
        (
            NewReview {
                reason: String::new(),
                ..new_review("r")
            },
            "reason",
        ),
        (
            NewReview {
                exchange: json!("x".repeat(emmental_store::review::MAX_EXCHANGE_BYTES)),
                ..new_review("r")
            },
            "exchange",
        ),
    ] {
        let err = store.enqueue_review(bad).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidReview { field: f, .. } if *f == field),
            "{err:?}"
        );
    }
    assert!(store.review_items(None, 10).await.unwrap().is_empty());
    assert_eq!(store.audit_head().await.unwrap(), None);

    let id = store.enqueue_review(new_review("r")).await.unwrap();
    let long_note = "n".repeat(5000);
    for (by, note, field) in [
        ("", None, "by"),
        ("alice", Some(long_note.as_str()), "note"),
    ] {
        let err = store
            .decide_review(&id, ReviewDecision::Approve, by, note)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidReview { field: f, .. } if *f == field),
            "{err:?}"
        );
    }
    assert_eq!(
        store.review_item(&id).await.unwrap().status,
        ReviewStatus::Pending
    );
}

#[tokio::test]
async fn a_failed_audit_append_rolls_back_the_queue_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    let id = store.enqueue_review(new_review("req-1")).await.unwrap();

    // Make every audit insert fail, as a full disk would.
    let pool = common::raw_pool(&path).await;
    sqlx::query(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&pool)
    .await
    .unwrap();

    let err = store
        .decide_review(&id, ReviewDecision::Reject, "alice", None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(
        store.review_item(&id).await.unwrap().status,
        ReviewStatus::Pending
    );
    let err = store.enqueue_review(new_review("req-2")).await.unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert_eq!(store.review_items(None, 10).await.unwrap().len(), 1);
    // Plain appends fail too, and say so.
    let err = store
        .append_audit(vec![emmental_store::AuditEvent::new(
            "req-3", "input", "allow",
        )])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");

    sqlx::query("DROP TRIGGER refuse_audit")
        .execute(&pool)
        .await
        .unwrap();
    store
        .decide_review(&id, ReviewDecision::Reject, "alice", None)
        .await
        .unwrap();
    assert!(store.verify_audit().await.unwrap().is_ok());
}

#[tokio::test]
async fn waiting_returns_the_pending_item_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let id = store.enqueue_review(new_review("req-1")).await.unwrap();
    let start = Instant::now();
    let item = store
        .wait_review(&id, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(item.status, ReviewStatus::Pending);
    assert!(start.elapsed() >= Duration::from_millis(300));
    let item = store.wait_review(&id, Duration::ZERO).await.unwrap();
    assert_eq!(item.status, ReviewStatus::Pending);
    let err = store
        .wait_review("ffffffffffff", Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoReviewMatches { .. }), "{err:?}");
}

#[tokio::test]
async fn waiting_returns_a_decision_made_in_this_process_or_another() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    // Another handle on the file: its decisions reach the waiter only through the file.
    let other = Store::open(&path).await.unwrap();

    for (decider, decision) in [
        (store.clone(), ReviewDecision::Approve),
        (other.clone(), ReviewDecision::Reject),
    ] {
        let id = store.enqueue_review(new_review("req-1")).await.unwrap();
        let waiter = {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                let start = Instant::now();
                let item = store
                    .wait_review(&id, Duration::from_secs(60))
                    .await
                    .unwrap();
                (item, start.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        decider
            .decide_review(&id, decision, "alice", None)
            .await
            .unwrap();
        let (item, waited) = waiter.await.unwrap();
        assert_eq!(item.status, decision.status());
        // Well before the 60 s timeout: woken, or polled within a second.
        assert!(waited < Duration::from_secs(10), "{waited:?}");
    }
}

#[tokio::test]
async fn an_approval_is_found_again_by_the_exchanges_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let with_print = |request: &str, print: &str| {
        let mut r = new_review(request);
        r.exchange["fingerprint"] = json!(print);
        r
    };
    let a = store
        .enqueue_review(with_print("req-a", "fp-1"))
        .await
        .unwrap();
    let b = store
        .enqueue_review(with_print("req-b", "fp-2"))
        .await
        .unwrap();
    store.enqueue_review(new_review("req-c")).await.unwrap();
    // Pending or rejected: nothing to reuse.
    assert!(store.approved_review("fp-1").await.unwrap().is_none());
    store
        .decide_review(&b, ReviewDecision::Reject, "alice", None)
        .await
        .unwrap();
    assert!(store.approved_review("fp-2").await.unwrap().is_none());
    store
        .decide_review(&a, ReviewDecision::Approve, "alice", None)
        .await
        .unwrap();
    let found = store
        .approved_review("fp-1")
        .await
        .unwrap()
        .expect("approved");
    assert_eq!(found.id, a);
    assert_eq!(found.request_id, "req-a");
    assert!(store.approved_review("fp-3").await.unwrap().is_none());
}
