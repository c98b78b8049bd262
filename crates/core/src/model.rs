use std::pin::Pin;
use std::time::Instant;

use async_trait::async_trait;
use futures::{Stream, StreamExt};

use crate::{GenerateRequest, Generation, ModelError, StreamEvent};

/// A stream of generation events: text deltas followed by one [`StreamEvent::Done`].
pub type GenerationStream = Pin<Box<dyn Stream<Item = Result<StreamEvent, ModelError>> + Send>>;

/// Anything that answers a conversation: a remote API, a local model, a guarded model.
///
/// Implementations must be cheap to share (`Arc<dyn Model>`) and safe to call concurrently;
/// a backend with limited capacity queues internally.
#[async_trait]
pub trait Model: Send + Sync {
    /// The model spec that names this model in logs, e.g. `openai/gpt-4o-mini` or `local/smollm2-135m`.
    fn id(&self) -> &str;

    /// Generates a whole answer.
    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError>;

    /// Generates an answer as a stream of text deltas. The default produces the whole answer as
    /// one delta; backends that can stream override it.
    async fn generate_stream(&self, req: &GenerateRequest) -> Result<GenerationStream, ModelError> {
        let g = self.generate(req).await?;
        let events = vec![
            Ok(StreamEvent::Delta(g.text)),
            Ok(StreamEvent::Done {
                finish_reason: g.finish_reason,
                usage: Some(g.usage),
            }),
        ];
        Ok(Box::pin(futures::stream::iter(events)))
    }
}

/// Drains a stream into a [`Generation`]. A stream that ends without `Done` is an error: a
/// truncated answer must never pass for a complete one.
pub async fn collect_stream(
    mut stream: GenerationStream,
    started: Instant,
    model: &str,
) -> Result<Generation, ModelError> {
    let mut text = String::new();
    while let Some(event) = stream.next().await {
        match event? {
            StreamEvent::Delta(d) => text.push_str(&d),
            StreamEvent::Done {
                finish_reason,
                usage,
            } => {
                return Ok(Generation {
                    text,
                    finish_reason,
                    usage: usage.unwrap_or_default(),
                    latency: started.elapsed(),
                    model: model.to_string(),
                });
            }
        }
    }
    Err(ModelError::TruncatedStream {
        url: model.to_string(),
        received: text.chars().count(),
        message: "no end-of-generation event".into(),
    })
}

/// A text encoder: sentences in, fixed-size vectors out (L2-normalised unless documented).
#[async_trait]
pub trait Embedder: Send + Sync {
    /// The model spec, e.g. `local/all-minilm-l6-v2`.
    fn id(&self) -> &str;
    /// The length of every vector this encoder returns.
    fn dimension(&self) -> usize;
    /// Encodes a batch; the output has one vector per input, in order.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError>;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{FinishReason, Usage};

    struct Echo;

    #[async_trait]
    impl Model for Echo {
        fn id(&self) -> &str {
            "test/echo"
        }
        async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
            Ok(Generation {
                text: req.messages.last().unwrap().content.clone(),
                finish_reason: FinishReason::Stop,
                usage: Usage {
                    prompt_tokens: 1,
                    completion_tokens: 1,
                },
                latency: Duration::ZERO,
                model: "echo".into(),
            })
        }
    }

    #[tokio::test]
    async fn default_stream_collects_to_the_same_text() {
        let req = GenerateRequest::prompt("hello world");
        let s = Echo.generate_stream(&req).await.unwrap();
        let g = collect_stream(s, Instant::now(), "echo").await.unwrap();
        assert_eq!(g.text, "hello world");
        assert_eq!(g.usage.total(), 2);
    }

    #[tokio::test]
    async fn stream_without_done_is_a_truncation_error() {
        let s: GenerationStream = Box::pin(futures::stream::iter(vec![Ok(StreamEvent::Delta(
            "par".into(),
        ))]));
        let err = collect_stream(s, Instant::now(), "m").await.unwrap_err();
        assert!(
            matches!(err, ModelError::TruncatedStream { received: 3, .. }),
            "{err}"
        );
    }
}
