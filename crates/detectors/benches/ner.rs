//! Latency of the `pii.ner` detector on a ~300-character text, the figure the PII target is
//! about (≤ 10 ms on one core with the NER head), split into its parts: Unicode normalisation,
//! tokenizer + encoder (token states after the head's layer), and head + decoding. A full
//! 6-layer encoder pass over the same text is measured in the same run as the baseline the
//! earlier-layer choice is compared with.
//!
//! The combined figure the issue names (pii = rules + NER head, secrets and unicode together on
//! the text) comes first.
//!
//! `cargo bench -p emmental-detectors --bench ner` (BENCH_REPS sets the repetitions, default
//! 50; figures are medians after a warm-up). Threads are rayon pools of 1 and 2 threads; for a
//! clean single-core figure run under `taskset -c 0`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use emmental_detectors::ner::NerRecognizer;
use emmental_detectors::{Input, Recognizer, Resources, registry, unicode};
use emmental_models::catalog;
use emmental_models::fetch::Fetcher;
use emmental_models::local::LocalEncoder;
use emmental_models::local::encoder::bench_random_encoder;

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

const TEXT: &str = "Hi team, please send the signed contract to Jürgen Müller (Head of Procurement) at \
Siemens, 42 Baker Street, London, by Friday. If he is away, Dr. Sarah O'Connor from our Dublin office \
can sign instead; her assistant Tomás Pérez has the paperwork. Thanks, Anna Kowalska";

fn main() {
    let reps = std::env::var("BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50usize);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let entry = catalog::lookup(catalog::DEFAULT_ENCODER).unwrap();
    // BENCH_RANDOM_MODEL=DIR: random weights of MiniLM's shape, for timing where the real
    // model cannot be fetched.
    let encoder = Arc::new(match bench_random_encoder() {
        Some(random) => random.expect("random encoder"),
        None => {
            let dir = rt
                .block_on(Fetcher::from_env().resolve(entry))
                .expect("fetch MiniLM")
                .dir;
            LocalEncoder::load("local/all-minilm-l6-v2", &dir).unwrap()
        }
    });
    let res = Resources::with_encoder(encoder.clone());
    let detector = registry::build("pii.ner", &res).unwrap();
    // The figure: PII (rules + NER head) + secrets + Unicode on the same text.
    let pii = registry::build("pii", &res).unwrap();
    let secrets = registry::build("secrets", &res).unwrap();
    let hidden = registry::build("unicode", &res).unwrap();
    let recognizer = NerRecognizer::from_resources(&res).unwrap();
    let layer = recognizer.record()["config"]["layer"].as_u64().unwrap_or(6) as usize;
    let tokens = encoder.count_tokens(TEXT).unwrap();
    println!(
        "text: {} characters, {} word pieces (+2 special tokens); head reads layer {layer} of {}",
        TEXT.chars().count(),
        tokens,
        encoder.layers()
    );
    for threads in [1usize, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let normalise = median_ms(reps, || {
                black_box(unicode::normalize(TEXT));
            });
            let states = median_ms(reps, || {
                black_box(encoder.token_states_blocking(&[TEXT], layer).unwrap());
            });
            let full = median_ms(reps, || {
                black_box(encoder.token_states_blocking(&[TEXT], encoder.layers()).unwrap());
            });
            let recognise = median_ms(reps, || {
                black_box(recognizer.recognize(TEXT).unwrap());
            });
            let detect = median_ms(reps, || {
                black_box(detector.detect(&Input::text(TEXT)).unwrap());
            });
            let all = median_ms(reps, || {
                let input = Input::text(TEXT);
                black_box(pii.detect(&input).unwrap());
                black_box(secrets.detect(&input).unwrap());
                black_box(hidden.detect(&input).unwrap());
            });
            println!("{threads} thread(s): pii (rules + NER) + secrets + unicode {all:.2} ms");
            println!(
                "{threads} thread(s): pii.ner detect {detect:.2} ms = unicode {normalise:.3} ms + encoder to layer {layer} {states:.2} ms + head/decoding {:.2} ms   (all {} layers: {full:.2} ms)",
                (recognise - states).max(0.0),
                encoder.layers()
            );
        });
    }
    let spans = detector.detect(&Input::text(TEXT)).unwrap().spans;
    for s in spans {
        println!("  {:<15} {:?} ({:.2})", s.kind, s.text(TEXT), s.score);
    }
}
