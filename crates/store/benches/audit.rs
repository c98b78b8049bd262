//! Audit appends per second: one appender, and 50 concurrent appenders as under proxy load,
//! with the latency each caller waits for its commit; and verification speed.
//!
//! `cargo bench -p emmental-store --bench audit` (BENCH_SECONDS per case, default 3). Every
//! case writes a fresh SQLite file in a temporary directory. The baseline, measured in the same
//! run, is the naive way: one `INSERT` and one commit per event on the same kind of connection
//! (WAL, `synchronous = NORMAL`), without hashing; the ratio is what the chain and the batching
//! writer gain or cost.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use emmental_store::{AuditDurability, AuditEvent, Store};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

fn event(i: usize) -> AuditEvent {
    // A typical output-layer decision: scores, two spans, timings; no texts.
    AuditEvent::new(format!("req-{i:08}"), "output", "redact")
        .key_id("5e884898da280471")
        .layer("output.pii")
        .detail(json!({
            "scores": {"pii": 0.97, "secrets": 0.02},
            "spans": [
                {"type": "EMAIL_ADDRESS", "start": 112, "end": 131},
                {"type": "PHONE_NUMBER", "start": 150, "end": 166}
            ],
            "timings_us": {"pii": 84, "secrets": 31, "total": 140},
            "reason": "pii.redacted"
        }))
}

/// What the chain's canonical JSON (RFC 8785) costs per record, for the record the guard
/// writes most (a layer that let a request pass), against serde_json's plain writer on the
/// same value in the same run. Median of 15 batches of 20,000.
fn canonical_cost() {
    let record = json!({
        "seq": 30001, "ts": "2026-11-30T23:15:50.124381Z",
        "request_id": "req-01a22ebe40e1e2429a4d83", "key_id": "anonymous",
        "kind": "output", "layer": "pii.rules", "verdict": "allow",
        "detail": {"effect": "allow", "error": null, "label": "clean", "micros": 34,
                   "scanner": "pii.rules", "score": 0, "spans": [], "threshold": 0.5},
        "prev_hash": "d805826949eae508b48f655986089db3aa106bae37dc77cbd413af4a8c6795b5"
    });
    let median_us = |f: &dyn Fn() -> usize| {
        let mut per: Vec<f64> = (0..15)
            .map(|_| {
                let t = Instant::now();
                let mut len = 0;
                for _ in 0..20_000 {
                    len += f();
                }
                std::hint::black_box(len);
                t.elapsed().as_secs_f64() * 1e6 / 20_000.0
            })
            .collect();
        per.sort_by(f64::total_cmp);
        per[per.len() / 2]
    };
    let plain =
        median_us(&|| serde_json::to_string(std::hint::black_box(&record)).map_or(0, |s| s.len()));
    let jcs =
        median_us(&|| emmental_store::canonical::to_string(std::hint::black_box(&record)).len());
    println!(
        "canonical JSON of a decision record: {jcs:.2} µs ({:.1}x serde_json's {plain:.2} µs)",
        jcs / plain
    );
}

struct Outcome {
    events: usize,
    secs: f64,
    latencies: Vec<Duration>,
    /// CPU seconds this process spent (all threads: callers, writer, SQLite).
    cpu: Option<f64>,
}

/// User + system CPU seconds of this process so far (Linux: /proc/self/stat, in clock ticks of
/// 1/100 s); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs
    }

    fn line(&self, name: &str) -> String {
        let mut l = self.latencies.clone();
        l.sort();
        let q = |p: f64| l[((l.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
        let cpu = self.cpu.map_or("n/a".to_owned(), |c| {
            format!("{:.0} µs", c * 1e6 / self.events as f64)
        });
        format!(
            "{name:<58} {:>7.0} events/s  p50 {:>6.2} ms  p99 {:>6.2} ms  CPU/event {cpu:>6}  \
             (n = {})",
            self.rate(),
            q(0.5),
            q(0.99),
            self.events
        )
    }
}

/// `tasks` callers, each appending `per_call` events per call in a loop for `secs`.
async fn appends(
    path: &Path,
    tasks: usize,
    per_call: usize,
    durability: AuditDurability,
    secs: f64,
) -> Outcome {
    let store = Store::open(path).await.unwrap();
    store.set_audit_durability(durability);
    store.append_audit(vec![event(0)]).await.unwrap(); // start the writer
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let batch: Vec<_> = (0..per_call)
                        .map(|k| event(t * 10_000_000 + i + k))
                        .collect();
                    let called = Instant::now();
                    store.append_audit(batch).await.unwrap();
                    latencies.push(called.elapsed());
                    i += per_call;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu_start).map(|(end, start)| end - start);
    let v = store.verify_audit().await.unwrap();
    assert!(v.is_ok(), "the benchmark's own chain must verify");
    store.close().await;
    Outcome {
        events: latencies.len() * per_call,
        secs,
        latencies,
        cpu,
    }
}

/// The baseline: one INSERT and one commit per event, `tasks` callers sharing one write
/// connection, no hashing.
async fn naive(path: &Path, tasks: usize, secs: f64) -> Outcome {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal),
        )
        .await
        .unwrap();
    sqlx::query(
        "CREATE TABLE log (seq INTEGER PRIMARY KEY, ts TEXT, request_id TEXT, key_id TEXT, \
         kind TEXT, layer TEXT, verdict TEXT, detail TEXT)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let pool = Arc::new(pool);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let e = event(t * 10_000_000 + i);
                    let called = Instant::now();
                    sqlx::query(
                        "INSERT INTO log (ts, request_id, key_id, kind, layer, verdict, detail) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(emmental_store::now_rfc3339())
                    .bind(&e.request_id)
                    .bind(&e.key_id)
                    .bind(&e.kind)
                    .bind(&e.layer)
                    .bind(&e.verdict)
                    .bind(e.detail.to_string())
                    .execute(&*pool)
                    .await
                    .unwrap();
                    latencies.push(called.elapsed());
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    Outcome {
        events: latencies.len(),
        secs: start.elapsed().as_secs_f64(),
        latencies,
        cpu: cpu_seconds().zip(cpu_start).map(|(end, start)| end - start),
    }
}

async fn run() {
    let secs: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    let dir = tempfile::tempdir().unwrap();
    let mut case = 0;
    let mut fresh = || {
        case += 1;
        dir.path().join(format!("case-{case}.db"))
    };
    println!(
        "audit appends on {} cores, {secs} s per case",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    canonical_cost();

    let base_1 = naive(&fresh(), 1, secs).await;
    println!(
        "{}",
        base_1.line("baseline: 1 caller, 1 commit per event, no chain")
    );
    let base_50 = naive(&fresh(), 50, secs).await;
    println!(
        "{}",
        base_50.line("baseline: 50 callers, 1 commit per event, no chain")
    );

    for (tasks, per_call) in [(1, 1), (50, 1), (50, 3)] {
        for durability in [AuditDurability::Process, AuditDurability::PowerLoss] {
            let o = appends(&fresh(), tasks, per_call, durability, secs).await;
            let base = if tasks == 1 { &base_1 } else { &base_50 };
            println!(
                "{}   {:.1}x baseline",
                o.line(&format!(
                    "append_audit: {tasks} caller(s), {per_call} event(s)/call, {durability:?}"
                )),
                o.rate() / base.rate()
            );
        }
    }

    // Verification: a chain of 200,000 records.
    let path = fresh();
    let store = Store::open(&path).await.unwrap();
    for chunk in 0..200 {
        store
            .append_audit((0..1000).map(|i| event(chunk * 1000 + i)).collect())
            .await
            .unwrap();
    }
    let start = Instant::now();
    let v = store.verify_audit().await.unwrap();
    let took = start.elapsed().as_secs_f64();
    assert!(v.is_ok() && v.records == 200_000);
    println!(
        "verify_audit: {} records in {took:.2} s = {:.0} records/s",
        v.records,
        v.records as f64 / took
    );
}
