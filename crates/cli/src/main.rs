//! `emmental`: assess and guard general-purpose AI systems. See `emmental --help`.

mod assess;
mod audit;
mod commands;
mod detectors;
mod eval;
mod guard;

use std::process::ExitCode;

use clap::Parser;

use commands::Cli;

fn main() -> ExitCode {
    // `emmental … | head` must end quietly when the reader goes away, as other command-line
    // tools do, instead of panicking on the next write to a closed pipe.
    #[cfg(unix)]
    // SAFETY: called before any thread starts; restores the default action for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.verbose);
    emmental_models::ensure_crypto_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info,emmental=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("EMMENTAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
