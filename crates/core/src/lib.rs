//! Emmental's shared vocabulary. The principal type is the [`Model`] trait: anything that turns a
//! [`GenerateRequest`] (a conversation plus sampling settings) into a [`Generation`].
//!
//! Every other crate speaks these types: the eval harness sends requests through a `Model`, the
//! guard proxy forwards them to one, the local-model server exposes one over HTTP. The report
//! taxonomy ([`taxonomy`]) gives every suite, scorer, attack and scanner a stable section id from
//! the *International AI Safety Report*, so every number Emmental prints can be traced back to it.
//!
//! ```
//! use emmental_core::{GenerateRequest, Message};
//! let req = GenerateRequest::new(vec![Message::user("What is the capital of France?")])
//!     .max_tokens(16)
//!     .temperature(0.0);
//! assert_eq!(req.messages.len(), 1);
//! assert_eq!(emmental_core::taxonomy::section("4.1.1").unwrap().title,
//!            "Harm to individuals through fake content");
//! ```

mod error;
mod generate;
mod message;
mod model;
pub mod rng;
pub mod stats;
pub mod taxonomy;

pub use error::ModelError;
pub use generate::{FinishReason, GenerateRequest, Generation, StreamEvent, Usage};
pub use message::{Message, Role};
pub use model::{Embedder, GenerationStream, Model, collect_stream};
pub use stats::Estimate;
pub use taxonomy::Section;
