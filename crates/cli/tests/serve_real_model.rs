//! `emmental serve` with the real embedded model as the upstream of the HTTP client: the binary
//! is started as a user would start it, on 127.0.0.1 with a port chosen by the OS.
//! Each test starts its own server (about a second) and kills it when it ends, even on panic:
//! a server shared through a `static` would never be dropped and would outlive the tests.
//! Tests take turns: one generation already uses every core.

mod common;

use std::time::Duration;

use emmental_core::{FinishReason, GenerateRequest, Model, ModelError};
use emmental_models::openai::OpenAiConfig;

fn server() -> (common::Server, std::sync::MutexGuard<'static, ()>) {
    let turn = common::turn();
    (common::serve(&[]), turn)
}

fn rt() -> tokio::runtime::Runtime {
    emmental_models::ensure_crypto_provider();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn client(base_url: &str, stream: bool) -> emmental_models::openai::OpenAiModel {
    OpenAiConfig::new("smollm2-135m")
        .base_url(base_url)
        .api_key_env("EMMENTAL_TEST_SERVE_KEY")
        .timeout(Duration::from_secs(120))
        .stream(stream)
        .build()
        .unwrap()
}

#[test]
fn streaming_and_non_streaming_agree_through_the_real_server() {
    let (server, _turn) = server();
    let url = server.url.as_str();
    let req = GenerateRequest::prompt("What is the capital of France?")
        .temperature(0.0)
        .max_tokens(24);
    let rt = rt();
    let whole = rt.block_on(client(url, false).generate(&req)).unwrap();
    let streamed = rt.block_on(client(url, true).generate(&req)).unwrap();
    assert!(whole.text.contains("Paris"), "{:?}", whole.text);
    assert_eq!(whole.text, streamed.text);
    assert_eq!(whole.finish_reason, streamed.finish_reason);
    assert_eq!(whole.usage, streamed.usage);
}

#[test]
fn max_tokens_and_stop_travel_over_http() {
    let (server, _turn) = server();
    let url = server.url.as_str();
    let rt = rt();
    let g = rt
        .block_on(
            client(url, true).generate(
                &GenerateRequest::prompt("Tell me a story.")
                    .temperature(0.0)
                    .max_tokens(3),
            ),
        )
        .unwrap();
    assert_eq!(g.finish_reason, FinishReason::Length);
    assert_eq!(g.usage.completion_tokens, 3);
    let g = rt
        .block_on(
            client(url, false).generate(
                &GenerateRequest::prompt("What is the capital of France?")
                    .temperature(0.0)
                    .max_tokens(24)
                    .stop("Paris"),
            ),
        )
        .unwrap();
    assert!(
        !g.text.contains("Paris") && g.finish_reason == FinishReason::Stop,
        "{g:?}"
    );
}

#[test]
fn a_bad_request_is_a_clear_error_that_never_shows_the_key() {
    let (server, _turn) = server();
    let url = server.url.as_str();
    let secret = "sk-emmental-test-0123456789abcdef";
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var("EMMENTAL_TEST_SERVE_KEY", secret) };
    let rt = rt();
    let model = client(url, false);
    let mut bad = GenerateRequest::prompt("hi");
    bad.messages[0].content = "x".repeat(40_000); // longer than the context window
    let err = rt.block_on(model.generate(&bad)).unwrap_err();
    let text = format!("{err} {err:?} {model:?}");
    assert!(matches!(err, ModelError::Http { status: 400, .. }), "{err}");
    assert!(text.contains("context window"), "{text}");
    assert!(!text.contains(secret), "key leaked: {text}");
}

#[test]
fn embeddings_come_from_the_real_encoder() {
    let (server, _turn) = server();
    let url = server.url.as_str();
    let rt = rt();
    let body: serde_json::Value = rt
        .block_on(async {
            reqwest::Client::new()
                .post(format!("{url}/embeddings"))
                .json(&serde_json::json!({"model": "all-minilm-l6-v2", "input": ["a cat", "a kitten", "tax law"]}))
                .send()
                .await
                .unwrap()
                .json()
                .await
        })
        .unwrap();
    let vecs: Vec<Vec<f32>> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect()
        })
        .collect();
    assert_eq!(vecs.len(), 3);
    assert!(vecs.iter().all(|v| v.len() == 384));
    let cos = emmental_models::local::cosine;
    assert!(cos(&vecs[0], &vecs[1]) > cos(&vecs[0], &vecs[2]) + 0.2);
}
