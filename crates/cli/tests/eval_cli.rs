//! `emmental eval` end to end: against `emmental serve` with the real embedded model, an
//! interrupted run resumed without repeating finished samples, public data sets through
//! adapters, and clear errors for bad input.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

fn write_dataset(dir: &Path, rows: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let path = dir.join("easy.jsonl");
    let lines: Vec<String> = rows
        .iter()
        .map(|(id, input, target)| {
            serde_json::json!({"id": id, "input": input, "target": target}).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

const EASY: &[(&str, &str, &str)] = &[
    (
        "france",
        "What is the capital of France? Answer in one word.",
        "Paris",
    ),
    (
        "sky",
        "What colour is a clear daytime sky? Answer in one word.",
        "blue",
    ),
    (
        "week",
        "How many days are in a week? Answer with a number.",
        "7",
    ),
    (
        "hot",
        "What is the opposite of hot? Answer in one word.",
        "cold",
    ),
    (
        "japan",
        "What is the capital of Japan? Answer in one word.",
        "Tokyo",
    ),
    (
        "legs",
        "How many legs does a spider have? Answer with a number.",
        "8",
    ),
];

fn store_samples(db: &Path, run: &str) -> BTreeMap<(String, String, u32), Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = emmental_store::Store::open(db).await.unwrap();
        let rows = store.samples(run).await.unwrap();
        store.close().await;
        rows.into_iter()
            .map(|r| ((r.task, r.sample, r.epoch), r.record))
            .collect()
    })
}

/// `emmental eval --format json` with its store (`runs.db`) and logs in `tmp`.
fn eval_cmd(tmp: &Path) -> std::process::Command {
    let mut cmd = common::emmental();
    cmd.args(["eval", "--format", "json", "--store"])
        .arg(tmp.join("runs.db"))
        .arg("--log-dir")
        .arg(tmp.join("logs"));
    cmd
}

/// Runs a command that must succeed; returns the JSON it printed and its stderr.
fn succeeded(cmd: &mut std::process::Command) -> (Value, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

/// Starts `emmental eval` on `data` in the background; returns the process, its stderr (past
/// the first line) and the run id that first line announces.
fn start_eval(
    data: &Path,
    db: &Path,
    tmp: &Path,
) -> (
    std::process::Child,
    BufReader<std::process::ChildStderr>,
    String,
) {
    let mut child = common::emmental()
        .args(["eval", "--dataset"])
        .arg(data)
        .args(["--scorer", "match", "--max-tokens", "16"])
        .arg("--store")
        .arg(db)
        .arg("--log-dir")
        .arg(tmp.join("logs"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let run = first
        .strip_prefix("run ")
        .and_then(|r| r.split(':').next())
        .expect("eval announces its run id")
        .to_string();
    (child, stderr, run)
}

#[test]
fn a_run_against_emmental_serve_scores_plausibly() {
    let _turn = common::turn();
    let server = common::serve(&["--embedder", "none"]);
    let tmp = tempfile::tempdir().unwrap();
    let data = write_dataset(tmp.path(), EASY);
    let (v, _) = succeeded(eval_cmd(tmp.path()).arg("--dataset").arg(&data).args([
        "--scorer",
        "match",
        "--model",
        "openai/smollm2-135m",
        "--base-url",
        &server.url,
        "--max-tokens",
        "24",
    ]));
    let e = &v["tasks"][0]["estimate"];
    assert_eq!(e["n"], 6);
    // A 135M model knows capitals and small numbers; it need not be perfect.
    assert!(e["value"].as_f64().unwrap() >= 0.5, "{e}");
    assert!(e["ci_low"].as_f64().unwrap() <= e["value"].as_f64().unwrap());
    assert!(e["ci_high"].as_f64().unwrap() >= e["value"].as_f64().unwrap());
    // The log records the model spec, the components and each transcript.
    let log: Value =
        serde_json::from_str(&std::fs::read_to_string(v["log"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(log["version"], 1);
    assert_eq!(log["model"], "openai/smollm2-135m");
    assert_eq!(log["tasks"][0]["spec"]["scorer"]["id"], "match");
    assert_eq!(log["samples"].as_array().unwrap().len(), 6);
    assert!(
        log["samples"][0]["state"]["generations"][0]["text"]
            .as_str()
            .is_some()
    );
}

#[test]
fn an_interrupted_run_resumes_without_repeating_finished_samples() {
    let _turn = common::turn();
    let tmp = tempfile::tempdir().unwrap();
    let data = write_dataset(tmp.path(), EASY);
    let db = tmp.path().join("runs.db");
    let (mut child, _stderr, run) = start_eval(&data, &db, tmp.path());
    // Kill it (SIGKILL: no chance to clean up) once at least two samples are stored.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "no samples were stored");
        if store_samples(&db, &run).len() >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = store_samples(&db, &run);
    assert!(
        before.len() < EASY.len(),
        "the run finished before it could be interrupted"
    );

    let (v, stderr) = succeeded(eval_cmd(tmp.path()).args(["--resume", &run[..12]]));
    let after = store_samples(&db, &run);
    assert_eq!(after.len(), EASY.len());
    for (key, record) in &before {
        // Identical to the microsecond timings: the sample was not run again.
        assert_eq!(after.get(key), Some(record), "{key:?} was repeated");
    }
    assert_eq!(v["status"], "complete");
    assert_eq!(v["tasks"][0]["estimate"]["n"], 6);
    assert!(
        stderr.contains(&format!("{} already done", before.len())),
        "{stderr}"
    );
}

fn data_dir() -> std::path::PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        d.is_dir(),
        "the shared data directory {} is missing",
        d.display()
    );
    d
}

#[test]
fn public_data_sets_run_through_their_adapters() {
    let _turn = common::turn();
    let tmp = tempfile::tempdir().unwrap();
    let (v, _) = succeeded(
        eval_cmd(tmp.path())
            .args(["xstest", "--limit", "2", "--max-tokens", "8", "--data-dir"])
            .arg(data_dir()),
    );
    let ids: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["spec"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["xstest.harmful", "xstest.benign"]);
    assert!(
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["estimate"]["n"] == 2)
    );
}

#[test]
fn runs_list_show_and_compare_read_the_store() {
    let _turn = common::turn();
    let tmp = tempfile::tempdir().unwrap();
    let data = write_dataset(tmp.path(), &EASY[..3]);
    let db = tmp.path().join("runs.db");
    let mut ids = Vec::new();
    for scorer in ["match", "exact"] {
        let (v, _) = succeeded(eval_cmd(tmp.path()).arg("--dataset").arg(&data).args([
            "--scorer",
            scorer,
            "--max-tokens",
            "12",
        ]));
        ids.push(v["run_id"].as_str().unwrap().to_string());
    }
    let list = common::emmental()
        .args(["runs", "list", "--format", "json", "--store"])
        .arg(&db)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    let show = common::emmental()
        .args(["runs", "show", &ids[0], "--store"])
        .arg(&db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("adhoc.easy"));
    let cmp = common::emmental()
        .args([
            "runs", "compare", &ids[0], &ids[1], "--format", "json", "--store",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        cmp.status.success(),
        "{}",
        String::from_utf8_lossy(&cmp.stderr)
    );
    let v: Value = serde_json::from_slice(&cmp.stdout).unwrap();
    let c = &v["tasks"][0]["comparison"];
    assert_eq!(c["n"], 3, "paired on the 3 shared samples");
    assert!(c["p_value"].as_f64().unwrap() <= 1.0);
}

#[test]
fn bad_eval_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"input\": \"ok\"}\n{broken\n").unwrap();
    let db = tmp.path().join("runs.db");
    for (args, expect) in [
        (
            vec!["eval", "nonsense-task"],
            "unknown task `nonsense-task`",
        ),
        (vec!["eval", "xstest"], "pass --data-dir"),
        (vec!["eval"], "no tasks given"),
        (vec!["eval", "--resume", "zzzz"], "zzzz"),
    ] {
        let out = common::emmental()
            .args(&args)
            .arg("--store")
            .arg(&db)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let out = common::emmental()
        .args(["eval", "--dataset"])
        .arg(&bad)
        .arg("--store")
        .arg(&db)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2: invalid JSON"), "{err}");
}

#[test]
fn assess_writes_a_report_per_section_with_intervals() {
    let _turn = common::turn();
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("report");
    let out = common::emmental()
        .args(["assess", "--limit", "1", "--out"])
        .arg(&out_dir)
        .arg("--store")
        .arg(tmp.path().join("runs.db"))
        .arg("--log-dir")
        .arg(tmp.path().join("logs"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report["model"], "local/smollm2-135m");
    assert_eq!(report["suite"], "report");
    assert!(report["run_id"].as_str().is_some_and(|r| !r.is_empty()));
    let areas = report["areas"].as_array().unwrap();
    let sections: Vec<&str> = areas
        .iter()
        .map(|a| a["section"].as_str().unwrap())
        .collect();
    for s in [
        "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2.1", "4.2.2", "4.2.3", "4.3.5",
    ] {
        assert!(sections.contains(&s), "no area for {s}: {sections:?}");
    }
    for row in areas
        .iter()
        .chain(report["capabilities"].as_array().unwrap())
        .chain([&report["over_refusal"]])
    {
        for key in [
            "section", "title", "metric", "value", "ci_low", "ci_high", "n", "meaning",
        ] {
            assert!(!row[key].is_null(), "{key} missing in {row}");
        }
        assert_eq!(row["n"], 1);
        let (lo, v, hi) = (
            row["ci_low"].as_f64().unwrap(),
            row["value"].as_f64().unwrap(),
            row["ci_high"].as_f64().unwrap(),
        );
        assert!(
            lo <= v && v <= hi && hi - lo > 0.5,
            "one sample cannot give a narrow interval: {row}"
        );
    }
    assert_eq!(report["capabilities"].as_array().unwrap().len(), 3);
    let md = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(md.contains("| 4.1.1 |") && md.contains("95% interval"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("harmful compliance rate") && stdout.contains("with 95% confidence"),
        "{stdout}"
    );
}

#[test]
fn ctrl_c_leaves_a_cancelled_run_that_resume_finishes() {
    let _turn = common::turn();
    let tmp = tempfile::tempdir().unwrap();
    let data = write_dataset(tmp.path(), EASY);
    let db = tmp.path().join("runs.db");
    let (mut child, mut stderr, run) = start_eval(&data, &db, tmp.path());
    let deadline = Instant::now() + Duration::from_secs(300);
    while store_samples(&db, &run).is_empty() {
        assert!(Instant::now() < deadline, "no samples were stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(status.success(), "an interrupted run exits cleanly: {rest}");
    assert!(
        rest.contains("interrupted") && rest.contains(&format!("--resume {run}")),
        "{rest}"
    );
    let done = store_samples(&db, &run).len();
    assert!(done < EASY.len(), "the run finished before the interrupt");

    let (v, _) = succeeded(eval_cmd(tmp.path()).args(["--resume", &run]));
    assert_eq!(v["status"], "complete");
    assert_eq!(store_samples(&db, &run).len(), EASY.len());
}

/// A scripted judge: an OpenAI-compatible endpoint that grades `C` when the answer it is shown
/// contains the word the rubric names, `I` otherwise, and remembers every prompt it was sent.
struct ScriptedJudge {
    url: String,
    prompts: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn scripted_judge() -> ScriptedJudge {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let prompts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = prompts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then exactly Content-Length bytes of body.
            let (head_end, len) = loop {
                let n = conn.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break (None, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    break (Some(i + 4), len);
                }
            };
            let Some(start) = head_end else { continue };
            while buf.len() < start + len {
                let n = conn.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body: Value = serde_json::from_slice(&buf[start..]).unwrap_or(Value::Null);
            let prompt = body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let answer = prompt
                .split("[Answer]")
                .nth(1)
                .and_then(|r| r.split("[Criterion]").next())
                .unwrap_or_default()
                .to_lowercase();
            let wanted = prompt
                .split("mentions ")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .unwrap_or("\u{0}")
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase();
            let grade = if answer.contains(&wanted) { "C" } else { "I" };
            seen.lock().unwrap().push(prompt);
            let reply = serde_json::json!({
                "id": "judge-1", "object": "chat.completion", "created": 0, "model": "judge",
                "choices": [{"index": 0, "finish_reason": "stop",
                    "message": {"role": "assistant", "content": format!("Checked.\nGRADE: {grade}")}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            })
            .to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    ScriptedJudge { url, prompts }
}

#[test]
fn model_graded_scorer_sends_each_answer_and_rubric_to_the_judge() {
    let _turn = common::turn();
    let server = common::serve(&["--embedder", "none"]);
    let judge = scripted_judge();
    let tmp = tempfile::tempdir().unwrap();
    let data = write_dataset(tmp.path(), &EASY[..3]);
    let run = |scorer: &str, extra: &[&str]| {
        succeeded(
            eval_cmd(tmp.path())
                .arg("--dataset")
                .arg(&data)
                .args([
                    "--scorer",
                    scorer,
                    "--max-tokens",
                    "16",
                    "--model",
                    "openai/smollm2-135m",
                    "--base-url",
                    &server.url,
                ])
                .args(extra),
        )
        .0
    };
    let graded = run(
        "model_graded",
        &[
            "--judge",
            "openai/judge",
            "--judge-base-url",
            &judge.url,
            "--rubric",
            "The answer mentions {target} as the answer.",
        ],
    );
    let plain = run("includes", &[]);
    // The judge saw every answer with the target put into the rubric, and its grades are the
    // scores: here the judge checks what `includes` checks, so the two runs must agree.
    let prompts = judge.prompts.lock().unwrap().clone();
    assert_eq!(prompts.len(), 3, "one judge call per sample");
    assert!(
        prompts
            .iter()
            .any(|p| p.contains("The answer mentions Paris as the answer."))
    );
    assert!(
        prompts
            .iter()
            .all(|p| p.contains("[Question]") && !p.contains("{target}"))
    );
    let (g, p) = (
        &graded["tasks"][0]["estimate"],
        &plain["tasks"][0]["estimate"],
    );
    assert_eq!(g["n"], 3);
    assert_eq!(g["value"], p["value"], "judge grades {g} vs includes {p}");
    let log: Value =
        serde_json::from_str(&std::fs::read_to_string(graded["log"].as_str().unwrap()).unwrap())
            .unwrap();
    let scorer = &log["tasks"][0]["spec"]["scorer"];
    assert_eq!(scorer["id"], "model_graded");
    assert_eq!(scorer["args"]["judge"], "openai/judge");
    // The judge's reasoning is kept with each score.
    assert!(
        log["samples"][0]["score"]["explanation"]
            .as_str()
            .unwrap()
            .contains("GRADE")
    );

    // Wrong combinations are refused before anything runs.
    let out = eval_cmd(tmp.path())
        .arg("--dataset")
        .arg(&data)
        .args(["--scorer", "model_graded"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--judge"));
}

#[test]
fn a_run_without_the_cache_starts_before_its_store_is_open_and_still_saves_everything() {
    emmental_models::ensure_crypto_provider();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let upstream = rt
        .block_on(emmental_server::stub::start(
            std::time::Duration::from_millis(5),
            false,
        ))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String, String)> = (0..200)
        .map(|i| {
            (
                format!("s{i}"),
                format!("question {i}"),
                format!("question {i}"),
            )
        })
        .collect();
    let refs: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let data = write_dataset(tmp.path(), &refs);
    let (v, _) = succeeded(eval_cmd(tmp.path()).arg("--dataset").arg(&data).args([
        "--scorer",
        "includes",
        "--no-cache",
        "--concurrency",
        "20",
        "--model",
        "openai/echo",
        "--base-url",
        &upstream.url,
    ]));
    // The stub echoes each question, so every sample is right, and every one is in the store.
    assert_eq!(v["tasks"][0]["estimate"]["n"], 200);
    assert_eq!(v["tasks"][0]["estimate"]["value"], 1.0);
    let run = v["run_id"].as_str().unwrap();
    assert_eq!(store_samples(&tmp.path().join("runs.db"), run).len(), 200);
    let show = common::emmental()
        .args(["runs", "show", run, "--format", "json", "--store"])
        .arg(tmp.path().join("runs.db"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&show.stdout).contains("complete"));
    // A store that cannot be opened fails the run with a clear message, not a hang or a panic.
    std::fs::write(tmp.path().join("not-a-db"), "plain text, not SQLite").unwrap();
    let out = common::emmental()
        .args(["eval", "--no-cache", "--dataset"])
        .arg(&data)
        .args([
            "--model",
            "openai/echo",
            "--base-url",
            &upstream.url,
            "--store",
        ])
        .arg(tmp.path().join("not-a-db"))
        .arg("--log-dir")
        .arg(tmp.path().join("logs"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-db") && err.contains("not"), "{err}");
}
