//! OpenAI-compatible chat-completions client.

use std::sync::Arc;

use emmental_core::Model;

/// Builds an OpenAI-compatible model for `openai/<name>`.
pub fn from_spec(
    _name: &str,
    _base_url: Option<&str>,
    _key_env: Option<&str>,
) -> Result<Arc<dyn Model>, crate::ModelsError> {
    // Replaced when the HTTP client lands (branch `http`).
    Err(crate::ModelsError::Spec {
        spec: "openai/…".into(),
        message: "the HTTP client is being integrated".into(),
    })
}
