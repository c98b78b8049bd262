//! The [`Scanner`] trait: what a layer asks of its scanner, and the context it gets.

use async_trait::async_trait;
use emmental_detectors::Detection;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::GuardError;

/// Which way the text travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the client to the model.
    Input,
    /// From the model to the client.
    Output,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// What a scanner may know about the exchange besides the text.
#[derive(Debug, Clone, Default)]
pub struct ScanContext {
    pub request_id: String,
    /// The hashed API key id (never the key).
    pub key_id: Option<String>,
    /// For output scans: the last user message the answer replies to.
    pub prompt: Option<String>,
    /// The request's system prompt (for leak checks).
    pub system_prompt: Option<String>,
    /// The canary token the guard planted in the system prompt, if any.
    pub canary: Option<String>,
}

/// Judges a text; a layer turns the judgement into a verdict with its threshold and action.
#[async_trait]
pub trait Scanner: Send + Sync {
    /// The scanner's name as written in the config (`pii`, `ban_substrings` …).
    fn name(&self) -> &str;
    /// Its parameters, for the audit and the log.
    fn args(&self) -> Value {
        json!({})
    }
    /// Whether it can judge a stream piece by piece (span scanners) rather than needing the
    /// whole text (classifiers).
    fn incremental(&self) -> bool;
    /// Whether its findings are spans (needed for `redact`).
    fn has_spans(&self) -> bool;
    /// The entity types of the spans this scanner can report (span scanners only). A
    /// redaction writes `<TYPE>` in their place, and those placeholders are never scanned
    /// again (an answer that quotes `<US_SSN>` must not become `<<LOCATION>_SSN>`).
    fn kinds(&self) -> Vec<String> {
        Vec::new()
    }
    /// Whether scanning costs model inference (such scanners block: the proxy's worker that
    /// runs them hands its other tasks on, or they run on a blocking thread).
    fn heavy(&self) -> bool {
        false
    }
    /// In progressive stream mode, the characters an answer must grow by before this
    /// whole-text scanner reads it again (it always reads the first release and the whole
    /// answer at the end); 0: before every release.
    fn stream_every_chars(&self) -> usize {
        0
    }
    /// Whether a finding with this label came from reading the text (for the spacing above:
    /// a judge behind a gate that stayed shut has not read it).
    fn read(&self, _label: &str) -> bool {
        true
    }
    /// A line for `emmental guard check` about what the scanner reaches beyond the machine or
    /// the policy file (a judge's model and URL); `None` for most.
    fn describe(&self) -> Option<String> {
        None
    }
    /// Does the work on the context's prompt that an output scan will need, before the answer
    /// exists (see `Detector::prepare_prompt`): the guard calls it on a blocking thread while
    /// the upstream writes the answer. Nothing for most scanners.
    fn prepare(&self, _cx: &ScanContext) {}
    async fn scan(&self, text: &str, cx: &ScanContext) -> Result<Detection, GuardError>;
}
