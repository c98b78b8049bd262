//! The binary's behaviour on good and bad input: clear messages, non-zero exits, no panics.

use std::process::{Command, Output};

/// Runs the binary; runs take turns, since a model run uses every core.
fn emmental(args: &[&str]) -> Output {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args(args)
        .output()
        .expect("run emmental")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn generate_answers_with_the_embedded_model() {
    let o = emmental(&[
        "generate",
        "--max-tokens",
        "24",
        "What is the capital of France?",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Paris"));
}

#[test]
fn generate_json_reports_usage_and_finish_reason() {
    let o = emmental(&["generate", "--json", "--max-tokens", "2", "Count to ten."]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 2);
    assert_eq!(v["model"], "local/smollm2-135m");
}

#[test]
fn bad_model_specs_and_settings_give_clear_errors() {
    for (args, expect) in [
        (
            vec!["generate", "--model", "gpt4", "x"],
            "expected PROVIDER/NAME",
        ),
        (
            vec!["generate", "--model", "local/nope", "x"],
            "known models: smollm2-135m",
        ),
        (
            vec!["generate", "--model", "hf/x", "x"],
            "unknown provider `hf`",
        ),
        (
            vec!["generate", "--temperature", "7", "x"],
            "`temperature` must be between 0 and 2",
        ),
        (vec!["serve", "--addr", "nowhere"], "is not HOST:PORT"),
        (vec!["models", "info", "nope"], "unknown model `nope`"),
    ] {
        let o = emmental(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(expect), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[test]
fn an_unreachable_server_is_reported_with_what_to_check() {
    // Port 9 (discard) on loopback: nothing listens there.
    let o = Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args([
            "generate",
            "--model",
            "openai/x",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "hi",
        ])
        .env("EMMENTAL_TEST_NO_KEY", "")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("cannot connect to http://127.0.0.1:9/v1"),
        "{err}"
    );
}

#[test]
fn wrong_flags_are_usage_errors() {
    let o = emmental(&["generate", "--no-such-flag", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--no-such-flag"));
}

#[test]
fn models_list_and_info_describe_the_catalog() {
    let o = emmental(&["models", "list", "--format", "json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["smollm2-135m", "all-minilm-l6-v2"]);
    let o = emmental(&["models", "info", "smollm2-135m"]);
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
    );
}

#[test]
fn embed_prints_one_vector_per_text() {
    let o = emmental(&["embed", "hello", "world"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["dimension"], 384);
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["text"], "world");
}

#[test]
fn prescreen_refuses_what_it_cannot_fit_with_a_clear_message() {
    let empty = std::env::temp_dir().join(format!("emmental-prescreen-cli-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let data = empty.to_str().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "detectors",
                "prescreen",
                "injection",
                "--data-dir",
                "/no/such/dir",
            ],
            "does not exist",
        ),
        (
            &[
                "detectors",
                "prescreen",
                "injection",
                "--data-dir",
                data,
                "--max-flagged-exits",
                "1.5",
            ],
            "--max-flagged-exits",
        ),
        (
            &["detectors", "prescreen", "pii", "--data-dir", data],
            "refusal, harm, injection",
        ),
        (
            &[
                "detectors",
                "prescreen",
                "injection",
                "--data-dir",
                data,
                "--layer",
                "9",
            ],
            "layer 9",
        ),
    ];
    for (args, want) in cases {
        let o = emmental(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&empty);
}
