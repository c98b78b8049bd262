//! Models for Emmental: an OpenAI-compatible HTTP client ([`openai`]), local white-box models
//! run with candle on the CPU ([`local`]), and the fetch-and-cache machinery that finds their
//! weights ([`fetch`], [`catalog`]).
//!
//! A model is named by a spec: `openai/<model>` (with a base URL for any OpenAI-compatible
//! server) or `local/<name>` for a catalog model run in-process ([`spec::ModelSpec`]).

pub mod catalog;
pub mod fetch;
pub mod local;
pub mod openai;
pub mod spec;

pub use spec::{LoadOptions, ModelSpec, load_embedder, load_local_encoder, load_model};

/// Errors of this crate: resolving, fetching and loading models.
#[derive(Debug, thiserror::Error)]
pub enum ModelsError {
    #[error("invalid model spec `{spec}`: {message}")]
    Spec { spec: String, message: String },
    #[error("unknown local model `{name}`; known models: {known}")]
    UnknownModel { name: String, known: String },
    #[error("model `{model}` could not be found; tried:\n  - {}\nFetch it with `emmental models fetch {model}` on a machine with network access, or point EMMENTAL_MODEL_PATH at a directory holding its files.", tried.join("\n  - "))]
    NotFound { model: String, tried: Vec<String> },
    #[error(transparent)]
    Model(#[from] emmental_core::ModelError),
}

/// Installs rustls' `ring` crypto provider for this process (once; later calls do nothing).
/// reqwest is built without a provider of its own, and panics when it builds a client without one.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means another part of the process installed one first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
