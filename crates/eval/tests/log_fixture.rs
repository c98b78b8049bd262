//! The eval log format: a log written by an earlier build must keep parsing.

use std::path::Path;

use emmental_eval::log::{EvalLog, LOG_VERSION};
use emmental_eval::runner::RunStatus;

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/eval_log_v1.json"
);

#[test]
fn the_reference_v1_log_keeps_parsing() {
    let log = EvalLog::read(Path::new(FIXTURE)).unwrap();
    assert_eq!(log.version, 1);
    assert_eq!(log.status, RunStatus::Complete);
    assert_eq!(log.model, "local/smollm2-135m");
    assert_eq!(log.options.generate.seed, Some(1));
    assert_eq!(log.tasks.len(), 1);
    assert_eq!(log.tasks[0].spec.scorer.id, "match");
    assert_eq!(log.tasks[0].estimate.n, 2);
    assert_eq!(log.samples.len(), 2);
    for s in &log.samples {
        let state = s.state.as_ref().expect("transcript kept");
        assert!(!state.generations.is_empty() && state.messages.len() >= 2);
        assert!(s.score.is_some() && s.usage.completion_tokens > 0);
    }
}

#[test]
fn a_log_round_trips_and_newer_or_broken_logs_are_refused_clearly() {
    let log = EvalLog::read(Path::new(FIXTURE)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = log.write(dir.path()).unwrap();
    let again = EvalLog::read(&written).unwrap();
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        serde_json::to_value(&log).unwrap()
    );

    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    v["version"] = (LOG_VERSION + 1).into();
    let newer = dir.path().join("newer.json");
    std::fs::write(&newer, v.to_string()).unwrap();
    let err = EvalLog::read(&newer).unwrap_err().to_string();
    assert!(
        err.contains(&format!("version {} is not supported", LOG_VERSION + 1)),
        "{err}"
    );

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"version\": 1, \"run_id\": 3}").unwrap();
    assert!(
        EvalLog::read(&broken)
            .unwrap_err()
            .to_string()
            .contains("malformed eval log")
    );
}
