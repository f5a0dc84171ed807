#!/usr/bin/env python3
"""Writes tests/data/tokenizer-reference.txt: the ids the reference implementations give for the essays in
../shared/data/paul-graham-essays and for the edge-case strings of tests/data/tokenizer-extra.inp, for three
tokenizers under ../shared/models:
  llama2   llama2-tokenizer/tokenizer.model   with sentencepiece   (SentencePieceProcessor.encode)
  llama3   llama3-tokenizer/tokenizer.model   with tiktoken        (Llama 3 pattern, no special tokens)
  smollm2  smollm2-tokenizer/tokenizer.json   with HF tokenizers   (encode(add_special_tokens=False), which
                                                                    always matches added tokens in the text)
  smollm2-llama3split, smollm2-qwen2split: SmolLM2's vocabulary with its pre_tokenizer replaced by
           Split(Llama 3 / Qwen2 regex, Isolated) + ByteLevel(use_regex=false), as those models'
           tokenizer.json files have it (tests the Split path and both regexes against HF)
  tok512   stories260K/tok512.bin (extra strings only)   with a direct Python port of llama2.c run.c encode()
Each line: "<tokenizer> <input name> <number of ids> <FNV-1a 64 of the ids as int32 little-endian, hex>";
extra strings additionally list their ids. Needs: pip install sentencepiece tiktoken tokenizers.

usage: python3 tests/data/make_tokenizer_reference.py ../shared tests/data"""
import base64
import glob
import json
import os
import struct
import sys

import sentencepiece
import tiktoken
import tokenizers

SEP = "\n__ggml_vocab_test__\n"
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                  r"\s*[\r\n]+|\s+(?!\S)|\s+")

QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")

EXTRA = [
    "\u00a0\u00a0x", "a\u3000\u3000b", "x\u2028y", "  \n\n \t\r\n z", "I'M HE'LL 'S you're", "\U0001F600\U0001F600 ok",
    "e\u0301\u0301 \u00f1", "\uff21\uff11\uff12\uff13\uff14", "\x01 a", "\ufb01 \u00df \u017f", "ied 4 \u00bd months",
    "<|im_start|>user\nhi<|im_end|>", "<s> </s> <unk>", "x" * 300, " " * 40 + "y", "1234567 3.14159 -0.5",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u4f60\u597d \u0645\u0631\u062d\u0628\u0627",
]


def fnv64(ids):
    h = 0xcbf29ce484222325
    for b in struct.pack("<%di" % len(ids), *ids):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def split_pretokenizer(pattern):
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


def hf_with_pretokenizer(path, pattern):
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    j["pre_tokenizer"] = split_pretokenizer(pattern)
    return tokenizers.Tokenizer.from_str(json.dumps(j))


def llama2c_encoder(path):
    """karpathy/llama2.c run.c encode() without BOS/EOS, transcribed."""
    with open(path, "rb") as f:
        data = f.read()
    off, vocab, scores = 4, [], []
    while off < len(data):
        score, n = struct.unpack("<fi", data[off:off + 8])
        vocab.append(data[off + 8:off + 8 + n])
        scores.append(score)
        off += 8 + n
    lookup = {}
    for i, v in enumerate(vocab):
        lookup.setdefault(v, i)

    def encode(text):
        t = text.encode()
        toks, buf = ([lookup[b" "]] if t else []), b""
        for j, c in enumerate(t):
            if c & 0xC0 != 0x80:
                buf = b""
            buf += bytes([c])
            if j + 1 < len(t) and t[j + 1] & 0xC0 == 0x80 and len(buf) < 4:
                continue
            toks += [lookup[buf]] if buf in lookup else [b + 3 for b in buf]
            buf = b""
        while True:
            best, best_i, best_id = -1e10, -1, -1
            for i in range(len(toks) - 1):
                merged = lookup.get(vocab[toks[i]] + vocab[toks[i + 1]])
                if merged is not None and scores[merged] > best:
                    best, best_i, best_id = scores[merged], i, merged
            if best_i < 0:
                return toks
            toks[best_i:best_i + 2] = [best_id]
    return encode


def encoders(shared):
    m = os.path.join(shared, "models")
    sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(m, "llama2-tokenizer/tokenizer.model"))
    ranks = {}
    with open(os.path.join(m, "llama3-tokenizer/tokenizer.model"), "rb") as f:
        for line in f:
            b64, rank = line.split()
            ranks[base64.b64decode(b64)] = int(rank)
    tt = tiktoken.Encoding(name="llama3", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens={})
    smollm2 = os.path.join(m, "smollm2-tokenizer/tokenizer.json")
    hf = tokenizers.Tokenizer.from_file(smollm2)
    hf_llama3 = hf_with_pretokenizer(smollm2, LLAMA3_PATTERN)
    hf_qwen2 = hf_with_pretokenizer(smollm2, QWEN2_PATTERN)
    return [("llama2", sp.encode, True), ("llama3", lambda t: tt.encode(t, disallowed_special=()), True),
            ("smollm2", lambda t: hf.encode(t, add_special_tokens=False).ids, True),
            ("smollm2-llama3split", lambda t: hf_llama3.encode(t, add_special_tokens=False).ids, True),
            ("smollm2-qwen2split", lambda t: hf_qwen2.encode(t, add_special_tokens=False).ids, True),
            ("tok512", llama2c_encoder(os.path.join(m, "stories260K/tok512.bin")), False)]


def main():
    shared, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(out_dir, "tokenizer-extra.inp"), "w", encoding="utf-8", newline="") as f:
        f.write("".join(s + SEP for s in EXTRA))
    essays = sorted(glob.glob(os.path.join(shared, "data/paul-graham-essays/*.txt")))
    lines = []
    for name, encode, with_essays in encoders(shared):
        for path in essays if with_essays else []:
            with open(path, encoding="utf-8", newline="") as f:
                ids = encode(f.read())
            lines.append("%s %s %d %016x" % (name, os.path.basename(path), len(ids), fnv64(ids)))
        for i, s in enumerate(EXTRA):
            ids = encode(s)
            lines.append("%s extra-%d %d %016x %s" % (name, i, len(ids), fnv64(ids), " ".join(map(str, ids))))
    with open(os.path.join(out_dir, "tokenizer-reference.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
