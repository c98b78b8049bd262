"""Converts a marked-up case file ([[TYPE|value]] per entity, one document per line, '#'
comments) into span JSONL with character offsets, as `emmental detectors validate` reads it.

    python3 crates/detectors/testdata/markup_to_jsonl.py crates/detectors/testdata/pii_structured.txt
"""
import json
import re
import sys

MARK = re.compile(r"\[\[([A-Z_]+)\|(.*?)\]\]")


def convert(line):
    text, spans, pos = "", [], 0
    for m in MARK.finditer(line):
        text += line[pos:m.start()]
        start = len(text)
        text += m.group(2)
        spans.append({"start": start, "end": len(text), "type": m.group(1)})
        pos = m.end()
    text += line[pos:]
    return {"text": text, "spans": spans}


def main(src):
    dst = src.rsplit(".", 1)[0] + ".jsonl"
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            out.write(json.dumps(convert(line), ensure_ascii=False) + "\n")
    print(dst)


if __name__ == "__main__":
    main(sys.argv[1])
