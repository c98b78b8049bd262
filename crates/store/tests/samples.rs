//! Samples: upsert, resume keys, concurrent writers.

mod common;

use std::collections::HashSet;

use common::{failed_sample, new_run, ok_sample};
use emmental_store::{Store, StoreError};

#[tokio::test]
async fn writing_the_same_sample_key_again_replaces_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();

    store
        .put_sample(&failed_sample("r1", "t", "s1", 0))
        .await
        .unwrap();
    let retried = ok_sample("r1", "t", "s1", 0);
    store.put_sample(&retried).await.unwrap();

    assert_eq!(store.samples("r1").await.unwrap(), [retried]);
}

#[tokio::test]
async fn finished_keys_leave_out_failed_samples_so_resume_retries_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();
    store.create_run(&new_run("r2")).await.unwrap();

    store
        .put_sample(&ok_sample("r1", "t", "s1", 0))
        .await
        .unwrap();
    store
        .put_sample(&ok_sample("r1", "t", "s1", 1))
        .await
        .unwrap();
    store
        .put_sample(&failed_sample("r1", "t", "s2", 0))
        .await
        .unwrap();
    store
        .put_sample(&ok_sample("r2", "t", "s3", 0))
        .await
        .unwrap();

    let expected: HashSet<(String, String, u32)> = [("t", "s1", 0), ("t", "s1", 1)]
        .into_iter()
        .map(|(t, s, e)| (t.to_owned(), s.to_owned(), e))
        .collect();
    assert_eq!(store.finished_keys("r1").await.unwrap(), expected);
    assert_eq!(store.samples("r1").await.unwrap().len(), 3);
    assert!(store.finished_keys("no-such-run").await.unwrap().is_empty());
}

#[tokio::test]
async fn samples_come_back_ordered_by_task_sample_and_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();
    for (task, sample, epoch) in [
        ("b", "s1", 1),
        ("a", "s2", 0),
        ("b", "s1", 0),
        ("a", "s1", 2),
    ] {
        store
            .put_sample(&ok_sample("r1", task, sample, epoch))
            .await
            .unwrap();
    }
    let order: Vec<(String, String, u32)> = store
        .samples("r1")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.task, s.sample, s.epoch))
        .collect();
    let expected = [
        ("a", "s1", 2),
        ("a", "s2", 0),
        ("b", "s1", 0),
        ("b", "s1", 1),
    ]
    .map(|(t, s, e)| (t.to_owned(), s.to_owned(), e));
    assert_eq!(order, expected);
}

#[tokio::test]
async fn sample_for_an_unknown_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    let err = store
        .put_sample(&ok_sample("ghost", "t", "s1", 0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRun { id, .. } if id == "ghost"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_writers_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();

    let writers: Vec<_> = (0..200u32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let task = format!("task-{}", i % 7);
                store
                    .put_sample(&ok_sample("r1", &task, &format!("s{i:03}"), i % 3))
                    .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer task").expect("write lands");
    }

    assert_eq!(store.samples("r1").await.unwrap().len(), 200);
    assert_eq!(store.finished_keys("r1").await.unwrap().len(), 200);
}

#[tokio::test]
async fn a_batch_of_samples_lands_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();

    let batch: Vec<_> = (0..50)
        .map(|i| ok_sample("r1", "t", &format!("s{i:02}"), 0))
        .collect();
    store.put_samples(&batch).await.unwrap();
    assert_eq!(store.samples("r1").await.unwrap(), batch);

    // One row of a batch names a run that does not exist: nothing of that batch is written.
    let mut bad: Vec<_> = (50..60)
        .map(|i| ok_sample("r1", "t", &format!("s{i:02}"), 0))
        .collect();
    bad.push(ok_sample("nope", "t", "x", 0));
    let err = store.put_samples(&bad).await.unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
    assert_eq!(store.samples("r1").await.unwrap().len(), 50);
}
