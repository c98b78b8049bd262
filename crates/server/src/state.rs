//! What the server serves ([`ServeState`]) and how much at once ([`ServeLimits`], [`Gate`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use emmental_core::{Embedder, Model};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ServerError;
use crate::error::ApiError;

/// Limits on concurrent work and on the queue in front of it.
///
/// A local model on a small CPU is fastest one request at a time (`concurrency = 1`), so the
/// server queues the rest; a queue that is full or a wait that is too long is answered with 503
/// and `Retry-After`, which OpenAI clients retry on their own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeLimits {
    /// Requests (generations or embedding batches) computed at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Requests that may wait for a free slot; one more is refused at once with 503.
    #[serde(default = "default_max_queue")]
    pub max_queue: usize,
    /// The longest a request waits in the queue before it is refused with 503.
    #[serde(
        default = "default_max_wait",
        with = "emmental_models::openai::duration"
    )]
    pub max_wait: Duration,
    /// The `Retry-After` sent with a 503 (rounded up to whole seconds).
    #[serde(
        default = "default_retry_after",
        with = "emmental_models::openai::duration"
    )]
    pub retry_after: Duration,
    /// The largest request body accepted; larger ones get 400.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
}

fn default_concurrency() -> usize {
    1
}
fn default_max_queue() -> usize {
    16
}
fn default_max_wait() -> Duration {
    Duration::from_secs(120)
}
fn default_retry_after() -> Duration {
    Duration::from_secs(1)
}
fn default_max_body_bytes() -> usize {
    2 * 1024 * 1024
}

impl Default for ServeLimits {
    fn default() -> Self {
        Self {
            concurrency: default_concurrency(),
            max_queue: default_max_queue(),
            max_wait: default_max_wait(),
            retry_after: default_retry_after(),
            max_body_bytes: default_max_body_bytes(),
        }
    }
}

impl ServeLimits {
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: &str| Err(ServerError::InvalidLimits { message: m.into() });
        if self.concurrency == 0 {
            return bad("`concurrency` must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return bad("`max_body_bytes` must be at least 1024");
        }
        Ok(())
    }
}

/// A model with the name clients use for it.
pub(crate) struct Named<T: ?Sized> {
    pub name: String,
    pub model: Arc<T>,
}

// Derived `Clone` would ask `T: Clone`; only the `Arc` is cloned.
impl<T: ?Sized> Clone for Named<T> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            model: self.model.clone(),
        }
    }
}

impl<T: ?Sized> Named<T> {
    /// Whether a request's `model` names this one: by its public name or by its full id.
    pub fn answers_to(&self, requested: &str, id: &str) -> bool {
        requested == self.name || requested == id
    }
}

/// Everything the server serves: one chat model, optionally one text encoder, and the limits
/// shared by both. Cheap to clone.
///
/// ```no_run
/// # fn demo(model: std::sync::Arc<dyn emmental_core::Model>) -> Result<(), emmental_server::ServerError> {
/// use emmental_server::{ServeLimits, ServeState};
/// let state = ServeState::new("smollm2-135m", model)
///     .with_limits(ServeLimits { concurrency: 1, max_queue: 8, ..ServeLimits::default() })?;
/// let app = emmental_server::router(state);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServeState {
    pub(crate) chat: Named<dyn Model>,
    pub(crate) embedder: Option<Named<dyn Embedder>>,
    pub(crate) limits: ServeLimits,
    pub(crate) gate: Arc<Gate>,
    /// Unix time the state was made: the `created` of the model list.
    pub(crate) created: u64,
}

impl ServeState {
    /// Serves `model` under the public `name` (e.g. `smollm2-135m`), with default limits.
    pub fn new(name: impl Into<String>, model: Arc<dyn Model>) -> Self {
        let limits = ServeLimits::default();
        Self {
            chat: Named {
                name: name.into(),
                model,
            },
            embedder: None,
            gate: Arc::new(Gate::new(&limits)),
            limits,
            created: unix_now(),
        }
    }

    /// Also serves `/v1/embeddings` with `embedder` under `name`.
    pub fn with_embedder(mut self, name: impl Into<String>, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = Some(Named {
            name: name.into(),
            model: embedder,
        });
        self
    }

    /// Replaces the limits (and the queue that enforces them).
    pub fn with_limits(mut self, limits: ServeLimits) -> Result<Self, ServerError> {
        limits.validate()?;
        self.gate = Arc::new(Gate::new(&limits));
        self.limits = limits;
        Ok(self)
    }

    pub fn limits(&self) -> &ServeLimits {
        &self.limits
    }

    /// The public name of the chat model.
    pub fn model_name(&self) -> &str {
        &self.chat.name
    }

    /// Requests waiting for a slot right now.
    pub fn queued(&self) -> usize {
        self.gate.waiting.load(Ordering::SeqCst)
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The admission gate: `concurrency` slots and a bounded, time-limited queue in front of them.
pub(crate) struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_queue: usize,
    max_wait: Duration,
    retry_after: Duration,
}

/// Leaves the queue however the wait ends (admitted, timed out, or the client went away).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Gate {
    fn new(limits: &ServeLimits) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(limits.concurrency)),
            waiting: AtomicUsize::new(0),
            max_queue: limits.max_queue,
            max_wait: limits.max_wait,
            retry_after: limits.retry_after,
        }
    }

    /// Waits for a slot. The permit is the slot: hold it for as long as the work runs (for a
    /// stream, until the stream ends or the client leaves).
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if ahead >= self.max_queue {
            return Err(ApiError::overloaded(
                format!(
                    "the server is busy ({} request(s) already queued); retry shortly",
                    ahead
                ),
                self.retry_after,
            ));
        }
        match tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; treat it like a timeout all the same.
            Ok(Err(_)) | Err(_) => Err(ApiError::overloaded(
                format!(
                    "the server is busy (waited {:.1}s for a slot); retry shortly",
                    self.max_wait.as_secs_f64()
                ),
                self.retry_after,
            )),
        }
    }
}
