//! `guard.toml`: the policy. Every field is documented in [`DEFAULT_POLICY`], which
//! `emmental guard init` prints; unknown fields are errors, so a typo never silently disables a
//! safeguard.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::GuardError;

/// What a layer does when its scanner's score reaches the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Record the finding only.
    Allow,
    /// Let the text through, mark the exchange (audit, metrics, anomaly monitor).
    Flag,
    /// Replace the found spans with typed placeholders (`<EMAIL_ADDRESS>`).
    Redact,
    /// Stop the exchange with an error naming the layer.
    Block,
    /// Send the exchange to human review.
    Escalate,
    /// Replace the text by its Unicode-normalised form (the `unicode` layer only).
    Normalize,
}

/// What a layer does when its scanner fails (a fault, not a finding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Treat the text as if the layer had found nothing (and audit the failure).
    FailOpen,
    /// Block the exchange.
    #[default]
    FailClosed,
}

/// One layer as written in the config: a scanner, its parameters, a threshold and an action.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerConfig {
    /// Stable id used in audit records, metrics and error bodies (default: the scanner name).
    pub id: String,
    /// A detector id (`pii`, `pii.rules`, `secrets`, `injection`, `harm`, `refusal`, `unicode`)
    /// or a built-in scanner (`ban_substrings`, `ban_regex`, `topics`, `size`, `canary`,
    /// `exfiltration`, `code`).
    pub scanner: String,
    pub action: Action,
    /// Score at or above which the action applies (default 0.5).
    pub threshold: f32,
    pub on_error: OnError,
    /// An input layer that judges the request while the upstream already works on it
    /// (`beside_upstream = true`; allow, flag or block only). Its verdict is awaited before
    /// any of the answer leaves, and a block then discards the answer; but the upstream has
    /// seen the request. See [`crate::Guard::check`].
    pub beside_upstream: bool,
    /// Scanner-specific parameters (checked by the scanner's own config type).
    pub params: toml::Table,
}

const LAYER_KEYS: &[&str] = &[
    "id",
    "scanner",
    "action",
    "threshold",
    "on_error",
    "beside_upstream",
];

impl<'de> Deserialize<'de> for LayerConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut t = toml::Table::deserialize(d)?;
        let scanner = match t.remove("scanner") {
            Some(toml::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("`scanner` must be a string")),
            None => return Err(D::Error::custom("a layer needs `scanner = \"…\"`")),
        };
        let id = match t.remove("id") {
            Some(toml::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("`id` must be a string")),
            None => scanner.clone(),
        };
        let action: Action = t
            .remove("action")
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "layer `{id}` needs `action` (allow, flag, redact, block, escalate, normalize)"
                ))
            })?
            .try_into()
            .map_err(|e| D::Error::custom(format!("layer `{id}`: action: {e}")))?;
        let threshold = match t.remove("threshold") {
            Some(toml::Value::Float(f)) => f as f32,
            Some(toml::Value::Integer(i)) => i as f32,
            Some(_) => {
                return Err(D::Error::custom(format!(
                    "layer `{id}`: threshold must be a number"
                )));
            }
            None => 0.5,
        };
        if !(0.0..=1.0).contains(&threshold) {
            return Err(D::Error::custom(format!(
                "layer `{id}`: threshold {threshold} is outside 0..1"
            )));
        }
        let on_error: OnError = match t.remove("on_error") {
            Some(v) => v
                .try_into()
                .map_err(|e| D::Error::custom(format!("layer `{id}`: on_error: {e}")))?,
            None => OnError::default(),
        };
        let beside_upstream = match t.remove("beside_upstream") {
            Some(toml::Value::Boolean(b)) => b,
            Some(_) => {
                return Err(D::Error::custom(format!(
                    "layer `{id}`: beside_upstream must be true or false"
                )));
            }
            None => false,
        };
        debug_assert!(LAYER_KEYS.iter().all(|k| !t.contains_key(*k)));
        Ok(LayerConfig {
            id,
            scanner,
            action,
            threshold,
            on_error,
            beside_upstream,
            params: t,
        })
    }
}

impl Serialize for LayerConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = self.params.clone();
        t.insert("id".into(), self.id.clone().into());
        t.insert("scanner".into(), self.scanner.clone().into());
        t.insert(
            "action".into(),
            toml::Value::try_from(self.action).map_err(serde::ser::Error::custom)?,
        );
        t.insert("threshold".into(), (self.threshold as f64).into());
        t.insert(
            "on_error".into(),
            toml::Value::try_from(self.on_error).map_err(serde::ser::Error::custom)?,
        );
        if self.beside_upstream {
            t.insert("beside_upstream".into(), true.into());
        }
        t.serialize(s)
    }
}

/// The upstream model server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL of the OpenAI-compatible API, e.g. `http://127.0.0.1:8080/v1`.
    pub url: String,
    /// Environment variable holding the upstream's API key (sent as a bearer token). Clients'
    /// own keys are never forwarded.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds to wait for the upstream's answer (whole answer, or between stream chunks).
    #[serde(default = "default_upstream_timeout")]
    pub timeout_s: f64,
    /// Largest answer accepted from the upstream, in bytes (a plain answer's body, or all of a
    /// stream's events): a larger one ends the exchange with a 502 instead of filling the
    /// guard's memory.
    #[serde(default = "default_answer_bytes")]
    pub max_answer_bytes: u64,
}

fn default_upstream_timeout() -> f64 {
    120.0
}

fn default_answer_bytes() -> u64 {
    16 * 1024 * 1024
}

/// How the proxy listens and where it keeps its records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_addr")]
    pub addr: String,
    /// SQLite store for the audit chain and the review queue.
    #[serde(default = "default_store")]
    pub store: PathBuf,
    /// Environment variable holding the admin token for `/emmental/review/…` (the endpoints
    /// are off when it is unset).
    #[serde(default = "default_admin_env")]
    pub admin_token_env: String,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
}

fn default_addr() -> String {
    "127.0.0.1:8787".into()
}
fn default_store() -> PathBuf {
    PathBuf::from("emmental.db")
}
fn default_admin_env() -> String {
    "EMMENTAL_ADMIN_TOKEN".into()
}
fn default_body() -> usize {
    1 << 20
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: default_addr(),
            store: default_store(),
            admin_token_env: default_admin_env(),
            max_body_bytes: default_body(),
        }
    }
}

/// Per-key request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Requests per minute per API key (0 = unlimited). Requests without a key share one bucket.
    #[serde(default)]
    pub requests_per_minute: u32,
    /// Requests a key may make at once above the steady rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_burst() -> u32 {
    20
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 0,
            burst: default_burst(),
        }
    }
}

/// What an escalated exchange does while a human decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewMode {
    /// Hold the request up to `hold_s` seconds for a decision; past that, answer the holding
    /// message.
    Hold,
    /// Answer the holding message at once; the decision is recorded for later.
    #[default]
    Message,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewConfig {
    #[serde(default)]
    pub mode: ReviewMode,
    #[serde(default = "default_hold")]
    pub hold_s: f64,
    /// The answer given while an exchange awaits review, or when nobody decided in time.
    #[serde(default = "default_holding_message")]
    pub message: String,
    /// The answer given when a reviewer rejected the exchange (hold mode).
    #[serde(default = "default_rejected_message")]
    pub rejected_message: String,
}

fn default_hold() -> f64 {
    30.0
}
fn default_holding_message() -> String {
    "This request needs a human review before it can be answered. Please try again later.".into()
}
fn default_rejected_message() -> String {
    "A reviewer declined this request; it will not be answered.".into()
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self {
            mode: ReviewMode::default(),
            hold_s: default_hold(),
            message: default_holding_message(),
            rejected_message: default_rejected_message(),
        }
    }
}

/// The anomaly monitor: per API key and layer, the share of requests that trip the layer,
/// compared with that key's own baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests over which the baseline forgets half of its past (EWMA half-life).
    #[serde(default = "default_half_life")]
    pub baseline_half_life: f64,
    /// Requests over which the recent rate is averaged.
    #[serde(default = "default_recent")]
    pub recent_half_life: f64,
    /// Requests a key must have made before it can raise an alert.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// Alert when the recent trip rate exceeds the baseline by this many baseline standard
    /// deviations (binomial, with a floor of 1% on the baseline rate).
    #[serde(default = "default_sigmas")]
    pub sigmas: f64,
    /// URL that receives each alert as a JSON POST (optional).
    #[serde(default)]
    pub webhook: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_half_life() -> f64 {
    500.0
}
fn default_recent() -> f64 {
    20.0
}
fn default_min_requests() -> u64 {
    50
}
fn default_sigmas() -> f64 {
    5.0
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            baseline_half_life: default_half_life(),
            recent_half_life: default_recent(),
            min_requests: default_min_requests(),
            sigmas: default_sigmas(),
            webhook: None,
        }
    }
}

/// How streamed answers are scanned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// Characters held back before release: any entity up to this long is seen whole by the
    /// output layers before any of it reaches the client.
    #[serde(default = "default_window")]
    pub window_chars: usize,
    /// What a layer that judges the whole answer (a classifier, `size`, `topics`) and may
    /// block or escalate, or any escalating layer, does to a stream.
    #[serde(default)]
    pub mode: StreamMode,
}

/// See [`StreamConfig::mode`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// The whole answer is held and checked at the end: nothing leaves before a block or a
    /// reviewer could stop it (no streaming for the client).
    #[default]
    Hold,
    /// Text flows: before each release the whole-text layers judge the answer so far. A block
    /// stops the stream; an escalation stops releasing, and the rest of the answer waits for
    /// the reviewer (what was sent before stays sent).
    Progressive,
}

fn default_window() -> usize {
    128
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            window_chars: default_window(),
            mode: StreamMode::default(),
        }
    }
}

/// The whole policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardConfig {
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub review: ReviewConfig,
    #[serde(default)]
    pub anomaly: AnomalyConfig,
    #[serde(default)]
    pub stream: StreamConfig,
    /// Message roles whose texts the input layers scan: content, and the arguments of an
    /// assistant message's tool calls (default: user, and tool results under both their
    /// names, `tool` and the older `function`).
    #[serde(default = "default_roles")]
    pub scan_roles: Vec<String>,
    /// Whether the input layers also scan the descriptions in the request's tool definitions
    /// (`tools`, `functions`), which the model reads too. Off by default: descriptions are
    /// written as instructions, so an injection detector flags many honest ones; turn it on
    /// when tool definitions come from parties you do not trust (third-party tool servers).
    #[serde(default)]
    pub scan_tool_definitions: bool,
    /// Layers applied to requests, before the upstream is called.
    #[serde(default)]
    pub input: Vec<LayerConfig>,
    /// Layers applied to answers, before they reach the client.
    #[serde(default)]
    pub output: Vec<LayerConfig>,
}

fn default_roles() -> Vec<String> {
    vec!["user".into(), "tool".into(), "function".into()]
}

impl GuardConfig {
    /// Parses a policy; `origin` names it in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Self, GuardError> {
        let cfg: GuardConfig =
            toml::from_str(text).map_err(|e| GuardError::config(origin, e.to_string()))?;
        cfg.check(origin)?;
        Ok(cfg)
    }

    pub fn load(path: &Path) -> Result<Self, GuardError> {
        let text = std::fs::read_to_string(path).map_err(|e| GuardError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    fn check(&self, origin: &str) -> Result<(), GuardError> {
        let mut seen = std::collections::HashSet::new();
        for (side, layers) in [("input", &self.input), ("output", &self.output)] {
            for l in layers.iter() {
                if !seen.insert((side, l.id.as_str())) {
                    return Err(GuardError::config(
                        origin,
                        format!(
                            "two {side} layers have the id `{}`; give each its own `id`",
                            l.id
                        ),
                    ));
                }
            }
        }
        if let Some(l) = self.output.iter().find(|l| l.beside_upstream) {
            return Err(GuardError::config(
                origin,
                format!(
                    "output layer `{}`: beside_upstream is for input layers (an answer has no upstream call to overlap)",
                    l.id
                ),
            ));
        }
        for l in self.input.iter().filter(|l| l.beside_upstream) {
            if !matches!(l.action, Action::Allow | Action::Flag | Action::Block) {
                return Err(GuardError::config(
                    origin,
                    format!(
                        "input layer `{}`: a layer beside the upstream may only allow, flag or block (its verdict comes after the request has gone out, too late to redact, normalise or hold it for review)",
                        l.id
                    ),
                ));
            }
        }
        for r in &self.scan_roles {
            if !matches!(
                r.as_str(),
                "system" | "developer" | "user" | "assistant" | "tool" | "function"
            ) {
                return Err(GuardError::config(
                    origin,
                    format!("scan_roles: unknown role `{r}`"),
                ));
            }
        }
        if self.upstream.timeout_s <= 0.0 {
            return Err(GuardError::config(
                origin,
                "upstream.timeout_s must be positive",
            ));
        }
        if self.upstream.max_answer_bytes == 0 {
            return Err(GuardError::config(
                origin,
                "upstream.max_answer_bytes must be at least 1",
            ));
        }
        if self.stream.window_chars == 0 {
            return Err(GuardError::config(
                origin,
                "stream.window_chars must be at least 1",
            ));
        }
        self.check_endpoints(origin)
    }

    /// Checks `upstream.url` and `server.addr` (again after the command line replaced them),
    /// so that `guard check` refuses what the proxy would refuse at start.
    pub fn check_endpoints(&self, origin: &str) -> Result<(), GuardError> {
        let url = &self.upstream.url;
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
        match host {
            None => {
                return Err(GuardError::config(
                    origin,
                    format!(
                        "upstream.url `{url}` must start with http:// or https:// (e.g. http://127.0.0.1:8080/v1)"
                    ),
                ));
            }
            Some(h) if h.is_empty() || h.contains(char::is_whitespace) => {
                return Err(GuardError::config(
                    origin,
                    format!(
                        "upstream.url `{url}` has no valid host (e.g. http://127.0.0.1:8080/v1)"
                    ),
                ));
            }
            Some(_) => {}
        }
        let addr = &self.server.addr;
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(GuardError::config(
                origin,
                format!(
                    "server.addr `{addr}` must be HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:8787)"
                ),
            ));
        }
        Ok(())
    }

    /// The documented default policy.
    pub fn default_policy() -> Self {
        Self::parse("the default policy", DEFAULT_POLICY).expect("the default policy parses")
    }
}

/// The policy `emmental guard init` prints: every field, documented.
pub const DEFAULT_POLICY: &str = include_str!("default_guard.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_parses_and_has_layers_on_both_sides() {
        let cfg = GuardConfig::default_policy();
        assert!(!cfg.input.is_empty() && !cfg.output.is_empty());
        assert_eq!(cfg.input[0].scanner, "unicode", "normalisation comes first");
        // Round trip through TOML keeps every layer.
        let text = toml::to_string(&cfg).unwrap();
        assert_eq!(GuardConfig::parse("rt", &text).unwrap(), cfg);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let bad = "[upstream]\nurl = \"http://x/v1\"\ntimeout = 3\n";
        let err = GuardConfig::parse("g.toml", bad).unwrap_err().to_string();
        assert!(err.contains("timeout"), "{err}");
        let bad =
            "[upstream]\nurl = \"http://x/v1\"\n[[input]]\nscanner = \"pii\"\naction = \"shout\"\n";
        let err = GuardConfig::parse("g.toml", bad).unwrap_err().to_string();
        assert!(err.contains("shout") || err.contains("action"), "{err}");
        let bad = "[upstream]\nurl = \"http://x/v1\"\n[[input]]\nscanner = \"pii\"\naction = \"block\"\nthreshold = 2.0\n";
        assert!(GuardConfig::parse("g.toml", bad).is_err());
    }

    #[test]
    fn duplicate_layer_ids_are_errors() {
        let bad = "[upstream]\nurl = \"http://x/v1\"\n[[input]]\nscanner = \"pii\"\naction = \"block\"\n[[input]]\nscanner = \"pii\"\naction = \"redact\"\n";
        let err = GuardConfig::parse("g.toml", bad).unwrap_err().to_string();
        assert!(err.contains("id"), "{err}");
    }

    #[test]
    fn only_input_layers_that_allow_flag_or_block_may_run_beside_the_upstream() {
        let policy = |side: &str, action: &str| {
            format!(
                "[upstream]\nurl = \"http://x/v1\"\n[[{side}]]\nscanner = \"pii\"\naction = \"{action}\"\nbeside_upstream = true\n"
            )
        };
        for action in ["allow", "flag", "block"] {
            let cfg = GuardConfig::parse("g.toml", &policy("input", action)).unwrap();
            assert!(cfg.input[0].beside_upstream);
            // Written back as read (`guard init`-style round trip).
            let again = toml::to_string(&cfg).unwrap();
            assert_eq!(GuardConfig::parse("again", &again).unwrap(), cfg);
        }
        for action in ["redact", "escalate", "normalize"] {
            let err = GuardConfig::parse("g.toml", &policy("input", action))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("may only allow, flag or block"),
                "{action}: {err}"
            );
        }
        let err = GuardConfig::parse("g.toml", &policy("output", "block"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("for input layers"), "{err}");
        let err = GuardConfig::parse(
            "g.toml",
            &policy("input", "block").replace("= true", "= \"yes\""),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("true or false"), "{err}");
        // Absent, it is off, and not written out.
        let cfg = GuardConfig::parse(
            "g.toml",
            &policy("input", "block").replace("beside_upstream = true\n", ""),
        )
        .unwrap();
        assert!(!cfg.input[0].beside_upstream);
        assert!(!toml::to_string(&cfg).unwrap().contains("beside_upstream"));
    }
}
