//! Speed of the encoder-based classifiers: per-text latency at batch 1 and throughput at
//! batch 32 for a 128-token text, next to the raw encoder forward pass measured in the same run
//! (the baseline: a head adds little to what the encoder costs).
//!
//! Run: `cargo bench -p emmental-detectors --bench classifiers` (release profile). With
//! `BENCH_WEIGHTS=DIR` holding an injection head with a prescreen (`emmental detectors prescreen
//! injection --out DIR`), two last lines time injection with its prescreen and with the head
//! alone: on short everyday questions (which the prescreen may settle without the full pass)
//! and on the 128-token texts (which it does not: its own cost). Every
//! measured text is distinct (a permutation of the same words, so the same token count), so
//! the run-time embedding cache never answers; one line measures the cache on purpose.

use std::sync::Arc;
use std::time::{Duration, Instant};

use emmental_detectors::{Detector, Input, Resources, registry};
use emmental_models::local::LocalEncoder;
use emmental_models::local::encoder::bench_random_encoder;

const WORDS: &str = "the committee reviewed the annual report on water quality in the northern district and \
found that most samples met the national standard although several wells near the old factory showed \
raised levels of nitrate which the council plans to monitor every month while engineers design a new \
filter system for the school and the hospital that rely on those wells during the dry season when \
rainfall is low and demand rises sharply across farms towns and small villages nearby. the report also \
notes that two pumping stations need repairs before winter, that the budget for testing equipment was cut \
last year, and that volunteers from the local college have helped collect samples from rivers and lakes \
every spring since the program began, giving the council a record that now spans more than ten years";

/// A deterministic shuffle of the words (SplitMix-style mixing of the index).
fn permutation(words: &[&str], seed: u64) -> String {
    let mut w: Vec<&str> = words.to_vec();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in (1..w.len()).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        w.swap(i, (s % (i as u64 + 1)) as usize);
    }
    w.join(" ")
}

/// Words whose text is `tokens` tokens long for the encoder's tokenizer ([CLS] and [SEP]
/// included).
fn words_for(tokens: usize) -> Vec<&'static str> {
    let path =
        emmental_models::fetch::default_home().join("models/all-minilm-l6-v2/tokenizer.json");
    let mut tok = tokenizers::Tokenizer::from_file(&path)
        .expect("the encoder's tokenizer is in the model cache");
    // The shipped tokenizer.json pads everything to 128: count real tokens.
    tok.with_padding(None);
    let all: Vec<&str> = WORDS.split_whitespace().collect();
    let count = |n: usize| {
        tok.encode(all[..n].join(" "), true)
            .expect("tokenizes")
            .get_ids()
            .len()
    };
    let n = (1..=all.len())
        .find(|&n| count(n) >= tokens)
        .expect("enough words");
    assert_eq!(
        count(n),
        tokens,
        "pick words that reach exactly {tokens} tokens"
    );
    all[..n].to_vec()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // BENCH_RANDOM_MODEL=DIR: random weights of MiniLM's shape, for timing where the real
    // model cannot be fetched.
    let encoder: Arc<LocalEncoder> = match bench_random_encoder() {
        Some(random) => Arc::new(random.expect("random encoder")),
        None => rt
            .block_on(emmental_models::load_local_encoder(
                emmental_models::catalog::DEFAULT_ENCODER,
                &emmental_models::LoadOptions::default(),
            ))
            .expect("encoder loads"),
    };
    let res = Resources::with_encoder(encoder.clone());
    let words = words_for(128);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("classifier speed, 128-token texts, {cores} cores available to rayon");
    let mut seed = 0u64;
    let mut fresh = || {
        seed += 1;
        permutation(&words, seed)
    };
    const ROUNDS: usize = 30;
    const BATCH: usize = 32;

    // Warm up (first calls allocate).
    for _ in 0..3 {
        encoder.embed_blocking(&[fresh()]).unwrap();
    }
    let base1 = median(
        (0..ROUNDS)
            .map(|_| {
                let t = fresh();
                let s = Instant::now();
                encoder.embed_blocking(&[t]).unwrap();
                s.elapsed()
            })
            .collect(),
    );
    let batch: Vec<String> = (0..BATCH).map(|_| fresh()).collect();
    let s = Instant::now();
    encoder.embed_blocking(&batch).unwrap();
    let base32 = s.elapsed();
    println!(
        "{:<22} batch 1: {:>7.2} ms/text   batch {BATCH}: {:>7.2} ms/text ({:>6.1} texts/s)",
        "encoder (baseline)",
        ms(base1),
        ms(base32) / BATCH as f64,
        BATCH as f64 / base32.as_secs_f64()
    );
    let prompt = "Summarise this report for a newsletter.";
    let mut rows = Vec::new();
    for id in ["refusal", "harm", "injection"] {
        let d = registry::build(id, &res).expect("detector builds");
        let with_prompt = id != "injection";
        let one = median(
            (0..ROUNDS)
                .map(|_| {
                    let t = fresh();
                    let input = if with_prompt {
                        Input::answer(prompt, &t)
                    } else {
                        Input::text(&t)
                    };
                    let s = Instant::now();
                    d.detect(&input).unwrap();
                    s.elapsed()
                })
                .collect(),
        );
        let texts: Vec<String> = (0..BATCH).map(|_| fresh()).collect();
        let inputs: Vec<Input<'_>> = texts
            .iter()
            .map(|t| {
                if with_prompt {
                    Input::answer(prompt, t)
                } else {
                    Input::text(t)
                }
            })
            .collect();
        let s = Instant::now();
        d.detect_batch(&inputs).unwrap();
        let b = s.elapsed();
        println!(
            "{:<22} batch 1: {:>7.2} ms/text   batch {BATCH}: {:>7.2} ms/text ({:>6.1} texts/s)   {:.2}× the encoder at batch 1",
            id,
            ms(one),
            ms(b) / BATCH as f64,
            BATCH as f64 / b.as_secs_f64(),
            one.as_secs_f64() / base1.as_secs_f64()
        );
        rows.push((id, one, b));
    }
    // The shared cache: refusal then harm on the same answer. They share the prompt's
    // embedding; harm reads the answer as windows (its opening is the first of them), refusal
    // whole and its first 240 characters.
    let refusal = registry::build("refusal", &res).unwrap();
    let harm = registry::build("harm", &res).unwrap();
    let t = fresh();
    refusal.detect(&Input::answer(prompt, &t)).unwrap();
    let s = Instant::now();
    harm.detect(&Input::answer(prompt, &t)).unwrap();
    println!(
        "{:<22} {:>7.3} ms (harm after refusal on the same answer: the prompt from the shared cache, the windows encoded)",
        "harm after refusal",
        ms(s.elapsed())
    );
    // Injection's prescreen: short everyday questions, which it settles without the full
    // pass, and the 128-token texts, which it does not settle (its cost on top of the full
    // pass), each against the head alone on texts of the same kind (all distinct, so no cache
    // answers).
    let with_weights = Resources {
        encoder: Some(encoder.clone()),
        weights_dir: std::env::var_os("BENCH_WEIGHTS").map(std::path::PathBuf::from),
    };
    let inj = || {
        emmental_detectors::injection::build(
            emmental_detectors::injection::describe(),
            &with_weights,
        )
        .expect("injection builds")
    };
    let cascade = inj();
    let Some(bound) = cascade.head().prescreen.as_ref().map(|p| p.bound) else {
        println!(
            "(injection's head has no prescreen: BENCH_WEIGHTS=DIR takes one written by `emmental detectors prescreen injection --out DIR`)"
        );
        return summary(&rows, cores, base1, base32);
    };
    let alone = inj().with_prescreen(None);
    let time = |d: &emmental_detectors::classifier::EncoderClassifier,
                texts: Vec<String>|
     -> (Duration, usize) {
        let mut settled = 0;
        let times = texts
            .iter()
            .map(|t| {
                let s = Instant::now();
                let v = d.detect(&Input::text(t)).unwrap();
                let e = s.elapsed();
                settled += usize::from(v.score < bound);
                e
            })
            .collect();
        (median(times), settled)
    };
    let question = |n: usize| format!("How long should I boil an egg for a soft yolk? (case {n})");
    let (early, settled) = time(&cascade, (1000..1000 + ROUNDS).map(question).collect());
    let (full, _) = time(&alone, (2000..2000 + ROUNDS).map(question).collect());
    println!(
        "{:<22} {:>7.3} ms with its prescreen ({settled} of {ROUNDS} settled early), {:>7.3} ms the head alone: {:.1}× faster",
        "injection, a question",
        ms(early),
        ms(full),
        full.as_secs_f64() / early.as_secs_f64()
    );
    let (with, settled) = time(&cascade, (0..ROUNDS).map(|_| fresh()).collect());
    let (without, _) = time(&alone, (0..ROUNDS).map(|_| fresh()).collect());
    println!(
        "{:<22} {:>7.3} ms with its prescreen ({settled} of {ROUNDS} settled early), {:>7.3} ms the head alone: {:+.3} ms",
        "injection, 128 tokens",
        ms(with),
        ms(without),
        ms(with) - ms(without)
    );
    summary(&rows, cores, base1, base32);
}

/// The run's figures as one JSON line.
fn summary(rows: &[(&str, Duration, Duration)], cores: usize, base1: Duration, base32: Duration) {
    const BATCH: usize = 32;
    let summary = serde_json::json!({
        "tokens": 128,
        "cores": cores,
        "encoder_batch1_ms": ms(base1),
        "encoder_batch32_ms_per_text": ms(base32) / BATCH as f64,
        "classifiers": rows.iter().map(|(id, one, b)| serde_json::json!({
            "id": id,
            "batch1_ms": ms(*one),
            "batch32_ms_per_text": ms(*b) / BATCH as f64,
        })).collect::<Vec<_>>(),
    });
    println!("{summary}");
}
