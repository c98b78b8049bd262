//! Local white-box models run with candle on the CPU: a GGUF chat LLM ([`LocalChatModel`]) and
//! a BERT sentence encoder ([`LocalEncoder`]).

pub mod chat;
pub mod encoder;
pub mod llama;
pub mod sampling;
pub mod template;
pub mod tokenizer;

pub use chat::{GenerationTiming, LocalChatModel, LogitsProcessor};
pub use encoder::{EncoderBackend, LocalEncoder, Token, TokenStates, cosine, expect_pass};
pub use tokenizer::GgufTokenizer;
