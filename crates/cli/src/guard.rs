//! `emmental guard` (the proxy), `emmental guard init` (the default policy) and `emmental scan`
//! (the same policy over text, without a proxy).

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use emmental_detectors::Resources;
use emmental_guard::config::DEFAULT_POLICY;
use emmental_guard::{Direction, Guard, GuardConfig, Outcome, ScanContext, Verdict};
use emmental_models::catalog::DEFAULT_ENCODER;
use emmental_models::fetch::Fetcher;
use emmental_models::{LoadOptions, load_local_encoder};
use emmental_server::guard::{GuardState, serve_guard};
use emmental_store::Store;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Args)]
pub struct GuardArgs {
    #[command(subcommand)]
    pub command: Option<GuardCommand>,
    /// The policy file.
    #[arg(
        long,
        default_value = "guard.toml",
        env = "EMMENTAL_GUARD_CONFIG",
        global = true
    )]
    pub config: PathBuf,
    /// Upstream base URL (overrides `upstream.url`), e.g. http://127.0.0.1:8080/v1.
    #[arg(long)]
    pub upstream: Option<String>,
    /// Address to listen on (overrides `server.addr`).
    #[arg(long)]
    pub addr: Option<String>,
    /// Store for the audit chain and the review queue (overrides `server.store`).
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// A directory holding the encoder's files (checked against their SHA-256).
    #[arg(long, env = "EMMENTAL_MODEL_PATH", global = true)]
    pub model_path: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Print the documented default policy: `emmental guard init > guard.toml`.
    Init,
    /// Check a policy file and list its layers, without starting the proxy.
    Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Side {
    Input,
    Output,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Texts to scan (each judged on its own).
    pub text: Vec<String>,
    /// A JSONL file (`-` for stdin) of `{"text": …}` lines (`"prompt"` optional: for output
    /// scans, the request the text answers).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The policy file (default: guard.toml; the built-in default policy when that is absent).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Which side's layers to apply.
    #[arg(long, value_enum, default_value_t = Side::Input)]
    pub direction: Side,
    /// Exit with status 1 when any text is blocked or escalated (for CI).
    #[arg(long)]
    pub fail_on_block: bool,
    #[arg(long, env = "EMMENTAL_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
}

fn load_config(path: &Path) -> Result<GuardConfig> {
    if !path.exists() {
        bail!(
            "no policy file at {}: write the documented default with `emmental guard init > guard.toml`, then edit it",
            path.display()
        );
    }
    Ok(GuardConfig::load(path)?)
}

/// A policy value as it is written in guard.toml (`fail_closed`, not `FailClosed`).
fn as_written(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Builds the policy's layers; errors name the policy file (`origin`).
async fn build_guard(
    config: GuardConfig,
    model_path: Option<PathBuf>,
    origin: &Path,
) -> Result<Guard> {
    let mut res = Resources::default();
    if Guard::needs_encoder(&config) {
        let mut fetcher = Fetcher::from_env();
        fetcher.explicit = model_path;
        fetcher.progress = std::io::stderr().is_terminal();
        let opts = LoadOptions {
            fetcher,
            ..LoadOptions::default()
        };
        res.encoder = Some(
            load_local_encoder(DEFAULT_ENCODER, &opts)
                .await
                .with_context(|| format!("the policy uses encoder-based layers, and the encoder local/{DEFAULT_ENCODER} cannot be loaded"))?,
        );
    }
    tokio::task::spawn_blocking(move || Guard::build(config, &res))
        .await?
        .with_context(|| format!("policy {}", origin.display()))
}

pub async fn guard(args: GuardArgs) -> Result<()> {
    match args.command {
        Some(GuardCommand::Init) => {
            print!("{DEFAULT_POLICY}");
            return Ok(());
        }
        Some(GuardCommand::Check) => {
            let config = load_config(&args.config)?;
            let guard = build_guard(config, args.model_path, &args.config).await?;
            for (side, d) in [("input", Direction::Input), ("output", Direction::Output)] {
                for l in guard.layers(d) {
                    println!(
                        "{side:<6} {:<16} {:<14} {:<9} threshold {:.2} {}",
                        l.cfg.id,
                        l.cfg.scanner,
                        as_written(&l.cfg.action),
                        l.cfg.threshold,
                        as_written(&l.cfg.on_error)
                    );
                    if let Some(more) = l.scanner.describe() {
                        println!("       {more}");
                    }
                    if l.cfg.beside_upstream {
                        println!(
                            "       beside the upstream: judges the request while the upstream already has it; its verdict comes before any of the answer, and a block discards the answer"
                        );
                    }
                }
            }
            println!(
                "input layers read: {} messages{}; output layers: every text of an answer",
                guard.config.scan_roles.join(", "),
                if guard.config.scan_tool_definitions {
                    ", tool definitions"
                } else {
                    ""
                }
            );
            println!("{}", guard.stream_summary());
            println!("policy {} is valid", args.config.display());
            return Ok(());
        }
        None => {}
    }
    let mut config = load_config(&args.config)?;
    if let Some(u) = args.upstream {
        config.upstream.url = u;
    }
    if let Some(a) = args.addr {
        config.server.addr = a;
    }
    if let Some(s) = args.store {
        config.server.store = s;
    }
    config.check_endpoints("--upstream/--addr")?;
    let store = Store::open(&config.server.store)
        .await
        .with_context(|| format!("cannot open the store {}", config.server.store.display()))?;
    let addr = config.server.addr.clone();
    let upstream = config.upstream.url.clone();
    let (n_in, n_out) = (config.input.len(), config.output.len());
    let guard = build_guard(config, args.model_path, &args.config).await?;
    let closing = store.clone();
    let state = GuardState::new(guard, store)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let layers =
        |n: usize, side: &str| format!("{n} {side} layer{}", if n == 1 { "" } else { "s" });
    println!(
        "emmental guard: http://{local}/v1 -> {upstream} ({}, {})",
        layers(n_in, "input"),
        layers(n_out, "output")
    );
    std::io::stdout().flush()?;
    // On Ctrl-C or SIGTERM (a container stopping): stop taking connections, finish the
    // requests in flight, then close the store, so the audit log is copied into its file.
    serve_guard(listener, state, crate::commands::shutdown_signal()).await?;
    closing.close().await;
    Ok(())
}

/// Texts `emmental scan` checks at once.
const SCAN_IN_FLIGHT: usize = 8;

#[derive(Deserialize)]
struct ScanLine {
    text: String,
    #[serde(default)]
    prompt: Option<String>,
}

pub async fn scan(args: ScanArgs) -> Result<()> {
    let file = match &args.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("guard.toml")).filter(|p| p.exists()),
    };
    let (config, origin) = match file {
        Some(p) => (load_config(&p)?, p),
        None => {
            eprintln!(
                "no guard.toml here: scanning with the built-in default policy (`emmental guard init` prints it)"
            );
            (
                GuardConfig::default_policy(),
                PathBuf::from("(the built-in default policy)"),
            )
        }
    };
    let mut lines: Vec<ScanLine> = args
        .text
        .iter()
        .map(|t| ScanLine {
            text: t.clone(),
            prompt: None,
        })
        .collect();
    if let Some(path) = &args.data {
        let reader: Box<dyn BufRead> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            Box::new(std::io::BufReader::new(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
            ))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            lines.push(serde_json::from_str(&line).with_context(|| {
                format!("{}:{}: expected {{\"text\": …}}", path.display(), i + 1)
            })?);
        }
    }
    if lines.is_empty() {
        bail!("nothing to scan: give texts as arguments or --data FILE.jsonl");
    }
    let guard = Arc::new(build_guard(config, args.model_path.clone(), &origin).await?);
    let direction = match args.direction {
        Side::Input => Direction::Input,
        Side::Output => Direction::Output,
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut stopped = 0;
    let mut warned = std::collections::HashSet::new();
    // Several texts in flight at once (a judge model's calls overlap), printed in order.
    let checks = futures::stream::iter(lines.into_iter().enumerate())
        .map(|(i, l)| {
            let guard = guard.clone();
            async move {
                let cx = ScanContext {
                    request_id: format!("scan-{i}"),
                    prompt: l.prompt,
                    ..Default::default()
                };
                let mut texts = vec![l.text];
                let checked = guard.check(direction, &mut texts, &cx).await;
                (i, texts, checked)
            }
        })
        .buffered(SCAN_IN_FLIGHT);
    futures::pin_mut!(checks);
    while let Some((i, mut texts, checked)) = checks.next().await {
        let (outcome, layer, reason) = match &checked.outcome {
            Outcome::Pass => ("pass", None, None),
            Outcome::Block { layer, reason } => ("block", Some(layer), Some(reason)),
            Outcome::Escalate { layer, reason } => ("escalate", Some(layer), Some(reason)),
        };
        if outcome != "pass" {
            stopped += 1;
        }
        // A layer that could not run is in the JSON; with `fail_open` it did not stop the
        // text, so say so where a person looks, once per layer.
        for d in checked.decisions.iter().filter(|d| d.error.is_some()) {
            if warned.insert(d.layer.clone()) {
                let effect = if d.verdict == Verdict::Allow {
                    "was skipped (on_error = fail_open)"
                } else {
                    "stopped the text (on_error = fail_closed)"
                };
                eprintln!(
                    "warning: layer `{}` could not run on text {} and {effect}: {}",
                    d.layer,
                    i + 1,
                    d.error.as_deref().unwrap_or("")
                );
            }
        }
        let line = json!({
            "outcome": outcome, "layer": layer, "reason": reason,
            "text": texts.pop(), "changed": checked.changed,
            "decisions": checked.decisions,
        });
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if args.fail_on_block && stopped > 0 {
        bail!("{stopped} text(s) blocked or escalated");
    }
    Ok(())
}
