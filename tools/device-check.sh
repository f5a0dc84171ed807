#!/usr/bin/env bash
# device-check.sh - gemcl on a lent NVIDIA GPU in one call: build, the whole suite on the GPU, `gemcl tune
# --quick`, and `gemcl bench` on SmolLM2-135M and Qwen2.5-Coder-0.5B (full and GemFilter at 8K and 32K
# prompt tokens, tg128), in under 8 minutes, logs and JSON to $OUT.
#
#   bash tools/device-check.sh --download   # here, with a network: .device-debs/ and .device-shared/
#   bash tools/device-check.sh              # there: device tool, carry [".device-debs", ".device-shared"]
#
# The lent machine reaches no package registry, so the Debian packages gemcl builds and runs with (ocl-icd,
# OpenCL headers, CLBlast, cJSON, Check, OpenBLAS, pkgconf, meson, ninja) travel as .deb files and are
# unpacked with dpkg -x (or ar + tar) into a prefix under build-device/; an .icd file names the driver's
# libnvidia-opencl.so.1 and OCL_ICD_VENDORS points the prefix's ocl-icd loader at it. ../shared does not
# travel: --download copies its small files (stories260K, tokenizers, essays) into .device-shared/, which
# GEMCL_SHARED then names. A model file that cannot travel (the SmolLM2 GGUF is 94 MB, over the 64 MiB a
# call carries; the Qwen GGUF lives in the gemcl cache) is replaced by random weights at the same shapes
# (`gemcl gen-model`: same time and memory, meaningless text), and the summary says which was used.
#
# Exit status 1 when the suite or the tuner fails; without an NVIDIA driver it stops at once with one line.
# DEVICE_CHECK_OPENCL_LIB=PATH names another ICD library instead (the same steps on another driver, e.g.
# PoCL's, as a dry run);
# DEVICE_CHECK_SECONDS (default 450) is the whole run's time budget, shared out to the stages (build 150 s,
# suite 170, tune 70, each bench 90, at most); DEVICE_CHECK_SKIP="suite tune" leaves stages out.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

debs="$repo/.device-debs"
shared_copy="$repo/.device-shared"
work="$repo/build-device"
packages=(ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers libclblast1 libclblast-dev libcjson1 libcjson-dev
          check libsubunit0 libsubunit-dev libopenblas0 libopenblas0-pthread libopenblas-dev libopenblas-pthread-dev
          libgfortran5 libquadmath0 pkgconf pkgconf-bin libpkgconf3 meson ninja-build clinfo)
# what the suite reads from ../shared, small enough to travel
shared_files=(models/stories260K models/smollm2-tokenizer models/llama2-tokenizer models/llama3-tokenizer
              models/ggml-vocab data/paul-graham-essays data/llama.cpp-reference data/needle-haystack-config)

die() {
    echo "device-check: $*" >&2
    exit 1
}

download() {
    mkdir -p "$debs"
    rm -f "$debs"/*.deb
    (cd "$debs" && apt-get download "${packages[@]}") >&2 || die "apt-get download failed"
    local shared="${GEMCL_SHARED:-$repo/../shared}" f
    rm -rf "$shared_copy"
    for f in "${shared_files[@]}"; do
        if [ -e "$shared/$f" ]; then
            mkdir -p "$shared_copy/$(dirname "$f")"
            cp -rL "$shared/$f" "$shared_copy/$f"
        else
            echo "device-check: $shared/$f is absent; the suite will skip what needs it" >&2
        fi
    done
    echo "device-check: $(find "$debs" -name '*.deb' | wc -l) packages in .device-debs ($(du -sh "$debs" | cut -f1)), shared files in .device-shared ($(du -sh "$shared_copy" | cut -f1))"
}

# The driver's OpenCL library, or the one DEVICE_CHECK_OPENCL_LIB names.
find_driver() {
    if [ -n "${DEVICE_CHECK_OPENCL_LIB:-}" ]; then
        [ -f "$DEVICE_CHECK_OPENCL_LIB" ] || die "DEVICE_CHECK_OPENCL_LIB '$DEVICE_CHECK_OPENCL_LIB' is not a file"
        echo "$DEVICE_CHECK_OPENCL_LIB"
        return
    fi
    local f
    for f in $(ldconfig -p 2>/dev/null | awk '/libnvidia-opencl\.so\.1 / {print $NF}') \
        /usr/local/nvidia/lib64/libnvidia-opencl.so.1 /usr/local/nvidia/lib/libnvidia-opencl.so.1 \
        /usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1 /usr/lib64/libnvidia-opencl.so.1; do
        if [ -f "$f" ]; then
            echo "$f"
            return
        fi
    done
    die "no NVIDIA driver (no libnvidia-opencl.so.1 in ldconfig's cache, /usr/local/nvidia or /usr/lib): nothing to check here"
}

if [ "${1:-}" = --download ]; then
    download
    exit 0
fi
[ $# -eq 0 ] || die "usage: bash tools/device-check.sh [--download]"

driver="$(find_driver)"
started=$SECONDS
budget_s="${DEVICE_CHECK_SECONDS:-450}"
out="${OUT:-$work/out}"
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
note() {
    echo "device-check: $*" | tee -a "$summary"
}
# skipped STAGE: DEVICE_CHECK_SKIP lists it (suite, tune, bench), e.g. for a second call that only benches.
skipped() {
    [[ " ${DEVICE_CHECK_SKIP:-} " == *" $1 "* ]]
}
# stage_timeout CAP: seconds a stage may take, at most CAP and what is left of the budget (at least 1).
stage_timeout() {
    local left=$((budget_s - (SECONDS - started)))
    [ "$left" -gt "$1" ] && left="$1"
    [ "$left" -lt 1 ] && left=1
    echo "$left"
}
# run_stage NAME CAP LOG COMMAND...: runs the command under its timeout, output to LOG; notes the outcome.
run_stage() {
    local name="$1" cap="$2" log="$3" t0=$SECONDS rc=0 limit
    shift 3
    limit="$(stage_timeout "$cap")"
    timeout "$limit" "$@" >>"$log" 2>&1 || rc=$?
    local how="ok"
    [ "$rc" -eq 0 ] || how="exit status $rc"
    [ "$rc" -eq 124 ] && how="stopped at its ${limit} s limit"
    note "$name: $how, $((SECONDS - t0)) s"
    return "$rc"
}
failed=0 # the suite or the tuner failed: the exit status
note "driver's OpenCL library: $driver"
if ! ls "$debs"/*.deb >/dev/null 2>&1; then
    die "no .deb files in .device-debs (run --download here, carry .device-debs)"
fi

# ---- the prefix: Debian packages unpacked, pkg-config and the loader pointed at them --------------------
prefix="$work/prefix"
setup_log="$out/setup.log"
: >"$setup_log"
rm -rf "$prefix"
mkdir -p "$prefix"
for deb in "$debs"/*.deb; do
    if command -v dpkg >/dev/null 2>&1; then
        dpkg -x "$deb" "$prefix"
    else # ar + tar: the data member may be .xz, .zst or .gz
        tmp="$(mktemp -d)"
        (cd "$tmp" && ar x "$deb" && tar -xf data.tar.* -C "$prefix")
        rm -rf "$tmp"
    fi
done
lib="$prefix/usr/lib/x86_64-linux-gnu"
ln -sf openblas-pthread/libopenblas.so.0 "$lib/libopenblas.so.0" # dpkg's alternatives never ran
driver_dir="$(dirname "$driver")"
export LD_LIBRARY_PATH="$lib:$lib/openblas-pthread:$driver_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PKG_CONFIG="$prefix/usr/bin/pkgconf"
export PKG_CONFIG_LIBDIR="$lib/pkgconfig:$lib/openblas-pthread/pkgconfig:$prefix/usr/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$prefix"
mkdir -p "$work/vendors"
rm -f "$work"/vendors/*.icd
echo "$driver" >"$work/vendors/device-check.icd"
export OCL_ICD_VENDORS="$work/vendors"
[ -d "$shared_copy" ] && export GEMCL_SHARED="$shared_copy"
unset GEMCL_DEVICE GEMCL_PROFILE
meson=(meson)
command -v meson >/dev/null 2>&1 || meson=(env "PYTHONPATH=$prefix/usr/lib/python3/dist-packages" python3 -m mesonbuild.mesonmain)
command -v ninja >/dev/null 2>&1 || export PATH="$PATH:$prefix/usr/bin"
NINJA="$(command -v ninja || echo "$prefix/usr/bin/ninja")"
export NINJA
{
    echo "meson: ${meson[*]} ($("${meson[@]}" --version 2>&1)); ninja: $NINJA; cc: $(cc --version | head -n 1)"
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
} >>"$setup_log" 2>&1 || true

build="$work/build"
rm -rf "$build"
run_stage build 150 "$setup_log" sh -c "$(printf '%q ' "${meson[@]}") setup '$build' -Dwerror=true -Dtests=enabled && '$NINJA' -C '$build'" ||
    die "the build failed: see setup.log"
gemcl="$build/tools/gemcl"
"$gemcl" devices >>"$setup_log" 2>&1 || die "gemcl devices failed (the driver does not load?): see setup.log"
note "$(tail -n 1 "$setup_log")"

# ---- the suite, the tuner ------------------------------------------------------------------------------
if skipped suite; then
    note "suite: skipped (DEVICE_CHECK_SKIP)"
else
    run_stage suite 170 "$out/suite.log" "$build/tests/gemcl-tests" || failed=1
    note "suite: $(grep -E '^[0-9]+%: Checks: ' "$out/suite.log" | tail -n 1 || echo 'no Check summary')"
fi
if skipped tune; then
    note "tune: skipped (DEVICE_CHECK_SKIP)"
elif run_stage "tune --quick" 70 "$out/tune.log" "$gemcl" tune --quick; then
    profile="$(sed -n 's/.*wrote \(.*\.json\).*/\1/p' "$out/tune.log" | tail -n 1)"
    if [ -f "$profile" ]; then
        cp "$profile" "$out/profile.json"
        note "tuned profile: $profile (profile.json)"
    fi
else
    failed=1
fi

# ---- bench on both models --------------------------------------------------------------------------------
# random_model NAME CARD: random f16 weights at CARD's shapes (a tokenizer beside them, as loading needs one).
random_model() {
    local dir="$work/models/$1-f16" card="$2" tok=()
    [ -f "$repo/models/$card.json" ] || return 1
    [ -f "$shared_copy/models/smollm2-tokenizer/tokenizer.json" ] &&
        tok=(--tokenizer "$shared_copy/models/smollm2-tokenizer/tokenizer.json")
    "$gemcl" gen-model --like "$card" --seed 1 --dtype f16 "${tok[@]}" "$dir" >>"$out/bench.log" 2>&1 || return 1
    echo "$dir"
}
# bench NAME MODEL: full and GemFilter at 8K and 32K, tg128, as JSON in bench-NAME.json, and a summary.
bench() {
    local name="$1" model="$2" json="$out/bench-$1.json"
    note "bench $name: $model"
    run_stage "bench $name" 90 "$out/bench.log" sh -c "'$gemcl' bench -m '$model' -p 8192,32768 -n 128 -r 2 -w 1 \
        --method full,gemfilter --no-bandwidth -o json > '$json'" || return $?
    python3 - "$json" <<'EOF' 2>>"$out/bench.log" | tee -a "$summary" || note "bench $name: $json does not parse"
import json, sys
r = json.load(open(sys.argv[1]))
print("  %s, %s (%s), %s weights" % (r["device"], r["model"], r["shape"], r["dtype"]))
for row in r["rows"]:
    v = row["value"]
    print("  %-10s %-10s %10.2f +- %-8.2f %-6s peak %.0f MiB" % (row["test"], row["method"], v["mean"], v["std"],
          row["unit"], row["peak_device_bytes"] / 1048576))
EOF
}
cache_models="${GEMCL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gemcl}/models"
qwen_card="$(find "$repo/models" -name 'qwen2.5*.json' | sort | head -n 1)"
qwen_card="$(basename "${qwen_card:-none}" .json)"
skipped bench && note "bench: skipped (DEVICE_CHECK_SKIP)"
skipped bench || for spec in "smollm2|$repo/../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf|smollm2-135m" \
    "qwen2.5|$cache_models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf|$qwen_card"; do
    IFS='|' read -r name gguf card <<<"$spec"
    # the real file where it is here and runs (or only ran out of time); else random weights at its shapes
    rc=1
    if [ -f "$gguf" ]; then
        if bench "$name" "$gguf"; then rc=0; else rc=$?; fi
    fi
    if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ]; then
        continue
    elif model="$(random_model "$name" "$card")"; then
        bench "$name" "$model" || true
    else
        note "bench $name: skipped (no runnable GGUF at $gguf, and no model card '$card' to take its shapes from)"
    fi
done
note "done in $((SECONDS - started)) s; files in $out$([ "$failed" -eq 0 ] || echo '; the suite or the tuner failed')"
exit "$failed"
