//! Tasks: a dataset, a solver chain, scorers and the metric that summarises them, tagged with
//! the report sections they serve.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::stats::{Estimate, bootstrap_mean};
use crate::{Dataset, Score, Scorer, Solver};

/// How a task's per-sample scores become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of samples whose score is ≥ 0.5 (correct / detected), with its interval.
    Rate,
    /// Share of samples whose score is < 0.5 (e.g. harmful compliance when the scorer detects refusals).
    InverseRate,
    /// Mean score with a bootstrap interval (for graded, non-binary scores).
    Mean,
}

impl Metric {
    /// Summarises per-sample values (already aggregated over epochs).
    pub fn compute(&self, values: &[f64]) -> Estimate {
        match self {
            Metric::Rate => {
                Estimate::proportion(values.iter().filter(|v| **v >= 0.5).count(), values.len())
            }
            Metric::InverseRate => {
                Estimate::proportion(values.iter().filter(|v| **v < 0.5).count(), values.len())
            }
            Metric::Mean => bootstrap_mean(values, crate::stats::CONFIDENCE, 2000, 0x5eed),
        }
    }
}

/// How repeated samples (epochs) are combined into one value per sample before the metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EpochReducer {
    /// Mean over epochs (a sample answered right 2 times out of 3 scores 0.67).
    #[default]
    Mean,
    /// The majority outcome (≥ half the epochs).
    Mode,
    /// Correct if any epoch was (pass@k-style).
    Max,
    /// Correct only if every epoch was.
    Min,
}

impl EpochReducer {
    pub fn reduce(&self, values: &[f64]) -> f64 {
        if values.is_empty() {
            return f64::NAN;
        }
        match self {
            EpochReducer::Mean => values.iter().sum::<f64>() / values.len() as f64,
            EpochReducer::Mode => {
                let hits = values.iter().filter(|v| **v >= 0.5).count();
                if 2 * hits >= values.len() { 1.0 } else { 0.0 }
            }
            EpochReducer::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            EpochReducer::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        }
    }
}

/// A dataset, a solver chain, a scorer and a metric, with the report sections it serves.
pub struct Task {
    /// Stable id, e.g. `report.misuse.phishing`.
    pub id: String,
    pub title: String,
    /// Report section ids, e.g. `["4.1.1"]`.
    pub sections: Vec<String>,
    pub dataset: Dataset,
    pub solvers: Vec<Arc<dyn Solver>>,
    pub scorer: Arc<dyn Scorer>,
    pub metric: Metric,
    /// What the metric measures, in words ("harmful compliance rate").
    pub metric_name: String,
    pub epochs: u32,
    pub reducer: EpochReducer,
    /// Answer length cap used when the run sets none.
    pub max_tokens: Option<u32>,
}

impl Task {
    pub fn builder(id: impl Into<String>, dataset: Dataset) -> TaskBuilder {
        TaskBuilder {
            task: Task {
                id: id.into(),
                title: String::new(),
                sections: Vec::new(),
                dataset,
                solvers: Vec::new(),
                scorer: Arc::new(crate::scorer::Includes),
                metric: Metric::Rate,
                metric_name: "accuracy".into(),
                epochs: 1,
                reducer: EpochReducer::Mean,
                max_tokens: None,
            },
        }
    }

    /// Every component's id and arguments, for the log.
    pub fn spec(&self) -> TaskSpec {
        TaskSpec {
            id: self.id.clone(),
            title: self.title.clone(),
            sections: self.sections.clone(),
            dataset: self.dataset.name.clone(),
            samples: self.dataset.len(),
            solvers: self
                .solvers
                .iter()
                .map(|s| Component {
                    id: s.id().into(),
                    args: s.args(),
                })
                .collect(),
            scorer: Component {
                id: self.scorer.id().into(),
                args: self.scorer.args(),
            },
            metric: self.metric,
            metric_name: self.metric_name.clone(),
            epochs: self.epochs,
            reducer: self.reducer,
            max_tokens: self.max_tokens,
        }
    }

    /// Summarises scores given as `(sample id, epoch, score)`.
    pub fn summarise<'a>(
        &self,
        scores: impl IntoIterator<Item = (&'a str, u32, &'a Score)>,
    ) -> Estimate {
        let mut by_sample: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for (id, _, s) in scores {
            by_sample.entry(id).or_default().push(s.value);
        }
        let values: Vec<f64> = by_sample.values().map(|v| self.reducer.reduce(v)).collect();
        self.metric.compute(&values)
    }
}

/// Builds a [`Task`].
pub struct TaskBuilder {
    task: Task,
}

impl TaskBuilder {
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.task.title = t.into();
        self
    }
    pub fn section(mut self, s: impl Into<String>) -> Self {
        self.task.sections.push(s.into());
        self
    }
    pub fn solver(mut self, s: impl Solver + 'static) -> Self {
        self.task.solvers.push(Arc::new(s));
        self
    }
    pub fn scorer(mut self, s: impl Scorer + 'static) -> Self {
        self.task.scorer = Arc::new(s);
        self
    }
    pub fn scorer_arc(mut self, s: Arc<dyn Scorer>) -> Self {
        self.task.scorer = s;
        self
    }
    pub fn metric(mut self, m: Metric, name: impl Into<String>) -> Self {
        self.task.metric = m;
        self.task.metric_name = name.into();
        self
    }
    pub fn epochs(mut self, n: u32, reducer: EpochReducer) -> Self {
        self.task.epochs = n.max(1);
        self.task.reducer = reducer;
        self
    }
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.task.max_tokens = Some(n);
        self
    }
    pub fn build(mut self) -> Task {
        if self.task.title.is_empty() {
            self.task.title = self.task.id.clone();
        }
        if self.task.solvers.is_empty() {
            self.task.solvers.push(Arc::new(crate::solver::Generate));
        }
        self.task
    }
}

/// A component as recorded in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub id: String,
    #[serde(default)]
    pub args: Value,
}

/// A task as recorded in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub id: String,
    pub title: String,
    pub sections: Vec<String>,
    pub dataset: String,
    pub samples: usize,
    pub solvers: Vec<Component>,
    pub scorer: Component,
    pub metric: Metric,
    pub metric_name: String,
    pub epochs: u32,
    pub reducer: EpochReducer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_reduced_per_sample_before_the_metric() {
        let s = |v| Score {
            value: v,
            answer: None,
            explanation: None,
        };
        let scores = [
            ("a", 0, s(1.0)),
            ("a", 1, s(1.0)),
            ("a", 2, s(0.0)),
            ("b", 0, s(0.0)),
            ("b", 1, s(0.0)),
            ("b", 2, s(1.0)),
        ];
        let d = Dataset::new("d", vec![]).unwrap();
        let t = Task::builder("t", d).epochs(3, EpochReducer::Mode).build();
        let e = t.summarise(scores.iter().map(|(id, ep, s)| (*id, *ep, s)));
        // Two samples, not six: a passes (2/3), b fails (1/3).
        assert_eq!((e.n, e.value), (2, 0.5));
        assert_eq!(EpochReducer::Max.reduce(&[0.0, 1.0]), 1.0);
        assert_eq!(EpochReducer::Min.reduce(&[0.0, 1.0]), 0.0);
        assert!((EpochReducer::Mean.reduce(&[0.0, 1.0, 1.0]) - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn inverse_rate_counts_failures() {
        let e = Metric::InverseRate.compute(&[1.0, 1.0, 0.0, 1.0]);
        assert_eq!((e.value, e.n), (0.25, 4));
    }
}
