//! The OpenAI client against a fault-injecting stub server on 127.0.0.1: retries, streams,
//! truncation, malformed answers, key hygiene and the concurrency limit.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emmental_core::{
    FinishReason, GenerateRequest, Model, ModelError, StreamEvent, collect_stream,
};
use emmental_models::openai::{OpenAiConfig, OpenAiModel};
use futures::StreamExt;
use serde_json::{Value, json};

/// What the stub answers to one request. When its script is empty it answers correctly.
enum Reply {
    /// A status, JSON body and extra headers.
    Status(u16, Value, Vec<(&'static str, &'static str)>),
    /// A 200 with this exact body and content type.
    Raw(&'static str, String),
    /// A 200 event stream made of these pieces; `abort` cuts the connection after them instead
    /// of ending the body cleanly.
    Sse { pieces: Vec<String>, abort: bool },
    /// An error status whose body echoes every request header, as some gateways do.
    EchoHeaders(u16),
}

#[derive(Default)]
struct Stub {
    script: Mutex<VecDeque<Reply>>,
    attempts: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// How long each request takes before answering.
    delay: Mutex<Duration>,
    requests: Mutex<Vec<Value>>,
}

const ANSWER_PIECES: [&str; 4] = ["Hello", ", wor", "ld", "!"];

impl Stub {
    fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }
}

/// Starts the stub with a script; returns it and its `base_url`.
async fn start(script: Vec<Reply>) -> (Arc<Stub>, String) {
    let stub = Arc::new(Stub {
        script: Mutex::new(script.into()),
        ..Stub::default()
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(handle))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (stub, format!("http://{addr}/v1"))
}

struct InFlight(Arc<Stub>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(State(stub): State<Arc<Stub>>, headers: HeaderMap, body: Bytes) -> Response {
    stub.attempts.fetch_add(1, Ordering::SeqCst);
    let now = stub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    stub.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(stub.clone());
    let delay = *stub.delay.lock().unwrap();
    tokio::time::sleep(delay).await;

    let request: Value = serde_json::from_slice(&body).unwrap();
    stub.requests.lock().unwrap().push(request.clone());
    let next = stub.script.lock().unwrap().pop_front();
    match next {
        Some(Reply::Status(status, body, extra)) => {
            let mut resp = (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
            for (k, v) in extra {
                resp.headers_mut().insert(k, v.parse().unwrap());
            }
            resp
        }
        Some(Reply::Raw(content_type, body)) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Some(Reply::Sse { pieces, abort }) => sse_response(pieces, abort),
        Some(Reply::EchoHeaders(status)) => {
            let echoed: Vec<String> = headers.iter().map(|(k, v)| format!("{k}: {}", v.to_str().unwrap())).collect();
            let body = json!({"error": {"message": format!("denied; you sent {}", echoed.join(", ")), "type": "auth"}});
            (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
        }
        None if request["stream"] == true => {
            let include_usage = request["stream_options"]["include_usage"] == true;
            sse_response(good_stream(include_usage), false)
        }
        None => axum::Json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "stub-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER_PIECES.concat()},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
        }))
        .into_response(),
    }
}

fn chunk(content: Option<&str>, finish: Option<&str>) -> String {
    let delta = match content {
        Some(c) => json!({"content": c}),
        None => json!({"role": "assistant"}),
    };
    let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "stub-model",
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
    format!("data: {c}\n\n")
}

/// A well-formed stream with comments, CRLF framing and events split across pieces.
fn good_stream(include_usage: bool) -> Vec<String> {
    let mut pieces = vec![": keep-alive\r\n\r\n".to_string(), chunk(None, None)];
    for p in ANSWER_PIECES {
        pieces.push(chunk(Some(p), None));
    }
    pieces.push(chunk(Some(""), Some("stop")).replace("\n\n", "\r\n\r\n"));
    if include_usage {
        let u = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "stub-model",
                       "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}});
        pieces.push(format!("data: {u}\n\n"));
    }
    pieces.push("data: [DO".into());
    pieces.push("NE]\n\n".into());
    pieces
}

fn sse_response(pieces: Vec<String>, abort: bool) -> Response {
    let mut items: Vec<Result<Bytes, std::io::Error>> =
        pieces.into_iter().map(|p| Ok(Bytes::from(p))).collect();
    if abort {
        items.push(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "stub cuts the stream",
        )));
    }
    // A small pause between pieces so that they reach the client as separate reads.
    let body = futures::stream::iter(items).then(|item| async {
        tokio::time::sleep(Duration::from_millis(2)).await;
        item
    });
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(body),
    )
        .into_response()
}

/// A client for the stub with fast backoff, no key needed (loopback).
fn client(base_url: &str) -> OpenAiConfig {
    OpenAiConfig::new("stub-model")
        .base_url(base_url)
        .api_key_env("EMMENTAL_TEST_NO_SUCH_KEY_VARIABLE")
        .backoff(Duration::from_millis(1), Duration::from_millis(20))
        .timeout(Duration::from_secs(10))
}

fn build(cfg: OpenAiConfig) -> OpenAiModel {
    cfg.build().unwrap()
}

fn prompt() -> GenerateRequest {
    GenerateRequest::prompt("Say hello")
        .max_tokens(16)
        .temperature(0.0)
}

async fn stream_text(model: &OpenAiModel) -> Result<emmental_core::Generation, ModelError> {
    let s = model.generate_stream(&prompt()).await?;
    collect_stream(s, Instant::now(), model.id()).await
}

#[tokio::test]
async fn streaming_and_whole_generation_give_the_same_text_and_usage() {
    let (stub, url) = start(vec![]).await;
    let model = build(client(&url));
    let whole = model.generate(&prompt()).await.unwrap();
    let streamed = stream_text(&model).await.unwrap();
    let hidden_stream = build(client(&url).stream(true))
        .generate(&prompt())
        .await
        .unwrap();
    assert_eq!(whole.text, "Hello, world!");
    assert_eq!(streamed.text, whole.text);
    assert_eq!(hidden_stream.text, whole.text);
    assert_eq!(
        (streamed.finish_reason, whole.finish_reason),
        (FinishReason::Stop, FinishReason::Stop)
    );
    assert_eq!(streamed.usage, whole.usage);
    assert_eq!(whole.usage.total(), 11);
    assert_eq!(whole.model, "stub-model");

    let requests = stub.requests.lock().unwrap();
    assert_eq!(requests[0]["model"], "stub-model");
    assert_eq!(requests[0]["max_tokens"], 16);
    assert!(requests[0].get("stream").is_none());
    assert_eq!(requests[1]["stream"], true);
    assert_eq!(requests[1]["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn stream_delivers_deltas_one_by_one() {
    let (_stub, url) = start(vec![]).await;
    let model = build(client(&url));
    let events: Vec<_> = model
        .generate_stream(&prompt())
        .await
        .unwrap()
        .collect()
        .await;
    let deltas: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Ok(StreamEvent::Delta(d)) => Some(d.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, ANSWER_PIECES);
    assert!(matches!(
        events.last(),
        Some(Ok(StreamEvent::Done {
            finish_reason: FinishReason::Stop,
            usage: Some(_)
        }))
    ));
}

#[tokio::test]
async fn rate_limit_with_retry_after_is_waited_out_and_retried() {
    let (stub, url) = start(vec![Reply::Status(
        429,
        json!({"error": {"message": "slow down", "type": "rate_limit"}}),
        vec![("retry-after", "1")],
    )])
    .await;
    // Backoff alone would wait at most 20 ms; only the server's hint explains a ~1 s pause.
    let model = build(client(&url).backoff(Duration::from_millis(1), Duration::from_secs(5)));
    let started = Instant::now();
    let g = model.generate(&prompt()).await.unwrap();
    assert_eq!(g.text, "Hello, world!");
    assert_eq!(stub.attempts(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn retry_after_is_capped_at_backoff_max() {
    let (stub, url) = start(vec![Reply::Status(
        429,
        json!({}),
        vec![("retry-after", "3600")],
    )])
    .await;
    let model = build(client(&url));
    let started = Instant::now();
    model.generate(&prompt()).await.unwrap();
    assert_eq!(stub.attempts(), 2);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn server_error_is_retried_and_then_succeeds() {
    let (stub, url) = start(vec![Reply::Status(
        500,
        json!({"error": {"message": "oops"}}),
        vec![],
    )])
    .await;
    let g = build(client(&url)).generate(&prompt()).await.unwrap();
    assert_eq!(g.text, "Hello, world!");
    assert_eq!(stub.attempts(), 2);
}

#[tokio::test]
async fn stream_is_retried_when_it_fails_before_the_first_byte() {
    let (stub, url) = start(vec![
        Reply::Status(
            503,
            json!({"error": {"message": "warming up"}}),
            vec![("retry-after", "0")],
        ),
        Reply::Status(502, json!({}), vec![]),
    ])
    .await;
    let g = stream_text(&build(client(&url))).await.unwrap();
    assert_eq!(g.text, "Hello, world!");
    assert_eq!(stub.attempts(), 3);
}

#[tokio::test]
async fn bad_request_is_not_retried_and_carries_the_server_message() {
    let (stub, url) = start(vec![Reply::Status(
        400,
        json!({"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}}),
        vec![],
    )])
    .await;
    let err = build(client(&url)).generate(&prompt()).await.unwrap_err();
    assert_eq!(stub.attempts(), 1);
    match &err {
        ModelError::Http {
            status: 400,
            attempts: 1,
            message,
            ..
        } => {
            assert!(message.contains("max_tokens is too large"), "{message}")
        }
        other => panic!("expected HTTP 400, got {other:?}"),
    }
}

#[tokio::test]
async fn gives_up_after_max_retries_and_says_how_many_attempts() {
    let script = (0..10)
        .map(|_| Reply::Status(500, json!({"error": {"message": "down"}}), vec![]))
        .collect();
    let (stub, url) = start(script).await;
    let err = build(client(&url).max_retries(2))
        .generate(&prompt())
        .await
        .unwrap_err();
    assert_eq!(stub.attempts(), 3);
    assert!(
        matches!(
            err,
            ModelError::Http {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 attempt(s)"), "{err}");
}

#[tokio::test]
async fn unauthorized_is_an_auth_error_without_retry() {
    let (stub, url) = start(vec![Reply::Status(
        401,
        json!({"error": {"message": "Incorrect API key"}}),
        vec![],
    )])
    .await;
    let err = build(client(&url)).generate(&prompt()).await.unwrap_err();
    assert_eq!(stub.attempts(), 1);
    assert!(
        matches!(err, ModelError::Auth { status: 401, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn stream_cut_mid_answer_is_a_truncation_not_a_short_success() {
    let pieces = vec![
        chunk(None, None),
        chunk(Some("Hel"), None),
        chunk(Some("lo"), None),
    ];
    let (stub, url) = start(vec![Reply::Sse {
        pieces: pieces.clone(),
        abort: true,
    }])
    .await;
    let model = build(client(&url));
    let mut stream = model.generate_stream(&prompt()).await.unwrap();
    let mut text = String::new();
    let err = loop {
        match stream.next().await {
            Some(Ok(StreamEvent::Delta(d))) => text.push_str(&d),
            Some(Ok(done)) => panic!("a cut stream must not finish: {done:?}"),
            Some(Err(e)) => break e,
            None => panic!("a cut stream must end with an error"),
        }
    };
    assert_eq!(text, "Hello");
    assert!(
        matches!(err, ModelError::TruncatedStream { received: 5, .. }),
        "{err:?}"
    );
    assert!(stream.next().await.is_none());
    // Deltas had reached the caller: no retry.
    assert_eq!(stub.attempts(), 1);
}

#[tokio::test]
async fn stream_closed_cleanly_without_done_is_a_truncation() {
    let pieces = vec![
        chunk(Some("Hel"), None),
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo".to_string(),
    ];
    let (_stub, url) = start(vec![
        Reply::Sse {
            pieces: pieces.clone(),
            abort: false,
        },
        Reply::Sse {
            pieces,
            abort: false,
        },
    ])
    .await;
    let err = stream_text(&build(client(&url))).await.unwrap_err();
    assert!(
        matches!(err, ModelError::TruncatedStream { received: 3, .. }),
        "{err:?}"
    );
    // The same through `generate` with streaming under the hood.
    let err = build(client(&url).stream(true))
        .generate(&prompt())
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::TruncatedStream { .. }), "{err:?}");
}

#[tokio::test]
async fn empty_event_stream_is_a_truncation() {
    let (_stub, url) = start(vec![Reply::Sse {
        pieces: vec![": nothing\n\n".into()],
        abort: false,
    }])
    .await;
    let err = stream_text(&build(client(&url))).await.unwrap_err();
    assert!(
        matches!(err, ModelError::TruncatedStream { received: 0, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_malformed_response() {
    let (_stub, url) = start(vec![
        Reply::Raw("application/json", "{\"choices\": [oops".into()),
        Reply::Raw(
            "application/json",
            r#"{"id": "x", "object": "chat.completion"}"#.into(),
        ),
        Reply::Sse {
            pieces: vec![chunk(Some("a"), None), "data: {nope}\n\n".into()],
            abort: false,
        },
    ])
    .await;
    let model = build(client(&url));
    let err = model.generate(&prompt()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::MalformedResponse { .. }),
        "{err:?}"
    );
    let err = model.generate(&prompt()).await.unwrap_err();
    match err {
        ModelError::MalformedResponse { message, .. } => {
            assert!(message.contains("choices"), "{message}")
        }
        other => panic!("expected MalformedResponse, got {other:?}"),
    }
    let err = stream_text(&model).await.unwrap_err();
    assert!(
        matches!(err, ModelError::MalformedResponse { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn error_event_mid_stream_is_an_error() {
    let pieces = vec![
        chunk(Some("a"), None),
        "data: {\"error\":{\"message\":\"model crashed\"}}\n\n".into(),
    ];
    let (_stub, url) = start(vec![Reply::Sse {
        pieces,
        abort: false,
    }])
    .await;
    let err = stream_text(&build(client(&url))).await.unwrap_err();
    assert!(err.to_string().contains("model crashed"), "{err}");
}

#[tokio::test]
async fn server_that_ignores_stream_flag_still_streams_its_answer() {
    let body = json!({"choices": [{"message": {"content": "whole"}, "finish_reason": "length"}]})
        .to_string();
    let (_stub, url) = start(vec![Reply::Raw("application/json", body)]).await;
    let g = stream_text(&build(client(&url))).await.unwrap();
    assert_eq!(
        (g.text.as_str(), g.finish_reason),
        ("whole", FinishReason::Length)
    );
}

#[tokio::test]
async fn invalid_settings_fail_before_any_request() {
    let (stub, url) = start(vec![]).await;
    let err = build(client(&url))
        .generate(&prompt().temperature(7.0))
        .await
        .unwrap_err();
    assert!(matches!(err, ModelError::InvalidRequest { .. }), "{err:?}");
    assert_eq!(stub.attempts(), 0);
}

#[tokio::test]
async fn slow_server_times_out_as_timeout() {
    let (stub, url) = start(vec![]).await;
    *stub.delay.lock().unwrap() = Duration::from_secs(3);
    let model = build(
        client(&url)
            .timeout(Duration::from_millis(200))
            .max_retries(1),
    );
    let err = model.generate(&prompt()).await.unwrap_err();
    assert!(matches!(err, ModelError::Timeout { .. }), "{err:?}");
    let err = stream_text(&model).await.unwrap_err();
    assert!(matches!(err, ModelError::Timeout { .. }), "{err:?}");
    assert_eq!(stub.attempts(), 4);
}

#[tokio::test]
async fn unreachable_server_is_a_connection_error_after_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let model = build(client(&format!("http://127.0.0.1:{port}/v1")).max_retries(1));
    let err = model.generate(&prompt()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::Connection { attempts: 2, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn concurrency_limit_caps_requests_in_flight() {
    let (stub, url) = start(vec![]).await;
    *stub.delay.lock().unwrap() = Duration::from_millis(100);
    let model = build(client(&url).max_concurrency(2));
    let calls = (0..8).map(|i| {
        let model = model.clone();
        async move {
            if i % 2 == 0 {
                model.generate(&prompt()).await
            } else {
                stream_text(&model).await
            }
        }
    });
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(stub.attempts(), 8);
    assert_eq!(stub.max_in_flight.load(Ordering::SeqCst), 2);
}

/// A `tracing` writer that keeps everything logged.
#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn api_key_never_appears_in_errors_debug_output_or_logs() {
    const KEY: &str = "sk-emmental-test-5EcReT-a41b9c";
    const VAR: &str = "EMMENTAL_TEST_KEY_NEVER_LEAKS_a41b9c";
    // SAFETY: this variable name is unique to this test; nothing else reads or writes it.
    unsafe { std::env::set_var(VAR, KEY) };

    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // A long body puts the key right where the quoted text is cut.
    let long = format!("{}{KEY}{}", "x".repeat(490), "y".repeat(100));
    let (stub, url) = start(vec![
        Reply::EchoHeaders(401),
        Reply::EchoHeaders(403),
        Reply::EchoHeaders(500),
        Reply::EchoHeaders(500),
        Reply::Status(400, json!({"error": {"message": long}}), vec![]),
        Reply::Raw("application/json", format!("not json {KEY}")),
        Reply::Sse {
            pieces: vec![format!("data: {{\"bad\": {KEY}}}\n\n")],
            abort: false,
        },
    ])
    .await;
    let cfg = client(&url).api_key_env(VAR).max_retries(1);
    let model = build(cfg.clone());

    let mut seen = vec![
        format!("{model:?}"),
        format!("{model:#?}"),
        format!("{cfg:?}"),
    ];
    for _ in 0..5 {
        let err = model.generate(&prompt()).await.unwrap_err();
        seen.push(err.to_string());
        seen.push(format!("{err:?}"));
    }
    let err = stream_text(&model).await.unwrap_err();
    seen.extend([err.to_string(), format!("{err:?}")]);
    assert_eq!(stub.attempts(), 7);

    let first = &seen[3];
    assert!(
        first.contains("authentication failed (401)") && first.contains("[redacted]"),
        "{first}"
    );
    // The key did go out, to the right server.
    assert!(first.contains("Bearer [redacted]"), "{first}");
    let logs = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    seen.push(logs);
    let fragment = &KEY[KEY.len() - 12..];
    for s in &seen {
        assert!(
            !s.contains(KEY) && !s.contains(fragment),
            "key leaked in: {s}"
        );
    }
    unsafe { std::env::remove_var(VAR) };
}
