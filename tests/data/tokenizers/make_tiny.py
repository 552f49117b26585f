#!/usr/bin/env python3
"""make_tiny.py: writes the tiny tokenizer.json files of tests/unit/
test_tokenizer.c and tests/fuzz/fuzz_tokenizer.c (run it here; the
outputs are committed):

  bytelevel.json   byte-level BPE like Llama 3: its split pattern, ByteLevel,
                   every byte a token (id = byte value), a few merges, special
                   tokens, a BOS template
  spm.json         SentencePiece-style BPE like Llama 2: Prepend/Replace with
                   '▁', byte fallback (<0x00>..<0xFF>), Strip decoder, <s>
  metaspace.json   Metaspace pre-tokenizer and decoder, unk with fuse_unk, no
                   byte fallback
  gpt2.json        GPT-2: ByteLevel with its own regex, no post-processor
  qwen.json        bytelevel.json with Qwen 2's pattern and an NFC normalizer
  gpt4o.json       bytelevel.json with GPT-4o's pattern (inverted, Removed)
  bad_*.json       one defect each, for the error messages
"""
import json

# GPT-2's bytes_to_unicode.
printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
byte_char, n = {}, 0
for b in range(256):
    if b in printable:
        byte_char[b] = chr(b)
    else:
        byte_char[b] = chr(0x100 + n)
        n += 1


def bl(s):
    """'Ġthe' spelling of the bytes of s."""
    return ''.join(byte_char[b] for b in s.encode('utf-8'))


def write(name, obj, raw=None):
    text = raw if raw is not None else json.dumps(obj, ensure_ascii=False, indent=1)
    with open(name, 'wb') as f:
        f.write(text.encode('utf-8') if isinstance(text, str) else text)


def added(id_, content, special=True):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False,
            "rstrip": False, "normalized": False, "special": special}


LLAMA3_PATTERN = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
                  " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

# ---- byte-level ----
bl_vocab = {byte_char[b]: b for b in range(256)}
bl_merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (" ", "t"), (" t", "he"),
             ("l", "o"), ("lo", "w"), ("e", "r"), ("low", "er")]
for a, b in bl_merges:
    bl_vocab[bl(a + b)] = len(bl_vocab)  # 256 he, 257 ll, ..., 265 lower
bytelevel = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [added(266, "<|bos|>"), added(267, "<|eot|>"), added(268, "<tool>", False)],
    "normalizer": None,
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [],
                       "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [266], "tokens": ["<|bos|>"]}}},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": bl_vocab, "merges": [bl(a) + " " + bl(b) for a, b in bl_merges]},
}
write("bytelevel.json", bytelevel)

# ---- SentencePiece style ----
spm_vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
for b in range(256):
    spm_vocab["<0x%02X>" % b] = 3 + b
for tok in ["▁", "h", "e", "l", "o", "▁h", "ll", "▁he", "▁hell", "▁hello", "w", "r", "d", "▁w", "or",
            "▁wor", "ld", "▁world"]:
    spm_vocab[tok] = len(spm_vocab)  # ▁ is 259
spm_merges = [["▁", "h"], ["l", "l"], ["▁h", "e"], ["▁he", "ll"], ["▁hell", "o"], ["▁", "w"],
              ["o", "r"], ["▁w", "or"], ["l", "d"], ["▁wor", "ld"]]
spm = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "▁"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                  {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
              "vocab": spm_vocab, "merges": spm_merges},
}
write("spm.json", spm)

# ---- Metaspace ----
meta = {
    "version": "1.0", "added_tokens": [added(0, "<unk>")], "normalizer": None,
    "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
    "post_processor": None,
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": False,
              "vocab": {"<unk>": 0, "▁": 1, "a": 2, "b": 3, "▁a": 4, "▁b": 5, "ab": 6},
              "merges": ["▁ a", "▁ b", "a b"]},
}
write("metaspace.json", meta)

# ---- GPT-2 ----
gpt2 = json.loads(json.dumps(bytelevel))
gpt2["added_tokens"] = [added(266, "<|endoftext|>")]
gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
gpt2["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
write("gpt2.json", gpt2)

# ---- Qwen 2 and GPT-4o patterns ----
QWEN2_PATTERN = LLAMA3_PATTERN.replace("\\p{N}{1,3}", "\\p{N}")
GPT4O_PATTERN = ("[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                 "(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+"
                 "[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
                 "[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
qwen = json.loads(json.dumps(bytelevel))
qwen["normalizer"] = {"type": "NFC"}
qwen["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = QWEN2_PATTERN
write("qwen.json", qwen)
gpt4o = json.loads(json.dumps(bytelevel))
gpt4o["pre_tokenizer"]["pretokenizers"][0] = {
    "type": "Split", "pattern": {"Regex": GPT4O_PATTERN}, "behavior": "Removed", "invert": True}
write("gpt4o.json", gpt4o)

# ---- one defect each ----
def bad(name, edit):
    t = json.loads(json.dumps(spm))
    edit(t)
    write(name, t)

bad("bad_model_type.json", lambda t: t["model"].update(type="Unigram"))
bad("bad_missing_vocab.json", lambda t: t["model"].pop("vocab"))
bad("bad_merge_unknown.json", lambda t: t["model"]["merges"].insert(1, ["l", "zz"]))
bad("bad_merge_result.json", lambda t: t["model"]["merges"].append(["h", "e"]))
bad("bad_merge_form.json", lambda t: t["model"].update(merges=["▁ h", "l l l"]))
bad("bad_duplicate_id.json", lambda t: t["model"]["vocab"].update({"zz": 5}))
bad("bad_normalizer.json", lambda t: t.update(normalizer={"type": "NFKC"}))
bad("bad_pattern.json", lambda t: t.update(pre_tokenizer={
    "type": "Split", "pattern": {"Regex": "\\d+|\\s+"}, "behavior": "Isolated", "invert": False}))
bad("bad_decoder.json", lambda t: t.update(decoder={"type": "WordPiece", "prefix": "##"}))
bad("bad_added_token.json", lambda t: t["added_tokens"].append({"id": 7, "special": True}))
# Invalid UTF-8 in a vocabulary key: the bytes C3 28 (no JSON escape can write them).
raw = json.dumps(spm, ensure_ascii=False, indent=1).encode("utf-8")
raw = raw.replace('"▁world"'.encode("utf-8"), b'"\xc3\x28world"', 1)
write("bad_vocab_utf8.json", None, raw)
