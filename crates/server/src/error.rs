//! Errors: [`ServerError`] for the crate's callers, [`ApiError`] for HTTP clients.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use emmental_core::ModelError;
use emmental_models::openai::wire::ErrorBody;

/// A fault of the server itself (not of one request: those are [`ApiError`] responses).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The limits make no sense (e.g. zero concurrency).
    #[error("invalid server limits: {message}")]
    InvalidLimits { message: String },
    /// The configuration cannot work (e.g. an upstream URL that is not HTTP).
    #[error("{message}")]
    InvalidConfig { message: String },
    /// The listener's address could not be read.
    #[error("cannot read the listening address")]
    LocalAddr {
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server stopped with an I/O error.
    #[error("the HTTP server failed")]
    Serve {
        #[source]
        source: std::io::Error,
    },
}

/// An error answered to an HTTP client as OpenAI does: a status and
/// `{"error": {"message", "type", "param", "code"}}`, plus `Retry-After` when waiting helps.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody::new(message, kind),
            retry_after: None,
        }
    }

    /// 400 `invalid_request_error`; `param` is taken from the first `` `name` `` in the message
    /// when there is one, which is how core's validation and serde name fields.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message.clone(),
        );
        if let Some(param) = backticked(&message) {
            e.body = e.body.param(param);
        }
        e
    }

    pub fn param(mut self, param: &str) -> Self {
        self.body = self.body.param(param);
        self
    }

    pub fn code(mut self, code: &str) -> Self {
        self.body = self.body.code(code);
        self
    }

    /// 503 with `Retry-After`: the server is busy, try again shortly.
    pub fn overloaded(message: impl Into<String>, retry_after: Duration) -> Self {
        let mut e =
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "server_error", message).code("overloaded");
        e.retry_after = Some(retry_after);
        e
    }

    /// A model fault as an HTTP answer: bad requests stay 400, upstream trouble becomes 502/504
    /// (or 429 passed on), a local model's failure 500.
    pub fn from_model(e: &ModelError) -> Self {
        let message = e.to_string();
        match e {
            ModelError::InvalidRequest { .. } => Self::invalid_request(message),
            ModelError::RateLimited { retry_after, .. } => {
                let mut api = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", message);
                api.retry_after = *retry_after;
                api
            }
            ModelError::Timeout { .. } => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "server_error", message)
                    .code("upstream_timeout")
            }
            ModelError::Auth { .. }
            | ModelError::Http { .. }
            | ModelError::Connection { .. }
            | ModelError::MalformedResponse { .. }
            | ModelError::TruncatedStream { .. } => {
                Self::new(StatusCode::BAD_GATEWAY, "server_error", message).code("upstream_error")
            }
            ModelError::Load { .. } | ModelError::Inference { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
                    .code("model_error")
            }
        }
    }
}

fn backticked(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    let (name, _) = rest.split_once('`')?;
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body)).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: "0" would invite an immediate retry storm.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_is_read_from_backticks() {
        let e = ApiError::invalid_request("`temperature` must be between 0 and 2, got 3");
        assert_eq!(e.body.error.param.as_deref(), Some("temperature"));
        let e = ApiError::invalid_request("missing field `messages` at line 1 column 15");
        assert_eq!(e.body.error.param.as_deref(), Some("messages"));
        assert_eq!(
            ApiError::invalid_request("expected value").body.error.param,
            None
        );
    }

    #[test]
    fn model_faults_map_to_gateway_and_server_errors() {
        let upstream = ModelError::Connection {
            url: "u".into(),
            attempts: 1,
            message: "refused".into(),
        };
        assert_eq!(
            ApiError::from_model(&upstream).status,
            StatusCode::BAD_GATEWAY
        );
        let local = ModelError::Inference {
            model: "m".into(),
            message: "nan".into(),
        };
        assert_eq!(
            ApiError::from_model(&local).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let bad = ModelError::InvalidRequest {
            message: "`top_p` must be in (0, 1]".into(),
        };
        assert_eq!(
            ApiError::from_model(&bad).body.error.param.as_deref(),
            Some("top_p")
        );
    }
}
