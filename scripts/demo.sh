#!/usr/bin/env bash
# One-command demo: install dependencies, build, and train the demo GAN (configs/demo.json) into runs/.
# Usage: scripts/demo.sh [extra ganpp train args...]   Ends with "demo run directory: <dir>".
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

scripts/setup.sh
GANPP_BUILD_TARGET=ganpp scripts/build.sh

list_runs() {
  if [[ -d runs ]]; then
    find runs -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort
  fi
}

# An explicit --out from the caller names the run directory itself.
out=
prev=
for arg in "$@"; do
  [[ $prev == --out ]] && out=$arg
  [[ $arg == --out=* ]] && out=${arg#--out=}
  prev=$arg
done

before=$(list_runs)
status=0
build/ganpp train --config configs/demo.json "$@" || status=$?

run_dir=$out
if [[ -z $run_dir ]]; then
  # The newest of the runs/* directories that did not exist before ganpp started.
  mapfile -t new_dirs < <(comm -13 <(printf '%s\n' "$before") <(list_runs) | sed '/^$/d')
  if ((${#new_dirs[@]})); then
    run_dir=$(find "${new_dirs[@]}" -maxdepth 0 -printf '%T@ %p\n' | sort -rn | head -n 1 | cut -d' ' -f2-)
  fi
fi

if [[ -n $run_dir ]]; then
  [[ $run_dir == /* ]] || run_dir=$root/$run_dir
  echo "demo run directory: $run_dir"
else
  echo "demo: could not find the run directory under $root/runs" >&2
  ((status)) || status=1
fi
exit "$status"
