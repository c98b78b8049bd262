//! Throughput of the embedded local models on this machine.
//!
//! `cargo bench -p emmental-models --bench local_models` prints, for SmolLM2-135M (f32):
//! prompt processing tokens/s (one forward pass over a long prompt) and generation tokens/s
//! (greedy decoding with the KV cache), and for all-MiniLM-L6-v2: sentences/s at batch 1 and 32.
//! Each figure is the median of several repetitions after a warm-up; a plain matrix-multiply
//! baseline measured in the same run gives a machine-independent ratio (GFLOP/s).

use std::hint::black_box;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use emmental_core::GenerateRequest;
use emmental_models::catalog;
use emmental_models::fetch::Fetcher;
use emmental_models::local::{LocalChatModel, LocalEncoder};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetcher = Fetcher::from_env();
    let reps = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize);

    // Baseline: f32 matmul 576x576 by 576x1536 (a SmolLM2 MLP projection for 576 tokens).
    let a = Tensor::randn(0f32, 1.0, (576, 576), &Device::Cpu).unwrap();
    let b = Tensor::randn(0f32, 1.0, (576, 1536), &Device::Cpu).unwrap();
    let gflops = median(
        (0..reps * 4)
            .map(|_| {
                let (_, d) = time(|| black_box(a.matmul(&b).unwrap()));
                2.0 * 576.0 * 576.0 * 1536.0 / d.as_secs_f64() / 1e9
            })
            .collect(),
    );
    println!("baseline  f32 matmul 576x576x1536: {gflops:.1} GFLOP/s");

    let chat = catalog::lookup(catalog::DEFAULT_CHAT).unwrap();
    let dir = rt.block_on(fetcher.resolve(chat)).expect("fetch SmolLM2");
    let (model, load) =
        time(|| LocalChatModel::load("local/smollm2-135m", &dir.file(chat.files[0].name)).unwrap());
    println!("smollm2   load + dequantize: {:.2} s", load.as_secs_f64());

    // Prompt processing: ~256 tokens in one forward pass.
    let text = "The quick brown fox jumps over the lazy dog. ".repeat(26);
    let tokens = model.tokenizer().encode(&text).unwrap();
    let pp = median(
        (0..reps)
            .map(|_| {
                let mut cache = model.llama().new_cache();
                let (_, d) = time(|| {
                    model
                        .llama()
                        .forward(&tokens, &mut cache, false, None)
                        .unwrap()
                });
                tokens.len() as f64 / d.as_secs_f64()
            })
            .collect(),
    );
    println!(
        "smollm2   prompt processing ({} tokens): {pp:.0} tokens/s ({:.2} tokens/s per GFLOP/s of baseline)",
        tokens.len(),
        pp / gflops
    );

    // Generation: 64 tokens, greedy, with the KV cache; a fixed-length answer via max_tokens.
    let req = GenerateRequest::prompt("Tell me a long story about a mouse who loved cheese.")
        .temperature(0.0)
        .max_tokens(64);
    let mut gen_rates = Vec::new();
    let mut pp_short = Vec::new();
    for _ in 0..reps {
        let (_, t) = model
            .generate_blocking(&req, None, |_| ControlFlow::Continue(()))
            .unwrap();
        gen_rates.push(t.generated_tokens as f64 / t.generation_time.as_secs_f64());
        pp_short.push(t.prompt_tokens as f64 / t.prompt_time.as_secs_f64());
    }
    let tg = median(gen_rates);
    println!(
        "smollm2   generation (64 tokens, KV cache): {tg:.1} tokens/s ({:.3} tokens/s per GFLOP/s of baseline)",
        tg / gflops
    );
    println!(
        "smollm2   chat prompt incl. template + tokenizer ({} tokens): {:.0} tokens/s",
        model.encode_chat(&req.messages).unwrap().len(),
        median(pp_short)
    );
    drop(model);

    let enc = catalog::lookup(catalog::DEFAULT_ENCODER).unwrap();
    let dir = rt.block_on(fetcher.resolve(enc)).expect("fetch MiniLM");
    let encoder = LocalEncoder::load("local/all-minilm-l6-v2", &dir.dir).unwrap();
    let sentences: Vec<String> = (0..64)
        .map(|i| format!("Sentence number {i} talks about safety evaluations of language models and their holes."))
        .collect();
    for batch in [1usize, 32] {
        let _ = encoder.embed_blocking(&sentences[..batch]).unwrap(); // warm-up
        let rate = median(
            (0..reps)
                .map(|_| {
                    let n = 64;
                    let (_, d) = time(|| {
                        for chunk in sentences[..n].chunks(batch) {
                            black_box(encoder.embed_blocking(chunk).unwrap());
                        }
                    });
                    n as f64 / d.as_secs_f64()
                })
                .collect(),
        );
        println!("minilm    batch {batch:>2}: {rate:.0} sentences/s (~20 tokens each)");
    }
}
