"""Converts a marked-up case file into span JSONL with character offsets, as
`emmental detectors validate` reads it. The case file holds one document per line, entities
marked [[TYPE|value]], '#' comment lines, and the two characters \\n for a line break inside
a document.

    python3 crates/detectors/testdata/markup_to_jsonl.py crates/detectors/testdata/pii_structured.txt
"""
import json
import re
import sys

MARK = re.compile(r"\[\[([A-Z_0-9]+)\|(.*?)\]\]", re.S)


def convert(line):
    line = line.replace("\\n", "\n")
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
