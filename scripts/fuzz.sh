#!/usr/bin/env bash
# Build the libFuzzer targets (clang with AddressSanitizer and UndefinedBehaviorSanitizer) into build-fuzz/ and
# run each for SECONDS on its seed corpus tests/fuzz/<target>/ (inputs it finds go to build-fuzz/corpus/<target>/,
# a crashing input to build-fuzz/findings/). Targets: config (config file + --set), idx (the IDX reader), image
# (image identification and decoding), checkpoint (checkpoint identification and verification), array (.npy, .npz
# and .zip datasets).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   SECONDS defaults to 60; 0 only replays the seed corpora (CI).
# Exits non-zero on the first target that finds a crash, a hang or a sanitizer report.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

seconds=60
if (($#)) && [[ $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
((${#targets[@]})) || targets=(config idx image checkpoint array)

build=$root/build-fuzz
if [[ ! -f $build/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  CXX=clang++ cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGANPP_FUZZ=ON \
    -DGANPP_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/findings"
# LibTorch is not instrumented: its allocations made at load time are not ours to report as leaks.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t
  mkdir -p "$corpus"
  if ((seconds == 0)); then
    args=(-runs=0 "tests/fuzz/$t")
  else
    args=(-max_total_time="$seconds" -print_final_stats=1 "$corpus" "tests/fuzz/$t")
  fi
  echo "fuzz_$t: ${seconds}s" >&2
  "$build/fuzz_$t" -timeout=10 -rss_limit_mb=4096 -artifact_prefix="$build/findings/$t-" "${args[@]}" 2>"$build/$t.log" ||
    { tail -n 40 "$build/$t.log" >&2; echo "fuzz_$t: finding (see $build/$t.log and $build/findings/)" >&2; exit 1; }
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs|^#[0-9]+.*DONE' "$build/$t.log" >&2 || true
done
