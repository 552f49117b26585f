"""kjv_text.py: the King James Bible as plain prose, from Debian's bible-kjv-text.

The package ships the text compressed (/usr/lib/bible.data) together with the
`bible` reader from the bible-kjv package. `bible -f "Gen1:1-Rev22:21"` turns
pretty-printing off and prints one verse a line, each led by its reference:

    Ge1:1 In the beginning God created the heaven and the earth.

We drop the reference, so the model learns plain sentences (a prompt such as
"And God said" is then in distribution), keep one verse a line and group the
verses by chapter: a chapter is one training document.

    python3 kjv_text.py OUT.txt   writes the chapters, verse per line, a blank
                                  line between chapters (for reading only)
"""

import re
import subprocess
import sys

BIBLE = "bible"                 # from the bible-kjv package
EVERYTHING = "Gen1:1-Rev22:21"  # the whole book, Genesis to Revelation
REFERENCE = re.compile(r"^(\S+?)(\d+):(\d+) (.*)$")


def read_verses():
    """[(book, chapter, verse, text)] in canonical order, from `bible -f`."""
    out = subprocess.run([BIBLE, "-f", EVERYTHING], check=True, capture_output=True,
                         cwd="/").stdout.decode("ascii")
    verses = []
    for n, line in enumerate(out.splitlines(), 1):
        if not line.strip():
            continue
        m = REFERENCE.match(line)
        if not m:
            raise ValueError(f"bible output line {n}: expected 'BookC:V text', found {line!r}")
        book, chapter, verse, text = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
        verses.append((book, chapter, verse, " ".join(text.split())))
    return verses


def read_chapters():
    """[(name, [verse text, ...])], e.g. ("Ge1", ["In the beginning ...", ...])."""
    chapters = []
    for book, chapter, _, text in read_verses():
        name = f"{book}{chapter}"
        if not chapters or chapters[-1][0] != name:
            chapters.append((name, []))
        chapters[-1][1].append(text)
    return chapters


def chapter_text(verses):
    """A chapter as the model reads it: each verse on its own line."""
    return "".join(v + "\n" for v in verses)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: kjv_text.py OUT.txt")
    chs = read_chapters()
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("\n".join(chapter_text(v) for _, v in chs))
    print(f"{len(chs)} chapters, {sum(len(v) for _, v in chs)} verses -> {sys.argv[1]}")
