//! `emmental audit verify|export` and `emmental review list|show|approve|reject`, run as the
//! binary against real store files that the guard's API wrote.

use std::path::Path;
use std::process::{Command, Output};

use emmental_store::{AuditEvent, NewReview, ReviewStatus, Store};
use serde_json::{Value, json};

fn emmental(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args(args)
        .current_dir(dir)
        .env_remove("EMMENTAL_STORE")
        .env_remove("EMMENTAL_REVIEWER")
        .output()
        .expect("run emmental")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A store with `n` audit records, as the guard writes them.
fn store_with_records(path: &Path, n: usize) {
    runtime().block_on(async {
        let store = Store::open(path).await.unwrap();
        for i in 0..n {
            store
                .append_audit(vec![
                    AuditEvent::new(format!("req-{i}"), "input", "allow")
                        .layer("input.injection")
                        .detail(json!({"score": 0.02, "timings_us": {"scan": 40 + i}})),
                ])
                .await
                .unwrap();
        }
        store.close().await;
    });
}

fn tamper(path: &Path, sql: &str) {
    runtime().block_on(async {
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new().filename(path),
        )
        .await
        .unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
}

#[test]
fn verify_refuses_a_missing_store_and_does_not_create_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["audit", "verify"],
        vec!["audit", "verify", "--store", "elsewhere/guard.db"],
        vec!["audit", "export"],
        vec!["review", "list"],
    ] {
        let o = emmental(&args, dir.path());
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("no store at"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn verify_prints_the_head_and_succeeds_on_an_intact_chain() {
    let dir = tempfile::tempdir().unwrap();
    // The default store is emmental.db in the working directory.
    store_with_records(&dir.path().join("emmental.db"), 5);
    let o = emmental(&["audit", "verify"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("5 records, OK"), "{text}");
    let head = text
        .lines()
        .find_map(|l| l.strip_prefix("head "))
        .unwrap()
        .to_owned();
    assert!(head.starts_with("5:") && head.len() == 66, "{head}");

    let o = emmental(&["audit", "verify", "--format", "json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["records"], 5);
    assert_eq!(
        format!(
            "{}:{}",
            v["head"]["seq"],
            v["head"]["hash"].as_str().unwrap()
        ),
        head
    );
    assert_eq!(v["problems"], json!([]));

    let o = emmental(&["audit", "verify", "--expect-head", &head], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn verify_fails_on_a_tampered_row_and_says_which_and_how() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    store_with_records(&path, 6);
    tamper(
        &path,
        "UPDATE audit_log SET verdict = 'block' WHERE seq = 4",
    );
    tamper(&path, "DELETE FROM audit_log WHERE seq = 2");
    let store = path.to_str().unwrap();

    let o = emmental(&["audit", "verify", "--store", store], dir.path());
    assert!(!o.status.success());
    let text = stdout(&o);
    assert!(text.contains("5 records, 2 problems"), "{text}");
    assert!(text.contains("record 2: missing"), "{text}");
    assert!(text.contains("record 4: edited"), "{text}");
    assert!(
        stderr(&o).contains("failed verification: 2 problems"),
        "{}",
        stderr(&o)
    );

    // The store path can come from the environment, as with `emmental eval`.
    let o = Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args(["audit", "verify", "--format", "json"])
        .current_dir(dir.path())
        .env("EMMENTAL_STORE", store)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problems_total"], 2);
    let kinds: Vec<_> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["seq"].as_i64().unwrap(), p["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [(2, "missing"), (4, "edited")]);
}

#[test]
fn verify_against_a_recorded_head_catches_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    store_with_records(&path, 4);
    let store = path.to_str().unwrap();
    let o = emmental(
        &["audit", "verify", "--store", store, "--format", "json"],
        dir.path(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let head = format!(
        "{}:{}",
        v["head"]["seq"],
        v["head"]["hash"].as_str().unwrap()
    );

    tamper(&path, "DELETE FROM audit_log WHERE seq = 4");
    // The chain alone still verifies …
    let o = emmental(&["audit", "verify", "--store", store], dir.path());
    assert!(o.status.success(), "{}", stdout(&o));
    // … the recorded head does not.
    let o = emmental(
        &["audit", "verify", "--store", store, "--expect-head", &head],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stdout(&o).contains("truncated"), "{}", stdout(&o));

    for bad in ["4", "x:y", &format!("0:{}", "a".repeat(64))] {
        let o = emmental(
            &["audit", "verify", "--store", store, "--expect-head", bad],
            dir.path(),
        );
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("is not SEQ:HASH"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn export_writes_one_canonical_record_per_line_to_stdout_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    store_with_records(&path, 7);
    let store = path.to_str().unwrap();
    let expected: Vec<String> = runtime().block_on(async {
        let s = Store::open(&path).await.unwrap();
        let records = s.audit_records(0, 100).await.unwrap();
        records.iter().map(|r| r.to_json_line()).collect()
    });

    let o = emmental(&["audit", "export", "--store", store], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<String> = stdout(&o).lines().map(str::to_owned).collect();
    assert_eq!(lines, expected);
    let mut prev = "0".repeat(64);
    for (i, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i as i64 + 1);
        assert_eq!(v["prev_hash"], prev.as_str());
        assert!(v["ts"].is_string() && v["detail"]["score"] == 0.02);
        prev = v["hash"].as_str().unwrap().to_owned();
    }

    let out = dir.path().join("audit.jsonl");
    let o = emmental(
        &[
            "audit",
            "export",
            "--store",
            store,
            "--out",
            out.to_str().unwrap(),
            "--after",
            "5",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exported 2 audit records"),
        "{}",
        stderr(&o)
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert_eq!(written.lines().collect::<Vec<_>>(), expected[5..]);
}

fn enqueue(path: &Path, requests: &[&str]) -> Vec<String> {
    runtime().block_on(async {
        let store = Store::open(path).await.unwrap();
        let mut ids = Vec::new();
        for request in requests {
            ids.push(
                store
                    .enqueue_review(NewReview {
                        request_id: (*request).into(),
                        key_id: Some("k-77".into()),
                        layer: "output.harm".into(),
                        reason: "harm score 0.91".into(),
                        exchange: json!({"messages": [{"role": "user", "content": "hello"}],
                                         "response": "a held answer"}),
                    })
                    .await
                    .unwrap(),
            );
        }
        store.close().await;
        ids
    })
}

#[test]
fn reviewers_list_show_and_decide_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    let ids = enqueue(&path, &["req-a", "req-b"]);
    let store = path.to_str().unwrap();

    let o = emmental(&["review", "list", "--store", store], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(&ids[0]) && text.contains(&ids[1]), "{text}");
    assert!(
        text.contains("pending") && text.contains("harm score 0.91"),
        "{text}"
    );

    let o = emmental(
        &["review", "show", &ids[0][..8], "--store", store],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.contains(&format!("review {} (pending)", ids[0])),
        "{text}"
    );
    assert!(text.contains("a held answer"), "{text}");
    assert!(text.contains("escalate"), "the audit trail: {text}");

    let o = emmental(
        &[
            "review",
            "approve",
            &ids[0][..8],
            "--store",
            store,
            "--by",
            "alice",
            "--note",
            "fine",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("review {} approved by alice", ids[0])),
        "{}",
        stdout(&o)
    );

    // Deciding again is refused, and says what was decided.
    let o = emmental(
        &["review", "reject", &ids[0], "--store", store, "--by", "bob"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("already approved (by alice"),
        "{}",
        stderr(&o)
    );

    let o = Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args([
            "review", "reject", &ids[1], "--store", store, "--format", "json",
        ])
        .env("EMMENTAL_REVIEWER", "carol")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["status"].as_str(), v["decided_by"].as_str()),
        (Some("rejected"), Some("carol"))
    );

    let o = emmental(&["review", "list", "--store", store], dir.path());
    assert!(stdout(&o).contains("no pending reviews"), "{}", stdout(&o));
    let o = emmental(
        &[
            "review", "list", "--store", store, "--status", "all", "--format", "json",
        ],
        dir.path(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let statuses: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (ids[0].clone(), "approved".to_owned()),
            (ids[1].clone(), "rejected".to_owned())
        ]
    );

    // The decisions are in the audit chain, which still verifies.
    let o = emmental(
        &[
            "review", "show", &ids[0], "--store", store, "--format", "json",
        ],
        dir.path(),
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let verdicts: Vec<_> = v["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["escalate", "approve"]);
    assert_eq!(v["audit"][1]["detail"]["note"], "fine");
    let o = emmental(&["audit", "verify", "--store", store], dir.path());
    assert!(o.status.success(), "{}", stdout(&o));
    assert!(stdout(&o).contains("4 records, OK"), "{}", stdout(&o));

    let statuses = runtime().block_on(async {
        let s = Store::open(&path).await.unwrap();
        let items = s.review_items(None, 10).await.unwrap();
        items.into_iter().map(|i| i.status).collect::<Vec<_>>()
    });
    assert_eq!(statuses, [ReviewStatus::Approved, ReviewStatus::Rejected]);
}

#[test]
fn unknown_ids_and_anonymous_decisions_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guard.db");
    let ids = enqueue(&path, &["req-a"]);
    let store = path.to_str().unwrap();
    for args in [
        vec!["review", "show", "zzzz", "--store", store],
        vec![
            "review", "approve", "zzzz", "--store", store, "--by", "alice",
        ],
    ] {
        let o = emmental(&args, dir.path());
        assert!(!o.status.success());
        assert!(
            stderr(&o).contains("no review id starts with \"zzzz\""),
            "{}",
            stderr(&o)
        );
    }
    let o = Command::new(env!("CARGO_BIN_EXE_emmental"))
        .args(["review", "approve", &ids[0], "--store", store])
        .env_remove("EMMENTAL_REVIEWER")
        .env_remove("USER")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--by NAME"), "{}", stderr(&o));
    let o = emmental(
        &["review", "list", "--store", store, "--status", "done"],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("invalid value 'done'"),
        "{}",
        stderr(&o)
    );
}
