//! The OpenAI chat-completions protocol as serde types: one definition for both sides, the
//! client in [`super::OpenAiModel`] and the server in `emmental-server`.
//!
//! Deserialisation is lenient where OpenAI's own API is (`stop` as a string or a list, `content`
//! as a string or a list of text parts, `max_completion_tokens` for `max_tokens`, the `developer`
//! role for `system`, unknown *fields* ignored) and strict on unknown *types*: a content part that
//! is not text or a role we do not know is an error, not something silently dropped.
//!
//! ```
//! use emmental_models::openai::wire::ChatCompletionRequest;
//! let req: ChatCompletionRequest = serde_json::from_str(r#"{
//!     "model": "m",
//!     "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
//!     "stop": "\n",
//!     "max_completion_tokens": 8
//! }"#).unwrap();
//! assert_eq!(req.messages[0].content, "hi");
//! assert_eq!(req.stop, vec!["\n".to_string()]);
//! assert_eq!(req.max_tokens, Some(8));
//! ```

use emmental_core::{FinishReason, GenerateRequest, Message, Role, Usage};
use serde::{Deserialize, Deserializer, Serialize};

/// `object` of a non-streamed chat completion.
pub const OBJECT_CHAT_COMPLETION: &str = "chat.completion";
/// `object` of one streamed chunk.
pub const OBJECT_CHAT_COMPLETION_CHUNK: &str = "chat.completion.chunk";
/// The `data:` payload that ends an OpenAI event stream.
pub const DONE_MARKER: &str = "[DONE]";

/// `POST /chat/completions` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    /// Accepts OpenAI's newer spelling `max_completion_tokens` too.
    #[serde(
        default,
        alias = "max_completion_tokens",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A single string or a list of strings on the wire; `null` means none.
    #[serde(
        default,
        deserialize_with = "de_stop",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Settings that Emmental's models cannot honour. They are parsed so that a server can refuse
    /// them with a clear message instead of silently ignoring them (see [`Self::unsupported`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logit_bias: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormat>,
    /// Opaque end-user id; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ChatCompletionRequest {
    /// The request that asks `model` for `req`; `stream` also asks for usage in the last chunk.
    pub fn from_generate(model: &str, req: &GenerateRequest, stream: bool) -> Self {
        Self {
            model: model.to_string(),
            messages: req.messages.iter().map(ChatMessage::from).collect(),
            max_tokens: req.max_tokens,
            temperature: req.temperature,
            top_p: req.top_p,
            seed: req.seed,
            stop: req.stop.clone(),
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            n: None,
            presence_penalty: None,
            frequency_penalty: None,
            logprobs: None,
            top_logprobs: None,
            logit_bias: None,
            tools: None,
            response_format: None,
            user: None,
        }
    }

    /// The model-independent part of the request.
    pub fn to_generate(&self) -> GenerateRequest {
        GenerateRequest {
            messages: self.messages.iter().cloned().map(Message::from).collect(),
            max_tokens: self.max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            seed: self.seed,
            stop: self.stop.clone(),
        }
    }

    /// Whether the caller asked for usage in the final streamed chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.is_some_and(|o| o.include_usage)
    }

    /// The first setting that Emmental's models cannot honour, as `(param, why)`. Defaults sent
    /// explicitly (`n: 1`, zero penalties, `logprobs: false`, text format) are fine.
    pub fn unsupported(&self) -> Option<(&'static str, String)> {
        if let Some(n) = self.n
            && n != 1
        {
            return Some(("n", format!("only n = 1 is supported, got {n}")));
        }
        for (param, value) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if let Some(v) = value
                && v != 0.0
            {
                return Some((param, format!("`{param}` is not supported (got {v})")));
            }
        }
        if self.logprobs == Some(true) || self.top_logprobs.is_some_and(|n| n > 0) {
            return Some(("logprobs", "log-probabilities are not supported".into()));
        }
        if self.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
            return Some(("logit_bias", "`logit_bias` is not supported".into()));
        }
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Some(("tools", "tool calling is not supported".into()));
        }
        if let Some(f) = &self.response_format
            && f.kind != "text"
        {
            return Some((
                "response_format",
                format!("response format `{}` is not supported; only `text`", f.kind),
            ));
        }
        None
    }
}

/// `stream_options` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StreamOptions {
    /// Send a last chunk with `usage` and no choices before `[DONE]`.
    #[serde(default)]
    pub include_usage: bool,
}

/// `response_format` of a request; only `{"type": "text"}` is honoured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
}

/// One message of a request. `content` may arrive as a string, a list of text parts, or `null`
/// (an assistant turn that only called tools); it is always sent as a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    #[serde(deserialize_with = "de_role")]
    pub role: Role,
    #[serde(default, deserialize_with = "de_content")]
    pub content: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl From<&Message> for ChatMessage {
    fn from(m: &Message) -> Self {
        Self {
            role: m.role,
            content: m.content.clone(),
            name: m.name.clone(),
            tool_call_id: m.tool_call_id.clone(),
        }
    }
}

impl From<ChatMessage> for Message {
    fn from(m: ChatMessage) -> Self {
        Message {
            role: m.role,
            content: m.content,
            name: m.name,
            tool_call_id: m.tool_call_id,
        }
    }
}

/// Non-streamed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    #[serde(default)]
    pub id: String,
    #[serde(default = "object_chat_completion")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    /// Required: a response without it is malformed.
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
}

fn object_chat_completion() -> String {
    OBJECT_CHAT_COMPLETION.into()
}

/// One choice of a non-streamed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ResponseMessage,
    /// `null` only in unusual servers; OpenAI always sets it.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Always `null` from Emmental; kept so clients that expect the key find it.
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

/// The assistant's message in a response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseMessage {
    #[serde(default = "assistant", deserialize_with = "de_role")]
    pub role: Role,
    /// `null` when the model only refused or called tools.
    #[serde(default)]
    pub content: Option<String>,
    /// OpenAI's structured refusal text, when the model refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

fn assistant() -> Role {
    Role::Assistant
}

/// Token counts as OpenAI reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct WireUsage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub completion_tokens: u32,
    #[serde(default)]
    pub total_tokens: u32,
}

impl From<Usage> for WireUsage {
    fn from(u: Usage) -> Self {
        Self {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: u.total(),
        }
    }
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
        }
    }
}

/// One `data:` event of a streamed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    #[serde(default)]
    pub id: String,
    #[serde(default = "object_chat_completion_chunk")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub model: String,
    /// Empty in the final usage chunk.
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Only in the final chunk, when `stream_options.include_usage` was asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<WireUsage>,
}

fn object_chat_completion_chunk() -> String {
    OBJECT_CHAT_COMPLETION_CHUNK.into()
}

/// One choice of a streamed chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    /// Set on the last chunk of this choice; `null` (and serialised as `null`) before.
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub logprobs: Option<serde_json::Value>,
}

/// The text added by one chunk.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Delta {
    #[serde(
        default,
        deserialize_with = "de_opt_role",
        skip_serializing_if = "Option::is_none"
    )]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

/// An OpenAI-style error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// The inside of an [`ErrorBody`]. `param` and `code` are serialised as `null` when absent, as
/// OpenAI does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.into(),
                param: None,
                code: None,
            },
        }
    }
    pub fn param(mut self, param: impl Into<String>) -> Self {
        self.error.param = Some(param.into());
        self
    }
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.error.code = Some(code.into());
        self
    }
}

/// `GET /models` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelList {
    #[serde(default = "object_list")]
    pub object: String,
    pub data: Vec<ModelObject>,
}

fn object_list() -> String {
    "list".into()
}

/// One entry of a [`ModelList`] (and the body of `GET /models/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelObject {
    pub id: String,
    #[serde(default = "object_model")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub owned_by: String,
}

fn object_model() -> String {
    "model".into()
}

/// `POST /embeddings` request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRequest {
    pub model: String,
    /// A string or a list of strings. Token-id arrays are refused: Emmental's encoders tokenize
    /// themselves.
    #[serde(deserialize_with = "de_embedding_input")]
    pub input: Vec<String>,
    /// `float` (the default) or `base64` (little-endian `f32`s, what OpenAI's Python client asks for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<EncodingFormat>,
    /// Must equal the encoder's dimension if given: truncation is not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// How embedding vectors are encoded in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    #[default]
    Float,
    Base64,
}

/// `POST /embeddings` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingResponse {
    #[serde(default = "object_list")]
    pub object: String,
    pub data: Vec<EmbeddingData>,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub usage: EmbeddingUsage,
}

/// One vector of an [`EmbeddingResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingData {
    #[serde(default = "object_embedding")]
    pub object: String,
    pub index: u32,
    pub embedding: EmbeddingVector,
}

fn object_embedding() -> String {
    "embedding".into()
}

/// A vector as a list of floats or as base64 of little-endian `f32`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingVector {
    Float(Vec<f32>),
    Base64(String),
}

impl EmbeddingVector {
    /// Encodes `v` in the requested format.
    pub fn encode(v: &[f32], format: EncodingFormat) -> Self {
        match format {
            EncodingFormat::Float => Self::Float(v.to_vec()),
            EncodingFormat::Base64 => {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Self::Base64(base64_encode(&bytes))
            }
        }
    }
}

/// Token counts of an embedding call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EmbeddingUsage {
    #[serde(default)]
    pub prompt_tokens: u32,
    #[serde(default)]
    pub total_tokens: u32,
}

/// Standard base64 with padding (RFC 4648 §4); small enough not to warrant a dependency.
fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> shift) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Converts an OpenAI `finish_reason` (absent means the turn simply ended).
pub fn finish_reason(s: Option<&str>) -> FinishReason {
    s.map(FinishReason::from_openai)
        .unwrap_or(FinishReason::Stop)
}

fn parse_role(s: &str) -> Option<Role> {
    Some(match s {
        "system" | "developer" => Role::System,
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "tool" => Role::Tool,
        _ => return None,
    })
}

fn de_role<'de, D: Deserializer<'de>>(d: D) -> Result<Role, D::Error> {
    let s = String::deserialize(d)?;
    parse_role(&s).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown role `{s}`; expected system, developer, user, assistant or tool"
        ))
    })
}

fn de_opt_role<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Role>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|s| {
            parse_role(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown role `{s}`")))
        })
        .transpose()
}

fn de_stop<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stop {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Stop>::deserialize(d)? {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    })
}

fn de_content<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    struct Part {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        text: Option<String>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Content {
        Text(String),
        Parts(Vec<Part>),
    }
    match Option::<Content>::deserialize(d)? {
        None => Ok(String::new()),
        Some(Content::Text(s)) => Ok(s),
        Some(Content::Parts(parts)) => {
            let mut out = String::new();
            for p in parts {
                match (p.kind.as_str(), p.text) {
                    ("text", Some(t)) => out.push_str(&t),
                    ("text", None) => {
                        return Err(serde::de::Error::custom(
                            "a `text` content part needs a `text` field",
                        ));
                    }
                    (other, _) => {
                        return Err(serde::de::Error::custom(format!(
                            "unsupported content part type `{other}`; only `text` parts are supported"
                        )));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn de_embedding_input<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(vec![s]),
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(serde::de::Error::custom(
                    "`input` must be a string or a list of strings (token-id arrays are not supported)",
                )),
            })
            .collect(),
        _ => Err(serde::de::Error::custom("`input` must be a string or a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_accepts_openai_spellings() {
        let req: ChatCompletionRequest = serde_json::from_str(
            r#"{"model":"m","messages":[{"role":"developer","content":"be brief"},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
                {"role":"assistant","content":null}],
               "stop":["x","y"],"max_completion_tokens":3,"stream":true,
               "stream_options":{"include_usage":true},"frequency_penalty":0,"n":1,"some_new_field":1}"#,
        )
        .unwrap();
        assert_eq!(req.messages[0].role, Role::System);
        assert_eq!(req.messages[1].content, "ab");
        assert_eq!(req.messages[2].content, "");
        assert_eq!(req.stop, ["x", "y"]);
        assert_eq!(req.max_tokens, Some(3));
        assert!(req.stream && req.include_usage());
        assert_eq!(req.unsupported(), None);
        let stop_null: ChatCompletionRequest =
            serde_json::from_str(r#"{"model":"m","messages":[],"stop":null}"#).unwrap();
        assert!(stop_null.stop.is_empty());
    }

    #[test]
    fn request_rejects_unknown_types() {
        let image = r#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#;
        let err = serde_json::from_str::<ChatCompletionRequest>(image)
            .unwrap_err()
            .to_string();
        assert!(err.contains("image_url"), "{err}");
        let role = r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#;
        let err = serde_json::from_str::<ChatCompletionRequest>(role)
            .unwrap_err()
            .to_string();
        assert!(err.contains("wizard"), "{err}");
        let temp = r#"{"model":"m","messages":[],"temperature":"hot"}"#;
        assert!(serde_json::from_str::<ChatCompletionRequest>(temp).is_err());
    }

    #[test]
    fn unsupported_settings_are_named() {
        let mut req =
            ChatCompletionRequest::from_generate("m", &GenerateRequest::prompt("x"), false);
        assert_eq!(req.unsupported(), None);
        req.n = Some(2);
        assert_eq!(req.unsupported().unwrap().0, "n");
        req.n = None;
        req.response_format = Some(ResponseFormat {
            kind: "json_object".into(),
        });
        assert_eq!(req.unsupported().unwrap().0, "response_format");
    }

    #[test]
    fn client_request_serialises_compactly_and_round_trips() {
        let g = GenerateRequest::prompt("hi").max_tokens(4).stop("\n");
        let wire = ChatCompletionRequest::from_generate("gpt", &g, true);
        let json = serde_json::to_value(&wire).unwrap();
        assert_eq!(json["stream_options"]["include_usage"], true);
        assert_eq!(json["stop"], serde_json::json!(["\n"]));
        assert!(json.get("n").is_none() && json.get("tools").is_none());
        let back: ChatCompletionRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back.to_generate(), g);
    }

    #[test]
    fn response_without_choices_does_not_parse() {
        assert!(serde_json::from_str::<ChatCompletion>(r#"{"id":"x","model":"m"}"#).is_err());
        let ok: ChatCompletion = serde_json::from_str(
            r#"{"choices":[{"message":{"role":"assistant","content":"hi"},"finish_reason":"length"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.choices[0].message.content.as_deref(), Some("hi"));
    }

    #[test]
    fn error_body_serialises_nulls_like_openai() {
        let json = serde_json::to_value(
            ErrorBody::new("bad", "invalid_request_error").param("temperature"),
        )
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error":{"message":"bad","type":"invalid_request_error","param":"temperature","code":null}})
        );
    }

    #[test]
    fn embedding_input_is_a_string_or_list_of_strings() {
        let one: EmbeddingRequest = serde_json::from_str(r#"{"model":"e","input":"a"}"#).unwrap();
        assert_eq!(one.input, ["a"]);
        let many: EmbeddingRequest =
            serde_json::from_str(r#"{"model":"e","input":["a","b"],"encoding_format":"base64"}"#)
                .unwrap();
        assert_eq!(many.input, ["a", "b"]);
        assert_eq!(many.encoding_format, Some(EncodingFormat::Base64));
        assert!(
            serde_json::from_str::<EmbeddingRequest>(r#"{"model":"e","input":[[1,2]]}"#).is_err()
        );
    }

    #[test]
    fn base64_vectors_match_the_standard_encoding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        // 1.0f32 little-endian is 00 00 80 3f.
        assert_eq!(
            EmbeddingVector::encode(&[1.0], EncodingFormat::Base64),
            EmbeddingVector::Base64("AACAPw==".into())
        );
    }
}
