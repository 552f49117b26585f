"""train_tokenizer.py: a GPT-2 style byte-level BPE, learned from the KJV text,
written as a Hugging Face tokenizer.json. Plain Python: no `tokenizers`.

    python3 train_tokenizer.py OUT/tokenizer.json [--vocab 2048]

What it builds, part by part as tokenizer.json names them:
  pre_tokenizer  ByteLevel with GPT-2's split regex (use_regex true, no prefix
                 space): text splits into words with their leading space,
                 runs of digits, runs of punctuation and runs of whitespace;
                 each piece's UTF-8 bytes are then written with GPT-2's
                 byte-to-character table (a space shows as "G" with a dot).
  model          BPE: ids 0 and 1 are the special tokens, 2..257 the 256
                 bytes in byte order, then one token per learned merge, in
                 the order learned (the merge's rank).
  post_processor TemplateProcessing: "<|bos|> $A" (a pair: "<|bos|> $A $B").
  decoder        ByteLevel: characters back to bytes.
The module also encodes and decodes (encode / decode below) exactly as a
tokenizer.json consumer does; train_model.py uses them, and
check_tokenizer.mjs checks them against @huggingface/tokenizers.
"""

import argparse
import collections
import json
import sys
import unicodedata

import kjv_text

BOS, EOS = "<|bos|>", "<|eos|>"
SPECIALS = [BOS, EOS]            # ids 0 and 1
FIRST_BYTE_ID = len(SPECIALS)    # byte b has id FIRST_BYTE_ID + b


# ---- GPT-2's byte <-> character table --------------------------------------

def bytes_to_unicode():
    """GPT-2's table: printable Latin-1 bytes stand for themselves, the other
    bytes take the characters from U+0100 up, in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) +
            list(range(ord("\xae"), ord("\xff") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


# ---- GPT-2's split regex, by hand ------------------------------------------
#   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# Python's `re` has no \p{L}; the `regex` module is not installed. The
# alternatives are tried in order at each position, as the regex engine does.

# \s as Oniguruma (the Rust tokenizers) and JavaScript read it, less the few
# code points where they disagree (U+0085, U+FEFF), which KJV does not use.
SPACES = set("\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200b)}
CONTRACTIONS = ("s", "t", "re", "ve", "m", "ll", "d")


def is_space(c):
    return c in SPACES


def is_letter(c):
    return unicodedata.category(c).startswith("L")


def is_number(c):
    return unicodedata.category(c).startswith("N")


def is_other(c):
    return not (is_space(c) or is_letter(c) or is_number(c))


def run_end(text, i, pred):
    while i < len(text) and pred(text[i]):
        i += 1
    return i


def next_piece_end(text, i):
    """The end of the piece that starts at text[i]."""
    if text[i] == "'":
        for c in CONTRACTIONS:
            if text.startswith(c, i + 1):
                return i + 1 + len(c)
    j = i + 1 if text[i] == " " and i + 1 < len(text) else i
    for pred in (is_letter, is_number, is_other):
        if pred(text[j]):
            return run_end(text, j, pred)
    # Whitespace: \s+(?!\S) keeps the last space for the next word; \s+ takes
    # a lone space before a word.
    end = run_end(text, i, is_space)
    if end == len(text) or end - i == 1:
        return end
    return end - 1


def split_pieces(text):
    pieces, i = [], 0
    while i < len(text):
        j = next_piece_end(text, i)
        pieces.append(text[i:j])
        i = j
    return pieces


def byte_chars(piece):
    return "".join(BYTE_CHAR[b] for b in piece.encode("utf-8"))


# ---- training ---------------------------------------------------------------

def count_words(texts):
    """Each distinct pre-tokenized piece (in byte characters) and its count."""
    counts = collections.Counter()
    for t in texts:
        counts.update(split_pieces(t))
    return {byte_chars(p): n for p, n in counts.items()}


def learn_merges(word_counts, n_merges, log=None):
    """Standard BPE: merge the most frequent adjacent pair, n_merges times.
    Ties go to the pair that sorts first, so the result is reproducible.
    Pair counts are updated incrementally: only the words that hold the
    merged pair are recounted."""
    words = [list(w) for w in word_counts]
    freq = list(word_counts.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words holding it
    for k, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[k]
            where[(a, b)].add(k)
    merges = []
    for step in range(n_merges):
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        for k in list(where[best]):
            w = words[k]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= freq[k]
                if pairs[(x, y)] <= 0:
                    del pairs[(x, y)]
                where[(x, y)].discard(k)
            words[k] = w = merge_word(w, a, b)
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] += freq[k]
                where[(x, y)].add(k)
        if log and (step + 1) % 200 == 0:
            log(f"  merge {step + 1}: {a!r} + {b!r}")
    return merges


def merge_word(w, a, b):
    out, i = [], 0
    while i < len(w):
        if i + 1 < len(w) and w[i] == a and w[i + 1] == b:
            out.append(a + b)
            i += 2
        else:
            out.append(w[i])
            i += 1
    return out


# ---- the tokenizer ----------------------------------------------------------

class Tokenizer:
    """Encodes and decodes as tokenizer.json says (no added-token splitting:
    the text given is plain text; special tokens are ids)."""

    def __init__(self, vocab, merges):
        self.vocab = vocab                      # token string -> id
        self.inverse = {i: s for s, i in vocab.items()}
        self.rank = {pair: r for r, pair in enumerate(merges)}
        self.cache = {}
        self.bos_id, self.eos_id = vocab[BOS], vocab[EOS]

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            j = json.load(f)
        vocab = dict(j["model"]["vocab"])
        for t in j["added_tokens"]:
            vocab[t["content"]] = t["id"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in j["model"]["merges"]]
        return cls(vocab, merges)

    def bpe(self, piece):
        """GPT-2's loop: merge the adjacent pair of lowest rank, everywhere
        it occurs, until no pair has a rank."""
        if piece in self.cache:
            return self.cache[piece]
        w = list(piece)
        while len(w) > 1:
            ranked = [(self.rank.get(p, None), p) for p in zip(w, w[1:])]
            ranked = [(r, p) for r, p in ranked if r is not None]
            if not ranked:
                break
            _, (a, b) = min(ranked)
            w = merge_word(w, a, b)
        ids = [self.vocab[s] for s in w]
        self.cache[piece] = ids
        return ids

    def encode(self, text, add_bos=False):
        ids = [self.bos_id] if add_bos else []
        for p in split_pieces(text):
            ids.extend(self.bpe(byte_chars(p)))
        return ids

    def decode(self, ids):
        chars = "".join(self.inverse[i] for i in ids if i not in (self.bos_id, self.eos_id))
        return bytes(CHAR_BYTE[c] for c in chars).decode("utf-8", errors="replace")


def build_vocab(merges):
    vocab = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[BYTE_CHAR[b]] = FIRST_BYTE_ID + b
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab


def tokenizer_json(vocab, merges):
    """The tokenizer.json document, in the layout `tokenizers` writes."""
    added = [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for s in SPECIALS]
    bos = {"SpecialToken": {"id": BOS, "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                          "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {BOS: {"id": BOS, "ids": [vocab[BOS]], "tokens": [BOS]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                    "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {s: i for s, i in vocab.items() if s not in SPECIALS},
                  "merges": [f"{a} {b}" for a, b in merges]},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="where to write tokenizer.json")
    ap.add_argument("--vocab", type=int, default=2048, help="total vocabulary size (default 2048)")
    args = ap.parse_args()
    n_merges = args.vocab - len(SPECIALS) - 256
    if n_merges < 0:
        sys.exit(f"--vocab must be at least {len(SPECIALS) + 256}")

    texts = [kjv_text.chapter_text(v) for _, v in kjv_text.read_chapters()]
    words = count_words(texts)
    print(f"{len(texts)} chapters, {len(words)} distinct pieces; learning {n_merges} merges")
    merges = learn_merges(words, n_merges, log=print)
    vocab = build_vocab(merges)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")
    tok = Tokenizer(vocab, merges)
    n_tokens = sum(len(tok.encode(t)) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    print(f"vocab {len(vocab)} ({len(merges)} merges) -> {args.out}; "
          f"corpus {n_bytes} bytes = {n_tokens} tokens ({n_bytes / n_tokens:.2f} bytes/token)")


if __name__ == "__main__":
    main()
