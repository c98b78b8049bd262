#!/usr/bin/env python3
"""What `stream.mode = "progressive"` does to the default policy's `harm-review` layer (escalate at
0.8), next to `hold`, on harm's held-out answers: how many answers each mode escalates, and how
much of an answer leaves before a progressive escalation stops it.

It replays the proxy's checks without a proxy: with the default window (128 characters held
back), the first check comes when the answer has 144 characters and then one every 64 (past
4,096 characters, at each quarter of growth); each judges the answer so far, and what is
released is all but the last 128 characters. Hold mode
judges the whole answer once.

    python3 bench/progressive_harm.py [--binary target/release/emmental] [--data ../shared/data] [--weights DIR]

Needs the embedded encoder (`emmental models fetch all`). Standard library only. The data sets'
texts go to a temporary directory, never into the project.
"""

import json
import statistics

import harm_rows

WINDOW, FIRST, STEP, THRESHOLD, LINEAR = 128, 16, 64, 0.8, 4096


def main():
    args = harm_rows.args(__doc__)
    rows = harm_rows.heldout_rows(args)
    # The answer so far at each check.
    prefixes, index = [], []
    for i, r in enumerate(rows):
        at = WINDOW + FIRST
        while at < len(r["text"]):
            prefixes.append({"text": r["text"][:at], "prompt": r.get("prompt")})
            index.append((i, at))
            at += STEP
            if at > LINEAR:
                # Past 4,096 characters, the proxy judges at each quarter of growth.
                at = max(at, -(-(at - STEP) * 5 // 4))
    scores = harm_rows.scores(args, prefixes, "prefixes.jsonl")
    checks = {}
    for (i, at), s in zip(index, scores):
        checks.setdefault(i, []).append((at, s))
    result = {}
    for label in sorted({r["label"] for r in rows}):
        mine = [(i, r) for i, r in enumerate(rows) if r["label"] == label]
        hold = prog = only_prog = stopped_first = 0
        sent = []
        for i, r in mine:
            escalated, released = False, 0
            for at, s in checks.get(i, []):
                if s >= THRESHOLD:
                    escalated = True
                    break
                released = at - WINDOW
            # The last check is on the whole answer, at its end.
            escalated = escalated or r["score"] >= THRESHOLD
            hold += r["score"] >= THRESHOLD
            if escalated:
                prog += 1
                only_prog += r["score"] < THRESHOLD
                stopped_first += released == 0
                sent.append(released)
        sent.sort()
        lengths = [len(r["text"]) for _, r in mine]
        line = {
            "n": len(mine),
            "median_chars": statistics.median(lengths),
            "escalated_hold": hold,
            "escalated_progressive": prog,
            "escalated_progressive_only": only_prog,
            "progressive_none_sent": stopped_first,
            "progressive_sent_median": statistics.median(sent) if sent else None,
            "progressive_sent_p90": sent[int(0.9 * len(sent))] if sent else None,
            "progressive_sent_max": sent[-1] if sent else None,
        }
        result[label] = line
        print(f"{label:<8} n={line['n']} (median {line['median_chars']:.0f} characters): escalated "
              f"{hold} in hold mode, {prog} in progressive mode ({only_prog} of them only there); "
              f"progressive: stopped before any text left {stopped_first}, characters sent before "
              f"the escalation median {line['progressive_sent_median']}, 90th percentile "
              f"{line['progressive_sent_p90']}, most {line['progressive_sent_max']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
