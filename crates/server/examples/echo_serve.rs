//! Serves the deterministic in-test echo model (and toy encoder) for checks with third-party
//! OpenAI clients: `cargo run -p emmental-server --example echo_serve -- 127.0.0.1:8099`, then
//! point a client at `http://127.0.0.1:8099/v1` with model `echo` (or `toy-encoder` for embeddings).

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;

use emmental_server::{ServeLimits, ServeState};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let model = common::EchoModel::with_delay(std::time::Duration::from_millis(20));
    let state = ServeState::new("echo", Arc::new(common::Shared(model)))
        .with_limits(ServeLimits::default())?
        .with_embedder("toy-encoder", Arc::new(common::ToyEmbedder));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving on http://{addr}/v1");
    emmental_server::serve(listener, state, async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await?;
    Ok(())
}
