//! End to end: Emmental's own OpenAI client ([`OpenAiModel`]) against Emmental's server, with an
//! in-test model behind it.

mod common;

use std::time::{Duration, Instant};

use common::{EchoModel, start};
use emmental_core::{FinishReason, GenerateRequest, Message, Model, ModelError, collect_stream};
use emmental_models::openai::{OpenAiConfig, OpenAiModel};
use emmental_server::ServeLimits;

fn client(url: &str) -> OpenAiModel {
    OpenAiConfig::new("echo")
        .base_url(url)
        .api_key_env("EMMENTAL_TEST_ROUNDTRIP_NO_KEY")
        .backoff(Duration::from_millis(5), Duration::from_secs(3))
        .build()
        .unwrap()
}

fn conversation() -> GenerateRequest {
    GenerateRequest::new(vec![
        Message::system("You repeat."),
        Message::user("first"),
        Message::assistant("You said: first"),
        Message::user("the quick brown fox"),
    ])
    .max_tokens(32)
    .temperature(0.0)
}

#[tokio::test]
async fn openai_client_gets_the_same_answer_streamed_and_whole() {
    let url = start(
        EchoModel::with_delay(Duration::from_millis(1)),
        ServeLimits::default(),
        false,
    )
    .await;
    let model = client(&url);
    let whole = model.generate(&conversation()).await.unwrap();
    let stream = model.generate_stream(&conversation()).await.unwrap();
    let streamed = collect_stream(stream, Instant::now(), model.id())
        .await
        .unwrap();
    assert_eq!(whole.text, "You said: the quick brown fox");
    assert_eq!(streamed.text, whole.text);
    assert_eq!(streamed.finish_reason, whole.finish_reason);
    assert_eq!(streamed.usage, whole.usage);
    assert_eq!(whole.usage.prompt_tokens, 2 + 1 + 3 + 4);
    assert_eq!(whole.model, "echo");

    let short = model.generate(&conversation().max_tokens(2)).await.unwrap();
    assert_eq!(
        (short.text.as_str(), short.finish_reason),
        ("You said: ", FinishReason::Length)
    );
}

#[tokio::test]
async fn server_rejections_reach_the_client_as_unretried_http_errors() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let wrong_name = OpenAiConfig::new("gpt-9")
        .base_url(&url)
        .api_key_env("EMMENTAL_TEST_ROUNDTRIP_NO_KEY")
        .build()
        .unwrap();
    let err = wrong_name.generate(&conversation()).await.unwrap_err();
    match err {
        ModelError::Http {
            status: 400,
            attempts: 1,
            message,
            ..
        } => assert!(message.contains("gpt-9"), "{message}"),
        other => panic!("expected an HTTP 400, got {other:?}"),
    }
}

#[tokio::test]
async fn busy_server_is_waited_out_through_retry_after() {
    let model = EchoModel::with_delay(Duration::from_millis(300));
    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 0,
        ..ServeLimits::default()
    };
    let url = start(model.clone(), limits, false).await;
    let client = client(&url);
    let req = conversation();
    let (a, b) = tokio::join!(client.generate(&req), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        client.generate(&req).await
    });
    assert_eq!(a.unwrap().text, b.unwrap().text);
    assert_eq!(
        model
            .max_in_flight
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[tokio::test]
async fn model_failure_mid_stream_reaches_the_client_as_an_error() {
    let url = start(
        EchoModel::with_delay(Duration::ZERO),
        ServeLimits::default(),
        false,
    )
    .await;
    let model = client(&url);
    let stream = model
        .generate_stream(&GenerateRequest::prompt("please BREAK now"))
        .await
        .unwrap();
    let err = collect_stream(stream, Instant::now(), model.id())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broke mid-answer"), "{err}");

    let err = model
        .generate(&GenerateRequest::prompt("FAIL"))
        .await
        .unwrap_err();
    // A model fault is a 500: retried like any server error, then reported.
    assert!(
        matches!(
            err,
            ModelError::Http {
                status: 500,
                attempts: 6,
                ..
            }
        ),
        "{err:?}"
    );
}
