//! A sentence encoder: BERT (all-MiniLM-L6-v2) with mean pooling and L2 normalisation.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};
use tokio::sync::Semaphore;

use emmental_core::{Embedder, ModelError};

/// Inputs longer than this many tokens are truncated (the model was trained with 256).
pub const MAX_TOKENS: usize = 256;
/// Texts are encoded in batches of at most this many.
pub const BATCH: usize = 32;

/// A BERT sentence encoder running in-process on the CPU.
pub struct LocalEncoder {
    id: String,
    model: Arc<BertModel>,
    tokenizer: Arc<Tokenizer>,
    dim: usize,
    permits: Arc<Semaphore>,
}

impl LocalEncoder {
    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(id: impl Into<String>, dir: &Path) -> Result<Self, ModelError> {
        let id = id.into();
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
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| fail(format!("tokenizer.json: {e}")))?;
        // The shipped tokenizer.json pads every input to 128; pad to the batch's longest instead.
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| fail(format!("tokenizer truncation: {e}")))?;
        let vb = VarBuilder::from_buffered_safetensors(
            read("model.safetensors")?,
            DType::F32,
            &Device::Cpu,
        )
        .map_err(|e| fail(format!("model.safetensors: {e}")))?;
        let dim = config.hidden_size;
        let model =
            BertModel::load(vb, &config).map_err(|e| fail(format!("cannot build BERT: {e}")))?;
        Ok(Self {
            id,
            model: Arc::new(model),
            tokenizer: Arc::new(tokenizer),
            dim,
            permits: Arc::new(Semaphore::new(1)),
        })
    }

    /// Encodes texts (blocking), in batches of [`BATCH`].
    pub fn embed_blocking(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            out.extend(self.embed_batch(chunk).map_err(|e| ModelError::Inference {
                model: self.id.clone(),
                message: e,
            })?);
        }
        Ok(out)
    }

    fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let len = enc.first().map(|e| e.get_ids().len()).unwrap_or(0);
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            enc.iter().flat_map(|e| f(e).to_vec()).collect()
        };
        let dev = Device::Cpu;
        let b = texts.len();
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(flat(&|e| e.get_ids()), (b, len), &dev)?;
            let types = ids.zeros_like()?;
            let mask = Tensor::from_vec(flat(&|e| e.get_attention_mask()), (b, len), &dev)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            // Mean over real tokens only: padding must not move the vector.
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2()
        };
        run().map_err(|e| e.to_string())
    }
}

#[async_trait]
impl Embedder for LocalEncoder {
    fn id(&self) -> &str {
        &self.id
    }
    fn dimension(&self) -> usize {
        self.dim
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        let this = Self {
            id: self.id.clone(),
            model: self.model.clone(),
            tokenizer: self.tokenizer.clone(),
            dim: self.dim,
            permits: self.permits.clone(),
        };
        let texts = texts.to_vec();
        tokio::task::spawn_blocking(move || this.embed_blocking(&texts))
            .await
            .map_err(|e| ModelError::Inference {
                model: self.id.clone(),
                message: format!("encoder task failed: {e}"),
            })?
    }
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
