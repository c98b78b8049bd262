//! Solvers: the steps that turn a sample into a conversation with the model.

use async_trait::async_trait;
use emmental_core::{GenerateRequest, Generation, Message, Model, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{EvalError, Sample};

/// A sample on its way through the solver chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub sample: Sample,
    /// Which repetition of the sample this is (0-based).
    pub epoch: u32,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Every generation made for this sample, in order.
    pub generations: Vec<Generation>,
}

impl TaskState {
    pub fn new(sample: Sample, epoch: u32) -> Self {
        let messages = sample.input.messages();
        Self {
            sample,
            epoch,
            messages,
            generations: Vec::new(),
        }
    }
    /// The model's last answer (empty before any generation).
    pub fn output(&self) -> &str {
        self.generations
            .last()
            .map(|g| g.text.as_str())
            .unwrap_or("")
    }
}

/// Generation settings shared by every `generate` step of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    /// Base seed; each sample and epoch derives its own from it.
    pub seed: Option<u64>,
    pub stop: Vec<String>,
}

/// One step of a solver chain.
#[async_trait]
pub trait Solver: Send + Sync {
    /// Stable id, e.g. `generate`, `system_message`.
    fn id(&self) -> &str;
    /// Arguments, recorded in the log so a run can be re-created.
    fn args(&self) -> Value;
    async fn solve(
        &self,
        state: TaskState,
        model: &dyn Model,
        cfg: &GenerateConfig,
    ) -> Result<TaskState, EvalError>;
}

/// Puts a system message first (replacing an existing one).
pub struct SystemMessage(pub String);

#[async_trait]
impl Solver for SystemMessage {
    fn id(&self) -> &str {
        "system_message"
    }
    fn args(&self) -> Value {
        json!({ "content": self.0 })
    }
    async fn solve(
        &self,
        mut state: TaskState,
        _: &dyn Model,
        _: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        state.messages.retain(|m| m.role != Role::System);
        state.messages.insert(0, Message::system(self.0.clone()));
        Ok(state)
    }
}

/// Rewrites the last user message with a template: `{prompt}` is the message, `{choices}` the
/// lettered options, any `{name}` a metadata string.
pub struct PromptTemplate(pub String);

#[async_trait]
impl Solver for PromptTemplate {
    fn id(&self) -> &str {
        "prompt_template"
    }
    fn args(&self) -> Value {
        json!({ "template": self.0 })
    }
    async fn solve(
        &self,
        mut state: TaskState,
        _: &dyn Model,
        _: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        let Some(last) = state
            .messages
            .iter_mut()
            .rev()
            .find(|m| m.role == Role::User)
        else {
            return Err(EvalError::Solver {
                solver: self.id().into(),
                message: "no user message to template".into(),
            });
        };
        let mut out = self
            .0
            .replace("{prompt}", &last.content)
            .replace("{choices}", &lettered(&state.sample.choices));
        for (k, v) in &state.sample.metadata {
            if let Some(s) = v.as_str() {
                out = out.replace(&format!("{{{k}}}"), s);
            }
        }
        last.content = out;
        Ok(state)
    }
}

/// Presents a multiple-choice question: the question, lettered options, and an instruction to
/// answer with the letter.
pub struct MultipleChoice;

pub const MULTIPLE_CHOICE_TEMPLATE: &str =
    "{prompt}\n\n{choices}\n\nAnswer with the letter of the correct option only.";

#[async_trait]
impl Solver for MultipleChoice {
    fn id(&self) -> &str {
        "multiple_choice"
    }
    fn args(&self) -> Value {
        json!({ "template": MULTIPLE_CHOICE_TEMPLATE })
    }
    async fn solve(
        &self,
        state: TaskState,
        model: &dyn Model,
        cfg: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        if state.sample.choices.is_empty() {
            return Err(EvalError::Solver {
                solver: self.id().into(),
                message: format!("sample {} has no choices", state.sample.id),
            });
        }
        PromptTemplate(MULTIPLE_CHOICE_TEMPLATE.into())
            .solve(state, model, cfg)
            .await
    }
}

/// "A) first\nB) second …"
pub fn lettered(choices: &[String]) -> String {
    choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}) {c}", letter(i)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The letter of option `i` (A, B, …, Z, then AA …).
pub fn letter(i: usize) -> String {
    if i < 26 {
        ((b'A' + i as u8) as char).to_string()
    } else {
        format!("{}{}", letter(i / 26 - 1), letter(i % 26))
    }
}

/// Prepends worked examples as earlier turns of the conversation.
pub struct FewShot(pub Vec<(String, String)>);

#[async_trait]
impl Solver for FewShot {
    fn id(&self) -> &str {
        "few_shot"
    }
    fn args(&self) -> Value {
        json!({ "examples": self.0 })
    }
    async fn solve(
        &self,
        mut state: TaskState,
        _: &dyn Model,
        _: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        let at = state
            .messages
            .iter()
            .position(|m| m.role != Role::System)
            .unwrap_or(state.messages.len());
        let shots = self
            .0
            .iter()
            .flat_map(|(q, a)| [Message::user(q.clone()), Message::assistant(a.clone())]);
        state.messages.splice(at..at, shots);
        Ok(state)
    }
}

/// Calls the model on the conversation and appends its answer.
pub struct Generate;

impl Generate {
    pub(crate) fn request(state: &TaskState, cfg: &GenerateConfig) -> GenerateRequest {
        let mut req = GenerateRequest::new(state.messages.clone());
        req.max_tokens = cfg.max_tokens;
        req.temperature = cfg.temperature;
        req.top_p = cfg.top_p;
        req.stop = cfg.stop.clone();
        // A distinct, reproducible seed per sample, epoch and turn.
        req.seed = cfg.seed.map(|s| {
            seed_for(
                s,
                &state.sample.id,
                state.epoch,
                state.generations.len() as u32,
            )
        });
        req
    }
}

#[async_trait]
impl Solver for Generate {
    fn id(&self) -> &str {
        "generate"
    }
    fn args(&self) -> Value {
        json!({})
    }
    async fn solve(
        &self,
        mut state: TaskState,
        model: &dyn Model,
        cfg: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        let g = model.generate(&Generate::request(&state, cfg)).await?;
        state.messages.push(Message::assistant(g.text.clone()));
        state.generations.push(g);
        Ok(state)
    }
}

/// A scripted multi-turn conversation: after the first answer, each follow-up is sent as a
/// user turn and answered in turn (e.g. "Are you sure?").
pub struct MultiTurn(pub Vec<String>);

#[async_trait]
impl Solver for MultiTurn {
    fn id(&self) -> &str {
        "multi_turn"
    }
    fn args(&self) -> Value {
        json!({ "turns": self.0 })
    }
    async fn solve(
        &self,
        mut state: TaskState,
        model: &dyn Model,
        cfg: &GenerateConfig,
    ) -> Result<TaskState, EvalError> {
        if state
            .messages
            .last()
            .is_none_or(|m| m.role != Role::Assistant)
        {
            state = Generate.solve(state, model, cfg).await?;
        }
        for turn in &self.0 {
            state.messages.push(Message::user(turn.clone()));
            state = Generate.solve(state, model, cfg).await?;
        }
        Ok(state)
    }
}

/// FNV-1a over the parts: a stable seed per (base seed, sample, epoch, turn).
pub fn seed_for(base: u64, sample: &str, epoch: u32, turn: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ base;
    for b in sample
        .bytes()
        .chain(epoch.to_le_bytes())
        .chain(turn.to_le_bytes())
    {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
