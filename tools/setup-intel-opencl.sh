#!/usr/bin/env bash
# setup-intel-opencl.sh - Intel's oneAPI OpenCL CPU runtime as a second OpenCL platform beside PoCL, from PyPI.
#
#   eval "$(bash tools/setup-intel-opencl.sh)"   # then gemcl (and the tests) run on Intel's runtime
#
# Downloads the pinned wheels once, unpacks them into one prefix in the gemcl cache directory
# ($GEMCL_CACHE_DIR unless unset or "off", else ${XDG_CACHE_HOME:-$HOME/.cache}/gemcl) and keeps that prefix,
# so a second run downloads nothing. Prints to stdout the environment that shows both platforms and picks
# Intel's device (export lines); says on stderr what it did, and when the runtime cannot be had, why, in one
# line with exit status 1. Needs python3 with pip (for the download; pip's own index settings apply) and,
# for the check that the platform loads, clinfo.
#
# What the runtime needs (it finds none of it by itself): its .rtl/.o files beside libintelocl.so;
# libimf/libsvml/libirng/libintlc (intel-cmplr-lib-rt) and libtbb on the library path; an .icd file naming
# the unpacked libintelocl.so (the wheel's names a placeholder); and no libOpenCL.so of its own, so Debian's
# ocl-icd loader stays in use. OCL_ICD_VENDORS names a folder with both pocl.icd and the Intel one (ocl-icd
# 2.3.1 ignores OCL_ICD_FILENAMES).
set -euo pipefail

version=2026.2.0
wheels=("intel-opencl-rt==$version" tbb==2023.2.0 "intel-cmplr-lib-rt==$version" "intel-cmplr-lic-rt==$version")
# The platform's name; GEMCL_DEVICE matches it when no device name has it (the device is named after the CPU,
# as PoCL's is).
platform="Intel(R) OpenCL"

fail() {
    echo "setup-intel-opencl: $*" >&2
    exit 1
}

cache="${GEMCL_CACHE_DIR:-}"
if [ -z "$cache" ] || [ "$cache" = off ]; then
    [ -n "${XDG_CACHE_HOME:-}" ] || [ -n "${HOME:-}" ] || fail "no cache directory (GEMCL_CACHE_DIR, XDG_CACHE_HOME and HOME unset)"
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/gemcl"
fi
root="$cache/intel-opencl-rt-$version"

# Unpacks the wheels into a fresh folder beside root and renames it into place, so an interrupted or
# concurrent run never leaves a half-made prefix where root is looked for.
install_runtime() {
    python3 -m pip --version >/dev/null 2>&1 || fail "python3 -m pip is not available (apt-get install python3-pip)"
    mkdir -p "$cache" || fail "cannot create $cache"
    local tmp
    tmp="$(mktemp -d "$cache/.intel-opencl-rt.XXXXXX")" || fail "cannot create a folder in $cache"
    trap 'rm -rf "$tmp"' EXIT
    echo "setup-intel-opencl: downloading ${wheels[*]} (about 270 MB, once)" >&2
    if ! python3 -m pip download --quiet --disable-pip-version-check --no-cache-dir --no-deps --only-binary=:all: \
        --dest "$tmp/wheels" "${wheels[@]}" >"$tmp/pip.log" 2>&1; then
        fail "pip could not download the wheels: $(grep -v '^\s*$' "$tmp/pip.log" | tail -n 1)"
    fi
    local whl
    for whl in "$tmp"/wheels/*.whl; do
        python3 -m zipfile -e "$whl" "$tmp/unpacked" || fail "cannot unpack $(basename "$whl")"
    done
    mkdir -p "$tmp/lib" "$tmp/share/licensing"
    # every wheel keeps its payload under <name>.data/data/{lib,licensing,share,...}
    local d
    for d in "$tmp"/unpacked/*.data/data; do
        if [ -d "$d/lib" ]; then cp -a "$d/lib/." "$tmp/lib/"; fi
        if [ -d "$d/licensing" ]; then cp -a "$d/licensing/." "$tmp/share/licensing/"; fi
        if [ -d "$d/share" ]; then cp -a "$d/share/." "$tmp/share/"; fi
    done
    [ -f "$tmp/lib/libintelocl.so" ] || fail "the wheels hold no lib/libintelocl.so"
    rm -f "$tmp"/lib/libOpenCL.so*
    # zip keeps no symbolic links: libfoo.so and libfoo.so.N.M arrive as two copies (~300 MB); link them
    local f twin
    for f in "$tmp"/lib/*.so "$tmp"/lib/*.so.[0-9]*; do
        if [ ! -f "$f" ] || [ -L "$f" ]; then continue; fi
        for twin in "$f".[0-9]*; do
            if [ -f "$twin" ] && [ ! -L "$twin" ] && cmp -s "$f" "$twin"; then
                ln -sf "$(basename "$twin")" "$f"
                break
            fi
        done
    done
    rm -rf "$tmp/wheels" "$tmp/unpacked"
    chmod 755 "$tmp"
    echo "$root/lib/libintelocl.so" >"$tmp/intel-cpu.icd"
    if [ -e "$root" ] && [ ! -f "$root/intel-cpu.icd" ]; then
        rm -rf "$root" # a prefix some older run left unfinished
    fi
    if ! mv -T "$tmp" "$root" 2>/dev/null; then
        [ -f "$root/intel-cpu.icd" ] || fail "cannot move the runtime into $root"
        rm -rf "$tmp" # another run finished first: use its copy
    fi
    trap - EXIT
    echo "setup-intel-opencl: installed in $root ($(du -sh "$root" | cut -f1))" >&2
}

if [ -f "$root/intel-cpu.icd" ] && [ -f "$root/lib/libintelocl.so" ]; then
    echo "setup-intel-opencl: using $root" >&2
else
    install_runtime
fi

# The vendors folder: the Intel .icd and every system one (pocl.icd), copied again each run so a system ICD
# added since is seen.
vendors="$root/vendors"
mkdir -p "$vendors"
cp "$root/intel-cpu.icd" "$vendors/intel-cpu.icd"
for f in /etc/OpenCL/vendors/*.icd; do
    if [ -f "$f" ] && [ "$(basename "$f")" != intel-cpu.icd ]; then cp "$f" "$vendors/"; fi
done

if command -v clinfo >/dev/null 2>&1; then
    OCL_ICD_VENDORS="$vendors" LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" clinfo -l 2>/dev/null |
        grep -qF "$platform" || fail "the runtime in $root does not load (clinfo lists no '$platform' platform)"
fi

printf "export OCL_ICD_VENDORS='%s'\n" "$vendors"
printf "export LD_LIBRARY_PATH='%s'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\n" "$root/lib"
printf "export GEMCL_DEVICE='%s'\n" "$platform"
