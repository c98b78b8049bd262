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
//! Layers that judge whole texts (classifiers) cannot work on windows. What they do to a stream
//! is the policy's `stream.mode`:
//!
//! - `hold` (the default): if one of them may block or escalate, the whole answer is held and
//!   checked at the end ("buffered" mode). A span layer that escalates also holds the answer:
//!   the reviewer decides on all of it, and released text could not be taken back.
//! - `progressive`: before each release, the whole-text layers that may block or escalate judge
//!   the answer received so far (its start, the piece about to go and the held-back window). A
//!   block stops the stream there. An escalation, from them or from a span layer, stops the
//!   releases: the rest of the answer is still read, checked and kept for the reviewer
//!   ([`StreamGuard::review_text`]), and only [`StreamGuard::sent_len`] bytes of it left. Each
//!   such judgement reads the whole answer so far, so past 4,096 characters the
//!   releases (and judgements) come at each quarter the answer grows by, not every half
//!   window: a long answer costs O(n log n), not O(n²).
//!
//! Whole-text layers that only flag run on the full answer once the stream ends, and never
//! delay it.

use std::collections::HashMap;
use std::sync::Arc;

use emmental_detectors::{Span, unicode};

use crate::config::{Action, StreamMode};
use crate::layer::{Decision, Layer, SpanRecord, Verdict, redact};
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
    /// Whole-text layers that may block or escalate judge the answer before each release.
    progressive: bool,
    /// Progressive, with such layers in the policy.
    judges_whole: bool,
    /// Characters in `raw`.
    raw_chars: usize,
    /// `raw_chars` when the whole-text layers last judged the answer.
    judged_chars: usize,
    /// What was released, as released (redacted, normalised).
    sent: String,
    /// After an escalation in progressive mode: the rest of the answer, checked, not sent.
    withheld: String,
    /// The escalation that stopped the releases (progressive mode).
    escalated: Option<Step>,
    decisions: HashMap<String, Decision>,
    order: Vec<String>,
    done: Option<Step>,
    /// Per whole-text layer with a spacing ([`crate::Scanner::stream_every_chars`]): the
    /// answer's length in characters when it last read it.
    read_at: HashMap<String, usize>,
}

/// Characters the first release of a stream waits for beyond the held-back window (later
/// releases wait for half a window).
const FIRST_RELEASE_CHARS: usize = 16;

/// In progressive mode, the answer length (characters) up to which the whole-text layers judge
/// it at every release; beyond it, at every quarter it grows by.
const PROGRESSIVE_LINEAR_CHARS: usize = 4096;

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
        let progressive = guard.config.stream.mode == StreamMode::Progressive;
        let judges_whole = progressive
            && guard
                .layers(Direction::Output)
                .iter()
                .any(|l| !l.scanner.incremental() && stops_stream(l.cfg.action));
        // In hold mode: an escalation sends the whole exchange to a reviewer, and text already
        // released could not be held back for them, so any escalating layer, like a
        // whole-text layer that may block, holds the answer until the end.
        let buffered = !progressive && guard.layers(Direction::Output).iter().any(|l| holds(l));
        Self {
            guard,
            cx,
            raw: String::new(),
            released: 0,
            released_chars: 0,
            window,
            buffered,
            progressive,
            judges_whole,
            raw_chars: 0,
            judged_chars: 0,
            sent: String::new(),
            withheld: String::new(),
            escalated: None,
            decisions: HashMap::new(),
            order: Vec::new(),
            done: None,
            read_at: HashMap::new(),
        }
    }

    /// Whether the whole answer is held until the end (see the module docs).
    pub fn buffered(&self) -> bool {
        self.buffered
    }

    /// Whether a layer may escalate while text is already flowing (progressive mode).
    pub fn may_escalate_midway(&self) -> bool {
        !self.buffered
            && self
                .guard
                .layers(Direction::Output)
                .iter()
                .any(|l| l.cfg.action == Action::Escalate)
    }

    /// A checker for another text of the same answer (its reasoning), under the same policy
    /// and context, held whole if this one is.
    pub fn sibling(&self) -> StreamGuard {
        let mut s = StreamGuard::new(self.guard.clone(), self.cx.clone());
        s.buffered |= self.buffered;
        s
    }

    /// Holds this answer whole until the end, whatever the mode (before the first piece
    /// only): for an exchange whose reviewed answer may replace it.
    pub fn hold(&mut self) {
        if self.raw.is_empty() {
            self.buffered = true;
        }
    }

    /// The answer as received so far (unredacted; for the review queue, never for the audit).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The answer for a reviewer once the stream ended, checked (redacted): in buffered mode
    /// all of it; otherwise what was sent followed by what was withheld.
    pub fn review_text(&self) -> String {
        if self.buffered {
            self.raw.clone()
        } else {
            format!("{}{}", self.sent, self.withheld)
        }
    }

    /// Bytes of [`Self::review_text`] already released to the client.
    pub fn sent_len(&self) -> usize {
        self.sent.len()
    }

    /// Takes the next piece of the answer.
    pub async fn push(&mut self, delta: &str) -> Step {
        if let Some(done) = &self.done {
            return done.clone();
        }
        self.raw.push_str(delta);
        self.raw_chars += delta.chars().count();
        if self.buffered || self.escalated.is_some() {
            return Step::Release(String::new());
        }
        let pending_chars = self.raw_chars - self.released_chars;
        // Scan once at least half a window can be released, not on every token; the first
        // time as soon as a few words can go, so the client sees the answer start early.
        let step = if self.released == 0 {
            FIRST_RELEASE_CHARS.min(self.window.div_ceil(2))
        } else {
            self.window.div_ceil(2)
        };
        if pending_chars < self.window + step {
            return Step::Release(String::new());
        }
        // Each whole-text judgement reads all of the answer so far: past a length, judge (and
        // release) only once it has grown by a quarter, so a long answer costs O(n log n).
        if self.judges_whole
            && self.raw_chars > PROGRESSIVE_LINEAR_CHARS
            && self.raw_chars * 4 < self.judged_chars * 5
        {
            return Step::Release(String::new());
        }
        let release_to = back_chars(&self.raw, self.window);
        self.scan_and_release(release_to, false).await
    }

    /// The escalation that stopped this stream's releases (progressive mode), if any.
    pub fn escalation(&self) -> Option<&Step> {
        self.escalated.as_ref()
    }

    /// Another text of the same answer escalated: release nothing more, and keep the rest
    /// for the reviewer (progressive mode; a held answer is held anyway).
    pub fn withhold(&mut self, step: Step) {
        if !self.buffered && self.escalated.is_none() && self.done.is_none() {
            self.escalated = Some(step);
        }
    }

    /// Whether text received is not released yet (held back, or held whole).
    pub fn pending(&self) -> bool {
        self.released < self.raw.len()
    }

    /// The text so far is complete for now (a model's reasoning, when its answer starts):
    /// checks and releases all of it, without ending the stream. A held answer stays held.
    pub async fn flush(&mut self) -> Step {
        if let Some(done) = &self.done {
            return done.clone();
        }
        if self.buffered || self.escalated.is_some() || !self.pending() {
            return Step::Release(String::new());
        }
        // The text is complete (a judge's verdict on it is kept for `finish`).
        self.scan_and_release(self.raw.len(), true).await
    }

    /// The upstream finished: checks and releases the rest, and runs whole-text layers.
    pub async fn finish(&mut self) -> Step {
        if let Some(done) = &self.done {
            return done.clone();
        }
        // No text at all (a model that gave no reasoning): nothing for any layer to read, so
        // no layer runs (an encoder pass, or a judge model's call, on an empty text).
        if self.raw.is_empty() && self.escalated.is_none() {
            let step = Step::Release(String::new());
            self.done = Some(step.clone());
            return step;
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
        let step = self.scan_and_release(self.raw.len(), true).await;
        if !matches!(step, Step::Release(_)) {
            return step;
        }
        // Whole-text layers that only flag: run on the full answer now (in progressive mode
        // the others have just judged it).
        let whole: Vec<_> = self
            .guard
            .layers(Direction::Output)
            .iter()
            .filter(|l| {
                !l.scanner.incremental()
                    && l.cfg.action != Action::Normalize
                    && !(self.progressive && stops_stream(l.cfg.action))
            })
            .cloned()
            .collect();
        let text = vec![self.raw.clone()];
        for l in whole {
            let (d, _) = l.judge(Direction::Output, &text, &self.cx).await;
            self.merge(d, 0);
        }
        if let Some(e) = self.escalated.clone() {
            self.done = Some(e.clone());
            return e;
        }
        step
    }

    /// Scans the unreleased text (with released context) and releases `raw[released..to]`.
    /// `last`: the text is complete, so every whole-text layer reads all of it.
    async fn scan_and_release(&mut self, to: usize, last: bool) -> Step {
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
        let mut escalate: Option<Decision> = None;
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
                // (Only in progressive mode: otherwise an escalating layer buffers the stream.)
                Verdict::Escalate if escalate.is_none() => escalate = Some(d.clone()),
                Verdict::Redact => redactions.extend(fresh),
                _ => {}
            }
            self.merge(d, 0);
        }
        if self.progressive && block.is_none() {
            // Whole-text layers that may stop the stream judge all of it received so far.
            let whole: Vec<_> = self
                .guard
                .layers(Direction::Output)
                .iter()
                .filter(|l| !l.scanner.incremental() && stops_stream(l.cfg.action))
                .cloned()
                .collect();
            let text = vec![self.raw.clone()];
            self.judged_chars = self.raw_chars;
            for l in whole {
                // A layer with a spacing (a judge model) reads the first release, then only
                // once the answer has grown by its spacing, and the whole answer at the end;
                // in between, text leaves on the other layers' word.
                let every = l.scanner.stream_every_chars();
                let at = self.read_at.get(&l.cfg.id).copied();
                if every > 0 && !last && at.is_some_and(|at| self.raw_chars < at + every) {
                    continue;
                }
                let (d, _) = l.judge(Direction::Output, &text, &self.cx).await;
                // (A gated judge that was not asked has not read it.)
                if every > 0 && d.error.is_none() && l.scanner.read(&d.label) {
                    self.read_at.insert(l.cfg.id.clone(), self.raw_chars);
                }
                match d.verdict {
                    Verdict::Block if block.is_none() => block = Some(d.clone()),
                    Verdict::Escalate if escalate.is_none() => escalate = Some(d.clone()),
                    _ => {}
                }
                self.merge(d, 0);
            }
        }
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
        if let Some(d) = escalate
            && self.escalated.is_none()
        {
            self.escalated = Some(Step::Escalate {
                layer: d.layer.clone(),
                reason: d.reason(),
            });
        }
        if self.escalated.is_some() {
            // From the escalation on, nothing more leaves: the reviewer decides on the rest.
            self.withheld.push_str(&out);
            return Step::Release(String::new());
        }
        self.sent.push_str(&out);
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
                if d.verdict.severity() > acc.verdict.severity() {
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

/// Whether a layer makes a stream be held whole in hold mode: it escalates, or it judges whole
/// texts and may block.
fn holds(l: &Layer) -> bool {
    l.cfg.action == Action::Escalate || (!l.scanner.incremental() && l.cfg.action == Action::Block)
}

impl Guard {
    /// How this policy treats a streamed answer, in a sentence (for `emmental guard check`).
    pub fn stream_summary(&self) -> String {
        let window = self.config.stream.window_chars;
        let names = |f: &dyn Fn(&Layer) -> bool| -> Vec<String> {
            self.layers(Direction::Output)
                .iter()
                .filter(|l| f(l))
                .map(|l| format!("`{}`", l.cfg.id))
                .collect()
        };
        let flowing =
            format!("released as the output layers pass them, {window} characters held back");
        match self.config.stream.mode {
            StreamMode::Hold => {
                let holding = names(&holds);
                if holding.is_empty() {
                    format!("streams: {flowing}")
                } else {
                    format!(
                        "streams: held whole until checked, because {} may block or escalate a whole answer (stream.mode = \"progressive\" releases text as it is checked)",
                        holding.join(", ")
                    )
                }
            }
            StreamMode::Progressive => {
                let whole =
                    names(&|l: &Layer| !l.scanner.incremental() && stops_stream(l.cfg.action));
                if whole.is_empty() {
                    format!("streams: {flowing} (progressive)")
                } else {
                    let verb = if whole.len() == 1 { "judges" } else { "judge" };
                    format!(
                        "streams: {flowing}; {} {verb} the answer so far before each release (progressive)",
                        whole.join(", ")
                    )
                }
            }
        }
    }
}

/// Whether a layer with this action may stop a stream (block it or hold it for review).
fn stops_stream(action: Action) -> bool {
    matches!(action, Action::Block | Action::Escalate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GuardConfig;
    use emmental_detectors::Resources;

    fn guard(layers: &str, window: usize) -> Arc<Guard> {
        guard_in("hold", layers, window)
    }

    fn guard_in(mode: &str, layers: &str, window: usize) -> Arc<Guard> {
        let text = format!(
            "[upstream]\nurl = \"http://127.0.0.1:9/v1\"\n[stream]\nwindow_chars = {window}\nmode = \"{mode}\"\n{layers}"
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

    /// A policy with `layers` in progressive stream mode.
    fn progressive(layers: &str, window: usize) -> Arc<Guard> {
        guard_in("progressive", layers, window)
    }

    #[test]
    fn the_stream_summary_names_the_layers_that_hold_or_judge_the_answer() {
        let layers = "[[output]]\nscanner = \"size\"\nmax_chars = 150\naction = \"block\"\n[[output]]\nscanner = \"code\"\naction = \"block\"\n";
        let held = guard(layers, 10).stream_summary();
        assert!(
            held.contains("held whole") && held.contains("`size`") && !held.contains("`code`"),
            "{held}"
        );
        let flowing = guard_in("progressive", layers, 10).stream_summary();
        assert!(
            flowing.contains("10 characters held back")
                && flowing.contains("`size` judges the answer so far"),
            "{flowing}"
        );
        let spans =
            guard("[[output]]\nscanner = \"code\"\naction = \"block\"\n", 10).stream_summary();
        assert_eq!(
            spans,
            "streams: released as the output layers pass them, 10 characters held back"
        );
    }

    #[tokio::test]
    async fn a_whole_text_layer_that_blocks_holds_the_answer_unless_progressive() {
        let layer = "[[output]]\nscanner = \"size\"\nmax_chars = 150\naction = \"block\"\n";
        let text = "word ".repeat(80);
        let pieces = chunks(&text, 5);
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        // Hold (the default): nothing leaves, and the end blocks.
        let (out, stop) = run(&guard(layer, 10), &refs).await;
        assert!(matches!(stop, Some(Step::Block { .. })), "{stop:?}");
        assert_eq!(out, "");
        // Progressive: the answer flows until the answer so far is over the limit.
        let (out, stop) = run(&progressive(layer, 10), &refs).await;
        assert!(
            matches!(&stop, Some(Step::Block { layer, .. }) if layer == "size"),
            "{stop:?}"
        );
        assert!(
            (100..=150).contains(&out.len()),
            "released before the block: {}",
            out.len()
        );
        assert!(text.starts_with(&out));
        // An answer under the limit streams whole.
        let short = "word ".repeat(25);
        let pieces = chunks(&short, 5);
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        assert_eq!(run(&progressive(layer, 10), &refs).await, (short, None));
    }

    #[tokio::test]
    async fn a_long_progressive_answer_is_judged_whole_less_often_as_it_grows() {
        let g = progressive(
            "[[output]]\nscanner = \"size\"\nmax_chars = 100000\naction = \"block\"\n",
            10,
        );
        let text = "word ".repeat(6000);
        let mut s = g.stream(ScanContext::default());
        let (mut out, mut releases) = (String::new(), Vec::new());
        for c in chunks(&text, 5) {
            if let Step::Release(t) = s.push(&c).await
                && !t.is_empty()
            {
                out.push_str(&t);
                releases.push(s.raw_chars);
            }
        }
        let Step::Release(rest) = s.finish().await else {
            panic!()
        };
        assert_eq!(out + &rest, text);
        // Every few characters up to the limit, then at each quarter of growth.
        let early = releases
            .iter()
            .filter(|&&n| n <= PROGRESSIVE_LINEAR_CHARS)
            .count();
        assert!(early > 500, "{early} releases before the limit");
        let late: Vec<usize> = releases
            .iter()
            .copied()
            .filter(|&n| n > PROGRESSIVE_LINEAR_CHARS)
            .collect();
        assert!((8..=12).contains(&late.len()), "{late:?}");
        for w in late.windows(2) {
            assert!(w[1] * 4 >= w[0] * 5, "{late:?}");
        }
    }

    #[tokio::test]
    async fn a_progressive_escalation_stops_the_releases_and_keeps_the_rest_for_review() {
        let layers = "[[output]]\nscanner = \"size\"\nmax_chars = 100\naction = \"escalate\"\n\
            [[output]]\nscanner = \"ban_regex\"\npatterns = [\"TITAN-\\\\d{4}\"]\nkind = \"CODENAME\"\naction = \"redact\"\n";
        let g = progressive(layers, 10);
        let text = format!(
            "{}the code is TITAN-2024, {}",
            "a ".repeat(60),
            "b ".repeat(40)
        );
        let mut s = g.stream(ScanContext::default());
        assert!(!s.buffered() && s.may_escalate_midway());
        let mut early = String::new();
        for c in chunks(&text, 4) {
            match s.push(&c).await {
                Step::Release(t) => early.push_str(&t),
                other => panic!("{other:?}"),
            }
        }
        assert!(
            (60..=100).contains(&early.len()),
            "released before the escalation: {}",
            early.len()
        );
        let step = s.finish().await;
        assert!(
            matches!(&step, Step::Escalate { layer, .. } if layer == "size"),
            "{step:?}"
        );
        assert_eq!(s.sent_len(), early.len());
        // The reviewer gets all of it, checked: the part sent, then the rest (redacted).
        assert_eq!(s.review_text(), text.replace("TITAN-2024", "<CODENAME>"));
        assert!(s.review_text().starts_with(&early));
        assert!(matches!(s.checked().outcome, Outcome::Escalate { .. }));
        // Held on request, the same policy releases nothing before the end.
        let mut s = g.stream(ScanContext::default());
        s.hold();
        for c in chunks(&text, 4) {
            assert_eq!(s.push(&c).await, Step::Release(String::new()));
        }
        assert!(matches!(s.finish().await, Step::Escalate { .. }));
        assert_eq!(s.sent_len(), 0);
        assert_eq!(s.review_text(), text.replace("TITAN-2024", "<CODENAME>"));
    }

    #[tokio::test]
    async fn a_progressive_span_escalation_sends_nothing_of_the_match() {
        let g = guard_in(
            "progressive",
            "[[output]]\nscanner = \"ban_substrings\"\nsubstrings = [\"refund policy\"]\naction = \"escalate\"\n",
            20,
        );
        let text = format!(
            "{} our refund policy is {}",
            "x".repeat(100),
            "y".repeat(100)
        );
        let mut s = g.stream(ScanContext::default());
        let mut early = String::new();
        for c in chunks(&text, 3) {
            if let Step::Release(t) = s.push(&c).await {
                early.push_str(&t);
            }
        }
        assert!(matches!(s.finish().await, Step::Escalate { .. }));
        assert!(!early.contains("refund"), "released: {early}");
        assert!(early.len() >= 60, "text before the match was streamed");
        assert_eq!(s.review_text(), text);
    }

    #[tokio::test]
    async fn flush_releases_the_held_back_window_and_withhold_stops_the_releases() {
        let g = guard("[[output]]\nscanner = \"code\"\naction = \"block\"\n", 10);
        let text = "word ".repeat(8);
        let mut s = g.stream(ScanContext::default());
        let mut out = String::new();
        for c in chunks(&text, 5) {
            if let Step::Release(t) = s.push(&c).await {
                out.push_str(&t);
            }
        }
        assert!(s.pending() && out.len() < text.len());
        let Step::Release(rest) = s.flush().await else {
            panic!()
        };
        assert_eq!(out + &rest, text);
        assert!(!s.pending());
        assert_eq!(s.flush().await, Step::Release(String::new()));
        // A held answer stays held.
        let g = guard(
            "[[output]]\nscanner = \"size\"\nmax_chars = 500\naction = \"block\"\n",
            10,
        );
        let mut s = g.stream(ScanContext::default());
        s.push(&text).await;
        assert_eq!(s.flush().await, Step::Release(String::new()));
        assert_eq!(s.finish().await, Step::Release(text.clone()));
        // Withheld (another text escalated): nothing more leaves, the rest is for review.
        let g = guard_in(
            "progressive",
            "[[output]]\nscanner = \"code\"\naction = \"block\"\n",
            10,
        );
        let mut s = g.stream(ScanContext::default());
        let mut out = String::new();
        let pieces = chunks(&text, 5);
        for c in &pieces[..4] {
            if let Step::Release(t) = s.push(c).await {
                out.push_str(&t);
            }
        }
        let step = Step::Escalate {
            layer: "other".into(),
            reason: "x".into(),
        };
        s.withhold(step.clone());
        assert_eq!(s.escalation(), Some(&step));
        for c in &pieces[4..] {
            assert_eq!(s.push(c).await, Step::Release(String::new()));
        }
        assert_eq!(s.finish().await, step);
        assert_eq!(s.sent_len(), out.len());
        assert_eq!(s.review_text(), text);
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
