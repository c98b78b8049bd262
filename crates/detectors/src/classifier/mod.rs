//! Encoder-based classifiers: a small trained head on the embedded sentence encoder.
//!
//! The refusal, harm and injection detectors are all the same machine, [`EncoderClassifier`]:
//! the text (and, for answer-judging detectors, its prompt) goes through all-MiniLM-L6-v2
//! (mean-pooled, L2-normalised, 384 numbers), cheap rule features are added where they were
//! shown to help ([`rules`]), and for injection hashed character n-grams, which read words of
//! every language as written where the English encoder sees sub-word fragments
//! ([`head::char_ngrams`]); a [`Head`] — logistic regression or a one-hidden-layer
//! network, trained in plain Rust by [`fit`] — turns that into a score. The head ships as JSON
//! inside the binary and can be replaced with `--weights DIR`.
//!
//! A head may carry a [`head::Prescreen`] (written by `emmental detectors prescreen`): the same
//! features built from an early encoder layer, which answer clear negatives before the full
//! pass runs. No shipped head carries one.
//!
//! ```
//! use emmental_detectors::classifier::rules::RuleSet;
//! let f = RuleSet::Refusal.features("I'm sorry, but I can't help with that.");
//! assert_eq!(f[0], 1.0); // an apology opens the answer
//! ```

pub mod embed;
pub mod fit;
pub mod head;
pub mod rules;

use std::sync::Arc;

use emmental_core::Embedder;
use emmental_models::local::LocalEncoder;
use sha2::{Digest, Sha256};

pub use head::{
    FeatureSpec, Head, Vectors, WindowPools, max_pool, mean_pool, nearest_window, opening, windows,
};

use crate::{Detection, Detector, DetectorError, DetectorInfo, Input, Resources};

/// A detector made of the encoder and a trained head.
pub struct EncoderClassifier {
    info: DetectorInfo,
    head: Head,
    encoder: Arc<LocalEncoder>,
}

/// What a [`head::Prescreen`] reads of each text: the encoder's token states after `layer`
/// (0: the token embeddings), mean-pooled over the word pieces and L2-normalised.
pub fn prescreen_vectors(
    encoder: &LocalEncoder,
    texts: &[&str],
    layer: usize,
) -> Result<Vec<Arc<[f32]>>, emmental_core::ModelError> {
    let states = encoder.token_states_blocking(texts, layer)?;
    Ok(states
        .iter()
        .map(|s| {
            let mut v = vec![0f32; s.dim];
            for i in 0..s.tokens.len() {
                for (a, b) in v.iter_mut().zip(s.state(i)) {
                    *a += b;
                }
            }
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|a| *a /= norm);
            }
            Arc::from(v)
        })
        .collect())
}

/// A short version tag of a weights file: behaviour changes exactly when the weights do.
pub fn weights_version(bytes: &[u8]) -> String {
    format!("1+{}", &hex::encode(Sha256::digest(bytes))[..12])
}

impl EncoderClassifier {
    /// Builds detector `info.id` from its weights (`--weights DIR` or the shipped bytes).
    pub fn build(
        mut info: DetectorInfo,
        res: &Resources,
        shipped: &'static [u8],
    ) -> Result<Self, DetectorError> {
        let encoder = res.encoder(info.id)?;
        let bytes = res.weights(info.id, info.id, shipped)?;
        let head = Head::from_json(info.id, &bytes)?;
        if head.encoder != encoder.id() || head.embedding_dim != encoder.dimension() {
            return Err(DetectorError::Load {
                detector: info.id.to_string(),
                message: format!(
                    "weights were trained on encoder {} ({} dimensions), the loaded encoder is {} ({})",
                    head.encoder,
                    head.embedding_dim,
                    encoder.id(),
                    encoder.dimension()
                ),
            });
        }
        if let Some(pre) = &head.prescreen
            && pre.layer > encoder.layers()
        {
            return Err(DetectorError::Load {
                detector: info.id.to_string(),
                message: format!(
                    "the prescreen reads layer {}; the encoder has {}",
                    pre.layer,
                    encoder.layers()
                ),
            });
        }
        info.version = weights_version(&bytes);
        Ok(Self {
            info,
            head,
            encoder,
        })
    }

    /// The same detector with `prescreen` in front of its head (`None`: the head alone).
    pub fn with_prescreen(mut self, prescreen: Option<head::Prescreen>) -> Self {
        self.head.prescreen = prescreen;
        self
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    /// The head's verdicts on the full pass's embeddings.
    fn full(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        let xs = self.features(inputs, |texts| {
            embed::embed(&self.encoder, texts).map_err(|e| self.fail(e))
        })?;
        xs.iter()
            .map(|x| {
                let score = self.head.score(x);
                if !score.is_finite() {
                    return Err(self.fail("the head produced a non-finite score"));
                }
                Ok(Detection::class(self.head.label(score), score))
            })
            .collect()
    }

    /// The head's feature vectors of `inputs`, with `vectors` embedding a list of texts (the
    /// full pass for the head, an early layer's states for its prescreen).
    pub fn features(
        &self,
        inputs: &[Input<'_>],
        vectors: impl FnOnce(&[&str]) -> Result<Vec<Arc<[f32]>>, DetectorError>,
    ) -> Result<Vec<Vec<f32>>, DetectorError> {
        let spec = self.head.features;
        // One encoder call for everything: texts, then openings, then prompts, then windows
        // (an opening that is a window is encoded once).
        let window_lists: Vec<Vec<&str>> =
            inputs.iter().map(|i| spec.text_windows(i.text)).collect();
        let openings: Vec<Option<&str>> = inputs
            .iter()
            .zip(&window_lists)
            .map(|(i, w)| spec.opening_of(i.text, w))
            .collect();
        let prompts: Vec<Option<&str>> = inputs
            .iter()
            .map(|i| if spec.uses_prompt() { i.prompt } else { None })
            .collect();
        // A prompt embedded from its windows is not encoded whole.
        let prompt_windows: Vec<Vec<&str>> = prompts
            .iter()
            .map(|p| p.map_or_else(Vec::new, |p| spec.prompt_windows(p)))
            .collect();
        let prompts_whole: Vec<Option<&str>> = prompts
            .iter()
            .zip(&prompt_windows)
            .map(|(p, w)| p.filter(|_| w.is_empty()))
            .collect();
        // A text whose feature is taken from its windows is not encoded whole.
        let whole: Vec<bool> = window_lists
            .iter()
            .map(|w| !spec.text_from_windows || w.is_empty())
            .collect();
        let mut texts: Vec<&str> = inputs
            .iter()
            .zip(&whole)
            .filter(|(_, w)| **w)
            .map(|(i, _)| i.text)
            .collect();
        texts.extend(openings.iter().flatten());
        texts.extend(prompts_whole.iter().flatten());
        texts.extend(window_lists.iter().flatten());
        texts.extend(prompt_windows.iter().flatten());
        let vectors = vectors(&texts)?;
        let mut rest = vectors.iter();
        let mut next =
            |present: bool| present.then(|| rest.next().expect("one vector per text").as_ref());
        let text_vecs: Vec<Option<&[f32]>> = whole.iter().map(|w| next(*w)).collect();
        let opening_vecs: Vec<Option<&[f32]>> =
            openings.iter().map(|o| next(o.is_some())).collect();
        let whole_prompt_vecs: Vec<Option<&[f32]>> =
            prompts_whole.iter().map(|p| next(p.is_some())).collect();
        let window_vecs: Vec<Vec<&[f32]>> = window_lists
            .iter()
            .map(|w| w.iter().filter_map(|_| next(true)).collect())
            .collect();
        let prompt_means: Vec<Option<Vec<f32>>> = prompt_windows
            .iter()
            .map(|w| {
                let vs: Vec<&[f32]> = w.iter().filter_map(|_| next(true)).collect();
                (!vs.is_empty()).then(|| mean_pool(vs.into_iter()))
            })
            .collect();
        let prompt_vecs: Vec<Option<&[f32]>> = whole_prompt_vecs
            .iter()
            .zip(&prompt_means)
            .map(|(whole, mean)| whole.or(mean.as_deref()))
            .collect();
        let pools: Vec<Option<WindowPools>> =
            window_vecs.iter().map(|vs| WindowPools::of(vs)).collect();
        let mut out = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            let text = match (text_vecs[i], &pools[i]) {
                (Some(t), _) => t,
                (None, Some(p)) => p.mean.as_slice(),
                (None, None) => unreachable!("a text not encoded whole has windows"),
            };
            let v = Vectors {
                text,
                opening: opening_vecs[i],
                windows: pools[i].as_ref().map(|p| p.max.as_slice()),
                prompt: prompt_vecs[i],
                nearest_window: spec
                    .prompt_similarity
                    .then(|| nearest_window(&window_vecs[i], prompt_vecs[i]))
                    .flatten(),
            };
            out.push(spec.assemble(v, input.text));
        }
        Ok(out)
    }

    fn fail(&self, e: impl std::fmt::Display) -> DetectorError {
        DetectorError::Inference {
            detector: self.info.id.to_string(),
            message: e.to_string(),
        }
    }
}

impl Detector for EncoderClassifier {
    fn info(&self) -> &DetectorInfo {
        &self.info
    }

    fn detect(&self, input: &Input<'_>) -> Result<Detection, DetectorError> {
        Ok(self.detect_batch(std::slice::from_ref(input))?.remove(0))
    }

    fn detect_batch(&self, inputs: &[Input<'_>]) -> Result<Vec<Detection>, DetectorError> {
        let spec = self.head.features;
        if spec.uses_prompt()
            && let Some(i) = inputs.iter().position(|i| i.prompt.is_none())
        {
            // A head trained on (prompt, answer) pairs has never seen an answer alone: refuse
            // rather than guess.
            return Err(self.fail(format!(
                "input {} has no prompt; this detector judges an answer against the prompt it answers (give \"prompt\" with \"text\")",
                i + 1
            )));
        }
        let Some(pre) = &self.head.prescreen else {
            return self.full(inputs);
        };
        // The cascade: the prescreen settles what it can, the full pass judges the rest.
        let cheap = self.features(inputs, |texts| {
            prescreen_vectors(&self.encoder, texts, pre.layer).map_err(|e| self.fail(e))
        })?;
        let mut out: Vec<Option<Detection>> = cheap
            .iter()
            .map(|x| match pre.settles(x) {
                (true, p) => Some(Detection::class(&self.head.negative, p)),
                (false, _) => None,
            })
            .collect();
        let rest: Vec<Input<'_>> = inputs
            .iter()
            .zip(&out)
            .filter(|(_, d)| d.is_none())
            .map(|(i, _)| *i)
            .collect();
        if rest.is_empty() {
            return Ok(out.into_iter().flatten().collect());
        }
        let mut judged = self.full(&rest)?.into_iter();
        for d in out.iter_mut().filter(|d| d.is_none()) {
            *d = judged.next();
        }
        Ok(out
            .into_iter()
            .map(|d| d.expect("every input judged"))
            .collect())
    }

    /// Embeds the prompt (into the shared cache) for a head that reads it.
    fn prepare_prompt(&self, prompt: &str) {
        let spec = self.head.features;
        if spec.uses_prompt() {
            // Its windows, or the prompt whole.
            let mut texts = spec.prompt_windows(prompt);
            if texts.is_empty() {
                texts.push(prompt);
            }
            let _ = embed::embed(&self.encoder, &texts);
        }
    }
}
