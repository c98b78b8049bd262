//! Layered input/output safeguards: defence in depth for an LLM deployment. The principal type
//! is [`Guard`], built from a policy ([`GuardConfig`], `guard.toml`).
//!
//! A policy stacks layers on each side of the model. Each layer is a [`Scanner`] — any detector
//! of the detector set (the same components, with the same measured accuracy, that score
//! evaluations) or a built-in check ([`scanners`]) — with a threshold, an action (`allow`,
//! `flag`, `redact`, `block`, `escalate`, `normalize`) and an error policy (`fail_open` /
//! `fail_closed`). The order of layers is documented in [`pipeline`] and tested there. Streamed
//! answers are checked through a sliding window ([`stream`]) so nothing leaves before the
//! layers have seen it. The proxy around all this lives in `emmental-server`; the audit chain
//! and review queue in `emmental-store`.

pub mod anomaly;
pub mod config;
mod error;
pub mod layer;
pub mod metrics;
pub mod pipeline;
pub mod ratelimit;
mod scanner;
pub mod scanners;
pub mod stream;

pub use config::{Action, GuardConfig, LayerConfig, OnError};
pub use error::GuardError;
pub use layer::{Decision, Verdict};
pub use pipeline::{Beside, Checked, Guard, Outcome};
pub use scanner::{Direction, ScanContext, Scanner};
pub use stream::{Step, StreamGuard};
