//! A layer: a scanner with a threshold, an action and an error policy, and the decision it
//! records for every text it judges.

use std::sync::Arc;
use std::time::Instant;

use emmental_detectors::{Detection, Span};
use serde::Serialize;

use crate::config::{Action, LayerConfig, OnError};
use crate::{Direction, ScanContext, Scanner};

/// What a layer did with a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allow,
    Flag,
    Redact,
    Block,
    Escalate,
    Normalize,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Flag => "flag",
            Verdict::Redact => "redact",
            Verdict::Block => "block",
            Verdict::Escalate => "escalate",
            Verdict::Normalize => "normalize",
        }
    }

    /// How much a verdict does, for keeping the strongest of several: allow < normalize <
    /// flag < redact < escalate < block.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::Allow => 0,
            Verdict::Normalize => 1,
            Verdict::Flag => 2,
            Verdict::Redact => 3,
            Verdict::Escalate => 4,
            Verdict::Block => 5,
        }
    }

    /// Whether the layer tripped (anything but a plain allow).
    pub fn tripped(self) -> bool {
        self != Verdict::Allow
    }
}

/// A span as the audit keeps it: type, offsets and score, never the text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpanRecord {
    /// Index of the scanned text (message) the span is in.
    pub text: usize,
    pub start: usize,
    pub end: usize,
    #[serde(rename = "type")]
    pub kind: String,
    pub score: f32,
}

/// One layer's judgement of one exchange (all the texts it scanned on one side).
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    pub layer: String,
    pub scanner: String,
    pub direction: Direction,
    pub verdict: Verdict,
    /// The highest score seen.
    pub score: f32,
    /// The scanner's label for the highest-scoring text.
    pub label: String,
    pub threshold: f32,
    pub spans: Vec<SpanRecord>,
    /// The fault, when the scanner failed (the verdict then follows `on_error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub micros: u64,
}

impl Decision {
    /// A short reason for error bodies and review items: `layer (label, score 0.97)`.
    pub fn reason(&self) -> String {
        match &self.error {
            Some(e) => format!("layer `{}` failed: {e}", self.layer),
            None => {
                let types: Vec<&str> = {
                    let mut t: Vec<&str> = self.spans.iter().map(|s| s.kind.as_str()).collect();
                    t.sort();
                    t.dedup();
                    t
                };
                let what = if types.is_empty() {
                    self.label.clone()
                } else {
                    types.join(", ")
                };
                format!("layer `{}` ({what}, score {:.2})", self.layer, self.score)
            }
        }
    }
}

/// A built layer.
pub struct Layer {
    pub cfg: LayerConfig,
    pub scanner: Arc<dyn Scanner>,
    /// The policy's redaction placeholders: spans inside one are not reported.
    pub placeholders: Arc<Placeholders>,
}

/// The placeholders (`<EMAIL_ADDRESS>`) a policy's redactions write. Text inside one is
/// the guard's own: a later layer, or the other side, must not find an entity in it (`US` in
/// `<US_SSN>` is not a place). Only the types of the policy's `redact` layers count, so a
/// secret written in angle brackets (`<AKIA…>`) is still found.
#[derive(Debug, Default)]
pub struct Placeholders {
    kinds: std::collections::HashSet<String>,
}

impl Placeholders {
    pub fn new(kinds: impl IntoIterator<Item = String>) -> Self {
        Self {
            kinds: kinds.into_iter().collect(),
        }
    }

    /// Byte ranges of the placeholders in `text`.
    pub fn find(&self, text: &str) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        if self.kinds.is_empty() {
            return found;
        }
        let bytes = text.as_bytes();
        let mut at = 0;
        while let Some(open) = text[at..].find('<').map(|i| at + i) {
            let name = bytes[open + 1..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
                .count();
            let close = open + 1 + name;
            if name > 0
                && bytes.get(close) == Some(&b'>')
                && self.kinds.contains(&text[open + 1..close])
            {
                found.push((open, close + 1));
                at = close + 1;
            } else {
                at = open + 1;
            }
        }
        found
    }
}

impl Layer {
    /// The layer's decision before it has found anything: allow, score 0.
    fn decision(&self, direction: Direction) -> Decision {
        Decision {
            layer: self.cfg.id.clone(),
            scanner: self.scanner.name().to_string(),
            direction,
            verdict: Verdict::Allow,
            score: 0.0,
            label: String::new(),
            threshold: self.cfg.threshold,
            spans: Vec::new(),
            error: None,
            micros: 0,
        }
    }

    /// The decision of the layer when its scanner failed with `error`: as `on_error` says.
    pub fn failed(&self, direction: Direction, error: &str) -> Decision {
        let mut decision = self.decision(direction);
        decision.verdict = match self.cfg.on_error {
            OnError::FailOpen => Verdict::Allow,
            OnError::FailClosed => Verdict::Block,
        };
        decision.label = "error".into();
        decision.error = Some(error.to_string());
        decision
    }

    /// Scans every text and decides.
    pub async fn judge(
        &self,
        direction: Direction,
        texts: &[String],
        cx: &ScanContext,
    ) -> (Decision, Vec<Vec<Span>>) {
        let started = Instant::now();
        let mut found: Vec<Detection> = Vec::with_capacity(texts.len());
        let mut error = None;
        for t in texts {
            match self.scanner.scan(t, cx).await {
                Ok(d) => found.push(d),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        let micros = started.elapsed().as_micros() as u64;
        if let Some(e) = error {
            let mut decision = self.failed(direction, &e);
            decision.micros = micros;
            return (decision, Vec::new());
        }
        let mut decision = self.decision(direction);
        decision.micros = micros;
        let mut hits: Vec<Vec<Span>> = Vec::with_capacity(found.len());
        let mut tripped = false;
        for (i, d) in found.iter().enumerate() {
            if d.score > decision.score || decision.label.is_empty() {
                decision.score = decision.score.max(d.score);
                decision.label = d.label.clone();
            }
            let spans: Vec<Span> = if self.scanner.has_spans() {
                let own = self.placeholders.find(&texts[i]);
                d.spans
                    .iter()
                    .filter(|s| s.score >= self.cfg.threshold)
                    // Inside a placeholder: dropped. Across its edge: kept, so that a real
                    // entity next to one is still redacted (the placeholder with it).
                    .filter(|s| {
                        !own.iter()
                            .any(|&(a, b)| a <= s.byte_start && s.byte_end <= b)
                    })
                    .cloned()
                    .collect()
            } else {
                Vec::new()
            };
            tripped |= if self.scanner.has_spans() {
                !spans.is_empty()
            } else {
                d.score >= self.cfg.threshold
            };
            decision.spans.extend(spans.iter().map(|s| SpanRecord {
                text: i,
                start: s.start,
                end: s.end,
                kind: s.kind.clone(),
                score: s.score,
            }));
            hits.push(spans);
        }
        if tripped {
            decision.verdict = match self.cfg.action {
                Action::Allow => Verdict::Allow,
                Action::Flag => Verdict::Flag,
                Action::Redact => Verdict::Redact,
                Action::Block => Verdict::Block,
                Action::Escalate => Verdict::Escalate,
                Action::Normalize => Verdict::Normalize,
            };
        }
        (decision, hits)
    }
}

/// Replaces spans (byte offsets into `text`) with typed placeholders, `<EMAIL_ADDRESS>`.
/// Overlapping spans merge; the merged stretch takes the type of its highest-scoring span.
pub fn redact(text: &str, spans: &[Span]) -> String {
    let mut spans: Vec<&Span> = spans.iter().filter(|s| s.byte_end > s.byte_start).collect();
    spans.sort_by_key(|s| (s.byte_start, std::cmp::Reverse(s.byte_end)));
    let mut merged: Vec<(usize, usize, &str, f32)> = Vec::new();
    for s in spans {
        match merged.last_mut() {
            Some(m) if s.byte_start < m.1 => {
                m.1 = m.1.max(s.byte_end);
                if s.score > m.3 {
                    m.2 = &s.kind;
                    m.3 = s.score;
                }
            }
            _ => merged.push((s.byte_start, s.byte_end, &s.kind, s.score)),
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (s, e, kind, _) in merged {
        out.push_str(&text[at..s]);
        out.push('<');
        out.push_str(kind);
        out.push('>');
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_merges_overlaps_and_keeps_the_rest() {
        let text = "mail anna@x.io or call +44 20 7946 0958 now";
        let a = text.find("anna").unwrap();
        let p = text.find("+44").unwrap();
        let spans = vec![
            Span::from_bytes(text, a, a + 9, "EMAIL_ADDRESS", 0.9),
            Span::from_bytes(text, a + 5, a + 9, "URL", 0.5),
            Span::from_bytes(text, p, p + 16, "PHONE_NUMBER", 0.8),
        ];
        assert_eq!(
            redact(text, &spans),
            "mail <EMAIL_ADDRESS> or call <PHONE_NUMBER> now"
        );
        assert_eq!(redact("nothing", &[]), "nothing");
    }

    #[test]
    fn placeholders_are_the_policys_own_types_only() {
        let p = Placeholders::new(["US_SSN".to_string(), "EMAIL_ADDRESS".to_string()]);
        let t = "a <US_SSN>, <EMAIL_ADDRESS><US_SSN> b <AKIAZ3MPLEK3YQ7WXNPR> <us_ssn> <> <US_SSN";
        let found: Vec<&str> = p.find(t).iter().map(|&(a, b)| &t[a..b]).collect();
        assert_eq!(found, ["<US_SSN>", "<EMAIL_ADDRESS>", "<US_SSN>"]);
        assert!(Placeholders::default().find(t).is_empty());
    }
}
