#!/usr/bin/env bash
# Formats the C++ sources with clang-format 14 and .clang-format (another major version formats differently).
# Usage: scripts/format.sh [--check] [FILE...]   FILEs default to every tracked *.cpp and *.hpp. Without --check
# the files are formatted in place; with it nothing is changed, and the unformatted files are listed (exit 1).
# CLANG_FORMAT names the binary (default: clang-format, else clang-format-14); scripts/setup.sh --test installs it.
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

check=0 files=()
for arg in "$@"; do
  case $arg in
    --check) check=1 ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    -*) echo "format.sh: unknown option $arg" >&2; exit 2 ;;
    *) files+=("$arg") ;;
  esac
done

major() { "$1" --version 2>/dev/null | sed -n 's/.*clang-format version \([0-9][0-9]*\)\..*/\1/p' | head -n 1; }

# The first of the candidates that is version 14; otherwise say what was found.
found=()
clang_format=
for candidate in ${CLANG_FORMAT:-clang-format clang-format-14}; do
  command -v "$candidate" >/dev/null 2>&1 || continue
  version=$(major "$candidate")
  if [[ $version == 14 ]]; then
    clang_format=$candidate
    break
  fi
  found+=("$candidate (version ${version:-unknown})")
done
if [[ -z $clang_format ]]; then
  if ((${#found[@]})); then
    echo "format.sh: needs clang-format 14, found ${found[*]}; install Debian's clang-format-14" \
      "(scripts/setup.sh --test) or set CLANG_FORMAT" >&2
  else
    echo "format.sh: clang-format 14 not found; install it with scripts/setup.sh --test (Debian: clang-format)" >&2
  fi
  exit 2
fi

if ((!${#files[@]})); then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
  else
    mapfile -t files < <(find include src tests -name '*.cpp' -o -name '*.hpp' | sort)
  fi
fi

if ((!check)); then
  "$clang_format" -i --style=file "${files[@]}"
  exit 0
fi

unformatted=()
for f in "${files[@]}"; do
  "$clang_format" --dry-run --Werror --style=file "$f" >/dev/null 2>&1 || unformatted+=("$f")
done
if ((${#unformatted[@]})); then
  echo "format.sh: ${#unformatted[@]} of ${#files[@]} files are not formatted (fix: scripts/format.sh):" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "format.sh: all ${#files[@]} files are formatted (clang-format $(major "$clang_format"))"
