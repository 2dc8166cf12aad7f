#!/usr/bin/env bash
# Side-by-side training benchmark: `ganpp bench` against its PyTorch reference (scripts/bench_reference.py) on
# the four workloads, run alternately with the same thread count; prints the median ratio per workload.
# Usage: scripts/bench.sh [--rounds 3] [--steps 10] [--warmup 2] [--threads N] [--device cpu|cuda]
#                         [--precision fp32|bf16] [--cuda-graph] [WORKLOAD...]   (the last two: ganpp's side only)
set -euo pipefail

root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
rounds=3 steps=10 warmup=2 threads=$(nproc) device=cpu workloads=() ganpp_args=()
while (($#)); do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --precision) ganpp_args+=(--precision "$2"); shift 2 ;;
    --cuda-graph) ganpp_args+=(--cuda-graph); shift ;;
    -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
    -*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    *) workloads+=("$1"); shift ;;
  esac
done
((${#workloads[@]})) || workloads=(dcgan28-bce dcgan28-wgangp dcgan64-bce dcgan64-wgangp)

ganpp=${GANPP:-$root/build/ganpp}
reference=${GANPP_REFERENCE:-$root/scripts/bench_reference.py}
# Debian's python3-torch is the same PyTorch as Debian's libtorch-dev; elsewhere the python3 on PATH.
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import torch' 2>/dev/null || python=python3
[[ -x $ganpp ]] || { echo "bench.sh: $ganpp not found; run scripts/build.sh first" >&2; exit 1; }
[[ -f $reference ]] || { echo "bench.sh: reference $reference not found (set GANPP_REFERENCE)" >&2; exit 1; }
"$python" -c 'import torch' 2>/dev/null ||
  { echo "bench.sh: $python cannot import torch (Debian: apt-get install python3-torch; or set PYTHON)" >&2; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
for w in "${workloads[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    echo "bench.sh: $w round $r/$rounds" >&2
    OMP_NUM_THREADS=$threads "$ganpp" bench --workload "$w" --steps "$steps" --warmup "$warmup" \
      --threads "$threads" --device "$device" "${ganpp_args[@]}" | sed 's/^/ganpp /' >>"$results"
    OMP_NUM_THREADS=$threads "$python" "$reference" --workload "$w" --steps "$steps" --warmup "$warmup" \
      --device "$device" | sed 's/^/torch /' >>"$results"
    if [[ $device == cpu ]]; then
      # The reference again with OpenBLAS kept to one thread, as ganpp keeps it (see README).
      OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$python" "$reference" --workload "$w" --steps "$steps" \
        --warmup "$warmup" --device "$device" | sed 's/^/torch1blas /' >>"$results"
    fi
  done
done

"$python" - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, text = line.split(" ", 1)
    j = json.loads(text)
    runs.setdefault(j["workload"], {}).setdefault(who, []).append(j)
def med(rs, key): return statistics.median(r[key] for r in rs)
first = next(iter(runs.values()))
print(f"device {first['ganpp'][0]['device']}, threads {first['ganpp'][0]['threads']}, "
      f"LibTorch {first['ganpp'][0]['torch']}, PyTorch {first['torch'][0]['torch']}, rounds {len(first['ganpp'])}")
tuned = "torch1blas" in first
head = f"{'workload':<16} {'ganpp img/s':>11} {'torch img/s':>11} {'ratio':>6}"
if tuned: head += f" {'torch 1-BLAS':>12} {'ratio':>6}"
head += f" {'ganpp MB':>9} {'torch MB':>9}"
print(head)
for w, r in runs.items():
    g, t = med(r["ganpp"], "images_per_s"), med(r["torch"], "images_per_s")
    # Ratio of medians over alternating runs.
    row = f"{w:<16} {g:>11.1f} {t:>11.1f} {g / t:>6.2f}"
    if tuned:
        t1 = med(r["torch1blas"], "images_per_s")
        row += f" {t1:>12.1f} {g / t1:>6.2f}"
    row += f" {med(r['ganpp'], 'peak_rss_mb'):>9.0f} {med(r['torch'], 'peak_rss_mb'):>9.0f}"
    print(row)
PY
