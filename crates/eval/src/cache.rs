//! The store side of a run: a response cache keyed by (model, request), so re-scoring or
//! re-running a deterministic evaluation costs no model calls, and a sink that writes each
//! finished sample to the store the moment it is done.

use std::time::Instant;

use async_trait::async_trait;
use emmental_core::{GenerateRequest, Generation, GenerationStream, Model, ModelError};
use emmental_store::{SampleRow, Store};
use sha2::{Digest, Sha256};

use crate::EvalError;
use crate::runner::{RunSink, SampleRecord};

/// Wraps a model; identical deterministic requests (greedy, or seeded) are answered from the
/// store. Sampled requests without a seed always reach the model: their answers are meant to vary.
pub struct CachedModel {
    inner: std::sync::Arc<dyn Model>,
    store: Store,
}

impl CachedModel {
    pub fn new(inner: std::sync::Arc<dyn Model>, store: Store) -> Self {
        Self { inner, store }
    }

    /// The cache key: SHA-256 over the model id and the request's canonical JSON.
    pub fn key(model: &str, req: &GenerateRequest) -> String {
        let mut h = Sha256::new();
        h.update(model.as_bytes());
        h.update([0]);
        h.update(serde_json::to_vec(req).expect("requests serialise"));
        hex::encode(h.finalize())
    }

    fn cacheable(req: &GenerateRequest) -> bool {
        req.seed.is_some() || req.temperature.is_none_or(|t| t == 0.0)
    }
}

#[async_trait]
impl Model for CachedModel {
    fn id(&self) -> &str {
        self.inner.id()
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        if !Self::cacheable(req) {
            return self.inner.generate(req).await;
        }
        let key = Self::key(self.inner.id(), req);
        let started = Instant::now();
        // A cache that cannot be read is a miss, not a failed sample.
        if let Ok(Some(v)) = self.store.cache_get(&key).await
            && let Ok(mut g) = serde_json::from_value::<Generation>(v)
        {
            g.latency = started.elapsed();
            return Ok(g);
        }
        let g = self.inner.generate(req).await?;
        let request = serde_json::to_value(req).expect("requests serialise");
        let response = serde_json::to_value(&g).expect("generations serialise");
        if let Err(e) = self
            .store
            .cache_put(&key, self.inner.id(), &request, &response)
            .await
        {
            tracing::warn!(error = %e, "cannot write the response cache");
        }
        Ok(g)
    }

    async fn generate_stream(&self, req: &GenerateRequest) -> Result<GenerationStream, ModelError> {
        self.inner.generate_stream(req).await
    }
}

/// Writes finished samples to the store. A single writer task commits whatever has queued up
/// in one transaction, and each sample is acknowledged only after its batch is committed, so a
/// sample the runner counts as done survives a crash (and `--resume` skips it) exactly as with
/// one commit per sample, at a fraction of the cost.
pub struct StoreSink {
    run_id: String,
    queue: tokio::sync::mpsc::Sender<(SampleRow, tokio::sync::oneshot::Sender<Result<(), String>>)>,
}

/// The most rows committed in one transaction.
const MAX_BATCH: usize = 256;

impl StoreSink {
    /// Starts the writer task (on the current tokio runtime).
    pub fn new(store: Store, run_id: &str) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<(
            SampleRow,
            tokio::sync::oneshot::Sender<Result<(), String>>,
        )>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (rows, acks): (Vec<SampleRow>, Vec<_>) = batch.into_iter().unzip();
                let result = store.put_samples(&rows).await.map_err(|e| e.to_string());
                for ack in acks {
                    let _ = ack.send(result.clone());
                }
            }
        });
        Self {
            run_id: run_id.to_string(),
            queue,
        }
    }
}

#[async_trait]
impl RunSink for StoreSink {
    async fn record(&self, rec: &SampleRecord) -> Result<(), EvalError> {
        let row = SampleRow {
            run_id: self.run_id.clone(),
            task: rec.task.clone(),
            sample: rec.sample.clone(),
            epoch: rec.epoch,
            record: serde_json::to_value(rec).expect("records serialise"),
            score: rec.score.as_ref().map(|s| s.value),
            error: rec.error.clone(),
        };
        let (ack, acked) = tokio::sync::oneshot::channel();
        let gone = || EvalError::Store {
            message: "the store writer stopped".into(),
        };
        self.queue.send((row, ack)).await.map_err(|_| gone())?;
        acked
            .await
            .map_err(|_| gone())?
            .map_err(|message| EvalError::Store { message })
    }
}
