//! Opening files: creating them, and refusing files the store must not touch.

mod common;

use emmental_store::{SCHEMA_VERSION, Store, StoreError};

#[tokio::test]
async fn open_creates_parent_directories_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/deeper/store.db");
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.path(), path);
    assert!(path.is_file());
}

#[tokio::test]
async fn open_sets_wal_foreign_keys_and_records_the_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    let pool = common::raw_pool(&path).await;
    // journal_mode is a property of the file; the raw connection sees what the store set.
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    pool.close().await;
    drop(store);
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_naming_the_path_and_left_intact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let garbage = "this is a shopping list, not a database\n".repeat(100);
    std::fs::write(&path, &garbage).unwrap();

    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NotADatabase { path: p, .. } if p == &path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("not a SQLite database"),
        "{message}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), garbage);
}

#[tokio::test]
async fn a_store_from_a_newer_schema_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    Store::open(&path).await.unwrap().close().await;

    // What a future Emmental would leave behind: one more migration applied.
    let pool = common::raw_pool(&path).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES ($1, 'from the future', TRUE, x'00', 0)",
    )
    .bind(SCHEMA_VERSION + 1)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::SchemaTooNew { found, supported, .. }
                if *found == SCHEMA_VERSION + 1 && *supported == SCHEMA_VERSION
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()) && message.contains("newer"),
        "{message}"
    );
}

#[tokio::test]
async fn another_programs_sqlite_file_is_refused_and_not_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let pool = sqlx::SqlitePool::connect_with(
        sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true),
    )
    .await
    .unwrap();
    sqlx::query("CREATE TABLE notes (body TEXT)")
        .execute(&pool)
        .await
        .unwrap();

    let err = Store::open(&path).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::ForeignDatabase { tables, .. } if tables == &["notes"]),
        "{err:?}"
    );
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(tables, ["notes"]);
}
