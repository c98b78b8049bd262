#!/usr/bin/env bash
# Reproduces the guard proxy figures: latency the proxy adds (p50/p99) and throughput at
# concurrency 50 against a fixed-latency stub upstream, for (a) no layers, (b) the non-ML layers
# (unicode, secrets, PII patterns, banned substrings; exfiltration on outputs) and (c) those plus
# the encoder-based detectors (injection on inputs, harm on outputs), and (d) the default policy
# of `emmental guard init` (pii with its NER head on both sides, injection, two harm layers on
# outputs). The baseline is the same
# load sent straight to the stub in the same run; (f), a bare forwarder that passes bytes to the
# stub and back, is the floor any proxy adds on the machine. Each load also prints the CPU time
# per request of the proxy, the stub and the load generator.
#
#   bash bench/guard_proxy.sh [REQUESTS [DELAY_MS]]      # default 5000 requests, 10 ms upstream
#
# (c) and (d) need the embedded encoder (`emmental models fetch all-minilm-l6-v2`, or EMMENTAL_MODEL_PATH).
# Pin it to two cores like the development machine with `taskset -c 0,1 bash bench/guard_proxy.sh`.
# BENCH_CONFIGS=b runs only configuration (b) (any of "fabcde"; (e) is (c) with injection
# beside the upstream call, `beside_upstream = true`), e.g. under a profiler.
# Each configuration also takes requests arriving at random at a fixed rate (an open loop):
# BENCH_RATE per second for (f), (a) and (b) (default 2000), BENCH_RATE_C for (c) (default 30),
# BENCH_RATE_D for (d) (default 15).
# BENCH_WEIGHTS=DIR takes the detectors' heads from DIR (to compare two heads in one run).
# BENCH_PROXY_THREADS=N gives the proxy N worker threads (default 2).
# BENCH_LOADS=open runs only that load through the proxy (any of "closed", "one", "open", "stream":
# streamed answers at concurrency 50).
# Closed loops count only the requests sent after five rounds of their 50 clients on the same
# connections. BENCH_DUMP=PREFIX writes each closed loop's requests ("ms since the first was
# sent, latency ms", one per line) to PREFIX.1, PREFIX.2, … in the order the loops ran.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --quiet -p emmental-server --bench guard_proxy -- "$@"
