#!/usr/bin/env bash
# Harness overhead: 1000 samples at concurrency 50 against an OpenAI-compatible stub that answers
# every request after 20 ms. The physical limit is 1000 × 20 ms / 50 = 0.4 s; the harness should
# stay within 1.25× of it in wall time and spend little CPU (targets: wall ≤ 0.5 s, CPU ≤ 0.25 s).
#
#   bash bench/eval_harness.sh [SAMPLES] [CONCURRENCY] [DELAY_MS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}; c=${2:-50}; delay=${3:-20}
cargo build --release --quiet -p emmental
cargo build --release --quiet -p emmental-server --example fixed_latency_stub
target=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d); trap 'kill $stub 2>/dev/null; rm -rf "$tmp"' EXIT

"$target/release/examples/fixed_latency_stub" 127.0.0.1:0 "$delay" > "$tmp/stub.out" &
stub=$!
for _ in $(seq 50); do grep -q serving "$tmp/stub.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[^ ]*' "$tmp/stub.out")

python3 - "$n" > "$tmp/data.jsonl" <<'PY'
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"id": f"b{i}", "input": f"question {i}", "target": f"question {i}"}))
PY

run() {
  /usr/bin/time -f "%e %U %S %M" -o "$tmp/time" \
    "$target/release/emmental" eval --dataset "$tmp/data.jsonl" --scorer includes \
      --model openai/echo --base-url "$url" --concurrency "$c" --no-cache \
      --store "$tmp/$1.db" --log-dir "$tmp/logs" --format json > "$tmp/$1.json"
  read -r wall user sys rss < "$tmp/time"
  echo "$wall $user $sys $rss"
}
run warmup > /dev/null
read -r wall user sys rss <<< "$(run measured)"
limit=$(python3 -c "print($n*$delay/1000/$c)")
python3 - "$wall" "$user" "$sys" "$rss" "$limit" "$n" "$c" "$delay" "$tmp/measured.json" <<'PY'
import json, sys
wall, user, sys_, rss, limit = map(float, sys.argv[1:6]); n, c, d = sys.argv[6:9]
acc = json.load(open(sys.argv[9]))["tasks"][0]["estimate"]
print(f"{n} samples, concurrency {c}, {d} ms upstream: wall {wall:.2f} s ({wall/limit:.2f}x the {limit:.2f} s physical limit), "
      f"CPU {user+sys_:.2f} s (user {user:.2f} + sys {sys_:.2f}), peak RSS {rss/1024:.1f} MiB; "
      f"scored {acc['n']} samples, accuracy {acc['value'] if acc['value'] is not None else float('nan'):.3f}")
PY
