#!/usr/bin/env bash
# Install dependencies (incl. test-only ones), build into build/, and run the test suite with ctest.
# Usage: scripts/test.sh [extra ctest args...]   Exits with ctest's status.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/setup.sh --test
scripts/build.sh build
exec ctest --test-dir build --output-on-failure -j 2 "$@"
