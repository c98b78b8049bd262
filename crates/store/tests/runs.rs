//! Runs: create, update, look up by id or prefix, list.

mod common;

use common::new_run;
use emmental_store::{RunStatus, Store, StoreError};
use serde_json::json;

#[tokio::test]
async fn runs_round_trip_with_status_summary_and_newest_first_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    for id in ["a1b2c3", "a1ffff", "b00000"] {
        store.create_run(&new_run(id)).await.unwrap();
    }

    let fresh = store.run("a1b2c3").await.unwrap().expect("run exists");
    assert_eq!(fresh.id, "a1b2c3");
    assert_eq!(fresh.model, "smollm2-135m");
    assert_eq!(fresh.tasks, ["capability.arithmetic", "misuse.phishing"]);
    assert_eq!(fresh.config, new_run("a1b2c3").config);
    assert_eq!(fresh.status, RunStatus::Running);
    assert_eq!(fresh.summary, None);
    assert_eq!(fresh.created_at, fresh.updated_at);
    assert!(fresh.created_at.ends_with('Z') && fresh.created_at.contains('T'));

    let summary = json!({"accuracy": {"value": 0.9, "ci": [0.8, 0.95], "n": 120}});
    store
        .set_run_status("a1b2c3", RunStatus::Complete, Some(&summary))
        .await
        .unwrap();
    let done = store.run("a1b2c3").await.unwrap().unwrap();
    assert_eq!(done.status, RunStatus::Complete);
    assert_eq!(done.summary, Some(summary));
    assert_eq!(done.created_at, fresh.created_at);
    assert!(done.updated_at > fresh.updated_at);

    // A status change without a summary clears the old one.
    store
        .set_run_status("a1b2c3", RunStatus::Running, None)
        .await
        .unwrap();
    assert_eq!(store.run("a1b2c3").await.unwrap().unwrap().summary, None);

    let listed: Vec<String> = store
        .list_runs(10)
        .await
        .unwrap()
        .into_iter()
        .map(|run| run.id)
        .collect();
    assert_eq!(listed, ["b00000", "a1ffff", "a1b2c3"]);
    assert_eq!(store.list_runs(2).await.unwrap().len(), 2);
    assert_eq!(store.run("nope").await.unwrap(), None);
}

#[tokio::test]
async fn find_run_resolves_unique_prefixes_and_explains_failures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    for id in ["a1b2c3", "a1ffff", "b00000"] {
        store.create_run(&new_run(id)).await.unwrap();
    }

    assert_eq!(store.find_run("b").await.unwrap().id, "b00000");
    assert_eq!(store.find_run("a1b").await.unwrap().id, "a1b2c3");
    assert_eq!(store.find_run("a1ffff").await.unwrap().id, "a1ffff");

    let err = store.find_run("a1").await.unwrap_err();
    match &err {
        StoreError::AmbiguousRun {
            prefix,
            candidates,
            more,
            ..
        } => {
            assert_eq!(prefix, "a1");
            assert_eq!(candidates, &["a1b2c3", "a1ffff"]);
            assert!(!more);
        }
        other => panic!("expected AmbiguousRun, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("a1b2c3") && message.contains("a1ffff") && message.contains("ambiguous"),
        "{message}"
    );

    for missing in ["c", "A1", "a_", "a%", ""] {
        let err = store.find_run(missing).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::NoRunMatches { prefix, .. } if prefix == missing),
            "{missing:?}: {err:?}"
        );
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}

#[tokio::test]
async fn find_run_prefers_an_exact_id_over_longer_ids_sharing_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("abc")).await.unwrap();
    store.create_run(&new_run("abcdef")).await.unwrap();
    assert_eq!(store.find_run("abc").await.unwrap().id, "abc");
    assert!(matches!(
        store.find_run("ab").await.unwrap_err(),
        StoreError::AmbiguousRun { .. }
    ));
}

#[tokio::test]
async fn ambiguous_prefix_lists_a_bounded_number_of_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    for i in 0..emmental_store::AMBIGUOUS_LIST_MAX + 5 {
        store
            .create_run(&new_run(&format!("run-{i:03}")))
            .await
            .unwrap();
    }
    match store.find_run("run-").await.unwrap_err() {
        StoreError::AmbiguousRun {
            candidates, more, ..
        } => {
            assert_eq!(candidates.len(), emmental_store::AMBIGUOUS_LIST_MAX);
            assert_eq!(candidates[0], "run-000");
            assert!(more);
        }
        other => panic!("expected AmbiguousRun, got {other:?}"),
    }
}

#[tokio::test]
async fn duplicate_run_id_and_unknown_run_are_errors_naming_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store.db")).await.unwrap();
    store.create_run(&new_run("r1")).await.unwrap();

    let mut again = new_run("r1");
    again.model = "other-model".into();
    let err = store.create_run(&again).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::DuplicateRun { id, .. } if id == "r1"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"r1\""), "{err}");
    // The first run is untouched.
    assert_eq!(
        store.run("r1").await.unwrap().unwrap().model,
        "smollm2-135m"
    );

    let err = store
        .set_run_status("r2", RunStatus::Failed, None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownRun { id, .. } if id == "r2"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"r2\""), "{err}");
}
