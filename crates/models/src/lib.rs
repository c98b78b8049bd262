//! Models for Emmental: an OpenAI-compatible HTTP client ([`openai`]), local white-box models
//! run with candle on the CPU ([`local`]), and the fetch-and-cache machinery that finds their
//! weights ([`fetch`]).

pub mod openai;
