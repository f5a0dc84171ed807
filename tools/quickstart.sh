#!/usr/bin/env bash
# quickstart.sh - set up a fresh Debian machine, build gemcl, and run the main job or the test suite.
#
#   bash tools/quickstart.sh demo   # install, build, run GemFilter on the default model
#   bash tools/quickstart.sh test   # install, build, run the whole test suite on PoCL and on Intel's OpenCL
#                                   # CPU runtime (from PyPI, optional) (what CI runs)
#
# Installs only what is missing (apt-get; sudo when not root). Builds into ./build with warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(build-essential ocl-icd-opencl-dev opencl-headers pocl-opencl-icd libclblast-dev libcjson-dev
          check meson ninja-build pkg-config python3 clinfo libopenblas-dev python3-pip)

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
    # The main job: GemFilter on the default model (stories260K, trained context 512) over a ~3K-token
    # prompt from the needle-in-a-haystack essays with the needle in the middle. Full attention could
    # not even take this prompt; GemFilter keeps 256 tokens chosen by layer 2 and shows which.
    shared="${GEMCL_SHARED:-../shared}"
    prompt=build/demo-prompt.txt
    LC_ALL=C ls "$shared"/data/paul-graham-essays/*.txt | LC_ALL=C sort | xargs cat > build/demo-haystack.txt
    { head -c 2500 build/demo-haystack.txt
      printf '\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n'
      head -c 5000 build/demo-haystack.txt | tail -c 2500
      printf '\nBased on the content of the book, Question: What is the best thing to do in San Francisco?\nAnswer:'
    } > "$prompt"
    ./build/tools/gemcl run -m "$shared/models/stories260K/stories260K.bin" -f "$prompt" \
        --method gemfilter --filter-layer 2 --budget 256 -n 64 --show-selected
    ;;
test)
    install_missing
    build
    # One binary runs every Check suite, ending with Check's summary: on PoCL, then on Intel's OpenCL CPU
    # runtime when it can be installed (tools/run-suites.sh).
    exec bash tools/run-suites.sh
    ;;
*)
    echo "usage: bash tools/quickstart.sh demo|test" >&2
    exit 2
    ;;
esac
