#!/usr/bin/env bash
# Reproduces the foundation figures: local generation tokens/s (prompt processing and
# generation), encoder sentences/s at batch 1 and 32, `emmental serve` requests/s for a 1-token
# completion, and (with --cold-build) the cold release build time.
#
#   bash bench/run.sh [--cold-build]
#
# Each figure comes with a baseline measured in the same run (matrix-multiply GFLOP/s, direct
# in-process model calls), since the machine is shared and noisy. Run it on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--cold-build" ]; then
  dir=$(mktemp -d)
  cargo fetch --quiet   # downloads are not part of the build time
  start=$(date +%s)
  CARGO_TARGET_DIR="$dir" cargo build --release --quiet -p emmental
  echo "cold release build of the emmental binary: $(( $(date +%s) - start )) s on $(nproc) cores"
  rm -rf "$dir"
fi

cargo bench --quiet -p emmental-models --bench local_models
cargo bench --quiet -p emmental-server --bench serve_rps
