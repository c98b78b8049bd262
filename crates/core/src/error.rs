use std::time::Duration;

/// A fault while asking a model for a generation. A refusal or a filtered answer is *not* an
/// error: it is a [`crate::Generation`] whose text or finish reason says so.
///
/// Messages never contain credentials: backends must build them from status codes, URLs without
/// query strings, and response bodies, never from request headers.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The request itself is wrong (bad settings, unknown model); retrying will not help.
    #[error("invalid request: {message}")]
    InvalidRequest { message: String },
    /// The server refused the credentials (401/403).
    #[error("authentication failed ({status}) at {url}: {message}; check the API key variable")]
    Auth {
        status: u16,
        url: String,
        message: String,
    },
    /// The server is rate limiting us (429). `retry_after` is the server's hint, if any.
    #[error("rate limited by {url} after {attempts} attempt(s){}", retry_after.map(|d| format!(" (server asks to wait {:.1}s)", d.as_secs_f64())).unwrap_or_default())]
    RateLimited {
        url: String,
        attempts: u32,
        retry_after: Option<Duration>,
    },
    /// Any other HTTP error status.
    #[error("HTTP {status} from {url} after {attempts} attempt(s): {message}")]
    Http {
        status: u16,
        url: String,
        attempts: u32,
        message: String,
    },
    /// The server could not be reached.
    #[error(
        "cannot connect to {url} after {attempts} attempt(s): {message}; is the server running and the base URL right?"
    )]
    Connection {
        url: String,
        attempts: u32,
        message: String,
    },
    /// No complete answer within the time limit.
    #[error("timed out after {:.1}s waiting for {url}", after.as_secs_f64())]
    Timeout { url: String, after: Duration },
    /// The server answered with something that is not the expected JSON.
    #[error("malformed response from {url}: {message}")]
    MalformedResponse { url: String, message: String },
    /// A streamed answer ended before its end marker.
    #[error(
        "stream from {url} ended before it was complete ({received} characters received): {message}"
    )]
    TruncatedStream {
        url: String,
        received: usize,
        message: String,
    },
    /// A local model could not be found, fetched or loaded.
    #[error("cannot load model {model}: {message}")]
    Load { model: String, message: String },
    /// A local model failed during inference.
    #[error("inference failed in {model}: {message}")]
    Inference { model: String, message: String },
}

impl ModelError {
    /// Whether a retry could succeed (rate limits, server errors, connection failures, timeouts).
    pub fn is_retryable(&self) -> bool {
        match self {
            ModelError::RateLimited { .. }
            | ModelError::Connection { .. }
            | ModelError::Timeout { .. } => true,
            ModelError::Http { status, .. } => *status >= 500,
            _ => false,
        }
    }
}
