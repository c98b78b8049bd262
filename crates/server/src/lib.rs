//! Emmental's HTTP side: an OpenAI-compatible server (`emmental serve`) for any
//! [`emmental_core::Model`] — typically a local candle model — and optionally an
//! [`emmental_core::Embedder`]. The principal type is [`ServeState`]; [`router`] turns it into an
//! axum `Router`, [`serve`] runs it.
//!
//! Endpoints, shaped so that OpenAI's own clients parse the answers:
//!
//! | endpoint | |
//! |---|---|
//! | `POST /v1/chat/completions` | JSON, or SSE with `stream: true` (ends with `data: [DONE]`; usage in a last chunk with `stream_options.include_usage`) |
//! | `POST /v1/embeddings` | `input` as a string or a list; `encoding_format` `float` or `base64` |
//! | `GET /v1/models`, `GET /v1/models/{id}` | the served models |
//! | `GET /healthz` | liveness |
//!
//! Every error is OpenAI-shaped JSON, `{"error": {"message", "type", "param", "code"}}`: 400 for a
//! bad request (malformed JSON, wrong types, unknown model, invalid settings, oversized body), 503
//! with `Retry-After` when the queue is full ([`ServeLimits`]), 5xx for model faults. The server
//! is built over `Arc<dyn Model>`, so the same code serves a local model and a remote one.
//!
//! ```no_run
//! # async fn demo(model: std::sync::Arc<dyn emmental_core::Model>) -> Result<(), emmental_server::ServerError> {
//! let state = emmental_server::ServeState::new("smollm2-135m", model);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await.unwrap();
//! emmental_server::serve(listener, state, async { tokio::signal::ctrl_c().await.ok(); }).await
//! # }
//! ```

mod answer;
mod api;
mod error;
pub mod guard;
mod state;
pub mod stub;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

pub use error::{ApiError, ServerError};
pub use state::{ServeLimits, ServeState};

/// The OpenAI-compatible routes over `state`.
pub fn router(state: ServeState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/chat/completions", post(api::chat_completions))
        .route("/v1/embeddings", post(api::embeddings))
        .route("/v1/models", get(api::list_models))
        .route("/v1/models/{id}", get(api::get_model))
        .route("/healthz", get(api::healthz))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// The listener with TCP_NODELAY set on every accepted connection. Without it a response
/// written in two pieces (headers, then body) waits for the client's delayed ACK: about 40 ms
/// added to every answer on Linux.
pub(crate) fn no_delay(
    listener: tokio::net::TcpListener,
) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY on a connection: {e}");
        }
    })
}

/// Serves [`router`]`(state)` on `listener` until `shutdown` resolves, then lets requests in
/// flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ServeState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let addr = listener
        .local_addr()
        .map_err(|source| ServerError::LocalAddr { source })?;
    tracing::info!(%addr, model = %state.chat.name, "serving the OpenAI-compatible API");
    axum::serve(no_delay(listener), router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| ServerError::Serve { source })
}
