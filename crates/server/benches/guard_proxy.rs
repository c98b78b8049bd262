//! What the guard proxy costs: latency added (p50/p99) and throughput at concurrency 50, with a
//! fixed-latency stub as the upstream, for (a) no layers, (b) the non-ML layers, (c) the
//! non-ML layers plus the encoder-based detectors and (d) the default policy that
//! `emmental guard init` writes (PII with its NER head on both sides, injection, two harm layers
//! on the answer), and (e), (c) with injection judging beside the upstream call
//! (`beside_upstream = true`). The baseline is the same load sent straight
//! to the stub in the same run. A bare forwarder (f), which only passes bytes to the stub and
//! back, shows what any proxy adds on this machine before it does any work.
//!
//!   cargo bench -p emmental-server --bench guard_proxy [-- REQUESTS [DELAY_MS]]
//!
//! Each configuration runs four loads:
//! - a closed loop of 50 clients (throughput; each client sends its next request as soon as
//!   its answer is in, so the loop runs as fast as the two cores allow: with 50 clients and a
//!   10 ms upstream, a proxy that lowers the throughput from X to Y adds 50/Y − 50/X seconds
//!   to the mean, and the added latency there is mostly the wait for a core);
//! - one request at a time (the latency a request pays for the layers on an idle proxy),
//!   alternating with requests straight to the stub, which are its baseline (see
//!   [`one_paired`]);
//! - an open loop: requests arriving at random at a fixed rate, `BENCH_RATE` per second for
//!   (f), (a) and (b) (default 2,000, the throughput the issue asks for) and `BENCH_RATE_C`
//!   for (c) (default 30: below the some 40 requests a second two cores can encode, so that
//!   the figure is a latency, not a queue) and `BENCH_RATE_D` for (d) (default 15), latency
//!   counted from each request's scheduled arrival;
//! - streamed: the closed loop of 50 clients asking for streamed answers (the stub sends the
//!   reply in pieces of 4 characters, about 80 events), read to the end: what the stream guard's
//!   sliding window costs per answer.
//!
//! Every p99 comes with its 95% interval (order statistics); "added" is the difference from
//! the same load sent straight to the stub (one at a time: from the direct requests sent
//! between the proxied ones). The closed loops count only requests sent after
//! five rounds of their clients on the same connections (see [`load_of`]); BENCH_DUMP=PREFIX
//! writes each closed loop's latencies over time (see [`dump_latencies`]).
//!
//! Stub, proxy and load generator run on separate runtimes in this one process (stub: 1 thread,
//! proxy: 2, client: 1), so on a 2-core machine they compete for the cores as separate
//! processes would.

use std::sync::Arc;
use std::time::{Duration, Instant};

use emmental_detectors::Resources;
use emmental_guard::{Guard, GuardConfig};
use emmental_server::guard::{GuardState, serve_guard};
use emmental_server::stub;
use emmental_store::Store;
use serde_json::json;

const CONCURRENCY: usize = 50;

const PROMPT: &str = "Hi, I'm writing about my order from last week. The parcel never arrived and the tracking \
page has not changed since Tuesday. Could you check what happened and tell me whether I should wait or ask \
for a refund? I would also like to know how long refunds usually take to reach a bank account. Thanks a lot.";

const NON_ML: &str = r#"
[[input]]
scanner = "unicode"
action = "normalize"
[[input]]
scanner = "secrets"
action = "block"
[[input]]
scanner = "pii.rules"
action = "redact"
[[input]]
scanner = "ban_substrings"
substrings = ["project titan", "internal only"]
action = "block"
[[output]]
scanner = "secrets"
action = "block"
[[output]]
scanner = "pii.rules"
action = "redact"
[[output]]
scanner = "exfiltration"
action = "block"
"#;

// Injection flags rather than blocks here: the detector's cost is the same, and every request
// then reaches the upstream, so the three configurations do the same work around it (and a
// timing run on random weights, BENCH_RANDOM_MODEL, cannot block at random).
const ML: &str = r#"
[[input]]
scanner = "injection"
action = "flag"
[[output]]
scanner = "harm"
action = "flag"
"#;

/// A runtime whose threads are named (`perf report --sort comm` then splits the work).
fn runtime(threads: usize, name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
        .unwrap()
}

struct Stats {
    p50: f64,
    p99: f64,
    /// 95% interval of the p99, distribution-free (order statistics).
    p99_low: f64,
    p99_high: f64,
    rps: f64,
    errors: usize,
}

/// The ranks (0-based, into `n` sorted values) that bound a 95% interval of the `p` quantile:
/// the number of values below the true quantile is Binomial(n, p), normal approximation.
fn quantile_interval(n: usize, p: f64) -> (usize, usize) {
    let mid = p * n as f64;
    let half = 1.96 * (n as f64 * p * (1.0 - p)).sqrt();
    let low = (mid - half).floor().max(0.0) as usize;
    let high = ((mid + half).ceil() as usize).min(n - 1);
    (low.min(n - 1), high)
}

/// The text of request `i`: the same prompt with a case number before it and a ticket number
/// after it, so that no two texts are equal and no part of one is another's. The detectors
/// keep an embedding cache, and the encoder-based ones embed windows of a text as well as the
/// whole: with a number only at its end, the first window (two thirds of the prompt) was the
/// same in every request and always in the cache.
fn content(i: usize) -> String {
    format!("Case {i}: {PROMPT} (ticket {i})")
}

/// The request body of request `i` (see [`content`]). The stub's `reply` model answers with
/// the prompt's words reversed: an echo would give the answer-judging detector the prompt's
/// windows, which the input layers had just put in the cache.
fn body(i: usize) -> String {
    json!({"model": "reply", "messages": [{"role": "user", "content": content(i)}]}).to_string()
}

/// [`body`], asking for a streamed answer.
fn stream_body(i: usize) -> String {
    json!({"model": "reply", "stream": true, "messages": [{"role": "user", "content": content(i)}]})
        .to_string()
}

fn load(client_rt: &tokio::runtime::Runtime, url: &str, n: usize, concurrency: usize) -> Stats {
    load_of(client_rt, url, n, concurrency, body)
}

/// A closed loop of `concurrency` clients sending `n` requests, request `i` with `make(i)`.
///
/// The clients first send [`warm_up`] requests that are not counted, on the same connections
/// and without a pause: the measured requests then find the connections open and the loop in
/// its steady state. (Fresh connections made the first wave of 50 the slowest requests of a
/// run, and with 5,000 requests one wave is the whole 1% tail: the p99 measured the
/// connection set-up, direct and through the proxy alike.)
fn load_of(
    client_rt: &tokio::runtime::Runtime,
    url: &str,
    n: usize,
    concurrency: usize,
    make: fn(usize) -> String,
) -> Stats {
    let url = format!("{url}/chat/completions");
    let warm = warm_up(concurrency);
    client_rt.block_on(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(concurrency)
            .build()
            .unwrap();
        // Each loop its own numbers: a loop that repeated an earlier loop's texts (the streamed
        // one, say, after the plain one) could find their embeddings in the encoder's cache.
        let run = LOOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let first = n * 7919 + run * 100_003;
        let bodies: Arc<Vec<String>> = Arc::new((0..warm + n).map(|i| make(first + i)).collect());
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        // When the first counted request was sent.
        let started = Arc::new(std::sync::OnceLock::new());
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, url, bodies, next, started) = (
                client.clone(),
                url.clone(),
                bodies.clone(),
                next.clone(),
                started.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= warm + n {
                        break;
                    }
                    let t = Instant::now();
                    if i == warm {
                        let _ = started.set(t);
                    }
                    let ok = post(&client, &url, bodies[i].clone()).await;
                    if i < warm {
                        continue;
                    }
                    if ok {
                        lat.push((t, t.elapsed().as_secs_f64() * 1000.0));
                    } else {
                        errors += 1;
                    }
                }
                (lat, errors)
            }));
        }
        let mut lat = Vec::new();
        let mut errors = 0;
        for w in workers {
            let (l, e) = w.await.unwrap();
            lat.extend(l);
            errors += e;
        }
        let started = *started
            .get()
            .expect("the loop reached its counted requests");
        dump_latencies(&lat, started, run + 1);
        let lat = lat.into_iter().map(|(_, ms)| ms).collect();
        stats(lat, errors, started.elapsed().as_secs_f64(), &url)
    })
}

/// One request at a time, `n` straight to the stub at `direct` and `n` through the proxy at
/// `proxied`, alternating (in turn each goes first), each on a connection of its own: both
/// series meet the same moments of the host, so the latency the proxy adds is not a
/// difference between two stretches of time. Returns (direct, through the proxy).
fn one_paired(
    client_rt: &tokio::runtime::Runtime,
    direct: &str,
    proxied: &str,
    n: usize,
) -> (Stats, Stats) {
    let urls = [
        format!("{direct}/chat/completions"),
        format!("{proxied}/chat/completions"),
    ];
    client_rt.block_on(async move {
        let clients = [reqwest::Client::new(), reqwest::Client::new()];
        let run = LOOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let first = n * 7919 + run * 100_003;
        let warm = 5;
        let mut lat = [Vec::with_capacity(n), Vec::with_capacity(n)];
        let mut errors = [0, 0];
        for i in 0..warm + n {
            let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
            for k in order {
                let t = Instant::now();
                let ok = post(&clients[k], &urls[k], body(first + 2 * i + k)).await;
                if i < warm {
                    continue;
                }
                if ok {
                    lat[k].push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors[k] += 1;
                }
            }
        }
        // Each series' requests per second of its own time (one at a time: the sum of its
        // latencies).
        let wall = |l: &[f64]| l.iter().sum::<f64>() / 1000.0;
        let [d, p] = lat;
        let (wd, wp) = (wall(&d), wall(&p));
        (
            stats(d, errors[0], wd, &urls[0]),
            stats(p, errors[1], wp, &urls[1]),
        )
    })
}

/// Closed loops run so far, to number each one's texts apart.
static LOOPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Requests a closed loop sends before those it counts: five rounds of its clients.
fn warm_up(concurrency: usize) -> usize {
    5 * concurrency
}

/// BENCH_DUMP=PREFIX: each closed loop's counted requests, one line per request ("ms since the
/// first was sent, latency in ms", in order of sending), to PREFIX.1, PREFIX.2, … in the order
/// the loops run: to see whether a tail is spread over the run or comes in stalls.
fn dump_latencies(lat: &[(Instant, f64)], started: Instant, run: usize) {
    let Some(prefix) = std::env::var_os("BENCH_DUMP") else {
        return;
    };
    let mut rows: Vec<(f64, f64)> = lat
        .iter()
        .map(|(t, ms)| (t.duration_since(started).as_secs_f64() * 1000.0, *ms))
        .collect();
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let text: String = rows
        .iter()
        .map(|(at, ms)| format!("{at:.3} {ms:.3}\n"))
        .collect();
    let mut path = std::path::PathBuf::from(prefix);
    path.as_mut_os_string().push(format!(".{run}"));
    if let Err(e) = std::fs::write(&path, text) {
        eprintln!("BENCH_DUMP: cannot write {}: {e}", path.display());
    }
}

/// Sends one chat request and reads its answer whole; whether it succeeded.
async fn post(client: &reqwest::Client, url: &str, body: String) -> bool {
    let sent = client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => r.bytes().await.is_ok(),
        _ => false,
    }
}

/// Quantiles and rate of the latencies (ms) of the requests that succeeded.
fn stats(mut lat: Vec<f64>, errors: usize, wall: f64, url: &str) -> Stats {
    lat.sort_by(f64::total_cmp);
    assert!(
        !lat.is_empty(),
        "all {errors} requests to {url} failed: is the upstream (or the proxy) up?"
    );
    let q = |p: f64| lat[((p * (lat.len() - 1) as f64).round() as usize).min(lat.len() - 1)];
    let (low, high) = quantile_interval(lat.len(), 0.99);
    Stats {
        p50: q(0.5),
        p99: q(0.99),
        p99_low: lat[low],
        p99_high: lat[high],
        rps: lat.len() as f64 / wall,
        errors,
    }
}

/// Open-loop load: `n` requests arriving at random (a Poisson process of `rate` per second,
/// fixed seed) whether or not earlier ones have been answered, as independent clients would
/// send them. Each latency counts from the request's scheduled arrival, not from when it was
/// sent, so a client held back by a slow proxy is charged to the proxy (no coordinated
/// omission). A closed loop of 50 clients instead sends as fast as the proxy answers, and so
/// keeps the cores as busy as they can be.
fn open_loop(client_rt: &tokio::runtime::Runtime, url: &str, n: usize, rate: f64) -> Stats {
    let url = format!("{url}/chat/completions");
    let client = client_rt.block_on(async {
        reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap()
    });
    let bodies: Vec<String> = (0..n).map(|i| body(i + n * 104_729)).collect();
    let mut rng = emmental_core::rng::SplitMix64::new(0x00e3_e7a1);
    let handle = client_rt.handle().clone();
    let started = Instant::now();
    let task_url = url.clone();
    // A thread of its own that only sleeps and hands requests to the client's runtime: std's
    // sleep wakes within tens of microseconds, tokio's timer only on whole milliseconds.
    let arrivals = std::thread::Builder::new()
        .name("bench-client-arrivals".into())
        .spawn(move || {
            let mut at = started;
            let mut requests = Vec::with_capacity(n);
            for b in bodies {
                // Exponential gaps: -ln(U)/rate, U in (0, 1].
                at += Duration::from_secs_f64(-(1.0 - rng.next_f64()).ln() / rate);
                if let Some(wait) = at.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let (client, url, scheduled) = (client.clone(), task_url.clone(), at);
                requests.push(handle.spawn(async move {
                    post(&client, &url, b)
                        .await
                        .then(|| scheduled.elapsed().as_secs_f64() * 1000.0)
                }));
            }
            requests
        })
        .unwrap();
    let requests = arrivals.join().unwrap();
    let results: Vec<Option<f64>> = client_rt.block_on(async {
        let mut out = Vec::with_capacity(requests.len());
        for r in requests {
            out.push(r.await.unwrap());
        }
        out
    });
    let errors = results.iter().filter(|r| r.is_none()).count();
    let lat = results.into_iter().flatten().collect();
    stats(lat, errors, started.elapsed().as_secs_f64(), &url)
}

/// One thread's CPU time so far: its id, its name and seconds.
type ThreadCpu = (u64, String, f64);

/// CPU seconds used so far by each of this process's threads (Linux; empty elsewhere).
fn cpu_by_thread() -> Vec<ThreadCpu> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    // utime and stime are in clock ticks, 100 per second on Linux.
    const TICKS: f64 = 100.0;
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": the fields after the closing parenthesis.
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |x| x.1).to_string();
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the parenthesis.
        out.push((tid, name, (ticks(11) + ticks(12)) / TICKS));
    }
    out
}

/// CPU microseconds per request between two readings of [`cpu_by_thread`]: the proxy (its
/// runtime and blocking threads, the audit writer and its checkpointer), the stub and the
/// load generator (its runtime). Each thread alive at the second reading counts what it used
/// since the first (all of it if it started since). A thread that ended in between is not
/// counted: the open loop's arrival thread, and blocking threads, which tokio ends only after
/// 10 s idle.
fn cpu_per_request(before: &[ThreadCpu], after: &[ThreadCpu], requests: usize) -> String {
    let used = |prefixes: &[&str]| {
        let secs: f64 = after
            .iter()
            .filter(|(_, name, _)| prefixes.iter().any(|p| name.starts_with(p)))
            .map(|(tid, name, now)| {
                let then = before
                    .iter()
                    .find(|(t, n, _)| t == tid && n == name)
                    .map_or(0.0, |x| x.2);
                now - then
            })
            .sum();
        // An empty f64 sum is -0.0; adding 0.0 prints it as 0.
        (secs + 0.0) / requests as f64 * 1e6
    };
    format!(
        "proxy {:.0} (of which audit {:.0}), stub {:.0}, load generator {:.0}",
        used(&[
            "bench-proxy",
            // The threads that share the encoder's passes (rayon's, before them, were
            // started by a proxy thread and carried its name).
            "encoder-",
            "emmental-audit",
            "emmental-ckpt",
            "sqlx-sqlite"
        ]),
        used(&["emmental-audit", "emmental-ckpt"]),
        used(&["bench-stub"]),
        used(&["bench-client"]),
    )
}

/// The floor of any HTTP proxy here: a server on the proxy's runtime that passes each request
/// body to the upstream and the answer back, with the client library the guard uses, and does
/// nothing else (no parsing, no layers, no audit). Returns its base URL.
fn start_forwarder(proxy_rt: &tokio::runtime::Runtime, upstream: &str) -> String {
    proxy_rt
        .block_on(stub::relay(upstream, false))
        .expect("start the forwarder")
        .url
}

/// The `_sum` and `_count` series of the proxy's histograms, by full series name (none for a
/// server without `/metrics`).
fn scrape(client_rt: &tokio::runtime::Runtime, proxy_url: &str) -> Vec<(String, f64)> {
    let url = format!("{}/metrics", proxy_url.trim_end_matches("/v1"));
    let text = client_rt.block_on(async move {
        match reqwest::get(&url).await {
            Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
            _ => String::new(),
        }
    });
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(name, _)| name.contains("_seconds_sum") || name.contains("_seconds_count"))
        .filter_map(|(name, v)| Some((name.to_string(), v.parse().ok()?)))
        .collect()
}

/// Where the proxy's time went between two scrapes: mean milliseconds per request of each
/// histogram (whole request, upstream, audit commit, each layer).
fn breakdown(before: &[(String, f64)], after: &[(String, f64)]) -> String {
    let get = |v: &[(String, f64)], k: &str| v.iter().find(|(n, _)| n == k).map_or(0.0, |x| x.1);
    let mut parts = Vec::new();
    for (name, sum) in after {
        let Some(series) = name.strip_suffix("_sum").map(str::to_string).or_else(|| {
            let (base, labels) = name.split_once('{')?;
            Some(format!("{}{{{labels}", base.strip_suffix("_sum")?))
        }) else {
            continue;
        };
        let count_name = match series.split_once('{') {
            Some((base, labels)) => format!("{base}_count{{{labels}"),
            None => format!("{series}_count"),
        };
        let n = get(after, &count_name) - get(before, &count_name);
        if n > 0.0 {
            let ms = (sum - get(before, name)) / n * 1000.0;
            let short = series
                .trim_start_matches("emmental_guard_")
                .replace("_seconds", "")
                .replace("layer=", "")
                .replace("direction=", "")
                .replace('"', "");
            parts.push(format!("{short} {ms:.3}"));
        }
    }
    parts.sort();
    parts.join(", ")
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let delay: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    emmental_models::ensure_crypto_provider();
    let stub_rt = runtime(1, "bench-stub");
    // BENCH_PROXY_THREADS=N: the proxy's worker threads (default 2, one per core here).
    let proxy_threads = std::env::var("BENCH_PROXY_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(2);
    let proxy_rt = runtime(proxy_threads, "bench-proxy");
    let client_rt = runtime(1, "bench-client");
    let upstream = stub_rt
        .block_on(stub::start(Duration::from_millis(delay), false))
        .unwrap();
    // BENCH_RANDOM_MODEL=DIR: random weights of MiniLM's shape, for timing where the real
    // model cannot be fetched.
    let encoder = match emmental_models::local::encoder::bench_random_encoder() {
        Some(random) => Some(Arc::new(random.expect("random encoder"))),
        None => proxy_rt
            .block_on(emmental_models::load_local_encoder(
                emmental_models::catalog::DEFAULT_ENCODER,
                &emmental_models::LoadOptions::default(),
            ))
            .ok(),
    };
    // BENCH_DB_DIR=DIR keeps each configuration's audit store there (per-layer timings are in
    // the records' `micros`); by default they go to a temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let dir = std::env::var_os("BENCH_DB_DIR").map_or_else(|| tmp.path().to_owned(), Into::into);
    // BENCH_WEIGHTS=DIR: the detectors' heads from DIR instead of the shipped ones (every head
    // the layers use must be there), to compare two heads' cost in one run of the machine.
    let weights_dir = std::env::var_os("BENCH_WEIGHTS").map(std::path::PathBuf::from);
    // `policy`: a whole guard.toml; its upstream is replaced by the stub.
    let start_proxy = |name: &str, policy: &str| -> String {
        let mut cfg = GuardConfig::parse(name, policy).unwrap();
        cfg.upstream.url = upstream.url.clone();
        let mut res = match &encoder {
            Some(e) => Resources::with_encoder(e.clone()),
            None => Resources::default(),
        };
        res.weights_dir = weights_dir.clone();
        let guard = Guard::build(cfg, &res).unwrap();
        let store = proxy_rt
            .block_on(Store::open(&dir.join(format!("{name}.db"))))
            .unwrap();
        let state = GuardState::new(guard, store).unwrap();
        let listener = proxy_rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        proxy_rt.spawn(serve_guard(listener, state, std::future::pending()));
        url
    };
    // One at a time: enough requests that the p99 is not one or two slow ones (the 95%
    // interval printed beside it says how well it is known).
    let n1 = (n / 5).max(100);
    println!(
        "{n} requests at concurrency {CONCURRENCY}, then {n1} one at a time; upstream answers after {delay} ms; prompt {} characters between a case and a ticket number (no two requests alike)",
        PROMPT.len()
    );
    let report = |name: &str, s: &Stats, base: &Stats| {
        println!(
            "{name:<40} p50 {:>7.2} ms  p99 {:>7.2} ms ({:.2}–{:.2})  {:>7.0} req/s  errors {}  added p50 {:+.2} ms  added p99 {:+.2} ms  throughput {:.2}x direct",
            s.p50,
            s.p99,
            s.p99_low,
            s.p99_high,
            s.rps,
            s.errors,
            s.p50 - base.p50,
            s.p99 - base.p99,
            s.rps / base.rps
        );
    };
    // Warm up connections and caches.
    let _ = load(&client_rt, &upstream.url, 500, CONCURRENCY);
    let direct = load(&client_rt, &upstream.url, n, CONCURRENCY);
    let direct1 = load(&client_rt, &upstream.url, n1, 1);
    report("direct to the stub (baseline), c=50", &direct, &direct);
    report("direct to the stub (baseline), c=1", &direct1, &direct1);
    // Open loop: the non-ML configurations at the issue's throughput target, the encoder one
    // at a rate it holds with room to spare.
    let rate = |var: &str, default: f64| {
        std::env::var(var)
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|r: &f64| *r > 0.0)
            .unwrap_or(default)
    };
    let (rate_ab, rate_c, rate_d) = (
        rate("BENCH_RATE", 2000.0),
        rate("BENCH_RATE_C", 30.0),
        rate("BENCH_RATE_D", 15.0),
    );
    // At most 20 seconds of arrivals per phase.
    let open_n = |rate: f64| n.min((rate * 20.0) as usize).max(100);
    let mut direct_open = Vec::new();
    for r in [rate_ab, rate_c, rate_d] {
        let cpu = cpu_by_thread();
        let s = open_loop(&client_rt, &upstream.url, open_n(r), r);
        report(&format!("direct to the stub, open {r:.0}/s"), &s, &s);
        println!(
            "    CPU µs per request: {}",
            cpu_per_request(&cpu, &cpu_by_thread(), open_n(r))
        );
        direct_open.push((r, s));
    }
    // BENCH_LOADS=open (or "closed", "one", "stream", or several): only those loads through
    // the proxy.
    let loads = std::env::var("BENCH_LOADS").ok();
    let runs = |load: &str| loads.as_ref().is_none_or(|l| l.contains(load));
    let direct_stream = runs("stream").then(|| {
        let s = load_of(&client_rt, &upstream.url, n, CONCURRENCY, stream_body);
        report("direct to the stub, streamed, c=50", &s, &s);
        s
    });
    // `None`: the bare forwarder, not the guard.
    let layers = |layers: &str| Some(format!("[upstream]\nurl = \"{}\"\n{layers}", upstream.url));
    let mut configs = vec![
        ("f: bare forwarder (the floor)", None),
        ("a: no layers", layers("")),
        ("b: non-ML layers", layers(NON_ML)),
    ];
    if encoder.is_some() {
        configs.push((
            "c: non-ML + encoder detectors",
            layers(&format!("{NON_ML}{ML}")),
        ));
        // (c) with injection judging beside the upstream call (`beside_upstream = true`).
        configs.push((
            "e: (c) with injection beside the upstream",
            layers(&format!(
                "{NON_ML}{}",
                ML.replacen(
                    "action = \"flag\"\n",
                    "action = \"flag\"\nbeside_upstream = true\n",
                    1
                )
            )),
        ));
        // What `emmental guard init` writes: pii with its NER head on both sides, injection,
        // and two harm layers (flag, escalate) on the answer.
        configs.push((
            "d: the default policy (guard init)",
            Some(emmental_guard::config::DEFAULT_POLICY.to_string()),
        ));
    } else {
        println!(
            "(c) and (d) skipped: the encoder is not available (emmental models fetch all-minilm-l6-v2)"
        );
    }
    // BENCH_CONFIGS=b (or "ab", …): only those configurations, e.g. to profile one.
    let only = std::env::var("BENCH_CONFIGS").ok();
    for (name, layers) in configs {
        if let Some(only) = &only
            && !only.contains(&name[..1])
        {
            continue;
        }
        let url = match layers {
            Some(policy) => {
                start_proxy(&name.replace([':', ' ', '+', '-', '(', ')'], "_"), &policy)
            }
            None => start_forwarder(&proxy_rt, &upstream.url),
        };
        let _ = load(&client_rt, &url, 300, CONCURRENCY);
        if runs("closed") {
            let cpu = cpu_by_thread();
            let s = load(&client_rt, &url, n, CONCURRENCY);
            report(&format!("{name}, c=50"), &s, &direct);
            println!(
                "    CPU µs per request: {}",
                cpu_per_request(&cpu, &cpu_by_thread(), n)
            );
        }
        if runs("one") {
            let before = scrape(&client_rt, &url);
            let (base1, s1) = one_paired(&client_rt, &upstream.url, &url, n1);
            report(&format!("{name}, c=1"), &s1, &base1);
            println!(
                "    the same moments straight to the stub: p50 {:.2} ms, p99 {:.2} ms",
                base1.p50, base1.p99
            );
            if !before.is_empty() {
                println!(
                    "    proxy's own means at c=1, ms: {}",
                    breakdown(&before, &scrape(&client_rt, &url))
                );
            }
        }
        if let Some(base) = &direct_stream {
            let cpu = cpu_by_thread();
            let s = load_of(&client_rt, &url, n, CONCURRENCY, stream_body);
            report(&format!("{name}, streamed, c=50"), &s, base);
            println!(
                "    CPU µs per request: {}",
                cpu_per_request(&cpu, &cpu_by_thread(), n)
            );
        }
        if !runs("open") {
            continue;
        }
        let r = match &name[..1] {
            "c" | "e" => rate_c,
            "d" => rate_d,
            _ => rate_ab,
        };
        let (_, base) = direct_open
            .iter()
            .find(|(x, _)| *x == r)
            .expect("a baseline at each rate");
        let cpu = cpu_by_thread();
        let s = open_loop(&client_rt, &url, open_n(r), r);
        report(&format!("{name}, open {r:.0}/s"), &s, base);
        println!(
            "    CPU µs per request: {}",
            cpu_per_request(&cpu, &cpu_by_thread(), open_n(r))
        );
    }
}
