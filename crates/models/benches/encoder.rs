//! Latency of the embedded encoder (all-MiniLM-L6-v2) at batch 1: the numbers the detectors'
//! speed targets are about.
//!
//! `cargo bench -p emmental-models --bench encoder` prints, for a 128-token and a ~70-token
//! text, on 1 and 2 threads: candle's `BertModel` (the old path, the baseline) and the native
//! forward pass in f32 and in its default bf16 multiplies, as milliseconds per text (median of `BENCH_REPS` runs, default 30, after a
//! warm-up), plus the effective GFLOP/s of each and, measured in the same run, a plain f32
//! matrix multiply through candle (128×384 · 384×1536, the shape of MiniLM's feed-forward
//! layer) as the machine's baseline. Token states at an earlier layer (what the NER head
//! reads) are timed too. Threads are rayon pools of 1 and 2 threads; for a clean single-core
//! figure run under `taskset -c 0`.

use std::hint::black_box;
use std::time::Instant;

use candle_core::{Device, Tensor};
use emmental_models::catalog;
use emmental_models::fetch::Fetcher;
use emmental_models::local::{EncoderBackend, LocalEncoder};

fn median_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// FLOPs of the linear layers of `layers` BERT layers (d=384, ff=1536) over `t` tokens, plus
/// attention (QKᵀ and PV).
fn flops(t: usize, layers: usize) -> f64 {
    let (d, ff) = (384.0, 1536.0);
    let t = t as f64;
    let linear = 2.0 * t * d * (3.0 * d + d + 2.0 * ff);
    let attention = 2.0 * 2.0 * t * t * d;
    layers as f64 * (linear + attention)
}

/// A text of exactly `n` word pieces: common words that are one piece each.
fn text_of(encoder: &LocalEncoder, n: usize) -> String {
    let words = [
        "the", "cat", "sat", "on", "a", "mat", "and", "then", "it", "went", "home", "to", "sleep",
    ];
    let text: Vec<&str> = (0..n).map(|i| words[i % words.len()]).collect();
    let text = text.join(" ");
    assert_eq!(encoder.count_tokens(&text).unwrap(), n);
    text
}

fn main() {
    let reps = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let entry = catalog::lookup(catalog::DEFAULT_ENCODER).unwrap();
    let dir = rt
        .block_on(Fetcher::from_env().resolve(entry))
        .expect("fetch MiniLM")
        .dir;
    let native =
        LocalEncoder::load_with("local/all-minilm-l6-v2", &dir, EncoderBackend::Native).unwrap();
    let candle =
        LocalEncoder::load_with("local/all-minilm-l6-v2", &dir, EncoderBackend::Candle).unwrap();
    let native_f32 =
        LocalEncoder::load_with("local/all-minilm-l6-v2", &dir, EncoderBackend::NativeF32).unwrap();
    let native_i8 =
        LocalEncoder::load_with("local/all-minilm-l6-v2", &dir, EncoderBackend::NativeInt8)
            .unwrap();
    let layers = native.layers();

    // 126 pieces + [CLS] + [SEP] = 128 tokens; 68 + 2 = 70 (about 300 characters of prose).
    let t128 = vec![text_of(&native, 126)];
    let t70 = vec![text_of(&native, 68)];
    let t70_ref: Vec<&str> = t70.iter().map(|s| s.as_str()).collect();

    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let a = Tensor::randn(0f32, 1.0, (128, 384), &Device::Cpu).unwrap();
            let b = Tensor::randn(0f32, 1.0, (384, 1536), &Device::Cpu).unwrap();
            let ms = median_ms(reps * 4, || {
                black_box(a.matmul(&b).unwrap());
            });
            let base = 2.0 * 128.0 * 384.0 * 1536.0 / ms / 1e6;
            println!("{threads} thread(s)  baseline candle f32 matmul 128x384x1536: {ms:.3} ms, {base:.1} GFLOP/s");
            for (name, texts, t) in [("128 tokens", &t128, 128usize), (" 70 tokens", &t70, 70)] {
                let c = median_ms(reps, || {
                    black_box(candle.embed_blocking(texts).unwrap());
                });
                let n = median_ms(reps, || {
                    black_box(native.embed_blocking(texts).unwrap());
                });
                let n32 = median_ms(reps, || {
                    black_box(native_f32.embed_blocking(texts).unwrap());
                });
                let n8 = median_ms(reps, || {
                    black_box(native_i8.embed_blocking(texts).unwrap());
                });
                let f = flops(t, layers);
                println!(
                    "{threads} thread(s)  {name} embed: candle {c:7.2} ms ({:5.1} GFLOP/s)   native f32 {n32:6.2} ms ({:5.1} GFLOP/s)   native bf16 (default) {n:6.2} ms ({:5.1} GFLOP/s, {:4.2} x baseline)   speed-up over candle {:.1}x, over f32 {:.2}x   native int8 {n8:6.2} ms ({:.2}x bf16's speed)",
                    f / c / 1e6,
                    f / n32 / 1e6,
                    f / n / 1e6,
                    f / n / 1e6 / base,
                    c / n,
                    n32 / n,
                    n / n8
                );
            }
            for layer in [layers, 4, 3] {
                let n = median_ms(reps, || {
                    black_box(native.token_states_blocking(&t70_ref, layer).unwrap());
                });
                println!("{threads} thread(s)   70 tokens token states after layer {layer}: native {n:6.2} ms");
            }
        });
    }
    let t32: Vec<String> = (0..32)
        .map(|i| format!("Sentence number {i} talks about safety evaluations of language models and their holes."))
        .collect();
    let c = median_ms(reps / 3 + 1, || {
        black_box(candle.embed_blocking(&t32).unwrap());
    });
    let n = median_ms(reps / 3 + 1, || {
        black_box(native.embed_blocking(&t32).unwrap());
    });
    println!(
        "default pool ({} threads)  batch of 32 short sentences: candle {c:.1} ms, native {n:.1} ms ({:.0} sentences/s)",
        rayon::current_num_threads(),
        32.0 / n * 1e3
    );
}
