//! The model response cache.

mod common;

use emmental_store::Store;
use serde_json::json;

async fn hits(path: &std::path::Path, key: &str) -> i64 {
    let pool = common::raw_pool(path).await;
    let hits = sqlx::query_scalar("SELECT hits FROM response_cache WHERE key = $1")
        .bind(key)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    hits
}

#[tokio::test]
async fn cache_returns_what_was_put_and_counts_hits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::open(&path).await.unwrap();
    let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let request = json!({"messages": [{"role": "user", "content": "2+2?"}], "temperature": 0});
    let response = json!({"text": "4", "finish_reason": "stop"});

    assert_eq!(store.cache_get(key).await.unwrap(), None);
    store
        .cache_put(key, "smollm2-135m", &request, &response)
        .await
        .unwrap();
    assert_eq!(hits(&path, key).await, 0);
    assert_eq!(store.cache_get(key).await.unwrap(), Some(response.clone()));
    assert_eq!(store.cache_get(key).await.unwrap(), Some(response));
    assert_eq!(hits(&path, key).await, 2);

    // A second put replaces the response and keeps the count.
    let newer = json!({"text": "four", "finish_reason": "stop"});
    store
        .cache_put(key, "smollm2-135m", &request, &newer)
        .await
        .unwrap();
    assert_eq!(store.cache_get(key).await.unwrap(), Some(newer));
    assert_eq!(hits(&path, key).await, 3);

    assert_eq!(store.cache_get("0000").await.unwrap(), None);
}
