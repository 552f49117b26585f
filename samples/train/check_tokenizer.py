"""check_tokenizer.py: train_tokenizer.py's encoder against @huggingface/tokenizers.

    python3 check_tokenizer.py TOKENIZER.json [--lines 400]

Encodes some hundreds of KJV lines (spread over the whole book), whole
chapters, and a few strings that exercise the split regex (contractions,
digits, runs of spaces, non-ASCII) with the Python encoder, writes the ids to
a temporary JSON file and runs check_tokenizer.mjs on it, which encodes and
decodes the same texts with the JavaScript implementation and compares.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import kjv_text
from train_tokenizer import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
TRICKY = [
    "In the beginning",
    "And God said",
    "don't, I'll, we've, you're, I'm, he'd, it's; DON'T 'tis '",
    "  two leading spaces, trailing three   ",
    "tabs\tand\nnew\n\nlines\r\n end\n",
    "numbers 1611 and 3:16, 12345678",
    "caf\u00e9 na\u00efve \u2014 \u201cquoted\u201d \u65e5\u672c\u8a9e \U0001F642 \u00bfqu\u00e9?",
    "!!!??? ... ;: -- ()[]{}",
    "a",
    " ",
    "\n",
    "",
]


def cases(tok, n_lines):
    chapters = kjv_text.read_chapters()
    verses = [v for _, vs in chapters for v in vs]
    step = max(1, len(verses) // n_lines)
    texts = verses[::step][:n_lines]
    texts += [kjv_text.chapter_text(vs) for _, vs in chapters[::200]]
    texts += TRICKY
    return [{"text": t, "ids": tok.encode(t), "ids_bos": tok.encode(t, add_bos=True)} for t in texts]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tokenizer")
    ap.add_argument("--lines", type=int, default=400, help="corpus lines to check (default 400)")
    args = ap.parse_args()
    tok = Tokenizer.from_file(args.tokenizer)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cases.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"cases": cases(tok, args.lines)}, f)
        r = subprocess.run(["node", os.path.join(HERE, "check_tokenizer.mjs"), args.tokenizer, path])
    sys.exit(r.returncode)


if __name__ == "__main__":
    main()
