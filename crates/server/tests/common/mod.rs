//! Deterministic in-test models and a server starter shared by the server's tests.
#![allow(dead_code)] // each test binary uses a different part

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use emmental_core::{
    Embedder, FinishReason, GenerateRequest, Generation, GenerationStream, Model, ModelError,
    StreamEvent, Usage,
};
use emmental_server::{ServeLimits, ServeState};

/// Answers `You said: <last message>`, word by word when streamed. Prompts containing `FAIL` fail
/// before answering; `BREAK` fails after two words of a stream. `max_tokens` counts words.
#[derive(Default)]
pub struct EchoModel {
    /// Pause before a whole answer, and between streamed words.
    pub delay: Duration,
    pub in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
    /// Streams dropped before their end (a client went away).
    pub abandoned_streams: AtomicUsize,
}

impl EchoModel {
    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            delay,
            ..Self::default()
        })
    }

    fn enter(self: &Arc<Self>) -> InFlight {
        let n = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(n, Ordering::SeqCst);
        InFlight {
            model: self.clone(),
            finished: false,
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

struct InFlight {
    model: Arc<EchoModel>,
    finished: bool,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.model.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !self.finished {
            self.model.abandoned_streams.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The answer, its word pieces (each keeping its trailing space), and how it ended.
pub fn answer(req: &GenerateRequest) -> (Vec<String>, FinishReason, Usage) {
    let last = req
        .messages
        .last()
        .map(|m| m.content.as_str())
        .unwrap_or_default();
    let full = format!("You said: {last}");
    let mut words: Vec<String> = full.split_inclusive(' ').map(str::to_string).collect();
    let mut finish = FinishReason::Stop;
    if let Some(n) = req.max_tokens
        && words.len() > n as usize
    {
        words.truncate(n as usize);
        finish = FinishReason::Length;
    }
    let prompt_tokens = req
        .messages
        .iter()
        .map(|m| m.content.split_whitespace().count() as u32)
        .sum();
    (
        words.clone(),
        finish,
        Usage {
            prompt_tokens,
            completion_tokens: words.len() as u32,
        },
    )
}

fn failure(msg: &str) -> ModelError {
    ModelError::Inference {
        model: "test/echo".into(),
        message: msg.into(),
    }
}

/// A handle that lets the test keep its own `Arc<EchoModel>` while the server holds `Arc<dyn Model>`.
pub struct Shared(pub Arc<EchoModel>);

#[async_trait]
impl Model for Shared {
    fn id(&self) -> &str {
        "test/echo"
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        let started = Instant::now();
        let mut guard = self.0.enter();
        guard.finished = true;
        tokio::time::sleep(self.0.delay).await;
        if req.messages.iter().any(|m| m.content.contains("FAIL")) {
            return Err(failure("the echo model was told to fail"));
        }
        let (words, finish_reason, usage) = answer(req);
        Ok(Generation {
            text: words.concat(),
            finish_reason,
            usage,
            latency: started.elapsed(),
            model: "echo".into(),
        })
    }

    async fn generate_stream(&self, req: &GenerateRequest) -> Result<GenerationStream, ModelError> {
        if req.messages.iter().any(|m| m.content.contains("FAIL")) {
            return Err(failure("the echo model was told to fail"));
        }
        let breaks = req.messages.iter().any(|m| m.content.contains("BREAK"));
        let (words, finish_reason, usage) = answer(req);
        let guard = self.0.enter();
        let delay = self.0.delay;
        let n = words.len();
        let stream = futures::stream::unfold(
            (0usize, words, Some(guard)),
            move |(i, words, mut guard)| async move {
                guard.as_ref()?;
                if i > 0 {
                    tokio::time::sleep(delay).await;
                }
                let event = if breaks && i == 2 {
                    guard.as_mut().unwrap().finished = true;
                    guard = None;
                    Err(failure("the echo model broke mid-answer"))
                } else if i < n {
                    Ok(StreamEvent::Delta(words[i].clone()))
                } else {
                    guard.as_mut().unwrap().finished = true;
                    guard = None;
                    Ok(StreamEvent::Done {
                        finish_reason,
                        usage: Some(usage),
                    })
                };
                Some((event, (i + 1, words, guard)))
            },
        );
        Ok(Box::pin(stream))
    }
}

/// A 3-dimensional toy encoder: `[length, vowels, 1]`, L2-normalised.
pub struct ToyEmbedder;

#[async_trait]
impl Embedder for ToyEmbedder {
    fn id(&self) -> &str {
        "test/toy-encoder"
    }
    fn dimension(&self) -> usize {
        3
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(texts
            .iter()
            .map(|t| {
                let v = [
                    t.len() as f32,
                    t.chars().filter(|c| "aeiou".contains(*c)).count() as f32,
                    1.0,
                ];
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.iter().map(|x| x / norm).collect()
            })
            .collect())
    }
}

/// Test clients are plain reqwest clients: they need the TLS provider the library installs.
pub fn install_provider() {
    emmental_models::ensure_crypto_provider();
}

/// Serves `model` as `echo` (with the toy encoder as `toy-encoder` when `embed`) on 127.0.0.1;
/// returns the base URL (`http://127.0.0.1:PORT/v1`).
pub async fn start(model: Arc<EchoModel>, limits: ServeLimits, embed: bool) -> String {
    start_with_state(model, limits, embed).await.0
}

/// [`start`], also returning the state the server runs on (it shares the queue).
pub async fn start_with_state(
    model: Arc<EchoModel>,
    limits: ServeLimits,
    embed: bool,
) -> (String, ServeState) {
    install_provider();
    let mut state = ServeState::new("echo", Arc::new(Shared(model)))
        .with_limits(limits)
        .unwrap();
    if embed {
        state = state.with_embedder("toy-encoder", Arc::new(ToyEmbedder));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(emmental_server::serve(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (format!("http://{addr}/v1"), state)
}
