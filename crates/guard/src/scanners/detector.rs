//! Any detector of the detector set as a scanner: the same component, with the same
//! calibration figures, that scores evaluations.

use std::sync::Arc;

use async_trait::async_trait;
use emmental_detectors::{Detection, Detector, DetectorKind, Input, Resources, registry};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GuardError, ScanContext, Scanner};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorParams {
    /// Only these entity types count (span detectors); default: all.
    #[serde(default)]
    pub types: Vec<String>,
}

pub struct DetectorScanner {
    id: String,
    detector: Arc<dyn Detector>,
    params: DetectorParams,
    heavy: bool,
    spans: bool,
}

impl DetectorScanner {
    pub fn new(id: &str, params: DetectorParams, res: &Resources) -> Result<Self, GuardError> {
        let entry = registry::entry(id)?;
        let detector = registry::build(id, res)?;
        let spans = matches!(detector.info().kind, DetectorKind::Spans { .. });
        if !params.types.is_empty() && !spans {
            return Err(GuardError::config(
                format!("scanner `{id}`"),
                "`types` applies to span detectors only",
            ));
        }
        // A misspelt type would silently switch the layer off: refuse it.
        if let DetectorKind::Spans { types } = &detector.info().kind
            && let Some(t) = params.types.iter().find(|t| !types.contains(t))
        {
            return Err(GuardError::config(
                format!("scanner `{id}`"),
                format!(
                    "unknown type `{t}` in `types`; `{id}` finds {}",
                    types.join(", ")
                ),
            ));
        }
        Ok(Self {
            id: id.to_string(),
            detector,
            params,
            heavy: entry.needs_encoder,
            spans,
        })
    }

    fn judge(&self, text: &str, cx: &ScanContext) -> Result<Detection, GuardError> {
        let input = Input {
            text,
            prompt: cx.prompt.as_deref(),
        };
        let mut d = self.detector.detect(&input)?;
        if !self.params.types.is_empty() {
            d.spans
                .retain(|s| self.params.types.iter().any(|t| t == &s.kind));
            d.score = d.spans.iter().map(|s| s.score).fold(0.0, f32::max);
        }
        Ok(d)
    }
}

#[async_trait]
impl Scanner for DetectorScanner {
    fn name(&self) -> &str {
        &self.id
    }
    fn args(&self) -> Value {
        let info = self.detector.info();
        json!({"detector": info.id, "version": info.version, "types": self.params.types})
    }
    fn incremental(&self) -> bool {
        self.spans
    }
    fn has_spans(&self) -> bool {
        self.spans
    }
    fn kinds(&self) -> Vec<String> {
        match &self.detector.info().kind {
            DetectorKind::Spans { .. } if !self.params.types.is_empty() => {
                self.params.types.clone()
            }
            DetectorKind::Spans { types } => types.clone(),
            DetectorKind::Classifier { .. } => Vec::new(),
        }
    }
    fn heavy(&self) -> bool {
        self.heavy
    }
    fn prepare(&self, cx: &ScanContext) {
        if let Some(p) = &cx.prompt {
            self.detector.prepare_prompt(p);
        }
    }
    async fn scan(&self, text: &str, cx: &ScanContext) -> Result<Detection, GuardError> {
        if !self.heavy {
            return self.judge(text, cx);
        }
        // Encoder inference. On a multi-threaded runtime this worker runs it and hands its
        // other tasks to a new worker: the pass starts on a thread that is awake, where a
        // blocking thread would first have to be woken (on a virtual machine that can take
        // longer than the pass's first loops). Elsewhere (a single-threaded runtime, as in
        // tests) it goes to a blocking thread.
        // A panic is the scanner's failure, on either path.
        let failed = |why: String| GuardError::Scan {
            layer: self.id.clone(),
            message: format!("scanner task failed: {why}"),
        };
        if tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread)
        {
            let run = std::panic::AssertUnwindSafe(|| self.judge(text, cx));
            return tokio::task::block_in_place(|| std::panic::catch_unwind(run))
                .unwrap_or_else(|_| Err(failed("it panicked".into())));
        }
        let (text, cx) = (text.to_string(), cx.clone());
        let this = Self {
            id: self.id.clone(),
            detector: self.detector.clone(),
            params: self.params.clone(),
            heavy: self.heavy,
            spans: self.spans,
        };
        tokio::task::spawn_blocking(move || this.judge(&text, &cx))
            .await
            .map_err(|e| failed(e.to_string()))?
    }
}
