//! Model specs: `openai/<model>` (any OpenAI-compatible server, with `--base-url`) and
//! `local/<name>` (a catalog model run in-process, or `local/<path>.gguf` for your own file).

use std::path::PathBuf;
use std::sync::Arc;

use emmental_core::{Embedder, Model};

use crate::ModelsError;
use crate::catalog::{self, CatalogEntry, ModelKind};
use crate::fetch::Fetcher;
use crate::local::{LocalChatModel, LocalEncoder};

/// A parsed model spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// An OpenAI-compatible HTTP endpoint; the string is the model name sent upstream.
    OpenAi(String),
    /// A model from the catalog, run in-process.
    Local(String),
    /// A GGUF file of your own, run in-process (no checksum is known for it).
    LocalFile(PathBuf),
}

impl ModelSpec {
    pub fn parse(spec: &str) -> Result<Self, ModelsError> {
        let bad = |m: &str| ModelsError::Spec {
            spec: spec.to_string(),
            message: m.to_string(),
        };
        let (provider, name) = spec.split_once('/').ok_or_else(|| {
            bad("expected PROVIDER/NAME, e.g. `openai/gpt-4o-mini` or `local/smollm2-135m`")
        })?;
        if name.trim().is_empty() {
            return Err(bad("the model name after the `/` is empty"));
        }
        match provider {
            "openai" => Ok(ModelSpec::OpenAi(name.to_string())),
            "local" if name.ends_with(".gguf") => Ok(ModelSpec::LocalFile(PathBuf::from(name))),
            "local" => Ok(ModelSpec::Local(name.to_string())),
            other => Err(bad(&format!(
                "unknown provider `{other}`; use `openai` (any OpenAI-compatible server) or `local`"
            ))),
        }
    }
}

impl std::fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelSpec::OpenAi(m) => write!(f, "openai/{m}"),
            ModelSpec::Local(m) => write!(f, "local/{m}"),
            ModelSpec::LocalFile(p) => write!(f, "local/{}", p.display()),
        }
    }
}

/// How to reach or find a model.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// For `openai/…`: the server's base URL (default: OpenAI's).
    pub base_url: Option<String>,
    /// For `openai/…`: the environment variable that holds the API key (default `OPENAI_API_KEY`).
    pub api_key_env: Option<String>,
    /// For `openai/…`: requests in flight at once (default 32); a run asking for more
    /// concurrency than its client allows would silently be capped.
    pub max_concurrency: Option<usize>,
    /// For `local/…`: where model files are found or fetched.
    pub fetcher: Fetcher,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            base_url: None,
            api_key_env: None,
            max_concurrency: None,
            fetcher: Fetcher::from_env(),
        }
    }
}

fn catalog_entry(name: &str, kind: ModelKind) -> Result<&'static CatalogEntry, ModelsError> {
    let known = || {
        catalog::CATALOG
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| e.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match catalog::lookup(name) {
        Some(e) if e.kind == kind => Ok(e),
        _ => Err(ModelsError::UnknownModel {
            name: name.to_string(),
            known: known(),
        }),
    }
}

/// Builds a chat model from a spec, fetching local weights on first use.
pub async fn load_model(spec: &str, opts: &LoadOptions) -> Result<Arc<dyn Model>, ModelsError> {
    match ModelSpec::parse(spec)? {
        ModelSpec::OpenAi(name) => crate::openai::from_spec(&name, opts),
        ModelSpec::Local(name) => {
            let entry = catalog_entry(&name, ModelKind::Chat)?;
            let resolved = opts.fetcher.resolve(entry).await?;
            let path = resolved.file(entry.files[0].name);
            let id = format!("local/{}", entry.name);
            Ok(Arc::new(
                load_blocking(move || LocalChatModel::load(id, &path)).await?,
            ))
        }
        ModelSpec::LocalFile(path) => {
            if !path.is_file() {
                return Err(ModelsError::Spec {
                    spec: spec.to_string(),
                    message: format!("{} is not a file", path.display()),
                });
            }
            let id = format!("local/{}", path.display());
            Ok(Arc::new(
                load_blocking(move || LocalChatModel::load(id, &path)).await?,
            ))
        }
    }
}

/// Builds an encoder from a spec (`local/all-minilm-l6-v2`).
pub async fn load_embedder(
    spec: &str,
    opts: &LoadOptions,
) -> Result<Arc<dyn Embedder>, ModelsError> {
    match ModelSpec::parse(spec)? {
        ModelSpec::Local(name) => {
            let entry = catalog_entry(&name, ModelKind::Encoder)?;
            let resolved = opts.fetcher.resolve(entry).await?;
            let id = format!("local/{}", entry.name);
            Ok(Arc::new(
                load_blocking(move || LocalEncoder::load(id, &resolved.dir)).await?,
            ))
        }
        _ => Err(ModelsError::Spec {
            spec: spec.to_string(),
            message: "only local encoders are supported (`local/all-minilm-l6-v2`)".into(),
        }),
    }
}

/// Loads the embedded encoder as its concrete type, for callers that need more than sentence
/// vectors (token states for span detectors, blocking calls from worker threads).
pub async fn load_local_encoder(
    name: &str,
    opts: &LoadOptions,
) -> Result<Arc<LocalEncoder>, ModelsError> {
    let entry = catalog_entry(name, ModelKind::Encoder)?;
    let resolved = opts.fetcher.resolve(entry).await?;
    let id = format!("local/{}", entry.name);
    Ok(Arc::new(
        load_blocking(move || LocalEncoder::load(id, &resolved.dir)).await?,
    ))
}

async fn load_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, emmental_core::ModelError> + Send + 'static,
) -> Result<T, ModelsError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| {
            ModelsError::Model(emmental_core::ModelError::Load {
                model: "?".into(),
                message: format!("loader task failed: {e}"),
            })
        })?
        .map_err(ModelsError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(
            ModelSpec::parse("openai/gpt-4o-mini").unwrap(),
            ModelSpec::OpenAi("gpt-4o-mini".into())
        );
        assert_eq!(
            ModelSpec::parse("local/smollm2-135m").unwrap(),
            ModelSpec::Local("smollm2-135m".into())
        );
        assert_eq!(
            ModelSpec::parse("local/./m.gguf").unwrap(),
            ModelSpec::LocalFile("./m.gguf".into())
        );
        // Names may contain slashes (OpenRouter-style ids).
        assert_eq!(
            ModelSpec::parse("openai/meta/llama").unwrap(),
            ModelSpec::OpenAi("meta/llama".into())
        );
        for bad in ["smollm2", "local/", "hf/x", ""] {
            assert!(ModelSpec::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn unknown_local_model_lists_the_known_ones() {
        let err = catalog_entry("nope", ModelKind::Chat)
            .unwrap_err()
            .to_string();
        assert!(err.contains("smollm2-135m"), "{err}");
        assert!(catalog_entry("all-minilm-l6-v2", ModelKind::Chat).is_err());
    }
}
