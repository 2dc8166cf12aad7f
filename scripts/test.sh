#!/usr/bin/env bash
# Install dependencies (incl. test-only ones), build into build/, and run the test suite with ctest.
# Usage: scripts/test.sh [extra ctest args...]   Exits with ctest's status.
#        scripts/test.sh --sanitize [extra ctest args...]   builds into build-sanitize/ with AddressSanitizer and
#        UndefinedBehaviorSanitizer and runs the tests of our parsers, data, checkpoints, resume and CLI paths
#        (LibTorch is not instrumented; scripts/sanitize.supp lists the leak reports inside it that are ignored).
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/setup.sh --test
if [[ ${1:-} == --sanitize ]]; then
  shift
  GANPP_BUILD_TYPE=RelWithDebInfo scripts/build.sh build-sanitize -DGANPP_SANITIZE=ON
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:allocator_may_return_null=1}
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/scripts/sanitize.supp:print_suppressions=0}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  exec ctest --test-dir build-sanitize --output-on-failure -j 2 --timeout 1200 \
    -R '^(Config|Data|Prepared|Archive|Image|Checkpoint|Resume|Cli|Inputs|Reliability|Export|Gif|Probe|Pixels|Subset)' "$@"
fi
scripts/build.sh build
exec ctest --test-dir build --output-on-failure -j 2 "$@"
