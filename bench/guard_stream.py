#!/usr/bin/env python3
"""Time to the first word of a streamed answer through the guard, hold vs progressive.

Starts `emmental serve` (the embedded model) and two guards in front of it, both with the
default policy (`emmental guard init`), one with `stream.mode = "progressive"` (the default
policy's) and one with `stream.mode = "hold"`, then sends each prompt, streamed, to the model directly and
through each guard, one request at a time. For each path it prints the median time to the first
content text, the median time to the end, and how many content chunks the client got; and
whether the two guards gave the same text.

    python3 bench/guard_stream.py [--binary target/release/emmental] [--rounds 3] [--max-tokens 160]

Needs the embedded model and encoder (`emmental models fetch all`). Standard library only.
"""

import argparse
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PROMPTS = [
    "Explain in a few sentences how a refrigerator keeps food cold.",
    "Write a short paragraph about the history of the bicycle.",
    "Give me three tips for learning a new language.",
    "What should I pack for a weekend hiking trip?",
    "Describe how bread rises when it is baked.",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, proc, what, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{what} exited with status {proc.returncode}; see its output above")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/v1/models")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit(f"{what} did not answer on port {port} within {timeout} s")


def stream_once(port, prompt, max_tokens):
    """(seconds to the first content text, seconds to the end, content chunks, text)."""
    body = json.dumps({
        "model": "smollm2-135m",
        "stream": True,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
    })
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        sys.exit(f"port {port}: HTTP {r.status}: {r.read()[:300]!r}")
    first, chunks, text = None, 0, []
    while True:
        line = r.readline()
        if not line:
            break
        line = line.decode().strip()
        if not line.startswith("data: "):
            continue
        data = line[6:]
        if data == "[DONE]":
            break
        ev = json.loads(data)
        if "error" in ev:
            sys.exit(f"port {port}: error event {ev}")
        for ch in ev.get("choices", []):
            piece = (ch.get("delta") or {}).get("content") or ""
            if piece:
                if first is None:
                    first = time.perf_counter() - t0
                chunks += 1
                text.append(piece)
    end = time.perf_counter() - t0
    return (first if first is not None else end), end, chunks, "".join(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default="target/release/emmental")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=160)
    args = ap.parse_args()
    args.binary = os.path.abspath(args.binary)
    if not os.path.exists(args.binary):
        sys.exit(f"no binary at {args.binary}: build it with `cargo build --release`")
    tmp = tempfile.mkdtemp(prefix="emmental-guard-stream-")
    policy = subprocess.run([args.binary, "guard", "init"], check=True, capture_output=True, text=True).stdout
    # The [stream] table's `mode` (the [review] table has a `mode` too).
    stream_mode = re.compile(r'(\[stream\][^\[]*?\nmode = )"\w+"')
    if not stream_mode.search(policy):
        sys.exit("the default policy has no [stream] `mode` line to switch")
    procs = []
    try:
        up = free_port()
        procs.append(subprocess.Popen([args.binary, "serve", "--addr", f"127.0.0.1:{up}"]))
        wait_ready(up, procs[-1], "emmental serve")
        ports = {"direct": up}
        for mode in ["hold", "progressive"]:
            path = os.path.join(tmp, f"{mode}.toml")
            with open(path, "w") as f:
                f.write(stream_mode.sub(lambda m: f'{m.group(1)}"{mode}"', policy, count=1))
            port = free_port()
            procs.append(subprocess.Popen(
                [args.binary, "guard", "--config", path, "--upstream", f"http://127.0.0.1:{up}/v1",
                 "--addr", f"127.0.0.1:{port}"],
                cwd=tmp,
            ))
            wait_ready(port, procs[-1], f"emmental guard ({mode})")
            ports[mode] = port
        # One warm-up request per path (model and encoder caches, connections).
        for port in ports.values():
            stream_once(port, "hi", 8)
        results = {k: [] for k in ports}
        texts = {k: [] for k in ports}
        for _ in range(args.rounds):
            for p in PROMPTS:
                for name, port in ports.items():
                    first, end, chunks, text = stream_once(port, p, args.max_tokens)
                    results[name].append((first, end, chunks))
                    texts[name].append(text)
        n = len(PROMPTS) * args.rounds
        print(f"{n} streamed requests per path ({len(PROMPTS)} prompts x {args.rounds} rounds), "
              f"max_tokens {args.max_tokens}, temperature 0, one at a time")
        out = {}
        for name, rows in results.items():
            first = statistics.median(r[0] for r in rows)
            end = statistics.median(r[1] for r in rows)
            chunks = statistics.median(r[2] for r in rows)
            print(f"{name:<12} first text {first*1000:8.1f} ms   end {end*1000:8.1f} ms   "
                  f"content chunks {chunks:5.0f}   first/end {first/end:5.2f}")
            out[name] = {"first_ms": first * 1000, "end_ms": end * 1000, "chunks": chunks}
        same = texts["hold"] == texts["progressive"]
        print(f"hold and progressive gave the same text: {same}")
        out["same_text"] = same
        print(json.dumps(out))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
