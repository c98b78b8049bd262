//! The runner's behaviour with a scripted model: concurrency, timeouts, error budget,
//! resume, epochs, cancellation.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use emmental_core::{FinishReason, GenerateRequest, Generation, Model, ModelError, Usage};
use emmental_eval::runner::{Cancel, ErrorBudget, MemorySink, RunOptions, RunStatus, run};
use emmental_eval::scorer::Includes;
use emmental_eval::{Dataset, Sample, Target, Task};

/// Answers "answer to <prompt>" after `delay`; prompts containing "fail" error, "hang" never end.
struct Scripted {
    delay: Duration,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    calls: AtomicUsize,
    max_tokens_seen: std::sync::Mutex<Vec<Option<u32>>>,
}

impl Scripted {
    fn new(delay_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            delay: Duration::from_millis(delay_ms),
            in_flight: 0.into(),
            max_in_flight: 0.into(),
            calls: 0.into(),
            max_tokens_seen: Default::default(),
        })
    }
}

#[async_trait]
impl Model for Scripted {
    fn id(&self) -> &str {
        "test/scripted"
    }
    async fn generate(&self, req: &GenerateRequest) -> Result<Generation, ModelError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.max_tokens_seen.lock().unwrap().push(req.max_tokens);
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        let prompt = req.messages.last().unwrap().content.clone();
        let wait = if prompt.contains("hang") {
            Duration::from_secs(3600)
        } else {
            self.delay
        };
        tokio::time::sleep(wait).await;
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        if prompt.contains("fail") {
            return Err(ModelError::Http {
                status: 500,
                url: "test".into(),
                attempts: 1,
                message: "scripted failure".into(),
            });
        }
        Ok(Generation {
            text: format!("answer to {prompt}"),
            finish_reason: FinishReason::Stop,
            usage: Usage {
                prompt_tokens: 3,
                completion_tokens: 4,
            },
            latency: wait,
            model: "scripted".into(),
        })
    }
}

fn task(prompts: &[&str]) -> Task {
    let samples = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            Sample::new(format!("s{i}"), *p).with_target(Target::text(if i % 2 == 0 {
                "answer"
            } else {
                "nope"
            }))
        })
        .collect();
    Task::builder("t", Dataset::new("d", samples).unwrap())
        .scorer(Includes)
        .build()
}

fn opts(concurrency: usize) -> RunOptions {
    RunOptions {
        concurrency,
        sample_timeout: Duration::from_secs(5),
        error_budget: ErrorBudget::Fraction(0.5),
        ..RunOptions::default()
    }
}

#[tokio::test]
async fn concurrency_is_bounded_and_every_sample_is_scored() {
    let model = Scripted::new(20);
    let prompts: Vec<String> = (0..40).map(|i| format!("q{i}")).collect();
    let t = task(&prompts.iter().map(String::as_str).collect::<Vec<_>>());
    let sink = MemorySink::default();
    let out = run(
        &[t],
        model.clone(),
        &opts(8),
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Complete);
    assert_eq!(out.finished, 40);
    assert!(model.max_in_flight.load(Ordering::SeqCst) <= 8);
    assert!(
        model.max_in_flight.load(Ordering::SeqCst) >= 4,
        "runs concurrently"
    );
    let recs = sink.0.lock().unwrap();
    assert_eq!(
        recs.iter()
            .filter(|r| r.score.as_ref().unwrap().value == 1.0)
            .count(),
        20
    );
    assert!(recs.iter().all(
        |r| r.usage.completion_tokens == 4 && r.state.as_ref().unwrap().generations.len() == 1
    ));
}

#[tokio::test]
async fn failures_are_recorded_not_fatal_within_the_budget() {
    let model = Scripted::new(1);
    let t = task(&["ok", "fail", "ok", "ok", "ok"]);
    let sink = MemorySink::default();
    let out = run(
        &[t],
        model,
        &opts(2),
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (out.status, out.errors, out.finished),
        (RunStatus::Complete, 1, 5)
    );
    let recs = sink.0.lock().unwrap();
    let failed = recs.iter().find(|r| r.sample == "s1").unwrap();
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .contains("scripted failure")
    );
    assert!(failed.score.is_none());
}

#[tokio::test]
async fn exceeding_the_error_budget_stops_the_run() {
    let model = Scripted::new(1);
    let prompts: Vec<&str> = vec!["fail"; 30];
    let sink = MemorySink::default();
    let mut o = opts(1);
    o.error_budget = ErrorBudget::Count(3);
    let out = run(
        &[task(&prompts)],
        model.clone(),
        &o,
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.status, RunStatus::Failed);
    assert_eq!(out.errors, 4, "stops at the first error past the budget");
    assert!(model.calls.load(Ordering::SeqCst) < 30);
}

#[tokio::test]
async fn a_sample_that_hangs_times_out() {
    let model = Scripted::new(1);
    let sink = MemorySink::default();
    let mut o = opts(2);
    o.sample_timeout = Duration::from_millis(200);
    let out = run(
        &[task(&["ok", "hang"])],
        model,
        &o,
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(out.errors, 1);
    let recs = sink.0.lock().unwrap();
    assert!(
        recs.iter()
            .find(|r| r.sample == "s1")
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("timed out")
    );
}

#[tokio::test]
async fn finished_samples_are_skipped_on_resume() {
    let model = Scripted::new(1);
    let t = task(&["a", "b", "c", "d"]);
    let done: HashSet<_> = [
        ("t".to_string(), "s0".to_string(), 0u32),
        ("t".into(), "s2".into(), 0),
    ]
    .into();
    let sink = MemorySink::default();
    let out = run(
        &[t],
        model.clone(),
        &opts(2),
        &done,
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!((out.finished, out.skipped), (2, 2));
    assert_eq!(model.calls.load(Ordering::SeqCst), 2);
    let ids: HashSet<String> = sink
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.sample.clone())
        .collect();
    assert_eq!(ids, ["s1".to_string(), "s3".to_string()].into());
}

#[tokio::test]
async fn epochs_repeat_samples_with_distinct_seeds() {
    let model = Scripted::new(1);
    let mut t = task(&["a", "b"]);
    t.epochs = 3;
    let sink = MemorySink::default();
    let mut o = opts(2);
    o.generate.seed = Some(7);
    run(&[t], model, &o, &HashSet::new(), &sink, &Cancel::default())
        .await
        .unwrap();
    let recs = sink.0.lock().unwrap();
    assert_eq!(recs.len(), 6);
    let keys: HashSet<(String, u32)> = recs.iter().map(|r| (r.sample.clone(), r.epoch)).collect();
    assert_eq!(keys.len(), 6);
}

#[tokio::test]
async fn cancelling_stops_new_samples_and_reports_cancelled() {
    let model = Scripted::new(50);
    let prompts: Vec<String> = (0..100).map(|i| format!("q{i}")).collect();
    let t = task(&prompts.iter().map(String::as_str).collect::<Vec<_>>());
    let sink = MemorySink::default();
    let cancel = Cancel::default();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(180)).await;
        c.cancel();
    });
    let out = run(&[t], model, &opts(2), &HashSet::new(), &sink, &cancel)
        .await
        .unwrap();
    assert_eq!(out.status, RunStatus::Cancelled);
    assert!(
        out.finished < 100 && out.finished >= 2,
        "finished {}",
        out.finished
    );
    assert_eq!(sink.0.lock().unwrap().len(), out.finished);
}

#[tokio::test]
async fn a_tasks_answer_cap_reaches_the_model_unless_the_run_sets_one() {
    let model = Scripted::new(1);
    let mut t = task(&["a"]);
    t.max_tokens = Some(48);
    let sink = MemorySink::default();
    run(
        &[t],
        model.clone(),
        &opts(1),
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    let mut o = opts(1);
    o.generate.max_tokens = Some(7);
    let mut t = task(&["a"]);
    t.max_tokens = Some(48);
    run(
        &[t],
        model.clone(),
        &o,
        &HashSet::new(),
        &sink,
        &Cancel::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        *model.max_tokens_seen.lock().unwrap(),
        vec![Some(48), Some(7)]
    );
}
