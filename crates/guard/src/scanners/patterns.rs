//! Banned substrings and banned patterns: the simplest layer, and often the one a policy team
//! asks for first.

use async_trait::async_trait;
use emmental_detectors::{Detection, Span};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GuardError, ScanContext, Scanner};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanSubstringsConfig {
    pub substrings: Vec<String>,
    #[serde(default)]
    pub case_sensitive: bool,
    /// Match whole words only ("ass" does not match "class").
    #[serde(default = "yes")]
    pub whole_words: bool,
}

fn yes() -> bool {
    true
}

pub struct BanSubstrings {
    cfg: BanSubstringsConfig,
    re: Regex,
}

impl BanSubstrings {
    pub fn new(cfg: BanSubstringsConfig) -> Result<Self, String> {
        if cfg.substrings.iter().any(|s| s.trim().is_empty()) || cfg.substrings.is_empty() {
            return Err("`substrings` must list at least one non-empty string".into());
        }
        let alts: Vec<String> = cfg
            .substrings
            .iter()
            .map(|s| {
                let e = regex::escape(s);
                // \b only where the banned text itself starts/ends with a word character.
                let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                match cfg.whole_words {
                    true => format!(
                        "{}{e}{}",
                        if word(s.chars().next()) { r"\b" } else { "" },
                        if word(s.chars().last()) { r"\b" } else { "" }
                    ),
                    false => e,
                }
            })
            .collect();
        let re = RegexBuilder::new(&alts.join("|"))
            .case_insensitive(!cfg.case_sensitive)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { cfg, re })
    }
}

#[async_trait]
impl Scanner for BanSubstrings {
    fn name(&self) -> &str {
        "ban_substrings"
    }
    fn args(&self) -> Value {
        json!({"substrings": self.cfg.substrings.len(), "case_sensitive": self.cfg.case_sensitive, "whole_words": self.cfg.whole_words})
    }
    fn incremental(&self) -> bool {
        true
    }
    fn has_spans(&self) -> bool {
        true
    }
    fn kinds(&self) -> Vec<String> {
        vec!["BANNED_SUBSTRING".into()]
    }
    async fn scan(&self, text: &str, _cx: &ScanContext) -> Result<Detection, GuardError> {
        let spans = self
            .re
            .find_iter(text)
            .map(|m| Span::from_bytes(text, m.start(), m.end(), "BANNED_SUBSTRING", 1.0))
            .collect();
        Ok(Detection::spans("banned", spans))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanRegexConfig {
    pub patterns: Vec<String>,
    /// Entity type of the spans (default `BANNED_PATTERN`).
    #[serde(default)]
    pub kind: Option<String>,
}

pub struct BanRegex {
    cfg: BanRegexConfig,
    res: Vec<Regex>,
}

impl BanRegex {
    pub fn new(cfg: BanRegexConfig) -> Result<Self, String> {
        if cfg.patterns.is_empty() {
            return Err("`patterns` must list at least one regular expression".into());
        }
        let res = cfg
            .patterns
            .iter()
            .map(|p| Regex::new(p).map_err(|e| format!("pattern {p:?}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Self { cfg, res })
    }
}

#[async_trait]
impl Scanner for BanRegex {
    fn name(&self) -> &str {
        "ban_regex"
    }
    fn args(&self) -> Value {
        json!({"patterns": self.cfg.patterns})
    }
    fn incremental(&self) -> bool {
        true
    }
    fn has_spans(&self) -> bool {
        true
    }
    fn kinds(&self) -> Vec<String> {
        vec![
            self.cfg
                .kind
                .as_deref()
                .unwrap_or("BANNED_PATTERN")
                .to_string(),
        ]
    }
    async fn scan(&self, text: &str, _cx: &ScanContext) -> Result<Detection, GuardError> {
        let kind = self.cfg.kind.as_deref().unwrap_or("BANNED_PATTERN");
        let spans = self
            .res
            .iter()
            .flat_map(|re| re.find_iter(text))
            .filter(|m| !m.is_empty())
            .map(|m| Span::from_bytes(text, m.start(), m.end(), kind, 1.0))
            .collect();
        Ok(Detection::spans("banned", spans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ban(words: &[&str]) -> BanSubstrings {
        BanSubstrings::new(BanSubstringsConfig {
            substrings: words.iter().map(|s| s.to_string()).collect(),
            case_sensitive: false,
            whole_words: true,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn whole_words_case_insensitive() {
        let b = ban(&["project titan", "ass"]);
        let cx = ScanContext::default();
        let d = b.scan("Tell me about PROJECT Titan.", &cx).await.unwrap();
        assert_eq!(d.spans.len(), 1);
        assert_eq!((d.spans[0].start, d.spans[0].end), (14, 27));
        assert_eq!(
            b.scan("a class of glass", &cx).await.unwrap().label,
            "clean"
        );
    }

    #[test]
    fn empty_lists_and_bad_patterns_are_config_errors() {
        assert!(
            BanSubstrings::new(BanSubstringsConfig {
                substrings: vec![],
                case_sensitive: false,
                whole_words: true
            })
            .is_err()
        );
        assert!(
            BanRegex::new(BanRegexConfig {
                patterns: vec!["(".into()],
                kind: None
            })
            .is_err()
        );
    }
}
