//! A local chat model: GGUF llama weights in f32, the GGUF's tokenizer and chat template.

use std::fs::File;
use std::io::BufReader;
use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use tokio::sync::Semaphore;

use emmental_core::{
    FinishReason, GenerateRequest, Generation, GenerationStream, Message, Model, ModelError,
    StreamEvent, Usage,
};

use super::llama::{KvCache, Llama, log_softmax_rows};
use super::sampling::Sampler;
use super::template::ChatTemplate;
use super::tokenizer::GgufTokenizer;

/// Answers are capped at this many tokens when the request sets no `max_tokens`.
pub const DEFAULT_MAX_TOKENS: u32 = 512;

/// Sees (and may change) the logits before each sampled token: watermarking plugs in here.
pub trait LogitsProcessor: Send {
    /// `context` is every token so far (prompt and generated); `logits` has one entry per vocab id.
    fn process(&mut self, context: &[u32], logits: &mut [f32]);
}

/// Timing of one generation, split the way throughput is usually reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct GenerationTiming {
    pub prompt_tokens: usize,
    pub prompt_time: Duration,
    pub generated_tokens: usize,
    pub generation_time: Duration,
}

/// A chat LLM running in-process on the CPU, with white-box access to logits and hidden states.
pub struct LocalChatModel {
    id: String,
    llama: Arc<Llama>,
    tokenizer: Arc<GgufTokenizer>,
    template: Arc<ChatTemplate>,
    stop_ids: Vec<u32>,
    permits: Arc<Semaphore>,
}

impl LocalChatModel {
    /// Loads a GGUF llama model: weights dequantized to f32, tokenizer and template from metadata.
    pub fn load(id: impl Into<String>, gguf: &Path) -> Result<Self, ModelError> {
        let id = id.into();
        let fail = |m: String| ModelError::Load {
            model: id.clone(),
            message: m,
        };
        let file =
            File::open(gguf).map_err(|e| fail(format!("cannot open {}: {e}", gguf.display())))?;
        // Buffered: the metadata is read in many small pieces (0.73 s unbuffered, 0.06 s buffered).
        let mut reader = BufReader::new(file);
        let ct = gguf_file::Content::read(&mut reader).map_err(|e| {
            fail(format!(
                "{} is not a readable GGUF file: {e}",
                gguf.display()
            ))
        })?;
        let tokenizer = GgufTokenizer::from_gguf(&ct.metadata).map_err(|e| fail(e.to_string()))?;
        let template_src = ct
            .metadata
            .get("tokenizer.chat_template")
            .and_then(|v| v.to_string().ok())
            .ok_or_else(|| fail("the GGUF file has no `tokenizer.chat_template`".into()))?
            .clone();
        let llama =
            Llama::from_gguf(&ct, &mut reader, &Device::Cpu).map_err(|e| fail(e.to_string()))?;
        let name_of = |id: Option<u32>| id.map(|i| tokenizer.decode_raw(i)).unwrap_or_default();
        let template = ChatTemplate::new(
            &template_src,
            name_of(tokenizer.bos_id),
            name_of(tokenizer.eos_id),
        )
        .map_err(|e| fail(format!("bad chat template: {e}")))?;
        // The turn ends at the template's end-of-turn marker or at end-of-text.
        let mut stop_ids: Vec<u32> = ["<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end|>"]
            .iter()
            .filter_map(|s| tokenizer.special_id(s))
            .chain(tokenizer.eos_id)
            .collect();
        stop_ids.sort();
        stop_ids.dedup();
        Ok(Self {
            id,
            llama: Arc::new(llama),
            tokenizer: Arc::new(tokenizer),
            template: Arc::new(template),
            stop_ids,
            permits: Arc::new(Semaphore::new(1)),
        })
    }

    /// How many generations may run at once (default 1: one generation already uses every core).
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.permits = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }
    pub fn llama(&self) -> &Llama {
        &self.llama
    }
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// The prompt tokens for a conversation, with the assistant's turn opened.
    pub fn encode_chat(&self, messages: &[Message]) -> Result<Vec<u32>, ModelError> {
        self.template
            .encode(messages, &self.tokenizer)
            .map_err(|e| ModelError::InvalidRequest {
                message: e.to_string(),
            })
    }

    fn inference_error(&self, e: impl std::fmt::Display) -> ModelError {
        ModelError::Inference {
            model: self.id.clone(),
            message: e.to_string(),
        }
    }

    /// Logits for the token after `tokens`.
    pub fn next_token_logits(&self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        let mut cache = self.llama.new_cache();
        let out = self
            .llama
            .forward(tokens, &mut cache, false, None)
            .map_err(|e| self.inference_error(e))?;
        out.logits
            .squeeze(0)
            .and_then(|t| t.to_vec1())
            .map_err(|e| self.inference_error(e))
    }

    /// Log-probability of each token given the ones before it (`tokens.len() - 1` values): the
    /// basis of perplexity and membership-inference tests.
    pub fn token_logprobs(&self, tokens: &[u32]) -> Result<Vec<f32>, ModelError> {
        if tokens.len() < 2 {
            return Ok(Vec::new());
        }
        let mut cache = self.llama.new_cache();
        let out = self
            .llama
            .forward(tokens, &mut cache, true, None)
            .map_err(|e| self.inference_error(e))?;
        let rows = log_softmax_rows(&out.logits).map_err(|e| self.inference_error(e))?;
        Ok(tokens[1..]
            .iter()
            .zip(&rows)
            .map(|(&t, row)| row[t as usize])
            .collect())
    }

    /// The residual stream after block `layer` (0 = embeddings), one vector per token.
    pub fn hidden_states(&self, tokens: &[u32], layer: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut cache = self.llama.new_cache();
        let out = self
            .llama
            .forward(tokens, &mut cache, false, Some(layer))
            .map_err(|e| self.inference_error(e))?;
        let hidden: Tensor = out
            .hidden
            .ok_or_else(|| self.inference_error("no hidden state captured"))?;
        hidden.to_vec2().map_err(|e| self.inference_error(e))
    }

    /// The generation loop (blocking; written once, used by every entry point).
    ///
    /// `on_delta` receives text as soon as it is final: never half a UTF-8 character, never a
    /// piece that could still turn out to begin a stop sequence. Returning `Break` stops early
    /// (a streaming client went away).
    pub fn generate_blocking(
        &self,
        req: &GenerateRequest,
        mut processor: Option<&mut dyn LogitsProcessor>,
        mut on_delta: impl FnMut(&str) -> ControlFlow<()>,
    ) -> Result<(Generation, GenerationTiming), ModelError> {
        req.validate()?;
        let started = Instant::now();
        let prompt = self.encode_chat(&req.messages)?;
        let ctx = self.llama.config.context_length;
        if prompt.len() >= ctx {
            return Err(ModelError::InvalidRequest {
                message: format!(
                    "the prompt is {} tokens; the context window is {ctx}",
                    prompt.len()
                ),
            });
        }
        let max_new =
            (req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS) as usize).min(ctx - prompt.len());
        let mut sampler = Sampler::new(req.temperature, req.top_p, req.seed);
        let mut cache: KvCache = self.llama.new_cache();
        let mut context = prompt.clone();
        let mut timing = GenerationTiming {
            prompt_tokens: prompt.len(),
            ..Default::default()
        };

        let mut logits = self.step(&prompt, &mut cache)?;
        timing.prompt_time = started.elapsed();
        let gen_started = Instant::now();
        let mut bytes: Vec<u8> = Vec::new();
        let mut emitted = 0usize; // bytes of `text` already handed to on_delta
        let mut generated = 0usize;
        let max_stop = req.stop.iter().map(String::len).max().unwrap_or(0);
        let finish = loop {
            if let Some(p) = processor.as_deref_mut() {
                p.process(&context, &mut logits);
            }
            let token = sampler.sample(&logits);
            if self.stop_ids.contains(&token) {
                break FinishReason::Stop;
            }
            generated += 1;
            context.push(token);
            bytes.extend_from_slice(self.tokenizer.token_bytes(token));
            let text = complete_utf8(&bytes);
            // Only the tail can hold a new stop sequence.
            let search_from = floor_char_boundary(&text, emitted.saturating_sub(max_stop));
            if let Some(pos) = first_stop(&text[search_from..], &req.stop) {
                let end = search_from + pos;
                if end > emitted {
                    let _ = on_delta(&text[emitted..end]);
                }
                bytes.truncate(end);
                emitted = end;
                break FinishReason::Stop;
            }
            let safe = text.len() - stop_prefix_suffix(&text, &req.stop);
            if safe > emitted {
                if on_delta(&text[emitted..safe]).is_break() {
                    emitted = safe;
                    break FinishReason::Stop;
                }
                emitted = safe;
            }
            if generated >= max_new {
                break FinishReason::Length;
            }
            logits = self.step(&[token], &mut cache)?;
        };
        // Flush what was held back (a partial stop prefix, or bytes that never completed a character).
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if text.len() > emitted {
            let _ = on_delta(&text[floor_char_boundary(&text, emitted)..]);
        }
        timing.generated_tokens = generated;
        timing.generation_time = gen_started.elapsed();
        let generation = Generation {
            text,
            finish_reason: finish,
            usage: Usage {
                prompt_tokens: prompt.len() as u32,
                completion_tokens: generated as u32,
            },
            latency: started.elapsed(),
            model: self.id.clone(),
        };
        Ok((generation, timing))
    }

    fn step(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, ModelError> {
        let out = self
            .llama
            .forward(tokens, cache, false, None)
            .map_err(|e| self.inference_error(e))?;
        out.logits
            .squeeze(0)
            .and_then(|t| t.to_vec1())
            .map_err(|e| self.inference_error(e))
    }

    fn shared(&self) -> Self {
        Self {
            id: self.id.clone(),
            llama: self.llama.clone(),
            tokenizer: self.tokenizer.clone(),
            template: self.template.clone(),
            stop_ids: self.stop_ids.clone(),
            permits: self.permits.clone(),
        }
    }
}

#[async_trait]
impl Model for LocalChatModel {
    fn id(&self) -> &str {
        &self.id
    }

    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let this = self.shared();
        let req = req.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            this.generate_blocking(&req, None, |_| ControlFlow::Continue(()))
                .map(|(g, _)| g)
        })
        .await
        .map_err(|e| self.inference_error(format!("generation task failed: {e}")))?
    }

    async fn generate_stream(&self, req: &GenerateRequest) -> Result<GenerationStream, ModelError> {
        req.validate()?;
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let this = self.shared();
        let req = req.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<StreamEvent, ModelError>>(64);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result = this.generate_blocking(&req, None, |delta| {
                match tx.blocking_send(Ok(StreamEvent::Delta(delta.to_string()))) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()), // the receiver is gone: stop computing
                }
            });
            let last = result.map(|(g, _)| StreamEvent::Done {
                finish_reason: g.finish_reason,
                usage: Some(g.usage),
            });
            let _ = tx.blocking_send(last);
        });
        Ok(Box::pin(futures::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|ev| (ev, rx))
        })))
    }
}

/// The longest prefix of `bytes` that cannot change as more bytes arrive: invalid sequences
/// become U+FFFD, an incomplete character at the very end is held back.
fn complete_utf8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).expect("checked valid"));
                match e.error_len() {
                    None => return out, // incomplete at the end: wait for more bytes
                    Some(n) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[n..];
                    }
                }
            }
        }
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn first_stop(text: &str, stops: &[String]) -> Option<usize> {
    stops.iter().filter_map(|s| text.find(s.as_str())).min()
}

/// Length of the longest suffix of `text` that is a proper prefix of some stop sequence.
fn stop_prefix_suffix(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .flat_map(|s| {
            (1..s.len())
                .rev()
                .filter(move |&k| s.is_char_boundary(k))
                .map(move |k| &s[..k])
        })
        .filter(|p| text.ends_with(p))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_utf8_is_held_back_and_invalid_bytes_replaced() {
        let euro = "€".as_bytes();
        assert_eq!(complete_utf8(&euro[..2]), "");
        assert_eq!(complete_utf8(euro), "€");
        assert_eq!(complete_utf8(&[b'a', 0xFF, b'b']), "a\u{FFFD}b");
    }

    #[test]
    fn stop_prefixes_are_held_back() {
        let stops = vec!["\nUser:".to_string()];
        assert_eq!(stop_prefix_suffix("hello\nUs", &stops), 3);
        assert_eq!(stop_prefix_suffix("hello", &stops), 0);
        assert_eq!(first_stop("a\nUser: b", &stops), Some(1));
    }
}
