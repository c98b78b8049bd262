//! The OpenAI-compatible endpoints.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use emmental_core::{FinishReason, GenerationStream, Role, StreamEvent, Usage};
use emmental_models::openai::wire::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, Choice, ChunkChoice, DONE_MARKER,
    Delta, EmbeddingData, EmbeddingRequest, EmbeddingResponse, EmbeddingUsage, EmbeddingVector,
    ErrorBody, ModelList, ModelObject, OBJECT_CHAT_COMPLETION, OBJECT_CHAT_COMPLETION_CHUNK,
    ResponseMessage, WireUsage,
};
use futures::StreamExt;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::ApiError;
use crate::state::{ServeState, unix_now};

/// OpenAI caps an embedding batch at this many inputs.
const MAX_EMBEDDING_INPUTS: usize = 2048;

/// Parses a JSON body with OpenAI-style 400s instead of axum's plain-text rejections.
fn parse_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        let too_large = rejection.status() == StatusCode::PAYLOAD_TOO_LARGE;
        let e = ApiError::invalid_request(format!(
            "cannot read the request body: {}",
            rejection.body_text()
        ));
        if too_large {
            e.code("request_too_large")
        } else {
            e
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let what = if e.is_syntax() || e.is_eof() {
            "is not valid JSON"
        } else {
            "does not fit the request schema"
        };
        ApiError::invalid_request(format!("the request body {what}: {e}"))
    })
}

/// `chatcmpl-` and 24 random letters and digits, as OpenAI's ids look.
fn completion_id() -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("chatcmpl-{suffix}")
}

pub(crate) async fn chat_completions(
    State(state): State<ServeState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let req: ChatCompletionRequest = parse_body(body)?;
    let chat = &state.chat;
    if !chat.answers_to(&req.model, chat.model.id()) {
        return Err(ApiError::invalid_request(format!(
            "the model `{}` does not exist here; this server serves `{}`",
            req.model, chat.name
        ))
        .param("model")
        .code("model_not_found"));
    }
    if let Some((param, message)) = req.unsupported() {
        return Err(ApiError::invalid_request(message)
            .param(param)
            .code("unsupported_parameter"));
    }
    let generate = req.to_generate();
    generate.validate().map_err(|e| ApiError::from_model(&e))?;

    let permit = state.gate.enter().await?;
    let started = Instant::now();
    let meta = ChunkMeta {
        id: completion_id(),
        created: unix_now(),
        model: chat.name.clone(),
    };
    if req.stream {
        let events = chat
            .model
            .generate_stream(&generate)
            .await
            .map_err(|e| model_failed(&meta, &e))?;
        tracing::debug!(id = %meta.id, "streaming a chat completion");
        let sse = SseState {
            events,
            pending: VecDeque::new(),
            role_sent: false,
            ended: false,
            permit: Some(permit),
            meta,
            include_usage: req.include_usage(),
            started,
        };
        let stream = futures::stream::unfold(sse, |mut s| async move {
            s.next().await.map(|e| (Ok::<_, Infallible>(e), s))
        });
        return Ok(Sse::new(stream)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let g = chat
        .model
        .generate(&generate)
        .await
        .map_err(|e| model_failed(&meta, &e))?;
    drop(permit);
    tracing::info!(id = %meta.id, tokens = g.usage.completion_tokens, ms = started.elapsed().as_millis() as u64, "chat completion");
    Ok(Json(ChatCompletion {
        id: meta.id,
        object: OBJECT_CHAT_COMPLETION.into(),
        created: meta.created,
        model: meta.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage {
                role: Role::Assistant,
                content: Some(g.text),
                refusal: None,
            },
            finish_reason: Some(g.finish_reason.as_str().into()),
            logprobs: None,
        }],
        usage: Some(g.usage.into()),
        system_fingerprint: None,
    })
    .into_response())
}

fn model_failed(meta: &ChunkMeta, e: &emmental_core::ModelError) -> ApiError {
    tracing::warn!(id = %meta.id, error = %e, "chat completion failed");
    ApiError::from_model(e)
}

/// What every chunk of one completion repeats.
struct ChunkMeta {
    id: String,
    created: u64,
    model: String,
}

impl ChunkMeta {
    fn chunk(&self, delta: Delta, finish_reason: Option<FinishReason>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: OBJECT_CHAT_COMPLETION_CHUNK.into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(|r| r.as_str().into()),
                logprobs: None,
            }],
            usage: None,
        }
    }
    fn usage_chunk(&self, usage: Usage) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: OBJECT_CHAT_COMPLETION_CHUNK.into(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![],
            usage: Some(WireUsage::from(usage)),
        }
    }
}

/// A model's event stream turned into OpenAI's SSE: a role chunk, content chunks, a chunk with the
/// finish reason, the usage chunk if asked for, then `[DONE]`. A model failure mid-stream becomes
/// an `error` event and the stream ends *without* `[DONE]`, so no client takes it for complete.
struct SseState {
    events: GenerationStream,
    pending: VecDeque<Event>,
    role_sent: bool,
    ended: bool,
    /// The slot; dropped when the model is done or the client goes away (this state is dropped
    /// with the response body).
    permit: Option<OwnedSemaphorePermit>,
    meta: ChunkMeta,
    include_usage: bool,
    started: Instant,
}

fn data(value: &impl serde::Serialize) -> Event {
    Event::default().data(serde_json::to_string(value).expect("wire types serialise"))
}

impl SseState {
    async fn next(&mut self) -> Option<Event> {
        if !self.role_sent {
            // The opening chunk names the assistant role before any content, as OpenAI's does.
            self.role_sent = true;
            let delta = Delta {
                role: Some(Role::Assistant),
                content: Some(String::new()),
                refusal: None,
            };
            return Some(data(&self.meta.chunk(delta, None)));
        }
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            match self.events.next().await {
                Some(Ok(StreamEvent::Delta(text))) => {
                    if !text.is_empty() {
                        let delta = Delta {
                            content: Some(text),
                            ..Delta::default()
                        };
                        self.pending.push_back(data(&self.meta.chunk(delta, None)));
                    }
                }
                Some(Ok(StreamEvent::Done {
                    finish_reason,
                    usage,
                })) => {
                    self.pending.push_back(data(
                        &self.meta.chunk(Delta::default(), Some(finish_reason)),
                    ));
                    if self.include_usage {
                        self.pending
                            .push_back(data(&self.meta.usage_chunk(usage.unwrap_or_default())));
                    }
                    self.pending.push_back(Event::default().data(DONE_MARKER));
                    tracing::info!(id = %self.meta.id, tokens = usage.map(|u| u.completion_tokens),
                        ms = self.started.elapsed().as_millis() as u64, "streamed chat completion");
                    self.finish();
                }
                Some(Err(e)) => {
                    tracing::warn!(id = %self.meta.id, error = %e, "model failed mid-stream");
                    self.pending.push_back(data(&ApiError::from_model(&e).body));
                    self.finish();
                }
                None => {
                    tracing::warn!(id = %self.meta.id, "model stream ended without its end event");
                    let body = ErrorBody::new(
                        "the model's stream ended before it was complete",
                        "server_error",
                    )
                    .code("model_error");
                    self.pending.push_back(data(&body));
                    self.finish();
                }
            }
        }
    }

    fn finish(&mut self) {
        self.ended = true;
        self.permit = None;
    }
}

pub(crate) async fn list_models(State(state): State<ServeState>) -> Json<ModelList> {
    Json(ModelList {
        object: "list".into(),
        data: model_objects(&state),
    })
}

pub(crate) async fn get_model(
    State(state): State<ServeState>,
    Path(id): Path<String>,
) -> Result<Json<ModelObject>, ApiError> {
    model_objects(&state)
        .into_iter()
        .find(|m| m.id == id)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                format!("the model `{id}` does not exist"),
            )
            .param("model")
            .code("model_not_found")
        })
}

fn model_objects(state: &ServeState) -> Vec<ModelObject> {
    let object = |id: &str| ModelObject {
        id: id.to_string(),
        object: "model".into(),
        created: state.created,
        owned_by: "emmental".into(),
    };
    let mut list = vec![object(&state.chat.name)];
    if let Some(e) = &state.embedder {
        list.push(object(&e.name));
    }
    list
}

pub(crate) async fn embeddings(
    State(state): State<ServeState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<EmbeddingResponse>, ApiError> {
    let Some(embedder) = &state.embedder else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "no embedding model is loaded on this server; start it with an encoder to use /v1/embeddings",
        )
        .param("model")
        .code("model_not_found"));
    };
    let req: EmbeddingRequest = parse_body(body)?;
    if !embedder.answers_to(&req.model, embedder.model.id()) {
        return Err(ApiError::invalid_request(format!(
            "the embedding model `{}` does not exist here; this server serves `{}`",
            req.model, embedder.name
        ))
        .param("model")
        .code("model_not_found"));
    }
    if req.input.is_empty() || req.input.len() > MAX_EMBEDDING_INPUTS {
        return Err(ApiError::invalid_request(format!(
            "`input` must hold between 1 and {MAX_EMBEDDING_INPUTS} strings, got {}",
            req.input.len()
        )));
    }
    let dimension = embedder.model.dimension();
    if let Some(d) = req.dimensions
        && d as usize != dimension
    {
        return Err(ApiError::invalid_request(format!(
            "`dimensions` must be {dimension} for `{}` (it cannot be shortened), got {d}",
            embedder.name
        )));
    }
    let permit = state.gate.enter().await?;
    let vectors = embedder.model.embed(&req.input).await.map_err(|e| {
        tracing::warn!(error = %e, "embedding failed");
        ApiError::from_model(&e)
    })?;
    drop(permit);
    if vectors.len() != req.input.len() {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!(
                "the encoder returned {} vectors for {} inputs",
                vectors.len(),
                req.input.len()
            ),
        ));
    }
    let format = req.encoding_format.unwrap_or_default();
    Ok(Json(EmbeddingResponse {
        object: "list".into(),
        data: vectors
            .iter()
            .enumerate()
            .map(|(i, v)| EmbeddingData {
                object: "embedding".into(),
                index: i as u32,
                embedding: EmbeddingVector::encode(v, format),
            })
            .collect(),
        model: embedder.name.clone(),
        // Encoders do not report token counts through the `Embedder` trait.
        usage: EmbeddingUsage::default(),
    }))
}

pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        "no such endpoint",
    )
    .code("unknown_url")
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method not allowed on this endpoint",
    )
}
