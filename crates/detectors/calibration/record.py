"""Writes a shipped calibration record from `emmental detectors validate NAME ... --format json`.

    emmental detectors validate pii.rules --data DATA --heldout --format json \
      | python3 crates/detectors/calibration/record.py --data "description" --command "the command" \
      > crates/detectors/calibration/pii.rules.json

It records a span detector's figures over the entity types the detector emits (the
"supported_types" block), at the detector's default threshold.
"""
import argparse
import json
import sys

p = argparse.ArgumentParser()
p.add_argument("--data", required=True, help="what was measured, in words")
p.add_argument("--command", required=True, help="the command that reproduces the figures")
p.add_argument("--threshold", type=float, default=0.5)
a = p.parse_args()
v = json.load(sys.stdin)
rec = {"data": a.data}
if "supported_types" in v:
    s = v["supported_types"]
    rec.update(n=s["support"], precision=s["precision"], recall=s["recall"], f1=s["f1"])
else:
    raise SystemExit("this script writes records of span detectors; classifiers' come from `emmental detectors train`")
rec.update(threshold=a.threshold, command=a.command)
json.dump(rec, sys.stdout, indent=2, ensure_ascii=False)
sys.stdout.write("\n")
