use std::path::PathBuf;

/// Faults of the guard. A layer that finds something returns a verdict; an `Err` is a fault
/// (a config that cannot work, a scanner that could not run).
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("{path}: {message}")]
    Config { path: String, message: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("layer `{layer}` failed: {message}")]
    Scan { layer: String, message: String },
    #[error(transparent)]
    Detector(#[from] emmental_detectors::DetectorError),
}

impl GuardError {
    pub(crate) fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        GuardError::Config {
            path: path.into(),
            message: message.into(),
        }
    }
}
