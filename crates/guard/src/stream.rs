//! Scanning a streamed answer as it arrives.
//!
//! Text is released to the client only after the output layers have seen it. The last
//! `window_chars` characters are always held back, so any entity up to that length (a card
//! number, an API key, an e-mail address) is complete in the buffer before its first character
//! could be released: if an entity ended at position `e` and is `len ≤ window` long, then at any
//! earlier scan the release point was below `e − window ≤ start`. Each scan covers the held
//! text plus `window` characters of already released context (for context words), and acts only
//! on the part not yet released. A redaction that straddles the release point moves the point
//! back to the redaction's start.
//!
//! Layers that judge whole texts (classifiers) cannot work on windows. If one of them may block
//! or escalate, the whole answer is held and checked at the end ("buffered" mode); if they only
//! flag, they run on the full answer once the stream ends, and the stream is not delayed. A
//! span layer that escalates also holds the answer: the reviewer decides on all of it, and
//! released text could not be taken back.

use std::collections::HashMap;
use std::sync::Arc;

use emmental_detectors::{Span, unicode};

use crate::config::Action;
use crate::layer::{Decision, SpanRecord, Verdict, redact};
use crate::pipeline::{Checked, Outcome};
use crate::{Direction, Guard, ScanContext};

/// What the proxy does with the stream after a piece arrived.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Send this text (possibly empty: everything is still held back).
    Release(String),
    /// Stop the stream: a layer blocked it.
    Block { layer: String, reason: String },
    /// Hold the answer for human review (buffered mode only).
    Escalate { layer: String, reason: String },
}

/// The state of one streamed answer.
pub struct StreamGuard {
    guard: Arc<Guard>,
    cx: ScanContext,
    raw: String,
    /// Bytes of `raw` already released (or dropped by redaction).
    released: usize,
    /// Characters in `raw[..released]`.
    released_chars: usize,
    window: usize,
    buffered: bool,
    decisions: HashMap<String, Decision>,
    order: Vec<String>,
    done: Option<Step>,
}

/// The byte index `n` characters before the end of `s` (0 if `s` is shorter).
fn back_chars(s: &str, n: usize) -> usize {
    if n == 0 {
        return s.len();
    }
    s.char_indices().rev().nth(n - 1).map_or(0, |(i, _)| i)
}

impl StreamGuard {
    pub(crate) fn new(guard: Arc<Guard>, cx: ScanContext) -> Self {
        let window = guard.config.stream.window_chars;
        // An escalation sends the whole exchange to a reviewer, and text already released
        // could not be held back for them: any escalating layer, like a whole-text layer that
        // may block, holds the answer until the end.
        let buffered = guard.layers(Direction::Output).iter().any(|l| {
            l.cfg.action == Action::Escalate
                || (!l.scanner.incremental() && l.cfg.action == Action::Block)
        });
        Self {
            guard,
            cx,
            raw: String::new(),
            released: 0,
            released_chars: 0,
            window,
            buffered,
            decisions: HashMap::new(),
            order: Vec::new(),
            done: None,
        }
    }

    /// Whether the whole answer is held until the end (see the module docs).
    pub fn buffered(&self) -> bool {
        self.buffered
    }

    /// The answer as received so far (unredacted; for the review queue, never for the audit).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Takes the next piece of the answer.
    pub async fn push(&mut self, delta: &str) -> Step {
        if let Some(done) = &self.done {
            return done.clone();
        }
        self.raw.push_str(delta);
        if self.buffered {
            return Step::Release(String::new());
        }
        let pending_chars = self.raw[self.released..].chars().count();
        // Scan once at least half a window can be released, not on every token.
        if pending_chars < self.window + self.window.div_ceil(2) {
            return Step::Release(String::new());
        }
        let release_to = back_chars(&self.raw, self.window);
        self.scan_and_release(release_to).await
    }

    /// The upstream finished: checks and releases the rest, and runs whole-text layers.
    pub async fn finish(&mut self) -> Step {
        if let Some(done) = &self.done {
            return done.clone();
        }
        if self.buffered {
            let mut texts = vec![std::mem::take(&mut self.raw)];
            let checked = self
                .guard
                .check(Direction::Output, &mut texts, &self.cx)
                .await;
            self.raw = texts.pop().expect("one text");
            for d in checked.decisions {
                self.merge(d, 0);
            }
            let step = match checked.outcome {
                Outcome::Pass => Step::Release(self.raw.clone()),
                Outcome::Block { layer, reason } => Step::Block { layer, reason },
                Outcome::Escalate { layer, reason } => Step::Escalate { layer, reason },
            };
            self.done = Some(step.clone());
            return step;
        }
        let step = self.scan_and_release(self.raw.len()).await;
        if !matches!(step, Step::Release(_)) {
            return step;
        }
        // Whole-text layers that only flag: run on the full answer now.
        let whole: Vec<_> = self
            .guard
            .layers(Direction::Output)
            .iter()
            .filter(|l| !l.scanner.incremental() && l.cfg.action != Action::Normalize)
            .cloned()
            .collect();
        let text = vec![self.raw.clone()];
        for l in whole {
            let (d, _) = l.judge(Direction::Output, &text, &self.cx).await;
            self.merge(d, 0);
        }
        step
    }

    /// Scans the unreleased text (with released context) and releases `raw[released..to]`.
    async fn scan_and_release(&mut self, to: usize) -> Step {
        let ctx_start = back_chars(&self.raw[..self.released], self.window);
        let region = vec![self.raw[ctx_start..].to_string()];
        let layers: Vec<_> = self
            .guard
            .layers(Direction::Output)
            .iter()
            .filter(|l| l.scanner.incremental() && l.cfg.action != Action::Normalize)
            .cloned()
            .collect();
        let mut redactions: Vec<Span> = Vec::new();
        let mut block: Option<Decision> = None;
        for l in &layers {
            let (mut d, hits) = l.judge(Direction::Output, &region, &self.cx).await;
            // Only what is not yet released matters; released context was judged before.
            let fresh: Vec<Span> = hits
                .into_iter()
                .flatten()
                .map(|s| {
                    Span::from_bytes(
                        &self.raw,
                        s.byte_start + ctx_start,
                        s.byte_end + ctx_start,
                        s.kind,
                        s.score,
                    )
                })
                .filter(|s| s.byte_end > self.released)
                .collect();
            d.spans = fresh
                .iter()
                .map(|s| SpanRecord {
                    text: 0,
                    start: s.start,
                    end: s.end,
                    kind: s.kind.clone(),
                    score: s.score,
                })
                .collect();
            if d.error.is_none() && fresh.is_empty() && l.scanner.has_spans() {
                d.verdict = Verdict::Allow;
            }
            match d.verdict {
                Verdict::Block if block.is_none() => block = Some(d.clone()),
                Verdict::Redact => redactions.extend(fresh),
                _ => {}
            }
            self.merge(d, 0);
        }
        // (No layer escalates here: an escalating layer makes the stream buffered.)
        if let Some(d) = block {
            let step = Step::Block {
                layer: d.layer.clone(),
                reason: d.reason(),
            };
            self.done = Some(step.clone());
            return step;
        }
        // Never release part of a redaction.
        let mut to = to;
        for s in &redactions {
            if s.byte_start < to && s.byte_end > to {
                to = s.byte_start.max(self.released);
            }
        }
        let piece_spans: Vec<Span> = redactions
            .iter()
            .filter(|s| s.byte_end <= to)
            .map(|s| {
                let start = s.byte_start.max(self.released) - self.released;
                let end = s.byte_end - self.released;
                let piece = &self.raw[self.released..to];
                Span::from_bytes(piece, start, end, s.kind.clone(), s.score)
            })
            .collect();
        let piece = &self.raw[self.released..to];
        let mut out = redact(piece, &piece_spans);
        if self.normalizes() {
            out = unicode::normalize(&out).text;
        }
        self.released_chars += piece.chars().count();
        self.released = to;
        Step::Release(out)
    }

    fn normalizes(&self) -> bool {
        self.guard
            .layers(Direction::Output)
            .iter()
            .any(|l| l.cfg.action == Action::Normalize)
    }

    /// Folds one scan's decision into the layer's running decision; span offsets move from
    /// the scanned region to the whole answer.
    fn merge(&mut self, mut d: Decision, offset_chars: usize) {
        for s in &mut d.spans {
            s.start += offset_chars;
            s.end += offset_chars;
        }
        match self.decisions.get_mut(&d.layer) {
            None => {
                self.order.push(d.layer.clone());
                self.decisions.insert(d.layer.clone(), d);
            }
            Some(acc) => {
                acc.micros += d.micros;
                if d.score > acc.score {
                    acc.score = d.score;
                    acc.label = d.label;
                }
                if severity(d.verdict) > severity(acc.verdict) {
                    acc.verdict = d.verdict;
                }
                if d.error.is_some() {
                    acc.error = d.error;
                }
                for s in d.spans {
                    if !acc
                        .spans
                        .iter()
                        .any(|a| a.start == s.start && a.end == s.end && a.kind == s.kind)
                    {
                        acc.spans.push(s);
                    }
                }
            }
        }
    }

    /// Every layer's decision over the whole stream so far, in policy order.
    pub fn decisions(&self) -> Vec<Decision> {
        self.order
            .iter()
            .map(|k| self.decisions[k].clone())
            .collect()
    }

    /// The stream's result as a [`Checked`], for auditing.
    pub fn checked(&self) -> Checked {
        let outcome = match &self.done {
            Some(Step::Block { layer, reason }) => Outcome::Block {
                layer: layer.clone(),
                reason: reason.clone(),
            },
            Some(Step::Escalate { layer, reason }) => Outcome::Escalate {
                layer: layer.clone(),
                reason: reason.clone(),
            },
            _ => Outcome::Pass,
        };
        let decisions = self.decisions();
        let changed = decisions
            .iter()
            .any(|d| matches!(d.verdict, Verdict::Redact | Verdict::Normalize));
        Checked {
            outcome,
            decisions,
            changed,
        }
    }
}

fn severity(v: Verdict) -> u8 {
    match v {
        Verdict::Allow => 0,
        Verdict::Normalize => 1,
        Verdict::Flag => 2,
        Verdict::Redact => 3,
        Verdict::Escalate => 4,
        Verdict::Block => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GuardConfig;
    use emmental_detectors::Resources;

    fn guard(layers: &str, window: usize) -> Arc<Guard> {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:9/v1\"\n[stream]\nwindow_chars = {window}\n{layers}"
        );
        Arc::new(
            Guard::build(
                GuardConfig::parse("t", &text).unwrap(),
                &Resources::default(),
            )
            .unwrap(),
        )
    }

    async fn run(g: &Arc<Guard>, pieces: &[&str]) -> (String, Option<Step>) {
        let mut s = g.stream(ScanContext::default());
        let mut out = String::new();
        for p in pieces {
            match s.push(p).await {
                Step::Release(t) => out.push_str(&t),
                other => return (out, Some(other)),
            }
        }
        match s.finish().await {
            Step::Release(t) => out.push_str(&t),
            other => return (out, Some(other)),
        }
        (out, None)
    }

    fn chunks(text: &str, size: usize) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        chars.chunks(size).map(|c| c.iter().collect()).collect()
    }

    #[tokio::test]
    async fn a_codename_split_across_chunks_is_redacted_before_release() {
        let g = guard(
            "[[output]]\nscanner = \"ban_regex\"\npatterns = [\"TITAN-\\\\d{4}\"]\nkind = \"CODENAME\"\naction = \"redact\"\n",
            16,
        );
        let text = format!(
            "{}The project is TITAN-2024 and {}",
            "a".repeat(50),
            "b".repeat(60)
        );
        for size in [1, 3, 7, 40] {
            let pieces = chunks(&text, size);
            let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
            let (out, stop) = run(&g, &refs).await;
            assert!(stop.is_none());
            assert_eq!(
                out,
                text.replace("TITAN-2024", "<CODENAME>"),
                "chunk size {size}"
            );
        }
    }

    #[tokio::test]
    async fn a_block_stops_the_stream_before_the_match_is_released() {
        let g = guard(
            "[[output]]\nscanner = \"ban_substrings\"\nsubstrings = [\"launch code\"]\naction = \"block\"\n",
            20,
        );
        let text = format!(
            "{} the launch code is 0000 {}",
            "x".repeat(100),
            "y".repeat(100)
        );
        let pieces = chunks(&text, 5);
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let (out, stop) = run(&g, &refs).await;
        assert!(matches!(stop, Some(Step::Block { .. })), "{stop:?}");
        assert!(!out.contains("launch"), "released: {out}");
        assert!(
            out.len() >= 60,
            "text before the match was streamed: {}",
            out.len()
        );
    }

    #[tokio::test]
    async fn a_span_layer_that_escalates_holds_the_whole_answer_for_review() {
        let g = guard(
            "[[output]]\nscanner = \"ban_substrings\"\nsubstrings = [\"refund policy\"]\naction = \"escalate\"\n",
            10,
        );
        let text = format!(
            "{} our refund policy is {}",
            "x".repeat(100),
            "y".repeat(100)
        );
        let mut s = g.stream(ScanContext::default());
        assert!(s.buffered());
        for c in chunks(&text, 5) {
            assert_eq!(
                s.push(&c).await,
                Step::Release(String::new()),
                "nothing leaves early"
            );
        }
        let step = s.finish().await;
        assert!(
            matches!(&step, Step::Escalate { layer, .. } if layer == "ban_substrings"),
            "{step:?}"
        );
        assert!(matches!(s.checked().outcome, Outcome::Escalate { .. }));
        // Without a match the held answer goes out whole at the end.
        let mut s = g.stream(ScanContext::default());
        for c in chunks(&"word ".repeat(40), 5) {
            assert_eq!(s.push(&c).await, Step::Release(String::new()));
        }
        assert_eq!(s.finish().await, Step::Release("word ".repeat(40)));
    }

    #[tokio::test]
    async fn text_is_streamed_before_the_end_when_nothing_is_found() {
        let g = guard("[[output]]\nscanner = \"code\"\naction = \"block\"\n", 10);
        let mut s = g.stream(ScanContext::default());
        let mut early = String::new();
        for c in chunks(&"word ".repeat(40), 5) {
            if let Step::Release(t) = s.push(&c).await {
                early.push_str(&t);
            }
        }
        assert!(
            early.len() >= 150,
            "released before the end: {}",
            early.len()
        );
        let Step::Release(rest) = s.finish().await else {
            panic!()
        };
        assert_eq!(early + &rest, "word ".repeat(40));
    }
}
