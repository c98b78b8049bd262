//! Topic control by meaning: a text is compared with short descriptions of allowed or denied
//! topics through the encoder's sentence embeddings (cosine similarity).

use std::sync::Arc;

use async_trait::async_trait;
use emmental_detectors::{Detection, Resources};
use emmental_models::local::LocalEncoder;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GuardError, ScanContext, Scanner};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsConfig {
    /// Descriptions of topics that must not be discussed ("medical diagnosis of a patient").
    /// The score is the highest similarity to any of them.
    #[serde(default)]
    pub deny: Vec<String>,
    /// Descriptions of the only topics allowed. The score is 1 − the highest similarity.
    #[serde(default)]
    pub allow: Vec<String>,
}

pub struct Topics {
    cfg: TopicsConfig,
    encoder: Arc<LocalEncoder>,
    deny: Vec<Vec<f32>>,
    allow: Vec<Vec<f32>>,
}

impl Topics {
    pub fn new(cfg: TopicsConfig, res: &Resources) -> Result<Self, String> {
        if cfg.deny.is_empty() == cfg.allow.is_empty() {
            return Err("give either `deny` or `allow` topic descriptions (one of the two)".into());
        }
        let encoder = res.encoder("topics").map_err(|e| e.to_string())?;
        let deny = encoder
            .embed_blocking(&cfg.deny)
            .map_err(|e| e.to_string())?;
        let allow = encoder
            .embed_blocking(&cfg.allow)
            .map_err(|e| e.to_string())?;
        Ok(Self {
            cfg,
            encoder,
            deny,
            allow,
        })
    }
}

fn best(v: &[f32], topics: &[Vec<f32>]) -> (usize, f32) {
    topics
        .iter()
        .map(|t| emmental_models::local::cosine(v, t))
        .enumerate()
        .fold((0, f32::MIN), |a, (i, s)| if s > a.1 { (i, s) } else { a })
}

#[async_trait]
impl Scanner for Topics {
    fn name(&self) -> &str {
        "topics"
    }
    fn args(&self) -> Value {
        json!({"deny": self.cfg.deny, "allow": self.cfg.allow})
    }
    fn incremental(&self) -> bool {
        false
    }
    fn has_spans(&self) -> bool {
        false
    }
    fn heavy(&self) -> bool {
        true
    }
    async fn scan(&self, text: &str, _cx: &ScanContext) -> Result<Detection, GuardError> {
        let enc = self.encoder.clone();
        let text = vec![text.to_string()];
        let v = tokio::task::spawn_blocking(move || enc.embed_blocking(&text))
            .await
            .map_err(|e| GuardError::Scan {
                layer: "topics".into(),
                message: e.to_string(),
            })?
            .map_err(|e| GuardError::Scan {
                layer: "topics".into(),
                message: e.to_string(),
            })?
            .remove(0);
        Ok(if !self.deny.is_empty() {
            let (i, s) = best(&v, &self.deny);
            Detection::class(
                format!("denied_topic: {}", self.cfg.deny[i]),
                s.clamp(0.0, 1.0),
            )
        } else {
            let (i, s) = best(&v, &self.allow);
            Detection::class(
                format!("nearest_allowed_topic: {}", self.cfg.allow[i]),
                (1.0 - s).clamp(0.0, 1.0),
            )
        })
    }
}
