use std::path::PathBuf;

/// Faults of this crate. A detector that finds something returns a [`crate::Detection`]; an
/// `Err` means it could not judge at all (weights missing, encoder failure, unreadable data).
#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error("unknown detector `{name}`; known detectors: {known}")]
    Unknown { name: String, known: String },
    #[error("detector `{detector}` cannot load: {message}")]
    Load { detector: String, message: String },
    #[error("detector `{detector}` failed: {message}")]
    Inference { detector: String, message: String },
    #[error("{path}:{line}: {message}")]
    Data {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot redact: {message}")]
    Redact { message: String },
    #[error(transparent)]
    Model(#[from] emmental_core::ModelError),
}
