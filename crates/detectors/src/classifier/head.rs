//! The classifier head and its saved form: what a trained detector ships.
//!
//! A head reads a feature vector — the sentence embedding of the text, optionally the prompt's
//! embedding, their element-wise product, rule features and hashed character n-grams
//! ([`FeatureSpec`]) — standardises it
//! with the training set's mean and scale, and applies logistic regression or a one-hidden-layer
//! network. The file is JSON with a `format` field; readers refuse formats they do not know.

use serde::{Deserialize, Serialize};

use super::rules::RuleSet;
use crate::DetectorError;

/// The saved-head format this version reads and writes.
pub const FORMAT: &str = "emmental.classifier-head/1";

/// Characters of a text that make its opening (see [`FeatureSpec::opening`]).
pub const OPENING_CHARS: usize = 240;

/// The opening of a text when the text is longer than [`OPENING_CHARS`] (cut at the last
/// whitespace before the limit); `None` when the opening is the whole text.
pub fn opening(text: &str) -> Option<&str> {
    let (cut, _) = text.char_indices().nth(OPENING_CHARS)?;
    let head = &text[..cut];
    Some(match head.rfind(char::is_whitespace) {
        Some(i) if i > cut / 2 => head[..i].trim_end(),
        _ => head,
    })
}

/// Words per window (see [`FeatureSpec::windows`]): about 50–70 tokens of English.
pub const WINDOW_WORDS: usize = 40;
/// Windows embedded per text at most: the first and last half of this many.
pub const MAX_WINDOWS: usize = 16;

/// The text in consecutive windows of [`WINDOW_WORDS`] words (slices of `text`), at most
/// [`MAX_WINDOWS`] of them (the first and last ones: instructions hide at either end). Empty
/// when the text fits one window: the text is then its own window.
pub fn windows(text: &str) -> Vec<&str> {
    windows_upto(text, Some(MAX_WINDOWS))
}

/// Every window of the text, as [`windows`] without its limit ([`FeatureSpec::every_window`]).
pub fn every_window(text: &str) -> Vec<&str> {
    windows_upto(text, None)
}

fn windows_upto(text: &str, most: Option<usize>) -> Vec<&str> {
    let words: Vec<(usize, usize)> = text
        .split_whitespace()
        .map(|w| {
            let start = w.as_ptr() as usize - text.as_ptr() as usize;
            (start, start + w.len())
        })
        .collect();
    if words.len() <= WINDOW_WORDS {
        return Vec::new();
    }
    let all: Vec<&str> = words
        .chunks(WINDOW_WORDS)
        .map(|c| &text[c[0].0..c[c.len() - 1].1])
        .collect();
    let Some(most) = most.filter(|m| all.len() > *m) else {
        return all;
    };
    let half = most / 2;
    all[..half]
        .iter()
        .chain(&all[all.len() - half..])
        .copied()
        .collect()
}

/// What a text's windows contribute: their element-wise maximum (the `windows` feature) and
/// their normalised mean (the text's own feature under `text_from_windows`).
#[derive(Debug, Clone)]
pub struct WindowPools {
    pub max: Vec<f32>,
    pub mean: Vec<f32>,
}

impl WindowPools {
    /// The pools of a text's window vectors; `None` without windows.
    pub fn of(vectors: &[&[f32]]) -> Option<Self> {
        (!vectors.is_empty()).then(|| WindowPools {
            max: max_pool(vectors.iter().copied()),
            mean: mean_pool(vectors.iter().copied()),
        })
    }
}

/// The mean of vectors (at least one), L2-normalised like a sentence embedding.
pub fn mean_pool<'a>(vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::new();
    let mut n = 0usize;
    for v in vectors {
        if out.is_empty() {
            out = vec![0.0; v.len()];
        }
        for (o, x) in out.iter_mut().zip(v) {
            *o += *x;
        }
        n += 1;
    }
    assert!(n > 0, "at least one vector");
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    out.iter_mut().for_each(|x| *x /= norm);
    out
}

/// The element-wise maximum of vectors (at least one).
pub fn max_pool<'a>(mut vectors: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut out = vectors.next().expect("at least one vector").to_vec();
    for v in vectors {
        for (o, x) in out.iter_mut().zip(v) {
            *o = o.max(*x);
        }
    }
    out
}

/// Which features a head reads, in this order: text embedding, opening embedding, window
/// max-pool, prompt embedding (+ a has-prompt indicator), text ⊙ prompt, prompt similarity,
/// rule features, character n-grams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// The embedding of the text's first [`OPENING_CHARS`] characters: a mean over a long
    /// answer blurs "I'm sorry, but I can't" at its start.
    #[serde(default)]
    pub opening: bool,
    /// The element-wise maximum of the embeddings of the text's [`windows`]: the encoder reads
    /// only 256 tokens and a mean over a long text hides one planted sentence; a maximum over
    /// short windows keeps it.
    #[serde(default)]
    pub windows: bool,
    /// The text's own feature is the mean of its windows' embeddings (L2-normalised) when it
    /// has windows, instead of a further encoder pass over the whole text: the windows cover
    /// it, and the encoder then reads each token once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub text_from_windows: bool,
    /// The windows are all of the text's, however long, not only its first and last
    /// [`MAX_WINDOWS`] / 2: nothing in the middle of a long answer goes unread. The cost grows
    /// with the text (one short encoder pass per 40 words).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub every_window: bool,
    /// With [`Self::opening`] and [`Self::windows`]: a text that has windows opens with its
    /// first window (its first [`WINDOW_WORDS`] words, already embedded as a window) rather
    /// than its first [`OPENING_CHARS`] characters, which would take another encoder pass over
    /// nearly the same words. A text without windows opens as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opening_from_window: bool,
    /// With a prompt feature: the prompt of more than [`WINDOW_WORDS`] words is embedded as
    /// the L2-normalised mean of its [`windows`], as a [`Self::text_from_windows`] head
    /// embeds its text, instead of whole (a shorter prompt is its own window). An input layer
    /// reading the same prompt that way (`injection`) has then already embedded it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompt_from_windows: bool,
    /// Two numbers: the cosine of the text's embedding with the prompt's, and the highest
    /// cosine of any of its windows with the prompt (the text's own when it has no windows;
    /// both 0 without a prompt). Does the answer, or some part of a long one, speak to what was
    /// asked? A long answer that never does is not the help asked for, however harmful the
    /// prompt.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompt_similarity: bool,
    /// The embedding of the prompt the text answers (zeros when the input has none).
    pub prompt: bool,
    /// The element-wise product of the text and prompt embeddings (zeros without a prompt).
    pub product: bool,
    /// Rule features computed from the text.
    pub rules: Option<RuleSet>,
    /// Buckets of hashed character n-grams of the text ([`char_ngrams`]); 0: none. The
    /// encoder reads English best and turns text in many other scripts into sub-word
    /// fragments; the n-grams read every language's words as written.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ngrams: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Character n-gram lengths counted by [`char_ngrams`].
pub const NGRAM_LENGTHS: std::ops::RangeInclusive<usize> = 2..=4;

/// The text's character n-grams ([`NGRAM_LENGTHS`]) hashed into `buckets` counts, each count
/// `c` taken as `1 + ln c`, the vector L2-normalised. The text is lower-cased, digits read as
/// `0`, and runs of whitespace as one space, with a space before and after: " ignore " gives
/// the word's start and end their own n-grams. The hash (FNV-1a over the UTF-8 bytes) is
/// fixed, so saved heads read the same buckets on every build.
pub fn char_ngrams(text: &str, buckets: usize) -> Vec<f32> {
    let mut out = vec![0f32; buckets];
    if buckets == 0 {
        return out;
    }
    let mut chars: Vec<char> = vec![' '];
    for c in text.chars() {
        if c.is_whitespace() {
            if chars.last() != Some(&' ') {
                chars.push(' ');
            }
        } else if c.is_numeric() {
            chars.push('0');
        } else {
            chars.extend(c.to_lowercase());
        }
    }
    if chars.last() != Some(&' ') {
        chars.push(' ');
    }
    let mut buf = [0u8; 4];
    for n in NGRAM_LENGTHS {
        for gram in chars.windows(n) {
            if gram.iter().all(|c| *c == ' ') {
                continue;
            }
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ n as u64;
            for c in gram {
                for b in c.encode_utf8(&mut buf).bytes() {
                    h ^= u64::from(b);
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            out[(h % buckets as u64) as usize] += 1.0;
        }
    }
    for v in out.iter_mut().filter(|v| **v > 0.0) {
        *v = 1.0 + v.ln();
    }
    let norm = out.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        out.iter_mut().for_each(|v| *v /= norm);
    }
    out
}

/// The embeddings one input's features are built from.
#[derive(Debug, Clone, Copy)]
pub struct Vectors<'a> {
    pub text: &'a [f32],
    /// The opening's embedding; `None` when the opening is the whole text.
    pub opening: Option<&'a [f32]>,
    /// The max-pool of the windows' embeddings; `None` when the text is its only window.
    pub windows: Option<&'a [f32]>,
    pub prompt: Option<&'a [f32]>,
    /// The highest cosine of a window's embedding with the prompt's; `None` without windows
    /// or without a prompt ([`FeatureSpec::prompt_similarity`]).
    pub nearest_window: Option<f32>,
}

/// The highest cosine of any of `windows` with `prompt`; `None` without windows or prompt.
pub fn nearest_window(windows: &[&[f32]], prompt: Option<&[f32]>) -> Option<f32> {
    let p = prompt?;
    windows.iter().map(|w| dot(w, p)).reduce(f32::max)
}

impl FeatureSpec {
    pub const TEXT_ONLY: FeatureSpec = FeatureSpec {
        opening: false,
        windows: false,
        text_from_windows: false,
        every_window: false,
        opening_from_window: false,
        prompt_from_windows: false,
        prompt_similarity: false,
        prompt: false,
        product: false,
        rules: None,
        ngrams: 0,
    };

    /// The windows this spec reads of `text` ([`windows`] or [`every_window`]); empty when
    /// it reads none or the text fits one.
    pub fn text_windows<'t>(&self, text: &'t str) -> Vec<&'t str> {
        match (self.windows, self.every_window) {
            (false, _) => Vec::new(),
            (true, false) => windows(text),
            (true, true) => every_window(text),
        }
    }

    /// The opening this spec reads of `text`, whose windows (as [`Self::text_windows`]
    /// gives them) are `windows`; `None` when it reads none or the opening is the whole text.
    pub fn opening_of<'t>(&self, text: &'t str, windows: &[&'t str]) -> Option<&'t str> {
        if !self.opening {
            return None;
        }
        match windows.first() {
            Some(first) if self.opening_from_window => Some(first),
            _ => opening(text),
        }
    }

    /// The windows whose mean is the embedding of `prompt` (see
    /// [`Self::prompt_from_windows`]); empty when the prompt is embedded whole.
    pub fn prompt_windows<'t>(&self, prompt: &'t str) -> Vec<&'t str> {
        if self.prompt_from_windows {
            windows(prompt)
        } else {
            Vec::new()
        }
    }

    /// Whether the prompt needs embedding.
    pub fn uses_prompt(&self) -> bool {
        self.prompt || self.product || self.prompt_similarity
    }

    /// Length of the feature vector for an encoder of dimension `emb`.
    pub fn dim(&self, emb: usize) -> usize {
        emb + if self.opening { emb } else { 0 }
            + if self.windows { emb } else { 0 }
            + if self.prompt { emb + 1 } else { 0 }
            + if self.product { emb } else { 0 }
            + if self.prompt_similarity { 2 } else { 0 }
            + self.rules.map_or(0, |r| r.names().len())
            + self.ngrams
    }

    /// Names of the rule features, as saved in the head.
    pub fn rule_names(&self) -> Vec<String> {
        self.rules
            .map(|r| r.names().iter().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }

    /// Builds the feature vector of one input.
    pub fn assemble(&self, v: Vectors<'_>, text: &str) -> Vec<f32> {
        let (text_emb, prompt_emb) = (v.text, v.prompt);
        let mut x = Vec::with_capacity(self.dim(text_emb.len()));
        x.extend_from_slice(text_emb);
        if self.opening {
            x.extend_from_slice(v.opening.unwrap_or(text_emb));
        }
        if self.windows {
            x.extend_from_slice(v.windows.unwrap_or(text_emb));
        }
        if self.prompt {
            match prompt_emb {
                Some(p) => {
                    x.extend_from_slice(p);
                    x.push(1.0);
                }
                None => x.extend(std::iter::repeat_n(0.0, text_emb.len() + 1)),
            }
        }
        if self.product {
            match prompt_emb {
                Some(p) => x.extend(text_emb.iter().zip(p).map(|(a, b)| a * b)),
                None => x.extend(std::iter::repeat_n(0.0, text_emb.len())),
            }
        }
        if self.prompt_similarity {
            match prompt_emb {
                Some(p) => {
                    let whole = dot(text_emb, p);
                    x.push(whole);
                    x.push(v.nearest_window.unwrap_or(whole));
                }
                None => x.extend([0.0, 0.0]),
            }
        }
        if let Some(r) = self.rules {
            x.extend(r.features(text));
        }
        if self.ngrams > 0 {
            x.extend(char_ngrams(text, self.ngrams));
        }
        x
    }
}

/// A fully connected layer, weights row-major `[outputs][inputs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Dense {
    pub fn zeros(inputs: usize, outputs: usize) -> Self {
        Self {
            inputs,
            outputs,
            weights: vec![0.0; inputs * outputs],
            bias: vec![0.0; outputs],
        }
    }

    /// `out[o] = bias[o] + Σ_i weights[o][i] · x[i]`.
    pub fn forward_into(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        for o in 0..self.outputs {
            let row = &self.weights[o * self.inputs..(o + 1) * self.inputs];
            out.push(self.bias[o] + dot(row, x));
        }
    }

    fn check(&self, what: &str) -> Result<(), String> {
        if self.weights.len() != self.inputs * self.outputs || self.bias.len() != self.outputs {
            return Err(format!(
                "{what} layer declares {}×{} but holds {} weights and {} biases",
                self.outputs,
                self.inputs,
                self.weights.len(),
                self.bias.len()
            ));
        }
        if self
            .weights
            .iter()
            .chain(&self.bias)
            .any(|v| !v.is_finite())
        {
            return Err(format!("{what} layer holds a non-finite weight"));
        }
        Ok(())
    }
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four accumulators: the compiler vectorises this, and the order is fixed, so results do
    // not depend on the machine's thread count.
    let mut acc = [0f32; 4];
    let chunks = a.len() / 4;
    for i in 0..chunks {
        for (j, s) in acc.iter_mut().enumerate() {
            *s += a[4 * i + j] * b[4 * i + j];
        }
    }
    let mut sum = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for i in 4 * chunks..a.len() {
        sum += a[i] * b[i];
    }
    sum
}

/// Standardisation, an optional ReLU hidden layer, and one logistic output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Net {
    pub mean: Vec<f32>,
    pub scale: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Dense>,
    pub output: Dense,
}

impl Net {
    /// A logistic network that gives every input the logit `logit` (zero weights): a fixed
    /// answer, for tests and placeholders.
    pub fn constant(inputs: usize, logit: f32) -> Self {
        Net {
            mean: vec![0.0; inputs],
            scale: vec![1.0; inputs],
            hidden: None,
            output: Dense {
                inputs,
                outputs: 1,
                weights: vec![0.0; inputs],
                bias: vec![logit],
            },
        }
    }

    pub fn inputs(&self) -> usize {
        self.mean.len()
    }

    /// The logit of the positive class.
    pub fn logit(&self, x: &[f32]) -> f32 {
        let z: Vec<f32> = x
            .iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((v, m), s)| (v - m) / s)
            .collect();
        let mut out = Vec::with_capacity(self.output.outputs);
        match &self.hidden {
            Some(h) => {
                let mut a = Vec::with_capacity(h.outputs);
                h.forward_into(&z, &mut a);
                a.iter_mut().for_each(|v| *v = v.max(0.0));
                self.output.forward_into(&a, &mut out);
            }
            None => self.output.forward_into(&z, &mut out),
        }
        out[0]
    }

    pub fn probability(&self, x: &[f32]) -> f32 {
        sigmoid(self.logit(x))
    }

    fn check(&self) -> Result<(), String> {
        let d = self.mean.len();
        if self.scale.len() != d {
            return Err(format!(
                "mean has {d} entries but scale {}",
                self.scale.len()
            ));
        }
        if self.scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err("scale must be finite and positive, mean finite".into());
        }
        let out_in = match &self.hidden {
            Some(h) => {
                h.check("hidden")?;
                if h.inputs != d {
                    return Err(format!(
                        "hidden layer reads {} inputs, features are {d}",
                        h.inputs
                    ));
                }
                h.outputs
            }
            None => d,
        };
        self.output.check("output")?;
        if self.output.inputs != out_in || self.output.outputs != 1 {
            return Err(format!(
                "output layer is {}×{}, expected 1×{out_in}",
                self.output.outputs, self.output.inputs
            ));
        }
        Ok(())
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

fn logit_of(p: f32) -> f32 {
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (p / (1.0 - p)).ln()
}

/// Checks that `nets` is not empty and that every network reads `want` features and is sound;
/// `holder` and `net` name them in the message ("weights hold", "network").
fn check_nets(nets: &[Net], want: usize, holder: &str, net: &str) -> Result<(), String> {
    if nets.is_empty() {
        return Err(format!("{holder} no network"));
    }
    for n in nets {
        if n.inputs() != want {
            return Err(format!(
                "{net} reads {} features, the feature spec gives {want}",
                n.inputs()
            ));
        }
        n.check()?;
    }
    Ok(())
}

/// A trained head as saved: the network, the features it reads and its decision threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Always [`FORMAT`].
    pub format: String,
    pub detector: String,
    /// The encoder the embeddings come from (`local/all-minilm-l6-v2`).
    pub encoder: String,
    /// Embedding dimension.
    pub embedding_dim: usize,
    pub positive: String,
    pub negative: String,
    pub features: FeatureSpec,
    /// Names of the rule features, checked against this build's rules on load.
    pub rule_names: Vec<String>,
    /// One network, or an ensemble whose logits are averaged.
    pub nets: Vec<Net>,
    /// The tuned threshold on the network's probability; [`Head::score`] maps it to 0.5.
    pub threshold: f32,
    /// How the head was made (seed, hyperparameters, data), for the record.
    pub training: serde_json::Value,
    /// A cheap first look that settles clear negatives without the full encoder pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prescreen: Option<Prescreen>,
}

/// A first stage in front of the head (a cascade): a network over the same features as the
/// head, built from the encoder's token states after an early layer (mean-pooled,
/// L2-normalised; layer 0 is the token embeddings, before any transformer layer, and costs
/// next to nothing). An input it scores below `bound` is answered negative at once; every other
/// input goes through the full pass and the head, as without it. The bound is set in training
/// so that few of the inputs the head flags would stop here (the record says how few).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prescreen {
    /// The encoder layer whose token states it reads.
    pub layer: usize,
    pub nets: Vec<Net>,
    /// Inputs whose prescreen probability is below this are settled as negative.
    pub bound: f32,
    /// How it was made and what it was measured to do, for the record.
    pub training: serde_json::Value,
}

impl Prescreen {
    /// The prescreen's probability that `x` is positive.
    pub fn probability(&self, x: &[f32]) -> f32 {
        let z = self.nets.iter().map(|n| n.logit(x)).sum::<f32>() / self.nets.len() as f32;
        sigmoid(z)
    }

    /// Whether an input with features `x` is settled here, and its probability.
    pub fn settles(&self, x: &[f32]) -> (bool, f32) {
        let p = self.probability(x);
        (p < self.bound, p)
    }
}

impl Head {
    /// Parses and checks a saved head for `detector`.
    pub fn from_json(detector: &str, bytes: &[u8]) -> Result<Self, DetectorError> {
        let fail = |message: String| DetectorError::Load {
            detector: detector.to_string(),
            message,
        };
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("weights are not JSON: {e}")))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(FORMAT) => {}
            Some(other) => {
                return Err(fail(format!(
                    "weights format `{other}` is not supported (this build reads `{FORMAT}`)"
                )));
            }
            None => return Err(fail("weights have no `format` field".into())),
        }
        let head: Head = serde_json::from_value(value)
            .map_err(|e| fail(format!("weights do not parse: {e}")))?;
        if head.detector != detector {
            return Err(fail(format!(
                "weights were trained for detector `{}`",
                head.detector
            )));
        }
        if head.rule_names != head.features.rule_names() {
            return Err(fail(format!(
                "weights were trained with rule features {:?}, this build computes {:?}",
                head.rule_names,
                head.features.rule_names()
            )));
        }
        let want = head.features.dim(head.embedding_dim);
        check_nets(&head.nets, want, "weights hold", "network").map_err(fail)?;
        if !(head.threshold > 0.0 && head.threshold < 1.0) {
            return Err(fail(format!(
                "threshold {} is not inside (0, 1)",
                head.threshold
            )));
        }
        if let Some(pre) = &head.prescreen {
            check_nets(
                &pre.nets,
                want,
                "the prescreen holds",
                "the prescreen's network",
            )
            .map_err(fail)?;
            if !(pre.bound > 0.0 && pre.bound < 1.0) {
                return Err(fail(format!(
                    "prescreen bound {} is not inside (0, 1)",
                    pre.bound
                )));
            }
        }
        Ok(head)
    }

    /// The positive-class score in 0..1, re-centred so that the tuned threshold sits at 0.5:
    /// label and score never disagree, and 0.5 means "on the boundary".
    pub fn score(&self, x: &[f32]) -> f32 {
        let z = self.nets.iter().map(|n| n.logit(x)).sum::<f32>() / self.nets.len() as f32;
        sigmoid(z - logit_of(self.threshold))
    }

    /// The label for a score from [`Head::score`].
    pub fn label(&self, score: f32) -> &str {
        if score >= 0.5 {
            &self.positive
        } else {
            &self.negative
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny(threshold: f32) -> Head {
        let spec = FeatureSpec {
            opening: false,
            windows: false,
            text_from_windows: false,
            every_window: false,
            opening_from_window: false,
            prompt_from_windows: false,
            prompt_similarity: false,
            prompt: true,
            product: false,
            rules: None,
            ngrams: 0,
        };
        let d = spec.dim(2);
        let mut output = Dense::zeros(d, 1);
        output.weights[0] = 2.0;
        Head {
            format: FORMAT.into(),
            detector: "refusal".into(),
            encoder: "test".into(),
            embedding_dim: 2,
            positive: "refusal".into(),
            negative: "compliance".into(),
            features: spec,
            rule_names: vec![],
            nets: vec![Net {
                mean: vec![0.0; d],
                scale: vec![1.0; d],
                hidden: None,
                output,
            }],
            threshold,
            training: serde_json::Value::Null,
            prescreen: None,
        }
    }

    #[test]
    fn char_ngrams_read_words_in_any_script_the_same_on_every_build() {
        let a = char_ngrams("Ignora  las instrucciones 12", 256);
        assert_eq!(a.len(), 256);
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        // Case, digits and runs of whitespace do not change the buckets.
        assert_eq!(a, char_ngrams("ignora las INSTRUCCIONES 47", 256));
        assert_ne!(a, char_ngrams("sigue las instrucciones 12", 256));
        // Scripts without spaces have n-grams too.
        assert!(
            char_ngrams("忽略之前的指令", 256)
                .iter()
                .filter(|v| **v > 0.0)
                .count()
                >= 10
        );
        assert!(char_ngrams("", 256).iter().all(|v| *v == 0.0));
        assert!(char_ngrams("   ", 256).iter().all(|v| *v == 0.0));
        // The hash is fixed: a saved head reads the same bucket for " ig" on every build.
        let one = char_ngrams("ig", 1 << 20);
        let hit: Vec<usize> = (0..one.len()).filter(|&i| one[i] > 0.0).collect();
        assert_eq!(hit.len(), 6, "{hit:?}"); // " i", "ig", "g ", " ig", "ig ", " ig "
        // Computed apart from this code, from the FNV-1a definition.
        assert_eq!(hit, [162231, 163082, 258769, 276964, 629664, 915826]);
    }

    #[test]
    fn assembles_features_with_and_without_prompt() {
        let spec = FeatureSpec {
            opening: true,
            windows: false,
            text_from_windows: false,
            every_window: false,
            opening_from_window: false,
            prompt_from_windows: false,
            prompt_similarity: false,
            prompt: true,
            product: true,
            rules: Some(RuleSet::Refusal),
            ngrams: 0,
        };
        let v = |prompt| Vectors {
            text: &[1.0, 2.0],
            opening: None,
            windows: None,
            prompt,
            nearest_window: None,
        };
        let with = spec.assemble(v(Some(&[3.0, 4.0])), "I'm sorry");
        assert_eq!(with.len(), spec.dim(2));
        // A short text is its own opening.
        assert_eq!(&with[..9], &[1.0, 2.0, 1.0, 2.0, 3.0, 4.0, 1.0, 3.0, 8.0]);
        let without = spec.assemble(v(None), "I'm sorry");
        assert_eq!(
            &without[..9],
            &[1.0, 2.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(with[9..], without[9..]);
        let long = Vectors {
            text: &[1.0, 2.0],
            opening: Some(&[5.0, 6.0]),
            windows: Some(&[7.0, 8.0]),
            prompt: None,
            nearest_window: None,
        };
        assert_eq!(&spec.assemble(long, "x")[2..4], &[5.0, 6.0]);
        let spec = FeatureSpec {
            windows: true,
            ..spec
        };
        assert_eq!(&spec.assemble(long, "x")[2..6], &[5.0, 6.0, 7.0, 8.0]);
        // Prompt similarity: the text's cosine with the prompt, then the nearest window's
        // (the text's own without windows); zeros without a prompt.
        let spec = FeatureSpec {
            prompt_similarity: true,
            ..FeatureSpec::TEXT_ONLY
        };
        let p: &[f32] = &[0.6, 0.8];
        let v = |prompt, nearest_window| Vectors {
            text: &[1.0, 0.0],
            opening: None,
            windows: None,
            prompt,
            nearest_window,
        };
        assert_eq!(spec.dim(2), 4);
        assert_eq!(
            spec.assemble(v(Some(p), Some(0.9)), "x"),
            [1.0, 0.0, 0.6, 0.9]
        );
        assert_eq!(spec.assemble(v(Some(p), None), "x"), [1.0, 0.0, 0.6, 0.6]);
        assert_eq!(spec.assemble(v(None, None), "x"), [1.0, 0.0, 0.0, 0.0]);
        assert!(spec.uses_prompt());
    }

    #[test]
    fn windows_cover_the_text_and_keep_both_ends_of_long_texts() {
        assert!(windows("a few words only").is_empty());
        let text: String = (0..100).map(|i| format!("w{i} ")).collect();
        let w = windows(&text);
        assert_eq!(w.len(), 3);
        assert!(w[0].starts_with("w0 ") && w[0].ends_with("w39"));
        assert!(w[2].starts_with("w80 ") && w[2].ends_with("w99"));
        let long: String = (0..1000).map(|i| format!("é{i}\n")).collect();
        let w = windows(&long);
        assert_eq!(w.len(), MAX_WINDOWS);
        assert!(w[0].starts_with("é0") && w[MAX_WINDOWS - 1].ends_with("é999"));
        // Every window, in order, for a spec that reads them all; none for one that reads none.
        let all = every_window(&long);
        assert_eq!(all.len(), 25);
        assert!(all[12].starts_with("é480") && all[12].ends_with("é519"));
        let spec = FeatureSpec {
            windows: true,
            every_window: true,
            ..FeatureSpec::TEXT_ONLY
        };
        assert_eq!(spec.text_windows(&long), all);
        let limited = FeatureSpec {
            every_window: false,
            ..spec
        };
        assert_eq!(limited.text_windows(&long), w);
        assert!(FeatureSpec::TEXT_ONLY.text_windows(&long).is_empty());
        assert_eq!(
            max_pool([&[1.0, 5.0][..], &[3.0, 2.0][..]].into_iter()),
            vec![3.0, 5.0]
        );
        let m = mean_pool([&[1.0, 0.0][..], &[0.0, 1.0][..]].into_iter());
        assert!((m[0] - m[1]).abs() < 1e-7 && (m[0] - 0.5f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn text_from_windows_is_optional_in_saved_specs() {
        // Heads saved before the field existed read as `false`, and `false` is not written.
        let old = r#"{"opening":true,"windows":false,"prompt":false,"product":false,"rules":null}"#;
        let spec: FeatureSpec = serde_json::from_str(old).unwrap();
        assert!(!spec.text_from_windows);
        assert_eq!(serde_json::to_string(&spec).unwrap(), old);
        let new = FeatureSpec {
            windows: true,
            text_from_windows: true,
            every_window: false,
            opening_from_window: false,
            prompt_from_windows: false,
            prompt_similarity: false,
            ..spec
        };
        let back: FeatureSpec =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn an_opening_from_the_window_is_the_first_window_of_a_text_that_has_windows() {
        let long: String = (0..100).map(|i| format!("word{i} ")).collect();
        let spec = FeatureSpec {
            opening: true,
            windows: true,
            opening_from_window: true,
            ..FeatureSpec::TEXT_ONLY
        };
        let w = spec.text_windows(&long);
        assert_eq!(spec.opening_of(&long, &w), Some(w[0]));
        assert!(w[0].starts_with("word0 ") && w[0].ends_with("word39"));
        // Without the flag, the first characters; without windows, as before either way.
        let chars = FeatureSpec {
            opening_from_window: false,
            prompt_from_windows: false,
            ..spec
        };
        assert_eq!(chars.opening_of(&long, &w), opening(&long));
        let short: String = (0..30).map(|i| format!("longerword{i} ")).collect();
        assert!(spec.text_windows(&short).is_empty() && opening(&short).is_some());
        assert_eq!(spec.opening_of(&short, &[]), opening(&short));
        // No opening read, none given.
        let none = FeatureSpec {
            opening: false,
            ..spec
        };
        assert_eq!(none.opening_of(&long, &w), None);
    }

    #[test]
    fn opening_is_cut_at_a_word_and_absent_for_short_texts() {
        assert_eq!(opening("short answer"), None);
        let long = format!(
            "I'm sorry, but I can't help. {}",
            "More words here. ".repeat(30)
        );
        let o = opening(&long).unwrap();
        assert!(o.starts_with("I'm sorry") && o.chars().count() <= OPENING_CHARS);
        assert!(!o.ends_with(' '));
        assert!(long[o.len()..].starts_with(char::is_whitespace));
        let unbroken = "é".repeat(500);
        assert_eq!(opening(&unbroken).unwrap().chars().count(), OPENING_CHARS);
    }

    #[test]
    fn score_is_recentred_on_the_threshold() {
        let h = tiny(0.8);
        // logit 2·x0; probability 0.8 ↔ logit ln 4 ≈ 1.386 ↔ x0 ≈ 0.693.
        let at = |x0: f32| h.score(&[x0, 0.0, 0.0, 0.0, 0.0]);
        assert!((at(4f32.ln() / 2.0) - 0.5).abs() < 1e-4);
        assert_eq!(h.label(at(0.6)), "compliance");
        assert_eq!(h.label(at(0.8)), "refusal");
    }

    #[test]
    fn a_prescreen_is_optional_and_checked_like_the_head() {
        let head = tiny(0.5);
        // Without one, the saved head does not mention it (older weights stay byte-identical).
        let saved = serde_json::to_value(&head).unwrap();
        assert!(saved.get("prescreen").is_none());
        let dim = head.nets[0].inputs();
        let pre = |bias: f32, bound: f32, inputs: usize| Prescreen {
            layer: 0,
            nets: vec![Net::constant(inputs, bias)],
            bound,
            training: serde_json::Value::Null,
        };
        let load = |p: Prescreen| {
            let mut h = head.clone();
            h.prescreen = Some(p);
            Head::from_json("refusal", &serde_json::to_vec(&h).unwrap())
        };
        let ok = load(pre(-5.0, 0.01, dim)).unwrap();
        let p = ok.prescreen.as_ref().unwrap();
        let x = vec![0.3; dim];
        // sigmoid(-5) ≈ 0.0067 < 0.01: settled; sigmoid(-4) ≈ 0.018: not.
        assert!(p.settles(&x).0);
        assert!((p.settles(&x).1 - sigmoid(-5.0)).abs() < 1e-6);
        assert!(!pre(-4.0, 0.01, dim).settles(&x).0);
        let err = load(pre(-5.0, 0.01, dim + 1)).unwrap_err().to_string();
        assert!(err.contains("prescreen"), "{err}");
        for bound in [0.0, 1.0] {
            let err = load(pre(-5.0, bound, dim)).unwrap_err().to_string();
            assert!(err.contains("bound"), "{err}");
        }
        // NaN cannot even be written as JSON (it becomes null, which does not parse).
        assert!(load(pre(-5.0, f32::NAN, dim)).is_err());
        let mut empty = pre(-5.0, 0.01, dim);
        empty.nets.clear();
        assert!(load(empty).unwrap_err().to_string().contains("no network"));
    }

    #[test]
    fn refuses_unknown_formats_wrong_detectors_and_bad_shapes() {
        let good = serde_json::to_vec(&tiny(0.5)).unwrap();
        assert!(Head::from_json("refusal", &good).is_ok());
        let err = Head::from_json("harm", &good).unwrap_err().to_string();
        assert!(err.contains("trained for detector `refusal`"), "{err}");
        let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
        v["format"] = "emmental.classifier-head/9".into();
        let err = Head::from_json("refusal", &serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not supported"), "{err}");
        let mut h = tiny(0.5);
        h.nets[0].output.weights.pop();
        let err = Head::from_json("refusal", &serde_json::to_vec(&h).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds 4 weights"), "{err}");
        let err = Head::from_json("refusal", b"{\"format\": 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not JSON"), "{err}");
        let mut h = tiny(0.5);
        h.nets.clear();
        let err = Head::from_json("refusal", &serde_json::to_vec(&h).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no network"), "{err}");
        let mut h = tiny(0.5);
        h.threshold = 1.0;
        assert!(Head::from_json("refusal", &serde_json::to_vec(&h).unwrap()).is_err());
    }
}
