#!/usr/bin/env bash
# Configure (first time, or when extra cmake args are given) and build ganpp with all cores.
# Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]   BUILD_DIR defaults to build; a relative
# BUILD_DIR is taken relative to the repo root. GANPP_BUILD_TYPE (default Release) sets CMAKE_BUILD_TYPE;
# GANPP_BUILD_TARGET (default: all) limits the build to one target.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)

build_dir=build
if (($#)) && [[ $1 != -* ]]; then
  build_dir=$1
  shift
fi
[[ $build_dir == /* ]] || build_dir=$root/$build_dir
build_type=${GANPP_BUILD_TYPE:-Release}

cache=$build_dir/CMakeCache.txt
configure=0
if [[ ! -f $cache ]] || { [[ ! -f $build_dir/build.ninja ]] && [[ ! -f $build_dir/Makefile ]]; }; then
  configure=1  # never configured, or an earlier configure failed before generating
elif (($#)); then
  configure=1  # extra cmake args given
elif [[ $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache") != "$build_type" ]]; then
  configure=1  # GANPP_BUILD_TYPE changed
fi

if ((configure)); then
  generator=()
  # Choose the generator only for a fresh build dir; cmake refuses to switch it later.
  if [[ ! -f $cache ]] && command -v ninja >/dev/null 2>&1; then
    generator=(-G Ninja)
  fi
  cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE="$build_type" "$@"
fi

# GANPP_BUILD_TARGET builds one target only (the demo needs just the ganpp executable).
cmake --build "$build_dir" -j "$(nproc)" ${GANPP_BUILD_TARGET:+--target "$GANPP_BUILD_TARGET"}
