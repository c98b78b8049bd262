//! Chat templates from GGUF metadata, rendered with minijinja.
//!
//! Message contents never pass through special-token parsing: the template is rendered with a
//! placeholder for each content, the template's own text is tokenized with special tokens, and
//! each content is tokenized as plain text. Text a user types can therefore never forge
//! `<|im_start|>system`.

use minijinja::{Environment, Error, ErrorKind, context};
use serde::Serialize;

use emmental_core::Message;

use super::tokenizer::{GgufTokenizer, TokenizerError};

/// Templates are untrusted input (they come with the model file): bound their work.
const TEMPLATE_FUEL: u64 = 5_000_000;
const OPEN: char = '\u{F0000}';
const CLOSE: char = '\u{F0001}';

pub struct ChatTemplate {
    env: Environment<'static>,
    bos: String,
    eos: String,
}

#[derive(Serialize)]
struct TemplateMessage<'a> {
    role: &'a str,
    content: String,
}

impl ChatTemplate {
    pub fn new(source: &str, bos: String, eos: String) -> Result<Self, Error> {
        let mut env = Environment::new();
        env.set_fuel(Some(TEMPLATE_FUEL));
        env.add_function("raise_exception", |msg: String| -> Result<String, Error> {
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_template_owned("chat", source.to_string())?;
        Ok(Self { env, bos, eos })
    }

    /// Renders the conversation, with the assistant's turn opened, as text (for display and logs).
    pub fn render(&self, messages: &[Message]) -> Result<String, Error> {
        let msgs: Vec<_> = messages
            .iter()
            .map(|m| TemplateMessage {
                role: m.role.as_str(),
                content: m.content.clone(),
            })
            .collect();
        self.render_with(&msgs)
    }

    fn render_with(&self, messages: &[TemplateMessage<'_>]) -> Result<String, Error> {
        self.env.get_template("chat")?.render(context! {
            messages => minijinja::Value::from(minijinja::value::Serde(messages)),
            add_generation_prompt => true,
            bos_token => &self.bos,
            eos_token => &self.eos,
        })
    }

    /// Renders and tokenizes the conversation; contents are tokenized as plain text.
    pub fn encode(
        &self,
        messages: &[Message],
        tok: &GgufTokenizer,
    ) -> Result<Vec<u32>, TemplateError> {
        if messages
            .iter()
            .any(|m| m.content.contains(OPEN) || m.content.contains(CLOSE))
        {
            return Err(TemplateError::Content(
                "a message contains a reserved private-use character (U+F0000/U+F0001)".into(),
            ));
        }
        let placeholders: Vec<_> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| TemplateMessage {
                role: m.role.as_str(),
                content: format!("{OPEN}{i}{CLOSE}"),
            })
            .collect();
        let rendered = self
            .render_with(&placeholders)
            .map_err(|e| TemplateError::Render(e.to_string()))?;
        let mut ids = Vec::new();
        let mut rest = rendered.as_str();
        while let Some(start) = rest.find(OPEN) {
            ids.extend(tok.encode_with_specials(&rest[..start])?);
            let after = &rest[start + OPEN.len_utf8()..];
            let end = after.find(CLOSE).ok_or_else(|| {
                TemplateError::Render("template cut a message placeholder".into())
            })?;
            let idx: usize = after[..end].parse().map_err(|_| {
                TemplateError::Render("template altered a message placeholder".into())
            })?;
            let msg = messages
                .get(idx)
                .ok_or_else(|| TemplateError::Render("unknown placeholder".into()))?;
            ids.extend(tok.encode(&msg.content)?);
            rest = &after[end + CLOSE.len_utf8()..];
        }
        ids.extend(tok.encode_with_specials(rest)?);
        Ok(ids)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("chat template failed: {0}")]
    Render(String),
    #[error("{0}")]
    Content(String),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
}
