//! BERT's forward pass written out for the CPU (see [`super::kernels`] for why).
//!
//! The sequences of a batch are not padded: their tokens are stacked into one matrix for the
//! linear layers (which treat tokens independently) and attention runs per sequence, so a
//! batch of short and long texts costs what its tokens cost. Results match candle's
//! `BertModel` within float rounding (tested in `crates/models/tests/local_encoder.rs`).

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;

use super::kernels::{self, Aligned, Epilogue, MR, NR, PackedLinear, Precision, SendPtr, Tile};
use super::team;

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

struct Layer {
    /// Query, key and value stacked: one multiply instead of three.
    qkv: PackedLinear,
    attn_out: PackedLinear,
    ln_attn: Norm,
    up: PackedLinear,
    down: PackedLinear,
    ln_out: Norm,
}

pub(crate) struct NativeBert {
    dim: usize,
    heads: usize,
    eps: f32,
    max_positions: usize,
    word: Vec<f32>,
    position: Vec<f32>,
    token_type: Vec<f32>,
    ln_emb: Norm,
    layers: Vec<Layer>,
}

fn get(vb: &VarBuilder, shape: &[usize], name: &str) -> candle_core::Result<Vec<f32>> {
    vb.get(shape, name)?.flatten_all()?.to_vec1::<f32>()
}

fn norm(vb: &VarBuilder, dim: usize) -> candle_core::Result<Norm> {
    Ok(Norm {
        gamma: get(vb, &[dim], "weight")?,
        beta: get(vb, &[dim], "bias")?,
    })
}

fn linear(vb: &VarBuilder, n: usize, k: usize) -> candle_core::Result<(Vec<f32>, Vec<f32>)> {
    Ok((get(vb, &[n, k], "weight")?, get(vb, &[n], "bias")?))
}

impl NativeBert {
    /// Reads the weights of a BERT checkpoint (safetensors, `embeddings.*`, `encoder.layer.N.*`,
    /// optionally under `bert.`); the linear layers multiply in `precision`.
    pub fn load(vb: VarBuilder, cfg: &Config, precision: Precision) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let (d, ff) = (cfg.hidden_size, cfg.intermediate_size);
        if d % cfg.num_attention_heads != 0 {
            candle_core::bail!(
                "hidden size {d} is not a multiple of {} heads",
                cfg.num_attention_heads
            );
        }
        let e = vb.pp("embeddings");
        let word = get(&e, &[cfg.vocab_size, d], "word_embeddings.weight")?;
        let position = get(
            &e,
            &[cfg.max_position_embeddings, d],
            "position_embeddings.weight",
        )?;
        let token_type = get(
            &e,
            &[cfg.type_vocab_size, d],
            "token_type_embeddings.weight",
        )?;
        let ln_emb = norm(&e.pp("LayerNorm"), d)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let (wq, bq) = linear(&a.pp("self.query"), d, d)?;
            let (wk, bk) = linear(&a.pp("self.key"), d, d)?;
            let (wv, bv) = linear(&a.pp("self.value"), d, d)?;
            let w: Vec<f32> = [wq, wk, wv].concat();
            let b: Vec<f32> = [bq, bk, bv].concat();
            let (wo, bo) = linear(&a.pp("output.dense"), d, d)?;
            let (wu, bu) = linear(&l.pp("intermediate.dense"), ff, d)?;
            let (wd, bd) = linear(&l.pp("output.dense"), d, ff)?;
            layers.push(Layer {
                qkv: PackedLinear::new(&w, &b, 3 * d, d, precision),
                attn_out: PackedLinear::new(&wo, &bo, d, d, precision),
                ln_attn: norm(&a.pp("output.LayerNorm"), d)?,
                up: PackedLinear::new(&wu, &bu, ff, d, precision),
                down: PackedLinear::new(&wd, &bd, d, ff, precision),
                ln_out: norm(&l.pp("output.LayerNorm"), d)?,
            });
        }
        Ok(Self {
            dim: d,
            heads: cfg.num_attention_heads,
            eps: cfg.layer_norm_eps as f32,
            max_positions: cfg.max_position_embeddings,
            word,
            position,
            token_type,
            ln_emb,
            layers,
        })
    }

    /// Loads from a safetensors buffer.
    pub fn from_safetensors(
        bytes: Vec<u8>,
        cfg: &Config,
        precision: Precision,
    ) -> candle_core::Result<Self> {
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &Device::Cpu)?;
        Self::load(vb, cfg, precision)
    }

    /// Hidden states after layer `upto` (0 = the embeddings, `layers()` = the last layer) of
    /// each sequence, stacked row-major: `Σ len × dim`. Token ids must be below the vocabulary
    /// size and sequences no longer than the position table.
    pub fn forward(&self, seqs: &[&[u32]], upto: usize) -> Result<Vec<f32>, String> {
        // The embeddings alone (`upto` 0) are a table look-up with no parallel work.
        if upto == 0 {
            return self.forward_pass(seqs, upto);
        }
        // The caller's thread and the team's helpers share each loop of the pass.
        team::pass(|| self.forward_pass(seqs, upto))
    }

    fn forward_pass(&self, seqs: &[&[u32]], upto: usize) -> Result<Vec<f32>, String> {
        let d = self.dim;
        let vocab = self.word.len() / d;
        let m: usize = seqs.iter().map(|s| s.len()).sum();
        if upto > self.layers.len() {
            return Err(format!(
                "layer {upto} requested; the model has {}",
                self.layers.len()
            ));
        }
        // Every matrix of the pass starts on a cache line (see `Aligned`), and so do its rows.
        let mut x = Aligned::<f32>::zeroed(m * d);
        let mut row = 0;
        for s in seqs {
            if s.len() > self.max_positions {
                return Err(format!(
                    "sequence of {} tokens exceeds {} positions",
                    s.len(),
                    self.max_positions
                ));
            }
            for (pos, &id) in s.iter().enumerate() {
                let id = id as usize;
                if id >= vocab {
                    return Err(format!("token id {id} is outside the vocabulary ({vocab})"));
                }
                let out = &mut x[row * d..(row + 1) * d];
                let (w, p, t) = (
                    &self.word[id * d..][..d],
                    &self.position[pos * d..][..d],
                    &self.token_type[..d],
                );
                for j in 0..d {
                    out[j] = (w[j] + t[j]) + p[j];
                }
                kernels::layer_norm(out, &self.ln_emb.gamma, &self.ln_emb.beta, self.eps);
                row += 1;
            }
        }
        if m == 0 {
            return Ok(Vec::new());
        }
        let bounds: Vec<(usize, usize)> = seqs
            .iter()
            .scan(0, |start, s| {
                let b = (*start, s.len());
                *start += s.len();
                Some(b)
            })
            .filter(|b| b.1 > 0)
            .collect();
        let ff = self.layers.first().map(|l| l.up.n).unwrap_or(0);
        let mut qkv = Aligned::zeroed(m * 3 * d);
        let mut ctx = Aligned::zeroed(m * d);
        let mut h = Aligned::zeroed(m * d);
        let mut u = Aligned::zeroed(m * ff);
        for layer in &self.layers[..upto] {
            layer.qkv.forward(&x, m, &mut qkv, Epilogue::Bias);
            self.attention(&qkv, &bounds, &mut ctx);
            layer
                .attn_out
                .forward(&ctx, m, &mut h, Epilogue::BiasResidual(&x));
            self.norm_rows(&mut h, &layer.ln_attn);
            layer.up.forward(&h, m, &mut u, Epilogue::BiasGelu);
            layer
                .down
                .forward(&u, m, &mut x, Epilogue::BiasResidual(&h));
            self.norm_rows(&mut x, &layer.ln_out);
        }
        Ok(x.to_vec())
    }

    fn norm_rows(&self, x: &mut [f32], n: &Norm) {
        let d = self.dim;
        // Rows in chunks of 16 over the pass's threads.
        let rows = x.len() / d;
        let ptr = SendPtr(x.as_mut_ptr());
        team::for_each(rows.div_ceil(16), |c| {
            for r in c * 16..((c + 1) * 16).min(rows) {
                // SAFETY: chunks write disjoint rows of `x`, which outlives this call.
                let row = unsafe { std::slice::from_raw_parts_mut(ptr.ptr().add(r * d), d) };
                kernels::layer_norm(row, &n.gamma, &n.beta, self.eps);
            }
        });
    }

    /// Multi-head self-attention of each sequence (no mask: sequences are not padded).
    fn attention(&self, qkv: &[f32], bounds: &[(usize, usize)], ctx: &mut [f32]) {
        let (d, heads) = (self.dim, self.heads);
        let hd = d / heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let out = SendPtr(ctx.as_mut_ptr());
        let ld = 3 * d;
        let task = |(s0, t): (usize, usize), h: usize| {
            let tpad = t.div_ceil(NR) * NR;
            // Keys of this head as panels over the key index: scores = Q·Kᵀ is then the same
            // micro-kernel as a linear layer.
            let mut kh = vec![0f32; t * hd];
            let mut vh = vec![0f32; t * hd];
            for i in 0..t {
                let r = &qkv[(s0 + i) * ld..(s0 + i + 1) * ld];
                kh[i * hd..(i + 1) * hd].copy_from_slice(&r[d + h * hd..d + (h + 1) * hd]);
                vh[i * hd..(i + 1) * hd].copy_from_slice(&r[2 * d + h * hd..2 * d + (h + 1) * hd]);
            }
            let kp = kernels::pack_rows_as_columns(&kh, t, hd);
            // V (t × hd) as panels of NR columns: row i of panel p is V[i][p·NR..].
            let vpanels = hd.div_ceil(NR);
            let mut vp = Aligned::<f32>::zeroed(vpanels * t * NR);
            for i in 0..t {
                for c in 0..hd {
                    vp[(c / NR) * t * NR + i * NR + c % NR] = vh[i * hd + c];
                }
            }
            let mut scores = Aligned::<f32>::zeroed(t * tpad);
            let q = &qkv[s0 * ld + h * hd..];
            // On a cache line, as the multiplies' tiles (see `kernels::tile`).
            let mut tile = Tile([[0f32; NR]; MR]);
            let tile = &mut tile.0;
            for i0 in (0..t).step_by(MR) {
                let mr = MR.min(t - i0);
                for p in 0..tpad / NR {
                    kernels::micro(&mut tile[..mr], &q[i0 * ld..], ld, hd, &kp[p * hd * NR..]);
                    for (i, row) in tile[..mr].iter().enumerate() {
                        scores[(i0 + i) * tpad + p * NR..][..NR].copy_from_slice(row);
                    }
                }
                for i in i0..i0 + mr {
                    kernels::softmax(&mut scores[i * tpad..i * tpad + t], scale);
                }
                for p in 0..vpanels {
                    let cols = NR.min(hd - p * NR);
                    kernels::micro(
                        &mut tile[..mr],
                        &scores[i0 * tpad..],
                        tpad,
                        t,
                        &vp[p * t * NR..],
                    );
                    for (i, row) in tile[..mr].iter().enumerate() {
                        let off = (s0 + i0 + i) * d + h * hd + p * NR;
                        // SAFETY: each (sequence, head) task writes its own rows × columns of
                        // `ctx`, which outlives the parallel loop.
                        unsafe {
                            std::ptr::copy_nonoverlapping(row.as_ptr(), out.ptr().add(off), cols)
                        };
                    }
                }
            }
        };
        let tasks: Vec<((usize, usize), usize)> = bounds
            .iter()
            .flat_map(|&b| (0..heads).map(move |h| (b, h)))
            .collect();
        team::for_each(tasks.len(), |i| task(tasks[i].0, tasks[i].1));
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    #[test]
    #[ignore = "timing, run by hand with --release --ignored --nocapture"]
    fn forward_time() {
        let cfg: Config = serde_json::from_str(
            r#"{"vocab_size":30522,"hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,
            "intermediate_size":1536,"hidden_act":"gelu","max_position_embeddings":512,"type_vocab_size":2,
            "layer_norm_eps":1e-12,"hidden_dropout_prob":0.1,"initializer_range":0.02,"pad_token_id":0}"#,
        )
        .unwrap();
        let vb = VarBuilder::zeros(DType::F32, &Device::Cpu);
        for precision in [Precision::F32, Precision::Bf16] {
            println!("{precision:?}");
            let m = NativeBert::load(vb.clone(), &cfg, precision).unwrap();
            let ids: Vec<u32> = (0..128).map(|i| 1000 + i).collect();
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                let mut v = Vec::new();
                for _ in 0..30 {
                    let t = std::time::Instant::now();
                    std::hint::black_box(m.forward(&[&ids], 6).unwrap());
                    v.push(t.elapsed().as_secs_f64() * 1e3);
                }
                v.sort_by(f64::total_cmp);
                println!(
                    "{threads} threads: forward 128 tokens {:.2} ms (min {:.2})",
                    v[15], v[0]
                );
                let (mm, d, ff) = (128usize, 384usize, 1536usize);
                let x = vec![0.1f32; mm * d];
                let mut qkv = vec![0f32; mm * 3 * d];
                let mut ctx = vec![0f32; mm * d];
                let mut h = vec![0f32; mm * d];
                let mut u = vec![0f32; mm * ff];
                let mut xo = vec![0f32; mm * d];
                let mut t = [0f64; 6];
                // One pass, so that the loops below share the team as a forward pass does.
                team::pass(|| for _ in 0..20 {
                    for layer in &m.layers {
                        let c = std::time::Instant::now();
                        layer.qkv.forward(&x, mm, &mut qkv, Epilogue::Bias);
                        t[0] += c.elapsed().as_secs_f64();
                        let c = std::time::Instant::now();
                        m.attention(&qkv, &[(0, mm)], &mut ctx);
                        t[1] += c.elapsed().as_secs_f64();
                        let c = std::time::Instant::now();
                        layer
                            .attn_out
                            .forward(&ctx, mm, &mut h, Epilogue::BiasResidual(&x));
                        t[2] += c.elapsed().as_secs_f64();
                        let c = std::time::Instant::now();
                        m.norm_rows(&mut h, &layer.ln_attn);
                        t[3] += c.elapsed().as_secs_f64();
                        let c = std::time::Instant::now();
                        layer.up.forward(&h, mm, &mut u, Epilogue::BiasGelu);
                        t[4] += c.elapsed().as_secs_f64();
                        let c = std::time::Instant::now();
                        layer
                            .down
                            .forward(&u, mm, &mut xo, Epilogue::BiasResidual(&h));
                        t[5] += c.elapsed().as_secs_f64();
                    }
                });
                println!(
                    "per forward ms: qkv {:.2} attn {:.2} out {:.2} ln {:.2} up {:.2} down {:.2}",
                    t[0] * 50.0,
                    t[1] * 50.0,
                    t[2] * 50.0,
                    t[3] * 50.0,
                    t[4] * 50.0,
                    t[5] * 50.0
                );
            });
            }
        }
    }
}
