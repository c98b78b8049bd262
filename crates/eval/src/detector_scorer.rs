//! Detectors as scorers: the same components, with the same shipped calibration figures, that
//! the guard uses as scanners. A detector scores the model's answer (with the prompt it
//! answers): 1 when it finds its positive class (`refusal`, `harmful`, `injection`) or, for
//! span detectors, anything at all (`pii`, `secrets`, `unicode`).
//!
//! Encoder-based detectors load the embedded encoder on first use, once per process.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use emmental_detectors::{Detector, DetectorKind, Input, Resources, registry};
use emmental_models::catalog::DEFAULT_ENCODER;
use emmental_models::local::LocalEncoder;
use emmental_models::{LoadOptions, load_local_encoder};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::scorer::{Score, Scorer};
use crate::{EvalError, TaskState};

/// A registry detector used as a scorer.
pub struct DetectorScorer {
    id: &'static str,
    needs_encoder: bool,
    detector: OnceCell<Arc<dyn Detector>>,
}

impl DetectorScorer {
    /// The scorer for detector `id` (built lazily: the encoder loads at the first score).
    pub fn new(id: &str) -> Result<Self, String> {
        let entry = registry::entry(id).map_err(|e| e.to_string())?;
        Ok(Self {
            id: entry.id,
            needs_encoder: entry.needs_encoder,
            detector: OnceCell::new(),
        })
    }

    async fn detector(&self) -> Result<&Arc<dyn Detector>, EvalError> {
        self.detector
            .get_or_try_init(|| async {
                let mut res = Resources::default();
                if self.needs_encoder {
                    res.encoder = Some(shared_encoder().await?);
                }
                let id = self.id;
                tokio::task::spawn_blocking(move || registry::build(id, &res))
                    .await
                    .map_err(|e| fail(id, e.to_string()))?
                    .map_err(|e| fail(id, e.to_string()))
            })
            .await
    }
}

fn fail(id: &str, message: String) -> EvalError {
    EvalError::Scorer {
        scorer: id.to_string(),
        message,
    }
}

/// The embedded encoder, loaded once per process (honours `EMMENTAL_MODEL_PATH`,
/// `EMMENTAL_OFFLINE` and the cache like every other model load).
pub async fn shared_encoder() -> Result<Arc<LocalEncoder>, EvalError> {
    static ENCODER: OnceCell<Arc<LocalEncoder>> = OnceCell::const_new();
    static FAILED: OnceLock<String> = OnceLock::new();
    if let Some(why) = FAILED.get() {
        return Err(fail("encoder", why.clone()));
    }
    ENCODER
        .get_or_try_init(|| async {
            load_local_encoder(DEFAULT_ENCODER, &LoadOptions::default())
                .await
                .map_err(|e| {
                    let why = format!("cannot load the encoder local/{DEFAULT_ENCODER}: {e}");
                    let _ = FAILED.set(why.clone());
                    fail("encoder", why)
                })
        })
        .await
        .cloned()
}

#[async_trait]
impl Scorer for DetectorScorer {
    fn id(&self) -> &str {
        self.id
    }

    fn args(&self) -> Value {
        let info = registry::info(self.id).ok();
        json!({
            "detector": self.id,
            "version": info.as_ref().map(|i| i.version.clone()),
            "calibration": info.and_then(|i| i.calibration),
        })
    }

    async fn score(&self, state: &TaskState) -> Result<Score, EvalError> {
        let detector = self.detector().await?.clone();
        let prompt = state.sample.input.text();
        let answer = state.output().to_string();
        let id = self.id;
        let det = tokio::task::spawn_blocking(move || {
            detector
                .detect(&Input::answer(&prompt, &answer))
                .map(|d| (d, detector))
        })
        .await
        .map_err(|e| fail(id, e.to_string()))?
        .map_err(|e| fail(id, e.to_string()))?;
        let (d, detector) = det;
        let hit = match &detector.info().kind {
            DetectorKind::Classifier { positive, .. } => &d.label == positive,
            DetectorKind::Spans { .. } => !d.spans.is_empty(),
        };
        let mut explanation = format!("{} score {:.3}", d.label, d.score);
        if !d.spans.is_empty() {
            let mut types: Vec<&str> = d.spans.iter().map(|s| s.kind.as_str()).collect();
            types.sort();
            types.dedup();
            explanation.push_str(&format!("; found {}", types.join(", ")));
        }
        Ok(Score::binary(hit).answer(d.label).explain(explanation))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use emmental_core::{FinishReason, Generation, Usage};

    use super::*;
    use crate::{Sample, TaskState};

    fn answered(output: &str) -> TaskState {
        let mut s = TaskState::new(Sample::new("q", "Say something."), 0);
        s.generations.push(Generation {
            text: output.into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            latency: Duration::ZERO,
            model: "m".into(),
        });
        s
    }

    #[tokio::test]
    async fn a_span_detector_scores_one_when_it_finds_something() {
        let scorer = DetectorScorer::new("unicode").unwrap();
        let hit = scorer.score(&answered("hid\u{200B}den")).await.unwrap();
        assert_eq!(hit.value, 1.0);
        assert!(hit.explanation.unwrap().contains("ZERO_WIDTH"));
        let clean = scorer.score(&answered("plain")).await.unwrap();
        assert_eq!(clean.value, 0.0);
        assert_eq!(scorer.args()["detector"], "unicode");
    }

    #[test]
    fn unknown_detectors_are_refused() {
        assert!(DetectorScorer::new("nope").is_err());
        let err = crate::suite::scorer_by_id("nope").err().unwrap();
        assert!(err.contains("unicode"), "{err}");
    }
}
