//! A llama-architecture decoder in f32, loaded from a GGUF file and dequantized at load.
//!
//! SmolLM2-135M answers wrongly on the native quantized path (activation rounding); with the
//! weights dequantized to f32 it answers correctly. Owning the forward pass (rather than using
//! candle's `quantized_llama`) also gives white-box access: the logits at every position and the
//! residual stream after any layer, which watermarking, membership inference and probes need.

use candle_core::quantized::gguf_file;
use candle_core::{D, DType, Device, IndexOp, Module, Tensor};
use candle_nn::{Embedding, Linear, RmsNorm};

/// Shape of a llama model, read from GGUF metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_layer: usize,
    pub n_embd: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub n_ff: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub rope_theta: f32,
    pub rms_eps: f64,
}

impl LlamaConfig {
    pub fn from_gguf(ct: &gguf_file::Content) -> candle_core::Result<Self> {
        let get = |k: &str| {
            ct.metadata
                .get(k)
                .ok_or_else(|| candle_core::Error::Msg(format!("GGUF metadata lacks `{k}`")))
        };
        let u = |k: &str| get(k).and_then(|v| v.to_u32()).map(|v| v as usize);
        let arch = get("general.architecture")?.to_string()?.clone();
        if arch != "llama" {
            candle_core::bail!("architecture `{arch}` is not supported by the llama loader");
        }
        let n_embd = u("llama.embedding_length")?;
        let vocab_size = match u("llama.vocab_size") {
            Ok(v) => v,
            Err(_) => get("tokenizer.ggml.tokens")?.to_vec()?.len(),
        };
        Ok(Self {
            n_layer: u("llama.block_count")?,
            n_embd,
            n_head: u("llama.attention.head_count")?,
            n_kv_head: u("llama.attention.head_count_kv")?,
            n_ff: u("llama.feed_forward_length")?,
            vocab_size,
            context_length: u("llama.context_length").unwrap_or(2048),
            rope_theta: get("llama.rope.freq_base")
                .and_then(|v| v.to_f32())
                .unwrap_or(10_000.0),
            rms_eps: get("llama.attention.layer_norm_rms_epsilon")?.to_f32()? as f64,
        })
    }

    pub fn head_dim(&self) -> usize {
        self.n_embd / self.n_head
    }
}

struct Layer {
    attn_norm: RmsNorm,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    ffn_norm: RmsNorm,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// The per-sequence key/value cache. One per generation; the weights are shared.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// Number of positions already in the cache.
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a forward pass returns.
pub struct ForwardOutput {
    /// Logits, shape `(seq, vocab)` for all positions or `(1, vocab)` for the last one.
    pub logits: Tensor,
    /// The residual stream after the requested layer, shape `(seq, n_embd)`.
    pub hidden: Option<Tensor>,
}

/// A llama decoder with f32 weights.
pub struct Llama {
    pub config: LlamaConfig,
    embed: Embedding,
    layers: Vec<Layer>,
    norm: RmsNorm,
    lm_head: Linear,
    cos: Tensor,
    sin: Tensor,
    device: Device,
}

impl Llama {
    /// Reads every tensor from the GGUF file and dequantizes it to f32.
    pub fn from_gguf<R: std::io::Read + std::io::Seek>(
        ct: &gguf_file::Content,
        reader: &mut R,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let config = LlamaConfig::from_gguf(ct)?;
        let mut tensor = |name: &str| -> candle_core::Result<Tensor> {
            ct.tensor(reader, name, device)?
                .dequantize(device)?
                .to_dtype(DType::F32)
        };
        let norm = |w: Tensor| RmsNorm::new(w, config.rms_eps);
        let embed_w = tensor("token_embd.weight")?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut t = |s: &str| tensor(&format!("blk.{i}.{s}.weight"));
            layers.push(Layer {
                attn_norm: norm(t("attn_norm")?),
                wq: Linear::new(t("attn_q")?, None),
                wk: Linear::new(t("attn_k")?, None),
                wv: Linear::new(t("attn_v")?, None),
                wo: Linear::new(t("attn_output")?, None),
                ffn_norm: norm(t("ffn_norm")?),
                gate: Linear::new(t("ffn_gate")?, None),
                up: Linear::new(t("ffn_up")?, None),
                down: Linear::new(t("ffn_down")?, None),
            });
        }
        let out_norm = norm(tensor("output_norm.weight")?);
        // Tied embeddings (as in SmolLM2) have no separate output matrix.
        let lm_head = match ct.tensor_infos.contains_key("output.weight") {
            true => tensor("output.weight")?,
            false => embed_w.clone(),
        };
        let (cos, sin) = rope_tables(&config, device)?;
        Ok(Self {
            embed: Embedding::new(embed_w, config.n_embd),
            layers,
            norm: out_norm,
            lm_head: Linear::new(lm_head, None),
            cos,
            sin,
            device: device.clone(),
            config,
        })
    }

    pub fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.config.n_layer],
            len: 0,
        }
    }

    /// Runs `tokens` (appended after what `cache` holds) through the model.
    ///
    /// `all_logits` returns logits at every new position (for scoring a text) instead of only the
    /// last (for generation). `hidden_layer` = `Some(l)` also returns the residual stream after
    /// block `l` (0 = the embeddings, `n_layer` = after the last block, before the final norm).
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        all_logits: bool,
        hidden_layer: Option<usize>,
    ) -> candle_core::Result<ForwardOutput> {
        let seq = tokens.len();
        if seq == 0 {
            candle_core::bail!("forward needs at least one token");
        }
        let past = cache.len;
        if past + seq > self.config.context_length {
            candle_core::bail!(
                "sequence of {} tokens exceeds the context window of {}",
                past + seq,
                self.config.context_length
            );
        }
        if let Some(l) = hidden_layer
            && l > self.config.n_layer
        {
            candle_core::bail!(
                "layer {l} does not exist (the model has {} blocks)",
                self.config.n_layer
            );
        }
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mut x = self.embed.forward(&ids)?;
        let mut hidden = None;
        if hidden_layer == Some(0) {
            hidden = Some(x.squeeze(0)?);
        }
        let mask = if seq > 1 {
            Some(causal_mask(seq, past, &self.device)?)
        } else {
            None
        };
        let cos = self.cos.narrow(0, past, seq)?;
        let sin = self.sin.narrow(0, past, seq)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let h = layer.attn_norm.forward(&x)?;
            let attn =
                self.attention(layer, &h, &mut cache.layers[i], mask.as_ref(), &cos, &sin)?;
            x = (x + attn)?;
            let h = layer.ffn_norm.forward(&x)?;
            let ff = layer.down.forward(
                &(candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?,
            )?;
            x = (x + ff)?;
            if hidden_layer == Some(i + 1) {
                hidden = Some(x.squeeze(0)?);
            }
        }
        cache.len += seq;
        let x = self.norm.forward(&x)?.squeeze(0)?;
        let x = if all_logits { x } else { x.i(seq - 1..seq)? };
        let logits = self.lm_head.forward(&x)?;
        Ok(ForwardOutput { logits, hidden })
    }

    fn attention(
        &self,
        layer: &Layer,
        x: &Tensor,
        cache: &mut Option<(Tensor, Tensor)>,
        mask: Option<&Tensor>,
        cos: &Tensor,
        sin: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let c = &self.config;
        let (b, seq, _) = x.dims3()?;
        let hd = c.head_dim();
        let heads = |t: Tensor, n: usize| t.reshape((b, seq, n, hd))?.transpose(1, 2)?.contiguous();
        let q = heads(layer.wq.forward(x)?, c.n_head)?;
        let k = heads(layer.wk.forward(x)?, c.n_kv_head)?;
        let v = heads(layer.wv.forward(x)?, c.n_kv_head)?;
        // GGUF stores q/k rows permuted for llama.cpp's interleaved rotary embedding.
        let q = candle_nn::rotary_emb::rope_i(&q, cos, sin)?;
        let k = candle_nn::rotary_emb::rope_i(&k, cos, sin)?;
        let (k, v) = match cache.take() {
            Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
            None => (k, v),
        };
        *cache = Some((k.clone(), v.clone()));
        let rep = c.n_head / c.n_kv_head;
        let k = candle_transformers::utils::repeat_kv(k, rep)?.contiguous()?;
        let v = candle_transformers::utils::repeat_kv(v, rep)?.contiguous()?;
        let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let att = match mask {
            Some(m) => att.broadcast_add(m)?,
            None => att,
        };
        let att = candle_nn::ops::softmax_last_dim(&att)?;
        let y = att
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((b, seq, c.n_embd))?;
        layer.wo.forward(&y)
    }
}

fn rope_tables(c: &LlamaConfig, device: &Device) -> candle_core::Result<(Tensor, Tensor)> {
    let hd = c.head_dim();
    let inv: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1.0 / c.rope_theta.powf(i as f32 / hd as f32))
        .collect();
    let inv = Tensor::new(inv.as_slice(), device)?.unsqueeze(0)?;
    let pos = Tensor::arange(0u32, c.context_length as u32, device)?
        .to_dtype(DType::F32)?
        .unsqueeze(1)?;
    let freqs = pos.matmul(&inv)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Additive mask `(seq, past + seq)`: new position `i` sees cached positions and new ones `≤ i`.
fn causal_mask(seq: usize, past: usize, device: &Device) -> candle_core::Result<Tensor> {
    let total = past + seq;
    let data: Vec<f32> = (0..seq)
        .flat_map(|i| (0..total).map(move |j| if j > past + i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(data, (seq, total), device)
}

/// Log-softmax over the last dimension, returned as plain vectors (one per row).
pub fn log_softmax_rows(logits: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    candle_nn::ops::log_softmax(logits, D::Minus1)?.to_vec2::<f32>()
}
