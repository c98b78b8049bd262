//! Requests per second of `emmental serve` for a 1-token completion with the embedded model.
//!
//! `cargo bench -p emmental-server --bench serve_rps`. The server runs in-process on
//! 127.0.0.1 with the real SmolLM2; clients send non-streaming requests with `max_tokens: 1`
//! over HTTP at several concurrencies. The baseline, measured in the same run, is the same
//! request sent straight to the model (no HTTP): the ratio is what the server costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use emmental_core::{GenerateRequest, Model};
use emmental_models::{LoadOptions, load_model};
use emmental_server::{ServeLimits, ServeState};

const PROMPT: &str = "Answer with one word: is the sky blue?";

fn main() {
    emmental_models::ensure_crypto_provider();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8.0);
    let model: Arc<dyn Model> = load_model("local/smollm2-135m", &LoadOptions::default())
        .await
        .expect("load SmolLM2");
    let req = GenerateRequest::prompt(PROMPT)
        .temperature(0.0)
        .max_tokens(1);
    for _ in 0..3 {
        model.generate(&req).await.unwrap(); // warm-up
    }
    let direct = rate(secs, 1, {
        let model = model.clone();
        move || {
            let (model, req) = (model.clone(), req.clone());
            async move { model.generate(&req).await.is_ok() }
        }
    })
    .await;
    println!("baseline  direct model.generate, 1 token: {direct:.1} requests/s");

    let limits = ServeLimits {
        concurrency: 1,
        max_queue: 256,
        ..ServeLimits::default()
    };
    let state = ServeState::new("smollm2-135m", model)
        .with_limits(limits)
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/chat/completions",
        listener.local_addr().unwrap()
    );
    tokio::spawn(emmental_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    let body = serde_json::json!({
        "model": "smollm2-135m", "max_tokens": 1, "temperature": 0,
        "messages": [{"role": "user", "content": PROMPT}],
    });
    for concurrency in [1usize, 4, 16] {
        let rps = rate(secs, concurrency, {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            move || {
                let (client, url, body) = (client.clone(), url.clone(), body.clone());
                async move {
                    match client.post(&url).json(&body).send().await {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    }
                }
            }
        })
        .await;
        println!(
            "serve     HTTP 1-token completions, {concurrency:>2} clients: {rps:.1} requests/s ({:.2} x direct)",
            rps / direct
        );
    }
}

/// Runs `f` from `concurrency` loops for `secs` seconds; returns successful calls per second.
async fn rate<F, Fut>(secs: f64, concurrency: usize, f: F) -> f64
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let f = f.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < deadline {
                    if f().await { ok += 1 } else { failed += 1 }
                }
                (ok, failed)
            })
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    if failed > 0 {
        eprintln!("  ({failed} requests failed)");
    }
    ok as f64 / started.elapsed().as_secs_f64()
}
