//! The server's OpenAI-compatible API, spoken to over real HTTP on 127.0.0.1.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{EchoModel, start};
use emmental_server::ServeLimits;
use serde_json::{Value, json};

fn http() -> reqwest::Client {
    common::install_provider();
    reqwest::Client::new()
}

async fn post(
    url: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let resp = http()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap())
}

async fn post_json(url: &str, body: &Value) -> (u16, Value) {
    let (status, _, text) = post(url, body.to_string()).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
    )
}

/// Checks the OpenAI error shape and returns the `error` object.
fn openai_error(body: &Value) -> &Value {
    let e = &body["error"];
    assert!(
        e["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(e["type"].is_string(), "{body}");
    assert!(
        e.get("param").is_some() && e.get("code").is_some(),
        "param and code must be present: {body}"
    );
    e
}

fn chat(content: &str) -> Value {
    json!({"model": "echo", "messages": [{"role": "user", "content": content}]})
}

#[tokio::test]
async fn malformed_json_gets_400_with_openai_error_body() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let (status, _, text) = post(
        &format!("{url}/chat/completions"),
        "{\"model\": \"echo\", \"messages\": [",
    )
    .await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_str(&text).unwrap();
    let e = openai_error(&body);
    assert_eq!(e["type"], "invalid_request_error");
    assert!(
        e["message"].as_str().unwrap().contains("not valid JSON"),
        "{e}"
    );
}

#[tokio::test]
async fn missing_messages_gets_400_naming_the_param() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let (status, body) = post_json(
        &format!("{url}/chat/completions"),
        &json!({"model": "echo"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(openai_error(&body)["param"], "messages");
    let (status, body) = post_json(
        &format!("{url}/chat/completions"),
        &json!({"model": "echo", "messages": []}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(openai_error(&body)["param"], "messages");
}

#[tokio::test]
async fn out_of_range_or_mistyped_temperature_gets_400() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("hi");
    req["temperature"] = json!(3.5);
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 400);
    let e = openai_error(&body);
    assert_eq!(
        (e["type"].as_str(), e["param"].as_str()),
        (Some("invalid_request_error"), Some("temperature"))
    );
    req["temperature"] = json!("hot");
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 400);
    assert!(
        openai_error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("schema"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_model_and_unsupported_settings_get_400() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("hi");
    req["model"] = json!("gpt-9");
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 400);
    let e = openai_error(&body);
    assert_eq!(
        (e["param"].as_str(), e["code"].as_str()),
        (Some("model"), Some("model_not_found"))
    );

    let mut req = chat("hi");
    req["n"] = json!(3);
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 400);
    assert_eq!(openai_error(&body)["param"], "n");

    let mut req = chat("hi");
    req["messages"][0]["content"] = json!([{"type": "image_url", "image_url": {"url": "x"}}]);
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 400);
    assert!(
        openai_error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("image_url"),
        "{body}"
    );
}

#[tokio::test]
async fn oversized_body_gets_400_with_openai_error_body() {
    let limits = ServeLimits {
        max_body_bytes: 4096,
        ..ServeLimits::default()
    };
    let url = start(EchoModel::with_delay(Duration::ZERO), limits, false).await;
    let (status, body) = post_json(
        &format!("{url}/chat/completions"),
        &chat(&"x".repeat(10_000)),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(openai_error(&body)["code"], "request_too_large");
}

#[tokio::test]
async fn chat_completion_has_the_fields_openai_clients_expect() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("the cat sat");
    req["max_completion_tokens"] = json!(64);
    req["stop"] = json!("\n");
    let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(body["model"], "echo");
    assert_eq!(body["choices"][0]["index"], 0);
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "You said: the cat sat"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8})
    );

    let mut req = chat("the cat sat");
    req["max_tokens"] = json!(2);
    let (_, body) = post_json(&format!("{url}/chat/completions"), &req).await;
    assert_eq!(body["choices"][0]["finish_reason"], "length");
}

/// Splits an SSE body into its events, checking the framing on the way.
fn sse_events(text: &str) -> Vec<String> {
    assert!(
        text.ends_with("\n\n"),
        "an event stream ends with a blank line: {text:?}"
    );
    text.trim_end_matches('\n')
        .split("\n\n")
        .filter(|e| !e.starts_with(':'))
        .map(|e| {
            e.strip_prefix("data: ")
                .unwrap_or_else(|| panic!("not a data event: {e:?}"))
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn sse_stream_has_role_deltas_finish_usage_and_ends_with_done() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("one two three");
    req["stream"] = json!(true);
    req["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = post(&format!("{url}/chat/completions"), req.to_string()).await;
    assert_eq!(status, 200);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"));
    assert!(
        chunks.iter().all(|c| c["id"] == id
            && c["object"] == "chat.completion.chunk"
            && c["model"] == "echo")
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "You said: one two three");
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 5);
    // Only the finish chunk has a finish reason, and only the last chunk has usage.
    assert_eq!(
        chunks
            .iter()
            .filter(|c| !c["choices"][0]["finish_reason"].is_null())
            .count(),
        1
    );
    assert_eq!(
        chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .count(),
        1
    );
}

#[tokio::test]
async fn stream_without_include_usage_sends_no_usage_chunk() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("hi");
    req["stream"] = json!(true);
    let (_, _, text) = post(&format!("{url}/chat/completions"), req.to_string()).await;
    let events = sse_events(&text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let finish: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert!(!text.contains("\"usage\""));
}

#[tokio::test]
async fn model_failure_mid_stream_sends_an_error_event_and_no_done() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let mut req = chat("please BREAK now");
    req["stream"] = json!(true);
    let (status, _, text) = post(&format!("{url}/chat/completions"), req.to_string()).await;
    assert_eq!(status, 200);
    let events = sse_events(&text);
    assert!(!events.contains(&"[DONE]".to_string()), "{text}");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert!(
        openai_error(&last)["message"]
            .as_str()
            .unwrap()
            .contains("broke mid-answer")
    );
}

#[tokio::test]
async fn model_failure_gets_500_with_json_error_body() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    for stream in [false, true] {
        let mut req = chat("FAIL please");
        req["stream"] = json!(stream);
        let (status, body) = post_json(&format!("{url}/chat/completions"), &req).await;
        assert_eq!(status, 500);
        assert_eq!(openai_error(&body)["type"], "server_error");
    }
}

#[tokio::test]
async fn models_endpoint_lists_the_chat_model_and_the_encoder() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        true,
    )
    .await;
    let body: Value = http()
        .get(format!("{url}/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["echo", "toy-encoder"]);
    assert_eq!(body["data"][0]["object"], "model");
    let one = http()
        .get(format!("{url}/models/echo"))
        .send()
        .await
        .unwrap();
    assert_eq!(one.status(), 200);
    let missing = http()
        .get(format!("{url}/models/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    openai_error(&missing.json().await.unwrap());
}

#[tokio::test]
async fn health_and_unknown_routes_answer_json() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let root = url.trim_end_matches("/v1");
    let health = http().get(format!("{root}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let nowhere = http().get(format!("{url}/nowhere")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    openai_error(&nowhere.json().await.unwrap());
    let wrong_method = http()
        .get(format!("{url}/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    openai_error(&wrong_method.json().await.unwrap());
}

#[tokio::test]
async fn embeddings_accept_a_string_or_a_list_and_base64() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        true,
    )
    .await;
    let (status, body) = post_json(
        &format!("{url}/embeddings"),
        &json!({"model": "toy-encoder", "input": "hello"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["object"], "embedding");
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 3);

    let (status, body) = post_json(
        &format!("{url}/embeddings"),
        &json!({"model": "toy-encoder", "input": ["a", "bb", "ccc"], "encoding_format": "base64"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[2]["index"], 2);
    // 3 f32s = 12 bytes = 16 base64 characters.
    assert_eq!(data[0]["embedding"].as_str().unwrap().len(), 16);

    let (status, body) = post_json(
        &format!("{url}/embeddings"),
        &json!({"model": "toy-encoder", "input": [1, 2]}),
    )
    .await;
    assert_eq!(status, 400);
    openai_error(&body);
    let (status, _) = post_json(
        &format!("{url}/embeddings"),
        &json!({"model": "toy-encoder", "input": "x", "dimensions": 2}),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn embeddings_without_an_encoder_get_404() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let (status, body) = post_json(
        &format!("{url}/embeddings"),
        &json!({"model": "any", "input": "x"}),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(openai_error(&body)["code"], "model_not_found");
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn queue_overflow_gets_503_with_retry_after() {
    let model = EchoModel::with_delay(Duration::from_millis(600));
    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 1,
        ..ServeLimits::default()
    };
    let (url, state) = common::start_with_state(model.clone(), limits, false).await;
    let endpoint = format!("{url}/chat/completions");
    let running = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { post_json(&endpoint, &chat("first")).await }
    });
    wait_until("the first request runs", || model.in_flight() == 1).await;
    let queued = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { post_json(&endpoint, &chat("second")).await }
    });
    wait_until("the second request is queued", || state.queued() == 1).await;

    let (status, headers, text) = post(&endpoint, chat("third").to_string()).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "1");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(openai_error(&body)["code"], "overloaded");

    assert_eq!(running.await.unwrap().0, 200);
    assert_eq!(queued.await.unwrap().0, 200);
    assert_eq!(model.max_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(state.queued(), 0);
}

#[tokio::test]
async fn waiting_too_long_in_the_queue_gets_503() {
    let model = EchoModel::with_delay(Duration::from_millis(800));
    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 4,
        max_wait: Duration::from_millis(100),
        ..ServeLimits::default()
    };
    let url = start(model.clone(), limits, false).await;
    let endpoint = format!("{url}/chat/completions");
    let running = tokio::spawn({
        let endpoint = endpoint.clone();
        async move { post_json(&endpoint, &chat("first")).await }
    });
    wait_until("the first request runs", || model.in_flight() == 1).await;
    let started = Instant::now();
    let (status, body) = post_json(&endpoint, &chat("second")).await;
    assert_eq!(status, 503);
    assert!(started.elapsed() < Duration::from_millis(700));
    assert!(
        openai_error(&body)["message"]
            .as_str()
            .unwrap()
            .contains("waited")
    );
    assert_eq!(running.await.unwrap().0, 200);
}

#[tokio::test]
async fn concurrency_limit_serialises_generations() {
    let model = EchoModel::with_delay(Duration::from_millis(30));
    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 16,
        ..ServeLimits::default()
    };
    let url = start(model.clone(), limits, false).await;
    let endpoint = format!("{url}/chat/completions");
    let calls = (0..6).map(|i| {
        let endpoint = endpoint.clone();
        async move {
            let mut req = chat(&format!("n{i}"));
            req["stream"] = json!(i % 2 == 0);
            post(&endpoint, req.to_string()).await.0
        }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(model.max_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn client_disconnect_mid_stream_frees_the_slot() {
    let model = EchoModel::with_delay(Duration::from_millis(50));
    // No queue: a leaked slot would turn the next request into an immediate 503.
    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 0,
        ..ServeLimits::default()
    };
    let url = start(model.clone(), limits, false).await;
    let endpoint = format!("{url}/chat/completions");
    let mut req = chat(&"word ".repeat(200));
    req["stream"] = json!(true);
    let mut resp = http().post(&endpoint).json(&req).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.chunk().await.unwrap().is_some());
    drop(resp);

    wait_until("the server drops the abandoned stream", || {
        model.abandoned_streams.load(Ordering::SeqCst) == 1
    })
    .await;
    let (status, body) = post_json(&endpoint, &chat("still there?")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(model.in_flight(), 0);
}
