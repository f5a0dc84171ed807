#!/usr/bin/env python3
"""Seed corpora for the model-format fuzzers, written into the build directory (no large files in the repo).

usage: make_corpus.py STAMP OUTDIR SHARED_DIR GEMCL_EXE
Writes OUTDIR/corpus-{llama2c,gguf,safetensors}/: a tiny generated llama2.c model (legacy and v1 headers),
its conversions by the built gemcl (GGUF f32/f16/q8_0, safetensors), tiny GGUFs written here in the other
architectures' layouts (qwen2 with q/k/v biases and a byte-level vocabulary with merges, K-quant and q5_0
matrices; phi3 with fused attn_qkv and gate/up, q8_0 and q6_k; llama with linear RoPE scaling), and, when
SHARED_DIR has them, the real stories260K.bin, its conversions, and the vocabulary-only GGUFs. Missing shared
files are skipped."""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

TINY = dict(dim=32, hidden=32, layers=1, heads=2, kv_heads=1, vocab=8, seq=4)


def tiny_weights(t):
    hs = t["dim"] // t["heads"]
    kv = hs * t["kv_heads"]
    L, D, F, V = t["layers"], t["dim"], t["hidden"], t["vocab"]
    sizes = [V * D, L * D, L * D * D, L * kv * D, L * kv * D, L * D * D, L * D, L * F * D, L * D * F, L * F * D, D]
    vals = []
    for k, n in enumerate(sizes):
        vals.extend(((i * 7 + k) % 13 - 6) / 16.0 for i in range(n))
    return vals, t["seq"] * hs // 2


def write_tiny(outdir):
    t = TINY
    vals, half = tiny_weights(t)
    header = struct.pack("<7i", t["dim"], t["hidden"], t["layers"], t["heads"], t["kv_heads"], t["vocab"], t["seq"])
    body = struct.pack(f"<{len(vals)}f", *vals)
    legacy = header + body + struct.pack(f"<{2 * half}f", *([0.5] * (2 * half)))
    v1 = struct.pack("<Ii", 0x616B3432, 1) + header + b"\x01"
    v1 += b"\x00" * (256 - len(v1))
    order = tiny_v1_order(t, vals)
    v1 += struct.pack(f"<{len(order)}f", *order)
    paths = {}
    for name, data in (("tiny.bin", legacy), ("tiny-v1.bin", v1), ("tiny-v2.bin", tiny_v2(t, header, order))):
        paths[name] = os.path.join(outdir, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "tok8.bin"), "wb") as f:  # a matching llama2.c vocabulary
        f.write(struct.pack("<i", 6))
        for i, piece in enumerate([b"<unk>", b"\n<s>\n", b"\n</s>\n", b"a", b"b", b" a", b"ab", b" ab"]):
            f.write(struct.pack("<fi", -float(i), len(piece)) + piece)
    return paths


def tiny_v2(t, header, v1_values):
    """The v1 values as a v2 checkpoint: norms fp32, each matrix int8 + one fp32 scale per 32 values."""
    D, L = t["dim"], t["layers"]
    n_norms = 2 * L * D + D
    out = struct.pack("<Ii", 0x616B3432, 2) + header + b"\x01" + struct.pack("<i", 32)
    out += b"\x00" * (256 - len(out))
    out += struct.pack(f"<{n_norms}f", *v1_values[:n_norms])
    rest = v1_values[n_norms:]  # one layer: every matrix is one tensor, laid out back to back
    hs = D // t["heads"]
    kv = hs * t["kv_heads"]
    for n in (t["vocab"] * D, D * D, kv * D, kv * D, D * D, t["hidden"] * D, D * t["hidden"], t["hidden"] * D):
        x, rest = rest[:n], rest[n:]
        scales = [max(abs(v) for v in x[g:g + 32]) / 127.0 for g in range(0, n, 32)]
        q = [int(round(v / scales[i // 32])) if scales[i // 32] else 0 for i, v in enumerate(x)]
        out += struct.pack(f"<{n}b", *q) + struct.pack(f"<{len(scales)}f", *scales)
    return out


def tiny_v1_order(t, vals):
    hs = t["dim"] // t["heads"]
    kv = hs * t["kv_heads"]
    L, D, F, V = t["layers"], t["dim"], t["hidden"], t["vocab"]
    names = ["emb", "att", "wq", "wk", "wv", "wo", "ffn", "w1", "w2", "w3", "fin"]
    sizes = [V * D, L * D, L * D * D, L * kv * D, L * kv * D, L * D * D, L * D, L * F * D, L * D * F, L * F * D, D]
    parts, pos = {}, 0
    for n, s in zip(names, sizes):
        parts[n] = vals[pos:pos + s]
        pos += s
    out = []
    for n in ["att", "ffn", "fin", "emb", "wq", "wk", "wv", "wo", "w1", "w2", "w3"]:
        out.extend(parts[n])
    return out


# ---- tiny GGUFs in the qwen2 / phi3 layouts (the GGUF fuzzer's view of the new keys and types) ----

GGML = {"f32": (0, 1, 4), "f16": (1, 1, 2), "q5_0": (6, 32, 22), "q8_0": (8, 32, 34), "q4_k": (12, 256, 144),
        "q6_k": (14, 256, 210)}  # name: (ggml type, block, bytes per block)
KV_U32, KV_F32, KV_BOOL, KV_STR, KV_ARR = 4, 6, 7, 8, 9


def gguf_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def gguf_kv(key, value):
    """value: int (u32), float (f32), bool, str, or a list of str / (list, 'i32')."""
    out = gguf_str(key)
    if isinstance(value, bool):
        return out + struct.pack("<IB", KV_BOOL, value)
    if isinstance(value, int):
        return out + struct.pack("<II", KV_U32, value)
    if isinstance(value, float):
        return out + struct.pack("<If", KV_F32, value)
    if isinstance(value, str):
        return out + struct.pack("<I", KV_STR) + gguf_str(value)
    if isinstance(value, tuple):  # (ints, "i32")
        return out + struct.pack("<IIQ", KV_ARR, 5, len(value[0])) + struct.pack(f"<{len(value[0])}i", *value[0])
    return out + struct.pack("<IIQ", KV_ARR, KV_STR, len(value)) + b"".join(gguf_str(v) for v in value)


def byte_level_vocab():
    """GPT-2's bytes_to_unicode spelling of the 256 bytes, two merges, and the ChatML control tokens."""
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    spell, extra = {}, 0
    for b in range(256):
        spell[b] = chr(b) if b in keep else chr(256 + extra)
        extra += b not in keep
    tokens = [spell[b] for b in range(256)] + ["\u0120a", "ab", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    types = [1] * 258 + [3, 3, 3]
    return tokens, types, ["\u0120 a", "a b"]


def write_gguf(path, arch, hparams, tensors, vocab_keys):
    """tensors: (name, dtype, shape outermost first); data bytes are a fixed pattern."""
    kvs = [gguf_kv("general.architecture", arch)]
    kvs += [gguf_kv(f"{arch}.{k}", v) for k, v in hparams.items()]
    kvs += [gguf_kv(k, v) for k, v in vocab_keys.items()]
    infos, offset, sizes = b"", 0, []
    for name, dtype, shape in tensors:
        ggml, block, block_bytes = GGML[dtype]
        n = 1
        for d in shape:
            n *= d
        nbytes = n // block * block_bytes
        infos += gguf_str(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape[::-1])
        infos += struct.pack("<IQ", ggml, offset)
        sizes.append(nbytes)
        offset += (nbytes + 31) // 32 * 32
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs) + infos
    head += b"\0" * (-len(head) % 32)
    body = bytearray(offset)
    for i in range(offset):
        body[i] = i * 7 % 61  # small values: finite f16 scales and f32 near zero
    with open(path, "wb") as f:
        f.write(head + bytes(body))


def tiny_layer_tensors(l, mat, mat2, width, heads, kv_heads, head_dim, ff, fused, biases):
    q, kv = heads * head_dim, kv_heads * head_dim
    t = [(f"blk.{l}.attn_norm.weight", "f32", [width])]
    if fused:
        t += [(f"blk.{l}.attn_qkv.weight", mat, [q + 2 * kv, width])]
    else:
        t += [(f"blk.{l}.attn_{x}.weight", mat, [r, width]) for x, r in (("q", q), ("k", kv), ("v", kv))]
    if biases:
        t += [(f"blk.{l}.attn_{x}.bias", "f32", [r]) for x, r in (("q", q), ("k", kv), ("v", kv))]
    t += [(f"blk.{l}.attn_output.weight", mat, [width, q]), (f"blk.{l}.ffn_norm.weight", "f32", [width])]
    t += [(f"blk.{l}.ffn_up.weight", mat, [2 * ff, width])] if fused else [
        (f"blk.{l}.ffn_gate.weight", mat, [ff, width]), (f"blk.{l}.ffn_up.weight", mat, [ff, width])]
    return t + [(f"blk.{l}.ffn_down.weight", mat2, [width, ff])]


def write_arch_ggufs(outdir):
    tokens, types, merges = byte_level_vocab()
    vocab = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "qwen2", "tokenizer.ggml.tokens": tokens,
             "tokenizer.ggml.token_type": (types, "i32"), "tokenizer.ggml.merges": merges,
             "tokenizer.ggml.bos_token_id": 258, "tokenizer.ggml.eos_token_id": 260,
             "tokenizer.ggml.add_bos_token": False, "tokenizer.ggml.add_eos_token": False}
    width, heads, kv_heads, head_dim, ff, layers = 256, 4, 2, 64, 256, 2
    base = {"block_count": layers, "embedding_length": width, "feed_forward_length": ff,
            "attention.head_count": heads, "attention.head_count_kv": kv_heads, "context_length": 4096,
            "rope.freq_base": 1e6, "attention.layer_norm_rms_epsilon": 1e-6}
    models = {  # name: (arch, matrices, ffn_down, fused, biases, extra hparams, extra vocab keys)
        "tiny-qwen2-q4_k.gguf": ("qwen2", "q4_k", "q6_k", False, True, {}, {}),
        "tiny-qwen2-q5_0.gguf": ("qwen2", "q5_0", "q8_0", False, True, {"vocab_size": len(tokens)}, {}),
        "tiny-phi3-q8_0.gguf": ("phi3", "q8_0", "q6_k", True, False, {"attention.sliding_window": 2047},
                                {"tokenizer.ggml.pre": "default"}),
        "tiny-llama-linear.gguf": ("llama", "f16", "f16", False, False,
                                   {"rope.scaling.type": "linear", "rope.scaling.factor": 4.0}, {"tokenizer.ggml.pre": "smollm"}),
    }
    for name, (arch, mat, mat2, fused, biases, hp, vk) in models.items():
        t = [("token_embd.weight", mat, [len(tokens), width])]
        for l in range(layers):
            t += tiny_layer_tensors(l, mat, mat2, width, heads, kv_heads, head_dim, ff, fused, biases)
        t += [("output_norm.weight", "f32", [width]), ("output.weight", "q8_0", [len(tokens), width])]
        write_gguf(os.path.join(outdir, name), arch, {**base, **hp}, t, {**vocab, **vk})


def convert(gemcl, src, dst, to, dtype):
    r = subprocess.run([gemcl, "convert", src, dst, "--to", to, "--dtype", dtype], capture_output=True)
    return r.returncode == 0


def main():
    stamp, outdir, shared, gemcl = sys.argv[1:5]
    dirs = {k: os.path.join(outdir, "corpus-" + k) for k in ("llama2c", "gguf", "safetensors")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    work = tempfile.mkdtemp(prefix="gemcl-corpus-")
    sources = write_tiny(work)
    stories = os.path.join(shared, "models/stories260K/stories260K.bin")
    if os.path.exists(stories):
        shutil.copy(stories, os.path.join(work, "stories260K.bin"))
        shutil.copy(os.path.join(shared, "models/stories260K/tok512.bin"), os.path.join(work, "tok512.bin"))
        sources["stories260K.bin"] = os.path.join(work, "stories260K.bin")
    for name, path in sources.items():
        shutil.copy(path, os.path.join(dirs["llama2c"], name))
        stem = name[:-4]
        for dtype in ("f32", "f16", "q8_0"):
            convert(gemcl, path, os.path.join(dirs["gguf"], f"{stem}-{dtype}.gguf"), "gguf", dtype)
        hf = os.path.join(work, stem + "-hf")
        if convert(gemcl, path, hf, "hf", "f32"):
            shutil.copy(os.path.join(hf, "model.safetensors"), os.path.join(dirs["safetensors"], stem + ".safetensors"))
        if convert(gemcl, path, hf + "16", "hf", "bf16"):
            shutil.copy(os.path.join(hf + "16", "model.safetensors"), os.path.join(dirs["safetensors"], stem + "-bf16.safetensors"))
    write_arch_ggufs(dirs["gguf"])
    for vocab in ("ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf"):
        p = os.path.join(shared, "models/ggml-vocab", vocab)
        if os.path.exists(p):
            shutil.copy(p, os.path.join(dirs["gguf"], vocab))
    shutil.rmtree(work)
    with open(stamp, "w") as f:
        f.write("\n".join(f"{k}: {len(os.listdir(d))} seeds" for k, d in dirs.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
