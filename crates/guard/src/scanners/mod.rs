//! The scanners a layer can use: every detector of the detector set, and built-in checks that
//! only make sense in a proxy (banned strings, topics, size limits, canary leaks, exfiltration
//! links, dangerous commands), and a judge model behind an OpenAI-compatible API.

mod code;
mod detector;
mod exfiltration;
mod judge;
mod leak;
mod patterns;
mod size;
mod topics;

use std::sync::Arc;

use emmental_detectors::{Resources, registry};
use serde::de::DeserializeOwned;

pub use code::DangerousCode;
pub use detector::DetectorScanner;
pub use exfiltration::Exfiltration;
pub use judge::{
    ANSWER_CRITERION, Judge, JudgeConfig, JudgeFormat, REQUEST_CRITERION, parse_verdict,
};
pub use leak::CanaryLeak;
pub use patterns::{BanRegex, BanSubstrings};
pub use size::SizeLimit;
pub use topics::Topics;

use crate::config::LayerConfig;
use crate::{Direction, GuardError, Scanner};

/// The built-in scanners' names.
pub const BUILTIN: &[&str] = &[
    "ban_substrings",
    "ban_regex",
    "topics",
    "size",
    "canary",
    "exfiltration",
    "code",
    "judge",
];

/// Reads a layer's scanner parameters into the scanner's own config type (which rejects
/// unknown fields).
pub(crate) fn params<T: DeserializeOwned>(layer: &LayerConfig) -> Result<T, GuardError> {
    toml::Value::Table(layer.params.clone())
        .try_into()
        .map_err(|e: toml::de::Error| {
            // serde's message lists only the scanner's own fields ("expected `types`"); a
            // misspelt `threshold` needs the fields every layer has as well.
            let m = e.message().to_string();
            let m = match m.strip_prefix("unknown field ") {
                Some(rest) => {
                    let (field, own) = rest.split_once(", expected").unwrap_or((rest, ""));
                    let own = own.trim_start_matches(" one of").trim();
                    format!(
                        "unknown field {field}: every layer has scanner, action, threshold, on_error and id{}",
                        if own.is_empty() {
                            format!("; `{}` takes no other fields", layer.scanner)
                        } else {
                            format!("; `{}` also takes {own}", layer.scanner)
                        }
                    )
                }
                None => m,
            };
            GuardError::config(format!("layer `{}`", layer.id), m)
        })
}

/// Builds the scanner a layer on `side` names.
pub fn build(
    layer: &LayerConfig,
    side: Direction,
    res: &Resources,
) -> Result<Arc<dyn Scanner>, GuardError> {
    Ok(match layer.scanner.as_str() {
        "ban_substrings" => {
            Arc::new(BanSubstrings::new(params(layer)?).map_err(|m| cfg(layer, m))?)
        }
        "ban_regex" => Arc::new(BanRegex::new(params(layer)?).map_err(|m| cfg(layer, m))?),
        "topics" => Arc::new(Topics::new(params(layer)?, res).map_err(|m| cfg(layer, m))?),
        "size" => Arc::new(SizeLimit::new(params(layer)?).map_err(|m| cfg(layer, m))?),
        "canary" => Arc::new(CanaryLeak::new(params(layer)?)),
        "exfiltration" => Arc::new(Exfiltration::new(params(layer)?)),
        "code" => Arc::new(DangerousCode::new(params(layer)?)),
        "judge" => Arc::new(Judge::new(params(layer)?, side, res).map_err(|m| cfg(layer, m))?),
        id if registry::entry(id).is_ok() => Arc::new(
            DetectorScanner::new(id, params(layer)?, res).map_err(|e| cfg(layer, e.to_string()))?,
        ),
        other => {
            return Err(cfg(
                layer,
                format!(
                    "unknown scanner `{other}`; detectors: {}; built-in: {}",
                    registry::known(),
                    BUILTIN.join(", ")
                ),
            ));
        }
    })
}

fn cfg(layer: &LayerConfig, message: impl Into<String>) -> GuardError {
    GuardError::config(format!("layer `{}`", layer.id), message)
}
