#!/usr/bin/env python3
"""Seed corpora for the model-format fuzzers, written into the build directory (no large files in the repo).

usage: make_corpus.py STAMP OUTDIR SHARED_DIR GEMCL_EXE
Writes OUTDIR/corpus-{llama2c,gguf,safetensors}/: a tiny generated llama2.c model (legacy and v1 headers),
its conversions by the built gemcl (GGUF f32/f16/q8_0, safetensors), and, when SHARED_DIR has them, the real
stories260K.bin, its conversions, and the vocabulary-only GGUFs. Missing shared files are skipped."""
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
