#!/usr/bin/env bash
# Installs what blazer needs on Debian/Ubuntu when it is missing: Open MPI (what the README's
# commands run: mpirun, mpicc and headers), libclang (rsmpi's bindings are generated with
# bindgen at build time) and clang's own headers (bindgen's parse needs stddef.h).
# Safe to run again: it installs nothing that is already there.
#
#   scripts/setup.sh             installs what is missing (apt-get, as root or through sudo)
#   scripts/setup.sh --check     prints the packages it would install, one a line; installs nothing
#   scripts/setup.sh --packages  prints every package it may install (.ci/run purges them)
#
# With --browser as well (before or after the others), Debian's Chromium counts too: the
# headless browser that tests/report.rs draws BLAZER_REPORT's page with (scripts/test.sh).
#
# BLAZER_SETUP_ROOT (default /) is the file system the checks look at: tests/setup.rs points
# it at fake roots holding what a fresh image holds. Only --check accepts another root.
set -euo pipefail
shopt -s nullglob

# Every package missing_packages may name, in its order.
packages=(openmpi-bin libopenmpi-dev libclang1-14 libclang-common-14-dev)
check=false
list=false
browser=false
for arg in "$@"; do
    case "$arg" in
        --check) check=true ;;
        --packages) list=true ;;
        --browser) browser=true ;;
        *)
            echo "usage: scripts/setup.sh [--check | --packages] [--browser]" >&2
            exit 2
            ;;
    esac
done
if $browser; then
    packages+=(chromium)
fi
if $list; then
    printf '%s\n' "${packages[@]}"
    exit 0
fi
root="${BLAZER_SETUP_ROOT:-/}"
root="${root%/}" # "" for /, so that "$root/usr" is "/usr"
if [ -n "$root" ] && ! $check; then
    echo "blazer setup: BLAZER_SETUP_ROOT is for --check only" >&2
    exit 2
fi

# Whether FILE is a library clang-sys would load: it resolves (a dangling link does not) and
# is a 64-bit ELF file (clang-sys skips other classes, such as an i386 multiarch copy).
loadable() {
    [ -f "$1" ] && [ "$(od -An -tx1 -N5 "$1" 2>/dev/null | tr -d ' \n')" = 7f454c4602 ]
}

# Prints the files in directory DIR that clang-sys 1.9 would load as libclang. bindgen is
# built with its `runtime` feature (mpi-sys's build), so clang-sys dlopens any of these names,
# and skips every name with `-cpp.` in it: libclang-cpp is clang's C++ API, not libclang.
libclang_in() {
    local f
    for f in "$1"/libclang.so "$1"/libclang-*.so "$1"/libclang.so.* "$1"/libclang-*.so.*; do
        [[ "${f##*/}" == *-cpp.* ]] && continue
        loadable "$f" && echo "$f"
    done
    return 0
}

# Prints the libclang files clang-sys would find, searching where it searches: only
# LIBCLANG_PATH (a directory, or a file in one) when it is set; otherwise the directories of
# LD_LIBRARY_PATH and LIBRARY_PATH, then its fixed list for Linux. (It also asks
# `llvm-config --prefix`; Debian's prefixes, /usr/lib/llvm-N, are in the fixed list.)
find_libclang() {
    local dir pattern
    if [ -n "${LIBCLANG_PATH:-}" ]; then
        local path="$root$LIBCLANG_PATH"
        if libclang_in "$(dirname "$path")" | grep -qxF "$path"; then
            echo "$path"
        else
            libclang_in "$path"
        fi
        return 0
    fi
    local listed=()
    IFS=: read -ra listed <<<"${LD_LIBRARY_PATH:-}:${LIBRARY_PATH:-}"
    for dir in "${listed[@]}"; do
        [ -n "$dir" ] && libclang_in "$root$dir"
    done
    for pattern in '/usr/local/llvm*/lib*' '/usr/local/lib*/*/*' '/usr/local/lib*/*' \
        '/usr/local/lib*' '/usr/lib*/*/*' '/usr/lib*/*' '/usr/lib*'; do
        # The pattern is left unquoted on purpose: it is a glob, like clang-sys's own list.
        for dir in "$root"$pattern; do
            [ -d "$dir" ] && libclang_in "$dir"
        done
    done
    return 0
}

# Whether PROGRAM is an executable in one of the PATH's directories under the root.
on_path() {
    local dir
    local dirs=()
    IFS=: read -ra dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [ -n "$dir" ] && [ -x "$root$dir/$1" ] && return 0
    done
    return 1
}

# Whether any path matches one of the globs (each already under the root).
exists() {
    local f
    for f in "$@"; do
        [ -e "$f" ] && return 0
    done
    return 1
}

# Prints the Debian packages that are missing, one a line.
missing_packages() {
    # Open MPI itself: ompi_info comes with every Open MPI (Debian's openmpi-bin included);
    # another MPI's mpirun does not count, since the README's commands run Open MPI.
    on_path ompi_info || echo openmpi-bin
    # Its headers and compiler wrapper (libopenmpi-dev on Debian, beside any other MPI's).
    exists "$root"/usr/lib/*/openmpi/include/mpi.h "$root"/usr/lib*/openmpi/include/mpi.h \
        || echo libopenmpi-dev
    if [ -z "$(find_libclang)" ]; then
        if [ -n "${LIBCLANG_PATH:-}" ]; then
            echo "blazer setup: LIBCLANG_PATH=$LIBCLANG_PATH holds no libclang bindgen can load" \
                "(bindgen looks only there while it is set)" >&2
        fi
        echo libclang1-14
    fi
    # Where libclang finds its headers: Debian's LLVM (and its /usr/lib/clang links), or an
    # LLVM installed under /usr/local.
    exists "$root"/usr/lib/llvm-*/lib/clang/*/include/stddef.h \
        "$root"/usr/lib/clang/*/include/stddef.h "$root"/usr/local/lib/clang/*/include/stddef.h \
        "$root"/usr/local/llvm*/lib/clang/*/include/stddef.h \
        || echo libclang-common-14-dev
    # The headless browser of tests/report.rs, when asked for (--browser).
    if $browser; then
        on_path chromium || echo chromium
    fi
}

need=()
mapfile -t need < <(missing_packages)
if $check; then
    [ ${#need[@]} -eq 0 ] || printf '%s\n' "${need[@]}"
    exit 0
fi

if [ ${#need[@]} -gt 0 ]; then
    echo "blazer setup: installing ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # What was missing must now be there: a package that did not bring it is a bug here.
    mapfile -t need < <(missing_packages)
    if [ ${#need[@]} -gt 0 ]; then
        echo "blazer setup: still missing after apt-get install: ${need[*]}" >&2
        exit 1
    fi
fi

command -v cargo >/dev/null 2>&1 || {
    echo "blazer setup: cargo is missing; install Rust with rustup (https://rustup.rs) first" >&2
    exit 1
}
