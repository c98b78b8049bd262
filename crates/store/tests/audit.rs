//! The audit chain: appends are chained and contiguous under concurrency, verification catches
//! every kind of tampering a chain can catch (and an expected head catches the rest), and an
//! acknowledged append survives SIGKILL.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use emmental_store::audit::{GENESIS_HASH, MAX_DETAIL_BYTES};
use emmental_store::{
    AuditDurability, AuditEvent, AuditHead, AuditProblemKind, AuditRecord, Store, StoreError,
    canonical,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn event(request: usize, verdict: &str) -> AuditEvent {
    AuditEvent::new(format!("req-{request:05}"), "input", verdict)
        .key_id("k-3f2a9c")
        .layer("input.injection")
        .detail(json!({
            "score": 0.125 + (request % 7) as f64 / 10.0,
            "spans": [{"type": "EMAIL_ADDRESS", "start": 3, "end": 20}],
            "timings_us": {"scan": 41 + request},
        }))
}

/// A store with `n` records, one append per record.
async fn store_with(path: &Path, n: usize) -> Store {
    let store = Store::open(path).await.unwrap();
    for i in 1..=n {
        let verdict = if i % 3 == 0 { "block" } else { "allow" };
        store.append_audit(vec![event(i, verdict)]).await.unwrap();
    }
    store
}

async fn verify_kinds(store: &Store) -> Vec<(i64, AuditProblemKind)> {
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.problems_total as usize, v.problems.len());
    v.problems.iter().map(|p| (p.seq, p.kind)).collect()
}

/// What an attacker (or an auditor) computes from the documented recipe alone: SHA-256 of the
/// RFC 8785 JSON of the record without its hash.
fn recipe_hash(record: &Value) -> String {
    let mut record = record.clone();
    record.as_object_mut().unwrap().remove("hash");
    hex::encode(Sha256::digest(canonical::to_string(&record).as_bytes()))
}

async fn all_records(store: &Store) -> Vec<AuditRecord> {
    store.audit_records(0, usize::MAX).await.unwrap()
}

#[tokio::test]
async fn appends_are_numbered_from_one_and_each_links_to_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    assert_eq!(store.append_audit(vec![]).await.unwrap(), Vec::<i64>::new());
    assert_eq!(
        store
            .append_audit(vec![event(1, "allow"), event(1, "flag")])
            .await
            .unwrap(),
        [1, 2]
    );
    assert_eq!(
        store.append_audit(vec![event(2, "block")]).await.unwrap(),
        [3]
    );

    let records = all_records(&store).await;
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    for pair in records.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert!(pair[0].ts < pair[1].ts, "timestamps increase");
    }
    assert_eq!(records[1].event, event(1, "flag"));
    for r in &records {
        assert_eq!(r.computed_hash(), r.hash);
        assert_eq!(r.hash.len(), 64);
    }

    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.records, 3);
    let head = AuditHead {
        seq: 3,
        hash: records[2].hash.clone(),
    };
    assert_eq!(v.head.as_ref(), Some(&head));
    assert_eq!(store.audit_head().await.unwrap(), Some(head));
    assert_eq!(store.audit_records(1, 1).await.unwrap(), records[1..2]);
    assert_eq!(
        store.audit_records_for_request("req-00001").await.unwrap(),
        records[..2]
    );
}

#[tokio::test]
async fn an_exported_line_re_hashes_with_the_documented_recipe_alone() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    // Details that test the canonical form: key order, floats, escapes, non-ASCII.
    let details = [
        json!({"z": 1, "a": [1.0, 0.1, 1e-7, 1e21, -0.0], "é": "line\nbreak \"quoted\" \u{1}"}),
        json!({"score": 0.3333333333333333, "nested": {"b": null, "a": true}}),
        json!([]),
        json!("a bare string"),
    ];
    let events: Vec<_> = details
        .iter()
        .enumerate()
        .map(|(i, d)| event(i, "allow").detail(d.clone()))
        .collect();
    store.append_audit(events).await.unwrap();

    let mut prev = GENESIS_HASH.to_owned();
    for (record, detail) in all_records(&store).await.iter().zip(&details) {
        let line = record.to_json_line();
        assert!(!line.contains('\n'), "one line per record: {line}");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(canonical::to_string(&parsed), line, "the line is canonical");
        assert_eq!(parsed["prev_hash"], prev.as_str());
        assert_eq!(recipe_hash(&parsed), record.hash);
        assert_eq!(parsed["hash"], record.hash.as_str());
        // Serialised with serde, a record has the same members and values.
        assert_eq!(serde_json::to_value(record).unwrap(), parsed);
        // The detail reads back in canonical form (1.0 as 1, -0.0 as 0): the same JSON value.
        assert_eq!(
            canonical::to_string(&record.event.detail),
            canonical::to_string(detail)
        );
        prev = record.hash.clone();
    }
}

#[tokio::test]
async fn fifty_concurrent_appenders_get_contiguous_seqs_in_their_own_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..40 {
                    // Some appends carry several events: they must stay adjacent.
                    let n = 1 + i % 3;
                    let batch: Vec<_> = (0..n).map(|_| event(t * 1000 + i, "allow")).collect();
                    let got = store.append_audit(batch).await.unwrap();
                    assert_eq!(got.len(), n);
                    assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "{got:?}");
                    seqs.extend(got);
                }
                seqs
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let seqs = task.await.unwrap();
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "one task's appends keep their order"
        );
        all.extend(seqs);
    }
    let total = all.len();
    let unique: BTreeSet<i64> = all.into_iter().collect();
    assert_eq!(unique.len(), total);
    assert_eq!(unique.first(), Some(&1));
    assert_eq!(unique.last(), Some(&(total as i64)));
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{:?}", &v.problems[..v.problems.len().min(5)]);
    assert_eq!(v.records, total as u64);
}

#[tokio::test]
async fn two_handles_on_one_file_append_without_forking_the_chain() {
    // Two opens of one file have separate connections, as two processes do (the proxy and
    // `emmental review approve`): the head must be read under the write lock.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let a = Store::open(&path).await.unwrap();
    let b = Store::open(&path).await.unwrap();
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .flat_map(|(h, store)| {
            (0..4).map(move |t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..50 {
                        store
                            .append_audit(vec![event(h * 10_000 + t * 100 + i, "allow")])
                            .await
                            .unwrap();
                    }
                })
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let v = b.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.records, 400);
}

#[tokio::test]
async fn a_failed_append_is_rolled_back_and_the_next_one_goes_on_the_same_chain() {
    // A trigger makes SQLite refuse one insert (as a full disk would): the batch fails as a
    // whole, nothing of it stays, and the writer's connection is usable again.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 3).await;
    let pool = common::raw_pool(&path).await;
    sqlx::query(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_log WHEN NEW.verdict = 'refused' \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let err = store
        .append_audit(vec![event(10, "allow"), event(11, "refused")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refused by the test"), "{err}");
    let seqs = store.append_audit(vec![event(12, "allow")]).await.unwrap();
    assert_eq!(seqs, [4]);
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.records, 4);
    // A batch bigger than one statement (64 rows) fails and rolls back the same way.
    let mut big: Vec<AuditEvent> = (0..100).map(|i| event(100 + i, "allow")).collect();
    big[90] = event(190, "refused");
    assert!(store.append_audit(big).await.is_err());
    let big: Vec<AuditEvent> = (0..100).map(|i| event(200 + i, "allow")).collect();
    assert_eq!(store.append_audit(big).await.unwrap().last(), Some(&104));
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{:?}", v.problems);
    assert_eq!(v.records, 104);
}

#[tokio::test]
async fn invalid_events_are_refused_naming_the_field_and_none_of_the_batch_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let huge = json!({"text": "x".repeat(MAX_DETAIL_BYTES)});
    for (bad, field, says) in [
        (AuditEvent::new("", "input", "allow"), "request_id", "empty"),
        (
            AuditEvent::new("r\n1", "input", "allow"),
            "request_id",
            "control",
        ),
        (AuditEvent::new("r1", "Input", "allow"), "kind", "'I'"),
        (AuditEvent::new("r1", "input", ""), "verdict", "empty"),
        (
            AuditEvent::new("r1", "input", "allow").layer("pii email"),
            "layer",
            "' '",
        ),
        (
            AuditEvent::new("r1", "input", "allow").key_id(" "),
            "key_id",
            "empty",
        ),
        (
            AuditEvent::new("r1", "input", "allow").detail(huge.clone()),
            "detail",
            "not texts",
        ),
    ] {
        let err = store
            .append_audit(vec![event(1, "allow"), bad])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidAuditEvent { field: f, .. } if *f == field),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(field) && message.contains(says),
            "{message}"
        );
    }
    assert!(all_records(&store).await.is_empty());
}

#[tokio::test]
async fn an_empty_chain_verifies_and_has_no_head() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok());
    assert_eq!((v.records, v.head), (0, None));
    assert_eq!(store.audit_head().await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Tampering, with raw SQL on the file

#[tokio::test]
async fn an_edited_detail_is_reported_as_edited_at_that_record_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 10).await;
    let pool = common::raw_pool(&path).await;
    sqlx::query("UPDATE audit_log SET detail = '{\"score\":0.01}' WHERE seq = 5")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(verify_kinds(&store).await, [(5, AuditProblemKind::Edited)]);
}

#[tokio::test]
async fn an_edited_verdict_timestamp_or_key_is_reported_as_edited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 10).await;
    let pool = common::raw_pool(&path).await;
    for sql in [
        "UPDATE audit_log SET verdict = 'allow' WHERE seq = 3",
        "UPDATE audit_log SET ts = '2020-01-01T00:00:00.000000Z' WHERE seq = 6",
        "UPDATE audit_log SET key_id = NULL WHERE seq = 8",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    assert_eq!(
        verify_kinds(&store).await,
        [
            (3, AuditProblemKind::Edited),
            (6, AuditProblemKind::Edited),
            (8, AuditProblemKind::Edited)
        ]
    );
}

#[tokio::test]
async fn an_edit_with_a_recomputed_hash_breaks_the_next_link() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 10).await;
    // The attacker knows the recipe: changes record 5 and re-hashes it.
    let mut forged: Value =
        serde_json::from_str(&all_records(&store).await[4].to_json_line()).unwrap();
    assert_eq!(forged["verdict"], "allow");
    forged["verdict"] = json!("flag");
    let hash = recipe_hash(&forged);
    let pool = common::raw_pool(&path).await;
    sqlx::query("UPDATE audit_log SET verdict = 'flag', hash = $1 WHERE seq = 5")
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(
        verify_kinds(&store).await,
        [(6, AuditProblemKind::BrokenLink)]
    );
}

#[tokio::test]
async fn deleted_records_are_reported_missing_wherever_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 12).await;
    let pool = common::raw_pool(&path).await;
    sqlx::query("DELETE FROM audit_log WHERE seq IN (1, 5, 8, 9)")
        .execute(&pool)
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    let kinds: Vec<_> = v.problems.iter().map(|p| (p.seq, p.kind)).collect();
    assert_eq!(
        kinds,
        [
            (1, AuditProblemKind::Missing),
            (5, AuditProblemKind::Missing),
            (8, AuditProblemKind::Missing)
        ]
    );
    assert!(
        v.problems[2].message.contains("records 8 to 9"),
        "{}",
        v.problems[2].message
    );
}

#[tokio::test]
async fn two_records_with_swapped_contents_are_reported_as_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 10).await;
    let pool = common::raw_pool(&path).await;
    // Swap the seq numbers of 4 and 7 (their contents change places).
    for sql in [
        "UPDATE audit_log SET seq = 1000 WHERE seq = 4",
        "UPDATE audit_log SET seq = 4 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = 1000",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    let v = store.verify_audit().await.unwrap();
    let kinds: Vec<_> = v.problems.iter().map(|p| (p.seq, p.kind)).collect();
    assert_eq!(
        kinds,
        [
            (4, AuditProblemKind::Reordered),
            (7, AuditProblemKind::Reordered)
        ]
    );
    assert!(
        v.problems[0].message.contains("written as record 7"),
        "{}",
        v.problems[0].message
    );
}

#[tokio::test]
async fn a_forged_record_is_detected_at_the_end_and_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 8).await;
    let records = all_records(&store).await;
    let pool = common::raw_pool(&path).await;
    let insert = "INSERT INTO audit_log (seq, ts, request_id, key_id, kind, layer, verdict, \
                  detail, prev_hash, hash) VALUES ($1, $2, 'req-forged', NULL, 'output', NULL, \
                  'allow', '{}', $3, $4)";

    // At the end, linked to the head, with a hash that is not the record's.
    sqlx::query(insert)
        .bind(9_i64)
        .bind("2030-01-01T00:00:00.000000Z")
        .bind(&records[7].hash)
        .bind(&records[7].hash)
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(verify_kinds(&store).await, [(9, AuditProblemKind::Edited)]);
    sqlx::query("DELETE FROM audit_log WHERE seq = 9")
        .execute(&pool)
        .await
        .unwrap();
    assert!(verify_kinds(&store).await.is_empty());

    // In the middle: shift records 4.. up by one and slot in a record whose hash is right.
    sqlx::query("UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET seq = seq - 99 WHERE seq >= 104")
        .execute(&pool)
        .await
        .unwrap();
    let mut forged = json!({
        "seq": 4, "ts": records[2].ts, "request_id": "req-forged", "key_id": null,
        "kind": "output", "layer": null, "verdict": "allow", "detail": {},
        "prev_hash": records[2].hash,
    });
    let hash = recipe_hash(&forged);
    forged["hash"] = json!(hash);
    sqlx::query(insert)
        .bind(4_i64)
        .bind(&records[2].ts)
        .bind(&records[2].hash)
        .bind(&hash)
        .execute(&pool)
        .await
        .unwrap();
    let kinds = verify_kinds(&store).await;
    // The forged record itself is consistent; every record after it stands one place late.
    assert_eq!(
        kinds,
        (5..=9)
            .map(|s| (s, AuditProblemKind::Reordered))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn truncation_and_a_rewritten_tail_pass_the_chain_but_not_a_recorded_head() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = store_with(&path, 10).await;
    let recorded = store.verify_audit().await.unwrap().head.unwrap();
    assert_eq!(recorded.seq, 10);
    let at_6 = AuditHead {
        seq: 6,
        hash: all_records(&store).await[5].hash.clone(),
    };
    assert!(
        store
            .verify_audit_expecting(&recorded)
            .await
            .unwrap()
            .is_ok()
    );

    // More appends after the head was recorded are fine.
    store.append_audit(vec![event(11, "allow")]).await.unwrap();
    assert!(
        store
            .verify_audit_expecting(&recorded)
            .await
            .unwrap()
            .is_ok()
    );

    // Truncation: the newest records deleted. The chain alone cannot tell.
    let pool = common::raw_pool(&path).await;
    sqlx::query("DELETE FROM audit_log WHERE seq >= 9")
        .execute(&pool)
        .await
        .unwrap();
    assert!(store.verify_audit().await.unwrap().is_ok());
    let v = store.verify_audit_expecting(&recorded).await.unwrap();
    assert_eq!(
        v.problems
            .iter()
            .map(|p| (p.seq, p.kind))
            .collect::<Vec<_>>(),
        [(10, AuditProblemKind::Missing)]
    );
    assert!(v.problems[0].message.contains("truncated"), "{v:?}");

    // A rewritten tail: records 5.. re-hashed after an edit. The chain alone cannot tell.
    let records = all_records(&store).await;
    let mut prev = records[3].hash.clone();
    for r in &records[4..] {
        let mut v: Value = serde_json::from_str(&r.to_json_line()).unwrap();
        v["verdict"] = json!("allow");
        v["prev_hash"] = json!(prev);
        let hash = recipe_hash(&v);
        sqlx::query(
            "UPDATE audit_log SET verdict = 'allow', prev_hash = $1, hash = $2 WHERE seq = $3",
        )
        .bind(&prev)
        .bind(&hash)
        .bind(r.seq)
        .execute(&pool)
        .await
        .unwrap();
        prev = hash;
    }
    assert!(store.verify_audit().await.unwrap().is_ok());
    let v = store.verify_audit_expecting(&at_6).await.unwrap();
    assert_eq!(
        v.problems
            .iter()
            .map(|p| (p.seq, p.kind))
            .collect::<Vec<_>>(),
        [(6, AuditProblemKind::HeadMismatch)]
    );
    assert_eq!(v.expected_head, Some(at_6));
}

#[tokio::test]
async fn verification_counts_every_problem_but_lists_a_bounded_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    let n = emmental_store::audit::MAX_LISTED_PROBLEMS + 200;
    let events: Vec<_> = (0..n).map(|i| event(i, "allow")).collect();
    store.append_audit(events).await.unwrap();
    let pool = common::raw_pool(&path).await;
    sqlx::query("UPDATE audit_log SET verdict = 'block'")
        .execute(&pool)
        .await
        .unwrap();
    let v = store.verify_audit().await.unwrap();
    assert_eq!(v.problems_total, n as u64);
    assert_eq!(v.problems.len(), emmental_store::audit::MAX_LISTED_PROBLEMS);
    assert!(!v.is_ok());
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and durability

#[test]
fn a_store_outlives_the_runtime_that_first_appended() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let first = tokio::runtime::Runtime::new().unwrap();
    let store = first.block_on(async {
        let store = Store::open(&path).await.unwrap();
        store.append_audit(vec![event(1, "allow")]).await.unwrap();
        store
    });
    drop(first); // the writer task dies with its runtime
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        assert_eq!(
            store.append_audit(vec![event(2, "allow")]).await.unwrap(),
            [2]
        );
        assert!(store.verify_audit().await.unwrap().is_ok());
    });
}

#[tokio::test]
async fn power_loss_durability_appends_and_decides_on_the_same_chain() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.set_audit_durability(AuditDurability::PowerLoss);
    let seqs = store
        .append_audit(vec![event(1, "allow"), event(2, "block")])
        .await
        .unwrap();
    // Review changes commit through the same path.
    let id = store
        .enqueue_review(emmental_store::NewReview {
            request_id: "req-00002".into(),
            key_id: None,
            layer: "input.injection".into(),
            reason: "injection score 0.7".into(),
            exchange: json!({"messages": []}),
        })
        .await
        .unwrap();
    store
        .decide_review(&id, emmental_store::ReviewDecision::Reject, "alice", None)
        .await
        .unwrap();
    store.set_audit_durability(AuditDurability::Process);
    store.append_audit(vec![event(3, "allow")]).await.unwrap();
    assert_eq!(seqs, [1, 2]);
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok() && v.records == 5, "{v:?}");
}

#[tokio::test]
async fn a_schema_1_store_gains_the_audit_tables_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // What Emmental with schema 1 left behind.
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        1,
        "initial".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(include_str!("../migrations/sqlite/0001_initial.sql")),
        false,
    )])
    .run(&pool)
    .await
    .unwrap();
    pool.close().await;
    {
        let store = Store::open(&path).await.unwrap();
        store.create_run(&common::new_run("r1")).await.unwrap();
        store.append_audit(vec![event(1, "allow")]).await.unwrap();
    }
    let store = Store::open(&path).await.unwrap();
    assert!(store.run("r1").await.unwrap().is_some());
    assert!(store.verify_audit().await.unwrap().is_ok());
}

/// Set in the child process: the path of the store it appends to.
const APPENDER_ENV: &str = "EMMENTAL_STORE_TEST_KILLED_APPENDER";
const KILL_TEST: &str = "sigkill_during_a_load_loses_no_acknowledged_record";
/// Acknowledgements the parent waits for before killing the appender.
const KILL_AFTER: usize = 2000;
/// Concurrent appenders in the child, like requests in a proxy.
const APPENDERS: usize = 16;
/// Upper bound on each appender's records, so the child stops by itself if the kill never comes.
const APPENDS_EACH: usize = 50_000;

/// The child: many tasks append and print `ACK seq request_id` as soon as `append_audit`
/// returned, which is when the proxy would send its response.
async fn act_as_killed_appender(path: &Path) {
    let store = Store::open(path).await.expect("child opens the store");
    let tasks: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..APPENDS_EACH {
                    let e = event(t * APPENDS_EACH + i, "allow");
                    let request = e.request_id.clone();
                    let seqs = store.append_audit(vec![e]).await.expect("child append");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "ACK {} {request}", seqs[0]).expect("stdout");
                    out.flush().expect("stdout");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("child appender task");
    }
}

#[test]
fn sigkill_during_a_load_loses_no_acknowledged_record() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(path) = std::env::var_os(APPENDER_ENV) {
        runtime.block_on(act_as_killed_appender(Path::new(&path)));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    // Re-run this very test in a child process, which acts as the proxy.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([KILL_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(APPENDER_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acknowledged = Vec::new();
    while acknowledged.len() < KILL_AFTER {
        let Some(line) = lines.next() else {
            panic!(
                "appender exited after {} acknowledgements, before the kill",
                acknowledged.len()
            );
        };
        acknowledged.extend(parse_ack(&line.unwrap()));
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no close, no checkpoint.
    for line in lines {
        acknowledged.extend(parse_ack(&line.unwrap()));
    }
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "appender was killed: {status:?}");
    assert!(acknowledged.len() < APPENDERS * APPENDS_EACH);

    runtime.block_on(async {
        let store = Store::open(&path).await.expect("reopen after SIGKILL");
        let v = store.verify_audit().await.unwrap();
        assert!(v.is_ok(), "{:?}", &v.problems[..v.problems.len().min(5)]);
        let stored: HashSet<(i64, String)> = all_records(&store)
            .await
            .into_iter()
            .map(|r| (r.seq, r.event.request_id))
            .collect();
        let lost: Vec<_> = acknowledged
            .iter()
            .filter(|a| !stored.contains(a))
            .collect();
        assert!(
            lost.is_empty(),
            "{} of {} acknowledged records lost, e.g. {:?}",
            lost.len(),
            acknowledged.len(),
            &lost[..lost.len().min(5)]
        );
        // The restarted proxy goes on appending to the same chain.
        let next = store.append_audit(vec![event(0, "allow")]).await.unwrap();
        assert_eq!(next, [v.head.unwrap().seq + 1]);
        assert!(store.verify_audit().await.unwrap().is_ok());
    });
}

fn parse_ack(line: &str) -> Option<(i64, String)> {
    let mut parts = line.strip_prefix("ACK ")?.split(' ');
    let seq = parts.next()?.parse().ok()?;
    let request = parts.next()?.to_owned();
    Some((seq, request))
}

const CWD_ENV: &str = "EMMENTAL_STORE_TEST_RELATIVE_STORE";

#[test]
fn a_store_opened_by_a_relative_path_appends_to_it_after_the_directory_changes() {
    // In a child process: the working directory is the whole process's.
    if let Some(dir) = std::env::var_os(CWD_ENV) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            std::env::set_current_dir(&dir).unwrap();
            let store = Store::open(Path::new("relative.db")).await.unwrap();
            std::fs::create_dir("elsewhere").unwrap();
            std::env::set_current_dir("elsewhere").unwrap();
            // The audit writer opens its connection only now.
            store.append_audit(vec![event(1, "allow")]).await.unwrap();
            assert_eq!(store.verify_audit().await.unwrap().records, 1);
        });
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_store_opened_by_a_relative_path_appends_to_it_after_the_directory_changes",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CWD_ENV, dir.path())
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "child: {:?}\n{}",
        child.status,
        String::from_utf8_lossy(&child.stderr)
    );
    // The child really ran this test (a filter that matched nothing would also succeed).
    assert!(
        String::from_utf8_lossy(&child.stdout).contains("1 passed"),
        "{}",
        String::from_utf8_lossy(&child.stdout)
    );
    assert!(dir.path().join("relative.db").exists());
    assert!(!dir.path().join("elsewhere/relative.db").exists());
}

#[test]
fn an_append_waits_for_another_writer_without_blocking_its_runtime() {
    // Another connection holds SQLite's write lock and releases it from a task of the same
    // one-thread runtime. An appender that slept in SQLite's busy wait on that thread would
    // keep the release from running until the wait timed out (30 s).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = store_with(&path, 2).await;
        let pool = common::raw_pool(&path).await;
        let mut holder = pool.acquire().await.unwrap();
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *holder)
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            sqlx::query("COMMIT").execute(&mut *holder).await.unwrap();
        };
        let (appended, ()) = tokio::join!(store.append_audit(vec![event(3, "allow")]), release);
        assert_eq!(appended.unwrap(), [3]);
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(250),
            "appended while another connection held the lock ({waited:?})"
        );
        assert!(
            waited < std::time::Duration::from_secs(10),
            "the append blocked its runtime ({waited:?})"
        );
        assert!(store.verify_audit().await.unwrap().is_ok());
    });
}

/// Appends never checkpoint the write-ahead log themselves (a quiet proxy's appender commits
/// on the request's own thread, and a checkpoint syncs the file); the store's checkpoint
/// thread does, and the log starts over, both for one appender at a time and for many at
/// once, where a checkpoint beside the writer alone would never catch up with it (the writer's
/// own thread then copies what the last pass left, between two commits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_write_ahead_log_is_checkpointed_off_the_appenders_and_starts_over() {
    // 6,000 records of 16 KiB: 96 MiB, 24 times the log size at which a checkpoint is due
    // (1,000 pages) and six times the size at which the writer catches up so that the log
    // starts over.
    const RECORDS: usize = 6000;
    let pad = "x".repeat(16 * 1024);
    for (appenders, durability) in [
        (1usize, AuditDurability::Process),
        (16, AuditDurability::Process),
        // Commits that wait for the disk checkpoint as they go (the checkpointer's syncs
        // beside them slowed them down): the log stays small all the same.
        (1, AuditDurability::PowerLoss),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = Store::open(&path).await.unwrap();
        store.set_audit_durability(durability);
        let tasks: Vec<_> = (0..appenders)
            .map(|a| {
                let (store, pad) = (store.clone(), pad.clone());
                tokio::spawn(async move {
                    for i in (a..RECORDS).step_by(appenders) {
                        let e = event(i, "allow").detail(json!({"pad": pad, "i": i}));
                        store.append_audit(vec![e]).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let head = store.audit_head().await.unwrap().unwrap();
        assert_eq!(head.seq, RECORDS as i64);
        if durability == AuditDurability::Process {
            assert!(
                common::thread_names().iter().any(|n| n == "emmental-ckpt"),
                "no checkpoint thread: {:?}",
                common::thread_names()
            );
        }
        // The log file never shrinks, so its size is the most it ever held: a checkpoint's
        // worth, or the catch-up's (16 MiB) plus what arrived while the checkpointer waited
        // for a core; never the 96 MiB, nor the 170 MiB it reached when only passive
        // checkpoints ran, nor the 64 MiB at which the checkpointer forces a restart (the
        // size it reached, 66,822,312 bytes, with the catch-up switched off).
        let wal = std::fs::metadata(dir.path().join("store.db-wal"))
            .unwrap()
            .len();
        assert!(
            wal < 40 << 20,
            "{appenders} appender(s), {durability:?}: the log grew to {wal} bytes"
        );
        // The records reach the store file itself (the checkpointer may still be at it).
        let waited = std::time::Instant::now();
        let main = loop {
            let main = std::fs::metadata(&path).unwrap().len();
            if main > 80 << 20 || waited.elapsed() > std::time::Duration::from_secs(30) {
                break main;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(
            main > 80 << 20,
            "{appenders} appender(s), {durability:?}: the store file holds only {main} bytes (log {wal})"
        );
    }
}

/// Polls `f` once.
async fn poll_once<F: Future>(mut f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await
}

#[test]
fn an_append_beside_is_committed_by_the_writer_while_the_caller_does_other_work() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        let store = store_with(&path, 2).await;
        // A plain append on a quiet store commits on the caller's thread, in its first poll.
        let plain = std::pin::pin!(store.append_audit(vec![event(3, "allow")]));
        assert!(poll_once(plain).await.is_ready());
        // An append beside does not: it is pending, and the record is committed while this
        // runtime's only thread sleeps, so by another thread. (The writer's thread may also
        // commit and answer before the first poll ends, if the system stalls this thread
        // between the hand-off and the poll, as a busy machine's scheduler may do several
        // times running when the hand-off wakes the writer: so up to fifty tries, where an
        // inline commit would be ready every time.)
        let mut seen_pending = false;
        for request in 4..54 {
            let mut beside =
                std::pin::pin!(store.append_audit_beside(vec![event(request, "allow")]));
            if poll_once(beside.as_mut()).await.is_ready() {
                continue;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
            let pool = common::raw_pool(&path).await;
            let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_log")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(rows, request as i64);
            assert_eq!(beside.await.unwrap(), [request as i64]);
            seen_pending = true;
            break;
        }
        assert!(
            seen_pending,
            "fifty appends beside were each committed within their first poll"
        );
        assert!(store.verify_audit().await.unwrap().is_ok());
    });
}
