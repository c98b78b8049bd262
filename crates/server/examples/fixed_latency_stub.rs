//! An OpenAI-compatible upstream that answers every chat completion after a fixed delay, with
//! no concurrency limit of its own: the reference upstream for harness and proxy benchmarks.
//!
//! `cargo run --release -p emmental-server --example fixed_latency_stub -- 127.0.0.1:0 20`
//! (address, delay in ms); prints `serving on http://ADDR/v1` once listening.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use emmental_server::{ServeLimits, ServeState};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    let delay_ms: u64 = args.next().map(|d| d.parse()).transpose()?.unwrap_or(20);
    let model = common::EchoModel::with_delay(Duration::from_millis(delay_ms));
    let limits = ServeLimits {
        concurrency: 100_000,
        max_queue: 100_000,
        ..ServeLimits::default()
    };
    let state = ServeState::new("echo", Arc::new(common::Shared(model))).with_limits(limits)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving on http://{}/v1", listener.local_addr()?);
    emmental_server::serve(listener, state, async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await?;
    Ok(())
}
