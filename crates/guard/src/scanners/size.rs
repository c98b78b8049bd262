//! Size limits: characters and (approximate) tokens.

use std::sync::LazyLock;

use async_trait::async_trait;
use emmental_detectors::Detection;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GuardError, ScanContext, Scanner};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    #[serde(default)]
    pub max_chars: Option<usize>,
    /// Approximate tokens: words and punctuation marks, each counted once, and one more per 6
    /// characters of any longer word (close to BPE tokenisers on English text).
    #[serde(default)]
    pub max_tokens: Option<usize>,
}

pub struct SizeLimit {
    cfg: SizeConfig,
}

impl SizeLimit {
    pub fn new(cfg: SizeConfig) -> Result<Self, String> {
        if cfg.max_chars.is_none() && cfg.max_tokens.is_none() {
            return Err("set `max_chars`, `max_tokens` or both".into());
        }
        Ok(Self { cfg })
    }
}

/// A cheap token estimate (see [`SizeConfig::max_tokens`]).
pub fn approx_tokens(text: &str) -> usize {
    static PIECE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\w+|[^\w\s]").expect("valid"));
    PIECE
        .find_iter(text)
        .map(|m| 1 + m.as_str().chars().count().saturating_sub(1) / 6)
        .sum()
}

#[async_trait]
impl Scanner for SizeLimit {
    fn name(&self) -> &str {
        "size"
    }
    fn args(&self) -> Value {
        json!({"max_chars": self.cfg.max_chars, "max_tokens": self.cfg.max_tokens})
    }
    fn incremental(&self) -> bool {
        false
    }
    fn has_spans(&self) -> bool {
        false
    }
    async fn scan(&self, text: &str, _cx: &ScanContext) -> Result<Detection, GuardError> {
        let over_chars = self.cfg.max_chars.is_some_and(|m| text.chars().count() > m);
        let over_tokens = self.cfg.max_tokens.is_some_and(|m| approx_tokens(text) > m);
        Ok(match (over_chars, over_tokens) {
            (true, _) => Detection::class("too_many_chars", 1.0),
            (_, true) => Detection::class("too_many_tokens", 1.0),
            _ => Detection::class("ok", 0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_estimate_is_close_on_english() {
        assert_eq!(approx_tokens("Hello, world!"), 4);
        let n = approx_tokens("The quick brown fox jumps over the lazy dog.");
        assert!((9..=13).contains(&n), "{n}");
    }
}
