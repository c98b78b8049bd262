//! OpenAI-compatible chat-completions client. The principal type is [`OpenAiModel`], built from an
//! [`OpenAiConfig`]; it implements [`emmental_core::Model`] for OpenAI itself and for any server
//! that speaks its protocol (vLLM, llama.cpp, Ollama, `emmental serve`).
//!
//! What it guarantees:
//!
//! - **Retries** on 429, 5xx, connection failures and timeouts — never on other 4xx — with
//!   exponential backoff and full jitter, or after the server's `Retry-After` (capped at
//!   [`OpenAiConfig::backoff_max`]). One loop ([`retry`]) serves whole and streamed requests; a
//!   streamed request is retried only before anything of its body has reached the caller.
//! - **Honest streams**: an answer cut before its end marker is a
//!   [`ModelError::TruncatedStream`], never a short success.
//! - **Bounded load**: at most [`OpenAiConfig::max_concurrency`] requests in flight per model.
//! - **No leaked key**: the API key is never in an error message, a `Debug` output or a log line.
//!   Messages are built from the URL (without user info or query), the status and the body, and
//!   any echo of the key in a body is masked.
//!
//! ```no_run
//! # async fn demo() -> Result<(), emmental_core::ModelError> {
//! use emmental_core::{GenerateRequest, Model};
//! use emmental_models::openai::OpenAiConfig;
//!
//! let model = OpenAiConfig::new("gpt-4o-mini").build()?;
//! let answer = model.generate(&GenerateRequest::prompt("Capital of France?").max_tokens(8)).await?;
//! println!("{}: {}", model.id(), answer.text);
//! # Ok(()) }
//! ```

mod retry;
pub mod sse;
pub mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use emmental_core::{
    FinishReason, GenerateRequest, Generation, GenerationStream, Model, ModelError, StreamEvent,
    Usage, collect_stream,
};
use futures::{Stream, StreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use self::retry::{Failure, RetryPolicy};
use self::sse::{SseEvent, SseParser};
use self::wire::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, DONE_MARKER};

/// The longest piece of a response body quoted in an error message.
const MAX_QUOTED_BODY: usize = 500;

/// Configuration of an [`OpenAiModel`]. Durations are written as seconds (`30`, `0.5`) or with a
/// unit (`"500ms"`, `"2s"`, `"1m"`).
///
/// ```
/// let cfg: emmental_models::openai::OpenAiConfig = serde_json::from_str(
///     r#"{"model": "qwen2.5", "base_url": "http://127.0.0.1:8000/v1/", "timeout": "30s"}"#,
/// ).unwrap();
/// assert_eq!(cfg.timeout.as_secs(), 30);
/// assert_eq!(cfg.max_retries, 5);
/// ```
// `Debug` is derived: the config names the key's variable, never holds the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// The model name sent upstream, e.g. `gpt-4o-mini`.
    pub model: String,
    /// The API root; requests go to `{base_url}/chat/completions`. A trailing slash is fine.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The environment variable that holds the API key, read once by [`OpenAiConfig::build`]. It
    /// may be unset only when `base_url` is a loopback address (a local server needs no key).
    #[serde(default = "default_api_key_env")]
    pub api_key_env: String,
    /// Limit for one whole request (connect, wait, read). For a streamed request it is the limit
    /// for the response to start and for each silence between two pieces of the stream.
    #[serde(default = "default_timeout", with = "duration")]
    pub timeout: Duration,
    /// Limit for opening the TCP (and TLS) connection.
    #[serde(default = "default_connect_timeout", with = "duration")]
    pub connect_timeout: Duration,
    /// Retries after the first attempt on 429, 5xx, connection errors and timeouts.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles on every retry, and the wait is drawn uniformly below
    /// it (full jitter).
    #[serde(default = "default_backoff_base", with = "duration")]
    pub backoff_base: Duration,
    /// The longest wait between attempts, including one the server asks for with `Retry-After`.
    #[serde(default = "default_backoff_max", with = "duration")]
    pub backoff_max: Duration,
    /// Most requests in flight at once from this model; more wait their turn.
    #[serde(default = "default_max_concurrency")]
    pub max_concurrency: usize,
    /// Whether [`Model::generate`] streams under the hood (long answers behind proxies that cut
    /// idle connections). [`Model::generate_stream`] always streams.
    #[serde(default)]
    pub stream: bool,
}

fn default_base_url() -> String {
    "https://api.openai.com/v1".into()
}
fn default_api_key_env() -> String {
    "OPENAI_API_KEY".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(120)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_retries() -> u32 {
    5
}
fn default_backoff_base() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_max_concurrency() -> usize {
    32
}

impl OpenAiConfig {
    /// A config for `model` with every other field at its default.
    pub fn new(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            base_url: default_base_url(),
            api_key_env: default_api_key_env(),
            timeout: default_timeout(),
            connect_timeout: default_connect_timeout(),
            max_retries: default_max_retries(),
            backoff_base: default_backoff_base(),
            backoff_max: default_backoff_max(),
            max_concurrency: default_max_concurrency(),
            stream: false,
        }
    }
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    pub fn api_key_env(mut self, var: impl Into<String>) -> Self {
        self.api_key_env = var.into();
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    /// Sets both backoff bounds.
    pub fn backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }
    pub fn stream(mut self, on: bool) -> Self {
        self.stream = on;
        self
    }

    /// Checks the config, reads the API key from [`Self::api_key_env`] and builds the client.
    pub fn build(&self) -> Result<OpenAiModel, ModelError> {
        let id = format!("openai/{}", self.model);
        let fail = |message: String| ModelError::Load {
            model: id.clone(),
            message,
        };
        if self.model.trim().is_empty() {
            return Err(fail("`model` must not be empty".into()));
        }
        if self.max_concurrency == 0 {
            return Err(fail("`max_concurrency` must be at least 1".into()));
        }
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(fail(
                "`timeout` and `connect_timeout` must be positive".into(),
            ));
        }
        let mut url = reqwest::Url::parse(self.base_url.trim())
            .map_err(|e| fail(format!("`base_url` {:?} is not a URL: {e}", self.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(fail(format!(
                "`base_url` must be an http(s) URL, got {}",
                display_url(&url)
            )));
        }
        let loopback = url.host_str().is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        let path = format!("{}/chat/completions", url.path().trim_end_matches('/'));
        url.set_path(&path);

        let key = std::env::var(&self.api_key_env)
            .ok()
            .filter(|k| !k.trim().is_empty());
        let auth = match &key {
            Some(k) => {
                let mut v =
                    HeaderValue::from_str(&format!("Bearer {}", k.trim())).map_err(|_| {
                        fail(format!(
                            "the API key in ${} holds characters that cannot go in an HTTP header",
                            self.api_key_env
                        ))
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None if loopback => None,
            None => {
                return Err(fail(format!(
                    "the API key variable ${} is not set (needed for {}); set it, or name another \
                     variable with `api_key_env`",
                    self.api_key_env,
                    display_url(&url)
                )));
            }
        };

        let client = build_client(self).map_err(fail)?;
        Ok(OpenAiModel {
            inner: Arc::new(Inner {
                display_url: display_url(&url),
                url,
                id,
                config: self.clone(),
                secret: key.map(|k| Secret(k.trim().to_string())),
                auth,
                client,
                permits: Arc::new(Semaphore::new(self.max_concurrency)),
                retry: RetryPolicy {
                    max_retries: self.max_retries,
                    base: self.backoff_base,
                    max: self.backoff_max.max(self.backoff_base),
                },
            }),
        })
    }
}

fn build_client(cfg: &OpenAiConfig) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS provider of its own and panics without one.
    crate::ensure_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(cfg.connect_timeout)
        .read_timeout(cfg.timeout)
        .pool_max_idle_per_host(cfg.max_concurrency)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))
}

/// Builds the model for the spec `openai/<name>`, with an optional base URL and key variable
/// (defaults: OpenAI's API, `OPENAI_API_KEY`) and every other setting at its default.
pub fn from_spec(
    name: &str,
    opts: &crate::LoadOptions,
) -> Result<Arc<dyn Model>, crate::ModelsError> {
    let mut cfg = OpenAiConfig::new(name);
    if let Some(url) = &opts.base_url {
        cfg.base_url = url.to_string();
    }
    if let Some(var) = &opts.api_key_env {
        cfg.api_key_env = var.to_string();
    }
    if let Some(n) = opts.max_concurrency {
        cfg.max_concurrency = n.max(1);
    }
    Ok(Arc::new(cfg.build()?))
}

/// The URL as errors show it: no user info, no query, no fragment.
fn display_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// A string that `Debug` never shows.
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A chat model behind an OpenAI-compatible HTTP API. Cheap to clone; clones share the
/// connection pool and the concurrency limit.
#[derive(Clone)]
pub struct OpenAiModel {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    config: OpenAiConfig,
    /// `{base_url}/chat/completions`.
    url: reqwest::Url,
    /// The same without user info or query, for messages.
    display_url: String,
    secret: Option<Secret>,
    /// `Bearer <key>`, marked sensitive.
    auth: Option<HeaderValue>,
    client: reqwest::Client,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
}

impl fmt::Debug for OpenAiModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("OpenAiModel")
            .field("id", &i.id)
            .field("url", &i.display_url)
            .field("api_key", &i.secret.as_ref().map(|_| "[redacted]"))
            .field("api_key_env", &i.config.api_key_env)
            .field("timeout", &i.config.timeout)
            .field("max_retries", &i.config.max_retries)
            .field("max_concurrency", &i.config.max_concurrency)
            .field("stream", &i.config.stream)
            .finish()
    }
}

impl OpenAiModel {
    /// The config this model was built from.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.config
    }
    /// The chat-completions URL requests go to (without user info or query).
    pub fn url(&self) -> &str {
        &self.inner.display_url
    }
}

#[async_trait]
impl Model for OpenAiModel {
    fn id(&self) -> &str {
        &self.inner.id
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        req.validate()?;
        let started = Instant::now();
        let inner = &*self.inner;
        if inner.config.stream {
            let stream = self.generate_stream(req).await?;
            return collect_stream(stream, started, &inner.config.model).await;
        }
        let body = ChatCompletionRequest::from_generate(&inner.config.model, req, false);
        let body = &body;
        inner
            .retry
            .run(|_| async move {
                let _permit = inner.permit().await;
                let resp = inner.send(body, false).await?;
                let bytes = resp.bytes().await.map_err(|e| inner.transport_error(e))?;
                Ok(inner.parse_completion(&bytes, started)?)
            })
            .await
    }

    async fn generate_stream(&self, req: &GenerateRequest) -> Result<GenerationStream, ModelError> {
        req.validate()?;
        let started = Instant::now();
        let body = ChatCompletionRequest::from_generate(&self.inner.config.model, req, true);
        let body = &body;
        let this = &self.inner;
        let state = this
            .retry
            .run(|_| async move {
                let permit = this.permit().await;
                let resp = this.send(body, true).await?;
                let is_json = resp
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("application/json"));
                if is_json {
                    // A server that ignored `stream: true` and answered whole.
                    let bytes = resp.bytes().await.map_err(|e| this.transport_error(e))?;
                    let g = this.parse_completion(&bytes, started)?;
                    return Ok(StreamState::whole(g, self.inner.clone()));
                }
                let mut state =
                    StreamState::new(Box::pin(resp.bytes_stream()), permit, self.inner.clone());
                state.read_first_event().await?;
                Ok(state)
            })
            .await?;
        Ok(Box::pin(futures::stream::unfold(
            state,
            |mut s| async move { s.next_event().await.map(|e| (e, s)) },
        )))
    }
}

impl Inner {
    async fn permit(&self) -> OwnedSemaphorePermit {
        // The semaphore is never closed, so acquiring only waits.
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("the request semaphore is never closed")
    }

    /// Sends one attempt and checks its status; the body is left unread.
    async fn send(
        &self,
        body: &ChatCompletionRequest,
        stream: bool,
    ) -> Result<reqwest::Response, Failure> {
        let mut rb = self.client.post(self.url.clone()).json(body);
        if !stream {
            rb = rb.timeout(self.config.timeout);
        } else {
            rb = rb.header(reqwest::header::ACCEPT, "text/event-stream");
        }
        if let Some(auth) = &self.auth {
            rb = rb.header(AUTHORIZATION, auth.clone());
        }
        let resp = rb.send().await.map_err(|e| self.transport_error(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = retry::retry_after(resp.headers(), SystemTime::now());
        // A body that cannot be read still leaves the status to report.
        let body = resp.bytes().await.unwrap_or_default();
        let message = self.quote(&extract_error_message(&body));
        let (url, status) = (self.display_url.clone(), status.as_u16());
        tracing::debug!(url = %self.display_url, status, %message, "model request failed");
        let error = match status {
            401 | 403 => ModelError::Auth {
                status,
                url,
                message,
            },
            429 => ModelError::RateLimited {
                url,
                attempts: 1,
                retry_after,
            },
            _ => ModelError::Http {
                status,
                url,
                attempts: 1,
                message,
            },
        };
        Err(Failure { error, retry_after })
    }

    fn transport_error(&self, e: reqwest::Error) -> ModelError {
        let url = self.display_url.clone();
        if e.is_timeout() {
            return ModelError::Timeout {
                url,
                after: self.config.timeout,
            };
        }
        // `without_url`: the request URL could carry credentials in its query.
        let message = self.quote(&error_chain(&e.without_url()));
        ModelError::Connection {
            url,
            attempts: 1,
            message,
        }
    }

    /// Masks the key wherever a server echoed it, then shortens: masking first, so that a cut
    /// never leaves a prefix of the key behind.
    fn quote(&self, text: &str) -> String {
        let mut s = text.trim().to_string();
        if let Some(Secret(key)) = &self.secret {
            s = s.replace(key.as_str(), "[redacted]");
        }
        truncate(s, MAX_QUOTED_BODY)
    }

    fn malformed(&self, message: String) -> ModelError {
        ModelError::MalformedResponse {
            url: self.display_url.clone(),
            message,
        }
    }

    fn parse_completion(&self, body: &[u8], started: Instant) -> Result<Generation, ModelError> {
        let c: ChatCompletion = serde_json::from_slice(body).map_err(|e| {
            self.malformed(format!(
                "not a chat completion ({e}); body: {}",
                self.quote(&String::from_utf8_lossy(body))
            ))
        })?;
        let Some(choice) = c.choices.into_iter().next() else {
            return Err(self.malformed("`choices` is empty".into()));
        };
        let text = match (choice.message.content, choice.message.refusal) {
            (Some(c), _) => c,
            (None, Some(r)) => r,
            (None, None) => String::new(),
        };
        Ok(Generation {
            text,
            finish_reason: wire::finish_reason(choice.finish_reason.as_deref()),
            usage: c.usage.map(Usage::from).unwrap_or_default(),
            latency: started.elapsed(),
            model: if c.model.is_empty() {
                self.config.model.clone()
            } else {
                c.model
            },
        })
    }
}

type ByteStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A streamed answer being read: bytes → SSE events → [`StreamEvent`]s.
struct StreamState {
    body: Option<ByteStream>,
    parser: SseParser,
    pending: VecDeque<Result<StreamEvent, ModelError>>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    /// Characters of text seen so far.
    received: usize,
    /// An end event or an error is queued: nothing more is read.
    ended: bool,
    /// Held until the stream ends or is dropped (a caller that stops reading frees its slot).
    permit: Option<OwnedSemaphorePermit>,
    model: Arc<Inner>,
}

impl StreamState {
    fn new(body: ByteStream, permit: OwnedSemaphorePermit, model: Arc<Inner>) -> Self {
        Self {
            body: Some(body),
            parser: SseParser::new(),
            pending: VecDeque::new(),
            finish_reason: None,
            usage: None,
            received: 0,
            ended: false,
            permit: Some(permit),
            model,
        }
    }

    /// A whole answer replayed as a stream.
    fn whole(g: Generation, model: Arc<Inner>) -> Self {
        let pending = VecDeque::from([
            Ok(StreamEvent::Delta(g.text)),
            Ok(StreamEvent::Done {
                finish_reason: g.finish_reason,
                usage: Some(g.usage),
            }),
        ]);
        Self {
            body: None,
            parser: SseParser::new(),
            pending,
            finish_reason: None,
            usage: None,
            received: 0,
            ended: true,
            permit: None,
            model,
        }
    }

    /// Reads until the first event is queued, while nothing has reached the caller: failures here
    /// are returned to the retry loop (transport errors are retried), not streamed.
    async fn read_first_event(&mut self) -> Result<(), Failure> {
        while self.pending.is_empty() && !self.ended {
            match self
                .body
                .as_mut()
                .expect("body is present until the stream ends")
                .next()
                .await
            {
                Some(Ok(bytes)) => self.feed(&bytes),
                Some(Err(e)) => return Err(self.model.transport_error(e).into()),
                None => self.end_of_body(None),
            }
        }
        match self.pending.front() {
            Some(Err(_)) => Err(self
                .pending
                .pop_front()
                .and_then(Result::err)
                .expect("front is an error")
                .into()),
            _ => Ok(()),
        }
    }

    async fn next_event(&mut self) -> Option<Result<StreamEvent, ModelError>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self
                .body
                .as_mut()
                .expect("body is present until the stream ends")
                .next()
                .await
            {
                Some(Ok(bytes)) => self.feed(&bytes),
                Some(Err(e)) => {
                    let why = match self.model.transport_error(e) {
                        ModelError::Timeout { after, .. } => {
                            format!("no data for {:.1}s", after.as_secs_f64())
                        }
                        other => other.to_string(),
                    };
                    self.end_of_body(Some(why));
                }
                None => self.end_of_body(None),
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        for event in self.parser.push(bytes) {
            self.handle(event, false);
        }
    }

    /// The body ended, cleanly (`error` is `None`) or not.
    fn end_of_body(&mut self, error: Option<String>) {
        if error.is_none()
            && let Some(event) = self.parser.finish()
        {
            self.handle(event, true);
        }
        if self.ended {
            return;
        }
        if let Some(finish_reason) = self.finish_reason {
            // The answer itself is complete; only the `[DONE]` (and perhaps usage) went missing.
            tracing::debug!(url = %self.model.display_url, "stream ended after finish_reason but before [DONE]");
            self.end(Ok(StreamEvent::Done {
                finish_reason,
                usage: self.usage,
            }));
        } else {
            let message =
                error.unwrap_or_else(|| "the connection closed before `data: [DONE]`".into());
            self.end(Err(ModelError::TruncatedStream {
                url: self.model.display_url.clone(),
                received: self.received,
                message,
            }));
        }
    }

    fn end(&mut self, last: Result<StreamEvent, ModelError>) {
        self.pending.push_back(last);
        self.ended = true;
        self.body = None;
        self.permit = None;
    }

    /// Handles one SSE event; `at_eof` marks an event completed only by the end of the body, which
    /// may be a cut-off fragment.
    fn handle(&mut self, event: SseEvent, at_eof: bool) {
        if self.ended {
            return;
        }
        let data = event.data.trim();
        if data == DONE_MARKER {
            let finish_reason = self.finish_reason.unwrap_or(FinishReason::Stop);
            self.end(Ok(StreamEvent::Done {
                finish_reason,
                usage: self.usage,
            }));
            return;
        }
        let value: serde_json::Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(_) if at_eof => return, // cut mid-event: reported as a truncation by the caller
            Err(e) => {
                let message = format!(
                    "invalid JSON in stream event ({e}): {}",
                    self.model.quote(data)
                );
                self.end(Err(self.model.malformed(message)));
                return;
            }
        };
        if event.event == "error" || value.get("error").is_some() {
            let message = self.model.quote(&extract_error_message(data.as_bytes()));
            self.end(Err(ModelError::Inference {
                model: self.model.id.clone(),
                message: format!("the server reported an error mid-stream: {message}"),
            }));
            return;
        }
        let chunk: ChatCompletionChunk = match serde_json::from_value(value) {
            Ok(c) => c,
            Err(e) => {
                let message = format!(
                    "not a chat-completion chunk ({e}): {}",
                    self.model.quote(data)
                );
                self.end(Err(self.model.malformed(message)));
                return;
            }
        };
        if let Some(u) = chunk.usage {
            self.usage = Some(u.into());
        }
        // We ask for one choice; a server that sends more still has its first one read.
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            let text = choice
                .delta
                .content
                .or(choice.delta.refusal)
                .unwrap_or_default();
            if !text.is_empty() {
                self.received += text.chars().count();
                self.pending.push_back(Ok(StreamEvent::Delta(text)));
            }
            if let Some(r) = choice.finish_reason {
                self.finish_reason = Some(FinishReason::from_openai(&r));
            }
        }
    }
}

/// The server's own words from an error body: OpenAI's `{"error": {"message": ..}}`, a few common
/// variants, or the raw text.
fn extract_error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let error = v.get("error");
        let message = error
            .and_then(|e| e.get("message"))
            .or(error.filter(|e| e.is_string()))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"))
            .and_then(|m| m.as_str());
        if let Some(m) = message {
            let kind = error
                .and_then(|e| e.get("type"))
                .and_then(|t| t.as_str())
                .filter(|t| !t.is_empty());
            return match kind {
                Some(k) => format!("{m} ({k})"),
                None => m.to_string(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        "(empty body)".into()
    } else {
        text.into_owned()
    }
}

/// An error and its sources, `: `-joined.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let next = inner.to_string();
        if !s.contains(&next) {
            s.push_str(": ");
            s.push_str(&next);
        }
        source = inner.source();
    }
    s
}

/// Cuts `s` to at most `max` characters, saying how much was left out.
fn truncate(s: String, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s,
        Some((cut, _)) => format!("{}… ({} more bytes)", &s[..cut], s.len() - cut),
    }
}

/// Serde for durations in configs: seconds (`30`, `0.5`) or strings with a unit (`"500ms"`, `"2s"`,
/// `"1m"`, `"1h"`); written back as seconds. Use with `#[serde(with = "...::duration")]`.
pub mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(f64),
            Text(String),
        }
        let bad = |what: &str| {
            serde::de::Error::custom(format!(
                "invalid duration {what:?}; write seconds or e.g. \"500ms\", \"2s\", \"1m\""
            ))
        };
        let secs = match Raw::deserialize(d)? {
            Raw::Secs(s) => s,
            Raw::Text(t) => {
                let t = t.trim();
                let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
                let (num, unit) = t.split_at(split);
                let n: f64 = num.trim().parse().map_err(|_| bad(t))?;
                n * match unit {
                    "ms" => 0.001,
                    "" | "s" => 1.0,
                    "m" | "min" => 60.0,
                    "h" => 3600.0,
                    _ => return Err(bad(t)),
                }
            }
        };
        if !(secs.is_finite() && secs >= 0.0) {
            return Err(bad(&secs.to_string()));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_fills_defaults_and_parses_durations() {
        let cfg: OpenAiConfig = serde_json::from_str(
            r#"{"model":"m","backoff_base":"250ms","backoff_max":2,"connect_timeout":"1m"}"#,
        )
        .unwrap();
        assert_eq!(cfg.base_url, "https://api.openai.com/v1");
        assert_eq!(cfg.api_key_env, "OPENAI_API_KEY");
        assert_eq!(cfg.timeout, Duration::from_secs(120));
        assert_eq!(cfg.backoff_base, Duration::from_millis(250));
        assert_eq!(cfg.backoff_max, Duration::from_secs(2));
        assert_eq!(cfg.connect_timeout, Duration::from_secs(60));
        assert_eq!(
            (cfg.max_retries, cfg.max_concurrency, cfg.stream),
            (5, 32, false)
        );
        assert!(serde_json::from_str::<OpenAiConfig>(r#"{"model":"m","temprature":1}"#).is_err());
        assert!(serde_json::from_str::<OpenAiConfig>(r#"{"model":"m","timeout":"soon"}"#).is_err());
    }

    #[test]
    fn missing_key_is_an_error_naming_the_variable_unless_local() {
        let var = "EMMENTAL_TEST_UNSET_KEY_5f3a";
        let err = OpenAiConfig::new("m")
            .api_key_env(var)
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains(var) && err.contains("not set"), "{err}");
        for local in [
            "http://127.0.0.1:9/v1",
            "http://localhost:8080/v1/",
            "http://[::1]:1/",
        ] {
            let m = OpenAiConfig::new("m")
                .api_key_env(var)
                .base_url(local)
                .build();
            assert!(m.is_ok(), "{local}: {:?}", m.err());
        }
    }

    #[test]
    fn url_gets_chat_completions_with_or_without_trailing_slash() {
        for base in [
            "http://127.0.0.1:1/v1",
            "http://127.0.0.1:1/v1/",
            "http://127.0.0.1:1/v1//",
        ] {
            let m = OpenAiConfig::new("m")
                .base_url(base)
                .api_key_env("EMMENTAL_TEST_UNSET_KEY_91c2")
                .build()
                .unwrap();
            assert_eq!(m.url(), "http://127.0.0.1:1/v1/chat/completions");
            assert_eq!(m.id(), "openai/m");
        }
        let m = OpenAiConfig::new("m")
            .base_url("http://user:pw@127.0.0.1:1/v1?key=abc")
            .api_key_env("EMMENTAL_TEST_UNSET_KEY_91c2")
            .build()
            .unwrap();
        assert_eq!(m.url(), "http://127.0.0.1:1/v1/chat/completions");
    }

    #[test]
    fn spec_builds_a_model_with_the_given_url_key_variable_and_concurrency() {
        let opts = |url: Option<&str>| crate::LoadOptions {
            base_url: url.map(str::to_string),
            api_key_env: Some("EMMENTAL_TEST_UNSET_KEY_77d1".into()),
            max_concurrency: Some(50),
            fetcher: crate::fetch::Fetcher::offline("/nonexistent"),
        };
        let m = from_spec("qwen", &opts(Some("http://127.0.0.1:1/v1/"))).unwrap();
        assert_eq!(m.id(), "openai/qwen");
        let err = from_spec("qwen", &opts(None)).err().unwrap().to_string();
        assert!(err.contains("EMMENTAL_TEST_UNSET_KEY_77d1"), "{err}");
    }

    #[test]
    fn bad_base_url_is_a_load_error() {
        for bad in ["not a url", "ftp://127.0.0.1/v1"] {
            let err = OpenAiConfig::new("m").base_url(bad).build().unwrap_err();
            assert!(matches!(err, ModelError::Load { .. }), "{err}");
        }
    }

    #[test]
    fn error_messages_come_from_openai_error_bodies() {
        assert_eq!(
            extract_error_message(
                br#"{"error":{"message":"Bad model","type":"invalid_request_error"}}"#
            ),
            "Bad model (invalid_request_error)"
        );
        assert_eq!(extract_error_message(br#"{"error":"nope"}"#), "nope");
        assert_eq!(
            extract_error_message(br#"{"detail":"Not Found"}"#),
            "Not Found"
        );
        assert_eq!(extract_error_message(b"upstream down"), "upstream down");
        assert_eq!(extract_error_message(b""), "(empty body)");
    }

    #[test]
    fn truncation_keeps_char_boundaries() {
        assert_eq!(truncate("abc".into(), 5), "abc");
        assert_eq!(truncate("ééé".into(), 2), "éé… (2 more bytes)");
    }
}
