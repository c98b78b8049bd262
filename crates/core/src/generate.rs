use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Message;

/// What to generate: a conversation and the sampling settings. `None` fields mean "the model's
/// default"; a model that cannot honour a setting says so with [`crate::ModelError::InvalidRequest`]
/// rather than ignoring it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GenerateRequest {
    pub messages: Vec<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// 0 means greedy decoding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Generation stops before the first occurrence of any of these strings, which is not returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

impl GenerateRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        Self {
            messages,
            ..Default::default()
        }
    }
    /// A single user turn.
    pub fn prompt(text: impl Into<String>) -> Self {
        Self::new(vec![Message::user(text)])
    }
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = Some(n);
        self
    }
    pub fn temperature(mut self, t: f32) -> Self {
        self.temperature = Some(t);
        self
    }
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        self.stop.push(s.into());
        self
    }

    /// Checks the settings that every backend interprets the same way.
    pub fn validate(&self) -> Result<(), crate::ModelError> {
        let bad = |m: String| Err(crate::ModelError::InvalidRequest { message: m });
        if self.messages.is_empty() {
            return bad("`messages` must hold at least one message".into());
        }
        if let Some(t) = self.temperature
            && !(t.is_finite() && (0.0..=2.0).contains(&t))
        {
            return bad(format!("`temperature` must be between 0 and 2, got {t}"));
        }
        if let Some(p) = self.top_p
            && !(p.is_finite() && p > 0.0 && p <= 1.0)
        {
            return bad(format!("`top_p` must be in (0, 1], got {p}"));
        }
        if self.max_tokens == Some(0) {
            return bad("`max_tokens` must be at least 1".into());
        }
        if self.stop.iter().any(|s| s.is_empty()) {
            return bad("`stop` sequences must not be empty strings".into());
        }
        Ok(())
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn or hit a stop sequence.
    Stop,
    /// `max_tokens` (or the context window) was reached.
    Length,
    /// A provider-side filter withheld the content.
    ContentFilter,
    /// The model asked for a tool call.
    ToolCalls,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
        }
    }
    /// Parses OpenAI's spelling; unknown reasons map to `Stop` (the turn ended for a reason we
    /// don't model) rather than failing a whole run.
    pub fn from_openai(s: &str) -> Self {
        match s {
            "length" => FinishReason::Length,
            "content_filter" => FinishReason::ContentFilter,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }
}

/// Token counts of one generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    pub fn total(&self) -> u32 {
        self.prompt_tokens + self.completion_tokens
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub text: String,
    pub finish_reason: FinishReason,
    pub usage: Usage,
    /// Wall time from request to last token, as seen by the caller.
    #[serde(with = "duration_ms")]
    pub latency: Duration,
    /// The model that answered, as the backend names it.
    #[serde(default)]
    pub model: String,
}

/// One event of a streamed generation: text deltas, then exactly one `Done`.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Delta(String),
    Done {
        finish_reason: FinishReason,
        usage: Option<Usage>,
    },
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1000.0)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(serde::de::Error::custom(
                "latency must be a non-negative number of ms",
            ));
        }
        Ok(Duration::from_secs_f64(ms / 1000.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_out_of_range_settings() {
        let ok = GenerateRequest::prompt("hi");
        assert!(ok.validate().is_ok());
        assert!(GenerateRequest::new(vec![]).validate().is_err());
        assert!(ok.clone().temperature(3.0).validate().is_err());
        assert!(ok.clone().temperature(f32::NAN).validate().is_err());
        assert!(ok.clone().top_p(0.0).validate().is_err());
        assert!(ok.clone().max_tokens(0).validate().is_err());
        assert!(ok.clone().stop("").validate().is_err());
        assert!(
            ok.temperature(0.0)
                .top_p(1.0)
                .max_tokens(1)
                .stop("\n")
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn generation_round_trips_through_json_with_latency_in_ms() {
        let g = Generation {
            text: "Paris".into(),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 10,
                completion_tokens: 2,
            },
            latency: Duration::from_millis(1500),
            model: "m".into(),
        };
        let json = serde_json::to_value(&g).unwrap();
        assert_eq!(json["latency"], 1500.0);
        assert_eq!(json["finish_reason"], "stop");
        let back: Generation = serde_json::from_value(json).unwrap();
        assert_eq!(back, g);
    }

    #[test]
    fn finish_reason_parses_openai_spellings() {
        assert_eq!(FinishReason::from_openai("length"), FinishReason::Length);
        assert_eq!(FinishReason::from_openai("stop"), FinishReason::Stop);
        assert_eq!(
            FinishReason::from_openai("tool_calls"),
            FinishReason::ToolCalls
        );
        assert_eq!(FinishReason::from_openai("weird"), FinishReason::Stop);
    }
}
