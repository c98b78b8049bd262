//! `Store::close` closes every connection of a store, the audit writer's and its
//! checkpointer's included: their threads end, and the last connection copies the write-ahead
//! log into the file and removes it. (A binary of its own: it counts the process's threads.)

mod common;

use common::thread_names;
use emmental_store::{AuditEvent, Store};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_audit_writer_and_its_checkpointer_and_leaves_no_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    // 6 MiB of records: past the 1,000 pages of log at which the checkpointer starts.
    const RECORDS: usize = 400;
    let pad = "x".repeat(16 * 1024);
    for i in 0..RECORDS {
        let e = AuditEvent::new(format!("req-{i:05}"), "input", "allow")
            .layer("input.pii")
            .detail(json!({"pad": pad, "i": i}));
        store.append_audit(vec![e]).await.unwrap();
    }
    let names = thread_names();
    for thread in ["emmental-audit", "emmental-ckpt"] {
        assert!(names.iter().any(|n| n == thread), "no {thread}: {names:?}");
    }
    let wal = dir.path().join("store.db-wal");
    assert!(wal.exists());

    store.close().await;
    let names = thread_names();
    assert!(
        !names.iter().any(|n| n.starts_with("emmental-")),
        "still running after close: {names:?}"
    );
    assert!(
        !wal.exists(),
        "the log is still there ({} bytes): a connection stayed open",
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
    );
    drop(store);

    // Everything is in the file.
    let store = Store::open(&path).await.unwrap();
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.records, RECORDS as u64);
    store.close().await;
}
