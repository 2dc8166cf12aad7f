#!/usr/bin/env bash
# Install the Debian packages ganpp needs to build, run and test (idempotent; prints nothing when all are present).
# Usage: scripts/setup.sh [--test]   (--test also installs python3-torch for the interop tests and the benchmark
# reference, clang-format 14 for scripts/format.sh, and clang with its libFuzzer runtime for scripts/fuzz.sh)
set -euo pipefail

packages=(cmake ninja-build g++ pkg-config libtorch-dev libopenblas0-pthread libcli11-dev libspdlog-dev
          nlohmann-json3-dev libstb-dev libgif-dev libzip-dev libgloo-dev libgtest-dev zlib1g-dev dataset-fashion-mnist)

for arg in "$@"; do
  case "$arg" in
    --test) packages+=(python3-torch clang-format clang libclang-rt-14-dev) ;;
    -h|--help) echo "usage: $0 [--test]"; exit 0 ;;
    *) echo "setup.sh: unknown argument: $arg (usage: $0 [--test])" >&2; exit 2 ;;
  esac
done

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# How to get root: nothing when root, passwordless sudo when it works, otherwise can_root=0.
can_root=1
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    can_root=0
  fi
fi

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
  if ((!can_root)); then
    echo "ganpp needs these packages: ${missing[*]}"
    echo "sudo apt-get install --no-install-recommends ${missing[*]}"
    exit 1
  fi
  log=$(mktemp "${TMPDIR:-/tmp}/ganpp-setup.XXXXXX.log")
  echo "ganpp: installing ${missing[*]} (log: $log)" >&2
  if ! { "${as_root[@]}" apt-get update -qq &&
         "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "ganpp: package installation failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  rm -f "$log"
fi

# LibTorch links libblas.so.3/liblapack.so.3; make sure they resolve to the threaded OpenBLAS, not the
# slow reference BLAS. Installing libopenblas0-pthread normally does this (priority 100 vs 10).
if installed libopenblas0-pthread; then
  while read -r name; do
    [[ -n $name ]] || continue
    query=$(update-alternatives --query "$name" 2>/dev/null) || continue
    value=$(sed -n 's/^Value: //p' <<<"$query")
    [[ $value == */openblas-pthread/* ]] && continue
    target=$(sed -n 's/^Alternative: \(.*\/openblas-pthread\/.*\)$/\1/p' <<<"$query" | head -n 1)
    [[ -n $target ]] || continue
    # Back to automatic mode when that picks OpenBLAS (the usual case), otherwise pin it.
    if [[ $(sed -n 's/^Best: //p' <<<"$query") == "$target" ]]; then
      fix=(update-alternatives --quiet --auto "$name")
    else
      fix=(update-alternatives --quiet --set "$name" "$target")
    fi
    if ((!can_root)); then
      echo "ganpp: warning: $name points to ${value:-nothing}, not OpenBLAS; fix with:" >&2
      echo "sudo ${fix[*]}" >&2
    else
      "${as_root[@]}" "${fix[@]}"
    fi
  done < <(update-alternatives --get-selections 2>/dev/null |
           awk '$1 ~ /^(libblas\.so\.3|liblapack\.so\.3)-/ {print $1}')
fi
