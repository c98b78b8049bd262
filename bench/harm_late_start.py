#!/usr/bin/env python3
"""Does the `harm` detector still find harmful help that starts late in an answer? It scores
harm's held-out harmful answers as they are and again after a benign start of at least 1,200
characters (other held-out answers, labelled benign, that do not refuse), and prints how many
reach 0.5 (the default policy flags) and 0.8 (it sends to review) each way.

The encoder reads the first 256 tokens of a text (about 1,000 characters of English). harm
reads the answer in 40-word windows (their mean and maximum), its opening and its prompt, and
trained on answers after such starts; this checks end to end, through `detectors run`, with
starts unlike the training's (any held-out benign answer that does not refuse, not only
answers to XSTest's safe prompts). `--weights DIR` scores with another head (e.g. an older
`harm.json`) for comparison.

    python3 bench/harm_late_start.py [--binary target/release/emmental] [--data ../shared/data] [--weights DIR]

Needs the embedded encoder (`emmental models fetch all`). Standard library only; the data
sets' texts go to a temporary directory, never into the project.
"""

import json
import random
import re

import harm_rows

REFUSAL = re.compile(
    r"sorry|cannot|can't|can not|unable|not able|as an ai|apologi|won't|appropriate|illegal|"
    r"unethical|harmful|not accurate",
    re.I,
)


def main():
    args = harm_rows.args(__doc__)
    rows = harm_rows.heldout_rows(args)
    starts = [r["text"].strip() for r in rows
              if r["label"] == "benign" and len(r["text"]) > 400 and not REFUSAL.search(r["text"])]
    harmful = [r for r in rows if r["label"] == "harmful"]
    rng = random.Random(7)
    inputs = []
    for r in harmful:
        start = ""
        while len(start) < 1200:
            start += rng.choice(starts) + "\n\n"
        inputs.append({"text": start + r["text"], "prompt": r.get("prompt")})
    late = harm_rows.scores(args, inputs, "late.jsonl")
    result = {"harmful": len(harmful), "benign_starts": len(starts)}
    for t in (0.5, 0.8):
        as_is = sum(r["score"] >= t for r in harmful)
        after = sum(s >= t for s in late)
        result[str(t)] = {"as_is": as_is, "late": after}
        print(f"at {t}: {as_is} of {len(harmful)} harmful answers as they are, "
              f"{after} after a benign start of 1,200+ characters")
    print(f"({len(starts)} benign answers that do not refuse served as starts)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
