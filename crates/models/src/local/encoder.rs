//! A sentence encoder: BERT (all-MiniLM-L6-v2) with mean pooling and L2 normalisation, and
//! the same encoder's per-token hidden states for token classifiers (the PII NER head).
//!
//! Four interchangeable forward passes:
//! - [`EncoderBackend::Native`], the default: Emmental's own pass ([`native`]: packed weights,
//!   AVX-512 micro-kernels, no padding, no per-op allocation) with the linear layers'
//!   multiplies in bfloat16 and their sums in f32 (see [`kernels`]). Sentence vectors agree
//!   with the f32 pass to a cosine of about 0.9999.
//! - [`EncoderBackend::NativeInt8`]: the same pass with 8-bit integer multiplies
//!   (`EMMENTAL_ENCODER_PRECISION=int8`); see [`kernels`] for what it trades.
//! - [`EncoderBackend::NativeF32`]: the same pass in f32 throughout; it matches candle within
//!   float rounding. `EMMENTAL_ENCODER_PRECISION=f32` makes it the default.
//! - [`EncoderBackend::Candle`]: candle's `BertModel`, kept as the reference the native pass is
//!   tested against and as the bench's baseline.
//!
//! Token states come with each token's byte offsets in the caller's text. MiniLM's tokenizer
//! lowercases and strips accents ("Jürgen" → `jurgen`), but the offsets it reports point into
//! the original string, so `&text[start..end]` is the original word piece. Texts longer than
//! the model's window are read in overlapping windows; every token gets its state from the
//! window where it sits furthest from an edge, so no tail is dropped.

mod kernels;
mod native;
mod team;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use emmental_core::{Embedder, ModelError};

use native::NativeBert;

/// Inputs longer than this many tokens are truncated by [`LocalEncoder::embed_blocking`] (the
/// model was trained with 256), and token states are computed in windows of this many.
pub const MAX_TOKENS: usize = 256;
/// Texts are encoded in batches of at most this many.
pub const BATCH: usize = 32;
/// Consecutive windows over a long text start this many tokens apart (windows hold
/// `MAX_TOKENS - 2` text tokens, so neighbours overlap by 62 tokens).
pub const WINDOW_STRIDE: usize = 192;
/// Token-state forward passes stack at most this many tokens (bounds memory for big batches).
const STACK_TOKENS: usize = 4096;

/// Which implementation runs the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderBackend {
    /// Emmental's own CPU forward pass, bfloat16 multiplies with f32 sums (the fast path).
    Native,
    /// Emmental's own CPU forward pass in f32.
    NativeF32,
    /// Emmental's own CPU forward pass with 8-bit integer multiplies (weights quantized per
    /// output at load, each layer's input per token), summed exactly: on a CPU with AVX-512
    /// VNNI about twice the multiply rate of bf16, at some cost in precision.
    NativeInt8,
    /// candle's `BertModel`: the reference implementation.
    Candle,
}

impl EncoderBackend {
    /// A stable name of the forward pass, for cache keys: passes that can differ in any bit
    /// have different names.
    pub fn tag(&self) -> &'static str {
        match self {
            EncoderBackend::Native => "native-bf16",
            EncoderBackend::NativeF32 => "native-f32",
            EncoderBackend::NativeInt8 => "native-int8",
            EncoderBackend::Candle => "candle",
        }
    }

    /// Whether a batch is padded to its longest sequence (candle's `BertModel`). The native
    /// pass stacks the tokens of a batch without padding: a batch costs what its tokens cost,
    /// and each sequence comes out bit for bit as it would alone.
    pub fn pads_batches(&self) -> bool {
        matches!(self, EncoderBackend::Candle)
    }
}

impl Default for EncoderBackend {
    /// [`EncoderBackend::Native`], or [`EncoderBackend::NativeF32`] when the environment sets
    /// `EMMENTAL_ENCODER_PRECISION=f32`, [`EncoderBackend::NativeInt8`] when it sets `int8`
    /// (any other value is reported as a warning and gives the default).
    fn default() -> Self {
        match std::env::var("EMMENTAL_ENCODER_PRECISION").as_deref() {
            Ok("f32") => EncoderBackend::NativeF32,
            Ok("int8") => EncoderBackend::NativeInt8,
            Ok("" | "bf16") | Err(_) => EncoderBackend::Native,
            Ok(other) => {
                tracing::warn!(
                    value = other,
                    "EMMENTAL_ENCODER_PRECISION is bf16 (the default), f32 or int8; using bf16"
                );
                EncoderBackend::Native
            }
        }
    }
}

enum Backend {
    Native(NativeBert),
    Candle(BertModel),
}

/// One word piece of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub id: u32,
    /// Byte offsets into the original text (half-open).
    pub start: usize,
    pub end: usize,
}

/// Per-token hidden states of one text, from one layer.
#[derive(Debug, Clone)]
pub struct TokenStates {
    /// The layer read: 0 is the embedding output, [`LocalEncoder::layers`] the last layer.
    pub layer: usize,
    pub dim: usize,
    /// The text's word pieces in order ([CLS] and [SEP] excluded).
    pub tokens: Vec<Token>,
    /// `tokens.len() × dim`, row-major.
    pub states: Vec<f32>,
}

impl TokenStates {
    /// The hidden state of token `i`.
    pub fn state(&self, i: usize) -> &[f32] {
        &self.states[i * self.dim..(i + 1) * self.dim]
    }
}

struct Inner {
    id: String,
    kind: EncoderBackend,
    backend: Backend,
    /// Truncates at [`MAX_TOKENS`], adds [CLS]/[SEP], no padding.
    tokenizer: Tokenizer,
    /// No truncation, no padding: for token states (windows are cut by us).
    plain: Tokenizer,
    cls: u32,
    sep: u32,
    dim: usize,
    layers: usize,
}

/// A BERT sentence encoder running in-process on the CPU.
pub struct LocalEncoder {
    inner: Arc<Inner>,
    permits: Arc<Semaphore>,
}

impl LocalEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`, with the
    /// native forward pass.
    pub fn load(id: impl Into<String>, dir: &Path) -> Result<Self, ModelError> {
        Self::load_with(id, dir, EncoderBackend::default())
    }

    /// Loads with a chosen forward pass. [`EncoderBackend::NativeInt8`] on a CPU without
    /// AVX-512 VNNI loads [`EncoderBackend::Native`] instead, with a warning: the portable
    /// integer kernel is some 20 times slower than the bf16 pass there. [`Self::backend`] says
    /// which pass runs.
    pub fn load_with(
        id: impl Into<String>,
        dir: &Path,
        backend: EncoderBackend,
    ) -> Result<Self, ModelError> {
        let id = id.into();
        let backend = match backend {
            EncoderBackend::NativeInt8 if !kernels::has_vnni() => {
                tracing::warn!(
                    model = %id,
                    "int8 encoder multiplies need AVX-512 VNNI, which this CPU lacks; \
                     running the bf16 pass instead"
                );
                EncoderBackend::Native
            }
            b => b,
        };
        let fail = |m: String| ModelError::Load {
            model: id.clone(),
            message: m,
        };
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| fail(format!("cannot read {}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| fail(format!("config.json: {e}")))?;
        let mut plain = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        // The shipped tokenizer.json pads every input to 128 and truncates there; neither is
        // wanted: sequences are never padded here, and the model reads up to 256 tokens.
        plain.with_padding(None);
        plain
            .with_truncation(None)
            .map_err(|e| fail(format!("tokenizer truncation: {e}")))?;
        let mut tokenizer = plain.clone();
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| fail(format!("tokenizer truncation: {e}")))?;
        let special = |t: &str| {
            plain
                .token_to_id(t)
                .ok_or_else(|| fail(format!("tokenizer has no {t} token")))
        };
        let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
        if config.max_position_embeddings < MAX_TOKENS {
            return Err(fail(format!(
                "the model has {} positions; {MAX_TOKENS} are needed",
                config.max_position_embeddings
            )));
        }
        let weights = read("model.safetensors")?;
        let kind = backend;
        let precision = match backend {
            EncoderBackend::NativeF32 => kernels::Precision::F32,
            EncoderBackend::NativeInt8 => kernels::Precision::Int8,
            _ => kernels::Precision::Bf16,
        };
        let backend = match backend {
            EncoderBackend::Native | EncoderBackend::NativeF32 | EncoderBackend::NativeInt8 => {
                Backend::Native(
                    NativeBert::from_safetensors(weights, &config, precision)
                        .map_err(|e| fail(format!("cannot build BERT: {e}")))?,
                )
            }
            EncoderBackend::Candle => {
                let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
                    .map_err(|e| fail(format!("model.safetensors: {e}")))?;
                Backend::Candle(
                    BertModel::load(vb, &config)
                        .map_err(|e| fail(format!("cannot build BERT: {e}")))?,
                )
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                kind,
                backend,
                tokenizer,
                plain,
                cls,
                sep,
                dim: config.hidden_size,
                layers: config.num_hidden_layers,
            }),
            permits: Arc::new(Semaphore::new(1)),
        })
    }

    /// Number of transformer layers (token states can be read after any of them).
    pub fn layers(&self) -> usize {
        self.inner.layers
    }

    /// Width of the hidden states and of the sentence vectors.
    pub fn dim(&self) -> usize {
        self.inner.dim
    }

    /// Which forward pass this encoder runs.
    pub fn backend(&self) -> EncoderBackend {
        self.inner.kind
    }

    /// The number of word pieces of `text` (without [CLS]/[SEP], without truncation).
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self.inner.encode_plain(text)?.len())
    }

    /// Encodes texts (blocking), in batches of [`BATCH`].
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(
                self.inner
                    .embed_batch(chunk)
                    .map_err(|e| self.inner.err(e))?,
            );
        }
        Ok(out)
    }

    /// Hidden states after layer `layer` (1..=[`Self::layers`]; 0 = embeddings) for every
    /// word piece of each text, with byte offsets. Long texts are read in overlapping windows
    /// (see the module docs). The candle backend offers the last layer only.
    pub fn token_states_blocking(
        &self,
        texts: &[&str],
        layer: usize,
    ) -> Result<Vec<TokenStates>, ModelError> {
        self.inner.token_states(texts, layer)
    }
}

impl Inner {
    fn err(&self, message: String) -> ModelError {
        ModelError::Inference {
            model: self.id.clone(),
            message,
        }
    }

    fn encode_plain(&self, text: &str) -> Result<Vec<Token>, ModelError> {
        let enc = self
            .plain
            .encode(text, false)
            .map_err(|e| self.err(format!("tokenizer: {e}")))?;
        Ok(enc
            .get_ids()
            .iter()
            .zip(enc.get_offsets())
            .map(|(&id, &(start, end))| Token { id, start, end })
            .collect())
    }

    /// Final-layer states of each sequence, stacked (`Σ len × dim`).
    fn hidden(&self, seqs: &[&[u32]], layer: usize) -> Result<Vec<f32>, String> {
        match &self.backend {
            Backend::Native(m) => m.forward(seqs, layer),
            Backend::Candle(m) => {
                if layer != self.layers {
                    return Err(format!(
                        "the candle backend gives the last layer ({}) only, not layer {layer}",
                        self.layers
                    ));
                }
                let mut out = Vec::new();
                for s in seqs {
                    out.extend(candle_forward(m, &[s.to_vec()])?.into_iter().flatten());
                }
                Ok(out)
            }
        }
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let ids: Vec<Vec<u32>> = enc.iter().map(|e| e.get_ids().to_vec()).collect();
        let d = self.dim;
        let per_seq: Vec<Vec<f32>> = match &self.backend {
            Backend::Native(m) => {
                let seqs: Vec<&[u32]> = ids.iter().map(|v| v.as_slice()).collect();
                let h = m.forward(&seqs, self.layers)?;
                let mut row = 0;
                ids.iter()
                    .map(|s| {
                        let rows = &h[row * d..(row + s.len()) * d];
                        row += s.len();
                        rows.to_vec()
                    })
                    .collect()
            }
            Backend::Candle(m) => candle_forward(m, &ids)?,
        };
        Ok(per_seq
            .iter()
            .zip(&ids)
            .map(|(h, s)| mean_normalised(h, s.len(), d))
            .collect())
    }

    fn token_states(&self, texts: &[&str], layer: usize) -> Result<Vec<TokenStates>, ModelError> {
        if layer > self.layers {
            return Err(self.err(format!(
                "layer {layer} requested; the model has {}",
                self.layers
            )));
        }
        let tokens: Vec<Vec<Token>> = texts
            .iter()
            .map(|t| self.encode_plain(t))
            .collect::<Result<_, _>>()?;
        // Every window of every text, as (text, first token, token count).
        let span = MAX_TOKENS - 2;
        let mut windows: Vec<(usize, usize, usize)> = Vec::new();
        for (t, toks) in tokens.iter().enumerate() {
            for start in window_starts(toks.len(), span, WINDOW_STRIDE) {
                windows.push((t, start, span.min(toks.len() - start)));
            }
        }
        let d = self.dim;
        let mut states: Vec<Vec<f32>> = tokens.iter().map(|t| vec![0f32; t.len() * d]).collect();
        // For each text, how central the best window so far placed each token.
        let mut best: Vec<Vec<isize>> = tokens.iter().map(|t| vec![-1; t.len()]).collect();
        let mut group: Vec<(usize, usize, usize)> = Vec::new();
        let mut run = |group: &mut Vec<(usize, usize, usize)>| -> Result<(), ModelError> {
            if group.is_empty() {
                return Ok(());
            }
            let seqs: Vec<Vec<u32>> = group
                .iter()
                .map(|&(t, s, n)| {
                    let mut v = Vec::with_capacity(n + 2);
                    v.push(self.cls);
                    v.extend(tokens[t][s..s + n].iter().map(|k| k.id));
                    v.push(self.sep);
                    v
                })
                .collect();
            let refs: Vec<&[u32]> = seqs.iter().map(|v| v.as_slice()).collect();
            let h = self.hidden(&refs, layer).map_err(|e| self.err(e))?;
            let mut row = 0;
            for &(t, s, n) in group.iter() {
                for i in 0..n {
                    // Distance to the nearer window edge; text ends count as centre.
                    let left = if s == 0 { isize::MAX / 2 } else { i as isize };
                    let right = if s + n == tokens[t].len() {
                        isize::MAX / 2
                    } else {
                        (n - 1 - i) as isize
                    };
                    let c = left.min(right);
                    if c > best[t][s + i] {
                        best[t][s + i] = c;
                        states[t][(s + i) * d..(s + i + 1) * d]
                            .copy_from_slice(&h[(row + 1 + i) * d..(row + 2 + i) * d]);
                    }
                }
                row += n + 2;
            }
            group.clear();
            Ok(())
        };
        let mut stacked = 0;
        for w in windows {
            if stacked + w.2 + 2 > STACK_TOKENS && !group.is_empty() {
                run(&mut group)?;
                stacked = 0;
            }
            stacked += w.2 + 2;
            group.push(w);
        }
        run(&mut group)?;
        Ok(tokens
            .into_iter()
            .zip(states)
            .map(|(tokens, states)| TokenStates {
                layer,
                dim: d,
                tokens,
                states,
            })
            .collect())
    }
}

/// Where windows of `span` tokens start over a text of `n` tokens: every `stride` tokens, and
/// a last one flush with the end. Empty texts have no window.
fn window_starts(n: usize, span: usize, stride: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    if n <= span {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..)
        .map(|i| i * stride)
        .take_while(|&s| s + span < n)
        .collect();
    starts.push(n - span);
    starts
}

/// Mean of `len` rows of `h`, L2-normalised.
fn mean_normalised(h: &[f32], len: usize, d: usize) -> Vec<f32> {
    let mut mean = vec![0f32; d];
    for r in h.chunks(d).take(len) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    let count = (len as f32).max(1e-9);
    mean.iter_mut().for_each(|m| *m /= count);
    let norm = mean.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    mean.iter_mut().for_each(|m| *m /= norm);
    mean
}

/// candle's forward over a padded batch; returns each sequence's rows (unpadded).
fn candle_forward(model: &BertModel, ids: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, String> {
    let len = ids.iter().map(|s| s.len()).max().unwrap_or(0);
    let b = ids.len();
    let mut flat = Vec::with_capacity(b * len);
    let mut mask = Vec::with_capacity(b * len);
    for s in ids {
        flat.extend(
            s.iter()
                .copied()
                .chain(std::iter::repeat_n(0, len - s.len())),
        );
        mask.extend((0..len).map(|i| u32::from(i < s.len())));
    }
    let run = || -> candle_core::Result<Vec<Vec<f32>>> {
        let dev = Device::Cpu;
        let ids_t = Tensor::from_vec(flat, (b, len), &dev)?;
        let types = ids_t.zeros_like()?;
        let mask_t = Tensor::from_vec(mask, (b, len), &dev)?;
        let hidden = model.forward(&ids_t, &types, Some(&mask_t))?;
        let rows: Vec<Vec<Vec<f32>>> = hidden.to_vec3()?;
        Ok(rows
            .into_iter()
            .zip(ids)
            .map(|(r, s)| r.into_iter().take(s.len()).flatten().collect())
            .collect())
    };
    run().map_err(|e| e.to_string())
}

#[async_trait]
impl Embedder for LocalEncoder {
    fn id(&self) -> &str {
        &self.inner.id
    }
    fn dimension(&self) -> usize {
        self.inner.dim
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let this = Self {
            inner: self.inner.clone(),
            permits: self.permits.clone(),
        };
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| ModelError::Inference {
                model: self.inner.id.clone(),
                message: format!("encoder task failed: {e}"),
            })?
    }
}

/// Announces an encoder pass to come within `within`, from a caller that knows of it before
/// it can start it (a request has arrived; its text is still to be read and tokenized): the
/// threads that share a pass are woken now rather than when it starts. On a virtual machine
/// waking a thread on an idle core can take longer than a short pass. Cheap: a system call
/// when they sleep, nothing when they are awake.
pub fn expect_pass(within: std::time::Duration) {
    team::expect(within);
}

/// Cosine similarity of two vectors (for normalised vectors, their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// The benchmarks' stand-in encoder: with `BENCH_RANDOM_MODEL=DIR` set (DIR holding the real
/// `tokenizer.json`), a MiniLM-shaped model with random weights written there by
/// [`write_random_minilm`] and loaded; `None` without the variable (load the real model then).
/// Timing only: its outputs mean nothing.
#[doc(hidden)]
pub fn bench_random_encoder() -> Option<Result<LocalEncoder, ModelError>> {
    let dir = PathBuf::from(std::env::var_os("BENCH_RANDOM_MODEL")?);
    eprintln!("(random encoder weights of MiniLM's shape: timing only)");
    Some(
        write_random_minilm(&dir).and_then(|()| LocalEncoder::load("local/all-minilm-l6-v2", &dir)),
    )
}

/// Writes a MiniLM-shaped BERT with random weights (`config.json`, `model.safetensors`) into
/// `dir`, for timing the forward pass on a machine that cannot fetch the real model (the
/// benches' `BENCH_RANDOM_MODEL`); `dir` must already hold the real `tokenizer.json`. Timing is
/// the same as with the real weights: no step depends on the values. Never use it for anything
/// but timing.
#[doc(hidden)]
pub fn write_random_minilm(dir: &Path) -> Result<(), ModelError> {
    let fail = |m: String| ModelError::Load {
        model: "random-minilm".into(),
        message: m,
    };
    let (d, ff, layers, vocab, pos) = (384usize, 1536usize, 6usize, 30522usize, 512usize);
    let config = serde_json::json!({
        "vocab_size": vocab, "hidden_size": d, "num_hidden_layers": layers, "num_attention_heads": 12,
        "intermediate_size": ff, "hidden_act": "gelu", "max_position_embeddings": pos, "type_vocab_size": 2,
        "layer_norm_eps": 1e-12, "hidden_dropout_prob": 0.1, "initializer_range": 0.02, "pad_token_id": 0,
        "model_type": "bert"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).map_err(|e| fail(e.to_string()))?;
    // (name, shape, how to fill: random, ones, zeros)
    let mut spec: Vec<(String, Vec<usize>, u8)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab, d],
            0,
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![pos, d],
            0,
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![2, d],
            0,
        ),
        ("embeddings.LayerNorm.weight".into(), vec![d], 1),
        ("embeddings.LayerNorm.bias".into(), vec![d], 2),
    ];
    for l in 0..layers {
        let p = format!("encoder.layer.{l}.");
        for n in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            spec.push((format!("{p}{n}.weight"), vec![d, d], 0));
            spec.push((format!("{p}{n}.bias"), vec![d], 0));
        }
        spec.push((format!("{p}intermediate.dense.weight"), vec![ff, d], 0));
        spec.push((format!("{p}intermediate.dense.bias"), vec![ff], 0));
        spec.push((format!("{p}output.dense.weight"), vec![d, ff], 0));
        spec.push((format!("{p}output.dense.bias"), vec![d], 0));
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            spec.push((format!("{p}{n}.weight"), vec![d], 1));
            spec.push((format!("{p}{n}.bias"), vec![d], 2));
        }
    }
    let dev = Device::Cpu;
    let mut t: std::collections::HashMap<String, Tensor> = std::collections::HashMap::new();
    for (name, shape, kind) in spec {
        let tensor = match kind {
            0 => Tensor::randn(0f32, 0.05, shape.as_slice(), &dev),
            1 => Tensor::ones(shape.as_slice(), DType::F32, &dev),
            _ => Tensor::zeros(shape.as_slice(), DType::F32, &dev),
        }
        .map_err(|e| fail(e.to_string()))?;
        t.insert(name, tensor);
    }
    candle_core::safetensors::save(&t, dir.join("model.safetensors"))
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_every_token_and_end_flush() {
        assert!(window_starts(0, 254, 192).is_empty());
        assert_eq!(window_starts(10, 254, 192), vec![0]);
        assert_eq!(window_starts(254, 254, 192), vec![0]);
        assert_eq!(window_starts(255, 254, 192), vec![0, 1]);
        let s = window_starts(1000, 254, 192);
        assert_eq!(*s.last().unwrap(), 1000 - 254);
        for w in s.windows(2) {
            assert!(w[1] - w[0] <= 192);
        }
    }

    #[test]
    fn mean_normalised_has_unit_norm() {
        let v = mean_normalised(&[1.0, 2.0, 3.0, 4.0], 2, 2);
        assert!((v.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((v[0] / v[1] - 2.0 / 3.0).abs() < 1e-6);
    }
}
