//! Solver chains and the model-graded scorer, with scripted models.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use emmental_core::{
    FinishReason, GenerateRequest, Generation, Message, Model, ModelError, Role, Usage,
};
use emmental_eval::scorer::{ModelGraded, Scorer};
use emmental_eval::solver::{
    FewShot, Generate, GenerateConfig, MultiTurn, PromptTemplate, Solver, SystemMessage,
};
use emmental_eval::{Sample, Target, TaskState};

/// Replies with fixed texts in turn and remembers every request.
struct Scripted {
    replies: Vec<String>,
    seen: Mutex<Vec<GenerateRequest>>,
}

impl Scripted {
    fn new(replies: &[&str]) -> Arc<Self> {
        Arc::new(Self {
            replies: replies.iter().map(|s| s.to_string()).collect(),
            seen: Mutex::default(),
        })
    }
}

#[async_trait]
impl Model for Scripted {
    fn id(&self) -> &str {
        "test/scripted"
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        let mut seen = self.seen.lock().unwrap();
        let text = self.replies[seen.len() % self.replies.len()].clone();
        seen.push(req.clone());
        Ok(Generation {
            text,
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            latency: Duration::ZERO,
            model: "s".into(),
        })
    }
}

fn state(prompt: &str) -> TaskState {
    let mut s = Sample::new("q1", prompt).with_target(Target::text("Paris"));
    s.metadata.insert("country".into(), "France".into());
    TaskState::new(s, 0)
}

#[tokio::test]
async fn a_solver_chain_builds_the_conversation_in_order() {
    let model = Scripted::new(&["first answer", "second answer"]);
    let cfg = GenerateConfig {
        max_tokens: Some(9),
        seed: Some(5),
        ..Default::default()
    };
    let chain: Vec<Box<dyn Solver>> = vec![
        Box::new(SystemMessage("Be brief.".into())),
        Box::new(PromptTemplate("Question about {country}: {prompt}".into())),
        Box::new(FewShot(vec![("2+2?".into(), "4".into())])),
        Box::new(Generate),
        Box::new(MultiTurn(vec!["Are you sure?".into()])),
    ];
    let mut st = state("What is the capital?");
    for s in &chain {
        st = s.solve(st, model.as_ref(), &cfg).await.unwrap();
    }
    let roles: Vec<Role> = st.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant
        ]
    );
    assert_eq!(st.messages[0].content, "Be brief.");
    assert_eq!(st.messages[1].content, "2+2?");
    assert_eq!(
        st.messages[3].content,
        "Question about France: What is the capital?"
    );
    assert_eq!(st.messages[5].content, "Are you sure?");
    assert_eq!(st.output(), "second answer");
    assert_eq!(st.generations.len(), 2);
    let seen = model.seen.lock().unwrap();
    assert_eq!(seen[0].max_tokens, Some(9));
    // Each turn gets its own reproducible seed derived from the run's.
    assert!(seen[0].seed.is_some() && seen[0].seed != seen[1].seed);
    assert_eq!(
        seen[1].messages.last(),
        Some(&Message::user("Are you sure?"))
    );
}

#[tokio::test]
async fn the_judge_grades_correct_partial_and_incorrect() {
    let st = {
        let mut st = state("What is the capital of France?");
        st.messages.push(Message::assistant("Paris"));
        st.generations.push(Generation {
            text: "Paris".into(),
            finish_reason: FinishReason::Stop,
            usage: Usage::default(),
            latency: Duration::ZERO,
            model: "m".into(),
        });
        st
    };
    for (verdict, value) in [
        ("It is right.\nGRADE: C", 1.0),
        ("Partly.\nGRADE: P", 0.5),
        ("Wrong.\nGRADE: I", 0.0),
    ] {
        let judge = Scripted::new(&[verdict]);
        let scorer = ModelGraded {
            judge: judge.clone(),
            rubric: "The answer names {target}.".into(),
        };
        let score = scorer.score(&st).await.unwrap();
        assert_eq!(score.value, value, "{verdict}");
        let prompt = &judge.seen.lock().unwrap()[0].messages[0].content;
        assert!(
            prompt.contains("The answer names Paris.") && prompt.contains("[Answer]\nParis"),
            "{prompt}"
        );
    }
    let judge = Scripted::new(&["I think it is fine."]);
    let err = ModelGraded {
        judge,
        rubric: "x".into(),
    }
    .score(&st)
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no GRADE line"), "{err}");
}
