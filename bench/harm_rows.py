"""Shared by the harm measurement scripts (`progressive_harm.py`, `harm_late_start.py`,
`judge_harm.py`): their
command line, harm's held-out rows, and scoring texts with the binary. The data sets' texts go
to a temporary directory, never into the project."""

import argparse
import json
import os
import subprocess
import sys
import tempfile


def args(doc, more=None):
    """The scripts' common options: --binary, --data and --weights; `more(parser)` adds a
    script's own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/emmental")
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--weights", help="score with the heads in this directory instead of the shipped ones")
    if more:
        more(ap)
    a = ap.parse_args()
    if not os.path.exists(a.binary):
        sys.exit(f"no binary at {a.binary}: build it with `cargo build --release`")
    a.tmp = tempfile.mkdtemp(prefix="emmental-harm-")
    return a


def weights(a):
    """The `--weights DIR` option for the binary, when one was given."""
    return ["--weights", a.weights] if a.weights else []


def heldout_rows(a):
    """harm's held-out rows, each with its text, prompt, gold label and score."""
    path = os.path.join(a.tmp, "rows.jsonl")
    subprocess.run([a.binary, "detectors", "validate", "harm", "--data", a.data, "--heldout",
                    "--rows", path] + weights(a), check=True, stdout=subprocess.DEVNULL)
    return [json.loads(l) for l in open(path)]


def scores(a, inputs, name):
    """harm's score of each {"text", "prompt"} in `inputs`, in order."""
    path = os.path.join(a.tmp, name)
    with open(path, "w") as f:
        for x in inputs:
            f.write(json.dumps(x) + "\n")
    out = subprocess.run([a.binary, "detectors", "run", "harm", "--data", path] + weights(a),
                         check=True, capture_output=True, text=True).stdout
    found = [json.loads(l)["score"] for l in out.splitlines()]
    assert len(found) == len(inputs), "one score per text"
    return found
