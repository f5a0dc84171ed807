#!/usr/bin/env python3
"""Writes the small synthetic seed files in tests/fuzz/corpus/ (one per tokenizer format, a few hundred
bytes to a few KiB each, and tuning profiles). The real files under ../shared are used as seeds too, by path. The tokenizer
tests also load some of these files (tests/test_tokenizer.c).

usage: python3 tests/fuzz/make_seeds.py tests/fuzz/corpus"""
import base64
import json
import os
import struct
import sys

SP = "\u2581"


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def field(num, wire, payload):
    key = varint(num << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def sp_piece(text, score, typ):
    return field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, varint(typ))


def spm_pieces():
    """(text, score, type): <unk>, <s>, </s>, 256 byte pieces, then a few merges."""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    pieces += [("<0x%02X>" % b, 0.0, 6) for b in range(256)]
    pieces += [(SP, -1.0, 1), ("a", -2.0, 1), ("b", -3.0, 1), (SP + "a", -4.0, 1), ("ab", -5.0, 1),
               (SP + "ab", -6.0, 1)]
    return pieces


def sp_model():
    body = b"".join(field(1, 2, sp_piece(*p)) for p in spm_pieces())
    trainer = field(3, 0, varint(2)) + field(40, 0, varint(0)) + field(41, 0, varint(1)) + field(42, 0, varint(2))
    normalizer = field(3, 0, varint(1))
    return body + field(2, 2, trainer) + field(3, 2, normalizer)


def spm_json():
    vocab = {text: i for i, (text, _, _) in enumerate(spm_pieces())}
    return {
        "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
                         {"id": 2, "content": "</s>", "special": True}],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": SP},
                                                           {"type": "Replace", "pattern": {"String": " "},
                                                            "content": SP}]},
        "pre_tokenizer": None,
        "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": SP}, "content": " "},
                                                     {"type": "ByteFallback"}, {"type": "Fuse"},
                                                     {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "vocab": vocab,
                  "merges": [SP + " a", "a b", SP + "a b"]},
    }


def bytelevel_json():
    printable = [b for b in range(256) if 0x21 <= b <= 0x7E or 0xA1 <= b <= 0xAC or 0xAE <= b <= 0xFF]
    extra = [b for b in range(256) if b not in printable]
    byte_char = {b: chr(b) for b in printable}
    byte_char.update({b: chr(256 + i) for i, b in enumerate(extra)})
    vocab = {"<|endoftext|>": 0}
    for b in range(256):
        vocab[byte_char[b]] = len(vocab)
    for tok in ["\u0120a", "ab", "\u0120ab"]:
        vocab[tok] = len(vocab)
    return {
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "special": True}],
        "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [["\u0120", "a"], "a b", "\u0120a b"],
                  "ignore_merges": False},
    }


def tiktoken():
    toks = [bytes([b]) for b in range(256)] + [b" a", b"ab", b" ab"]
    return "".join("%s %d\n" % (base64.b64encode(t).decode(), i) for i, t in enumerate(toks)).encode()


def llama2c():
    pieces = [(b"<unk>", 0.0), (b"\n<s>\n", 0.0), (b"\n</s>\n", 0.0)]
    pieces += [(("<0x%02X>" % b).encode(), 0.0) for b in range(256)]
    pieces += [(b" ", -1.0), (b"a", -2.0), (b"b", -3.0), (b" a", -4.0), (b"ab", -5.0), (b" ab", -6.0)]
    out = struct.pack("<i", max(len(p) for p, _ in pieces))
    for p, s in pieces:
        out += struct.pack("<fi", s, len(p)) + p
    return out


def tuned_profile():
    """A profile as gemcl tune writes it: notes, then some keys of each group."""
    return {"about": "seed", "date": "2026-01-01T00:00:00Z", "device": "seed device", "gemv_local": 1,
            "gemv_rows": 2, "gemm_f32_clblast": False, "gemm_tm": 8, "gemm_wn": 4, "gemm_wm": 8, "gemm_kb": 128,
            "attn_rows": 16, "attn_keys": 8, "attn_local_wg": 16}


def main():
    root = sys.argv[1]
    files = {
        "json/spm.json": json.dumps(spm_json(), ensure_ascii=False).encode(),
        "json/bytelevel.json": json.dumps(bytelevel_json(), ensure_ascii=False).encode(),
        "model/spm.model": sp_model(),
        "model/tiktoken.model": tiktoken(),
        "model/llama2c.bin": llama2c(),
        "profile/tuned.json": json.dumps(tuned_profile(), indent=1).encode(),
        "profile/bad.json": b'{"gemm_kb": 48, "gemv_local": 3, "attn_rows": "16", "gemm_tn": 1}',
    }
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
