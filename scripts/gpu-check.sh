#!/usr/bin/env bash
# Builds ganpp against this machine's own PyTorch (CUDA) and checks it on the GPU, in one go, for a short
# lease on a GPU machine: the test suite (CUDA tests included), a short Fashion-MNIST training run eagerly,
# as a CUDA graph and resumed, and the side-by-side benchmark (ganpp eager, graph and bf16 against the
# PyTorch reference) with the FLOPs per step (scripts/flops.py) and the share of the card's matrix-unit rate.
#
# Usage: scripts/gpu-check.sh      (writes logs and a summary to $OUT, or out/gpu)
# Needs, in the checkout (the GPU machine has CUDA, CMake, ninja and PyTorch with CUDA, whose LibTorch ganpp
# builds against, but none of ganpp's other libraries and no package manager):
#   .gpu-deps/usr  a prefix for CMake with ganpp's other build dependencies, copied from a Debian 12 machine
#                  that has them (scripts/setup.sh --test): the headers of CLI11, spdlog, fmt, nlohmann_json, stb,
#                  GoogleTest/GoogleMock, zlib, giflib, cgif and libzip (zip.h, zipconf.h) from /usr/include; the
#                  libraries libspdlog.so*, libfmt.so*, libgtest*.a, libgmock*.a, libz.so*, libz.a, libgif.so*,
#                  libcgif.so*, libzip.so* and libbz2.so* from /usr/lib/x86_64-linux-gnu; and the CMake package
#                  folders of spdlog, fmt and GTest (from /usr/lib/x86_64-linux-gnu/cmake) and of CLI11 and
#                  nlohmann_json (from /usr/share/cmake), whole.
#                  Everything keeps its path relative to /usr, so that the packages' relative prefixes hold.
#   .gpu-data/fashion-mnist  train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz (Debian's
#                  dataset-fashion-mnist installs them in /usr/share/datasets/fashion-mnist).
# The PyTorch side of the benchmark is scripts/bench_reference.py.
# Distributed training on the GPU (the `dist` phase): a one-rank NCCL group under PyTorch's torchrun, a short
# training run and the benchmark, against the same without a group (the exchange's cost).
# Environment: GPU_CHECK_ROUNDS (2), GPU_CHECK_STEPS (100), GPU_CHECK_PHASES ("build test train dist bench").
set -uo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=${OUT:-$root/out/gpu}
mkdir -p "$out"
phases=${GPU_CHECK_PHASES:-build test train dist bench}
rounds=${GPU_CHECK_ROUNDS:-2}
steps=${GPU_CHECK_STEPS:-100}
deps=$root/.gpu-deps/usr
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
ganpp=$root/build-gpu/ganpp
stamp() { echo "[$(date +%T)] $*" | tee -a "$out/summary.txt"; }
has() { [[ " $phases " == *" $1 "* ]]; }

stamp "gpu-check: phases '$phases'"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv \
  >>"$out/summary.txt" 2>&1

if has build; then
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  stamp "configure + build (LibTorch at $torch_prefix)"
  { cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix;$deps" \
      -DZLIB_ROOT="$deps" -DTORCH_CUDA_ARCH_LIST=9.0 &&
    ninja -C build-gpu -k 0 -j "$(nproc)"; } >"$out/build.log" 2>&1
  rc=$?
  grep -E "error|GANPP|CUDA|ganpp:" "$out/build.log" | head -20 >>"$out/summary.txt"
  stamp "build rc=$rc"
  # A failed test binary still leaves ganpp to check: go on while it built.
  ((rc == 0)) || { grep -E "error|FAILED" "$out/build.log" | sort -u | head -60; [[ -x $ganpp ]] || exit 1; }
  ldd "$ganpp" | grep "not found" >>"$out/summary.txt"
fi

if has test; then
  stamp "ctest"
  # 2026-12-04 on an H200: 254 of 322 tests in 240 s at -j 12 (each process starting CUDA took seconds).
  timeout "${GPU_CHECK_TEST_SECONDS:-300}" ctest --test-dir build-gpu -j 16 --output-on-failure --timeout 200 \
    >"$out/test.log" 2>&1
  stamp "ctest rc=$?: $(grep -E 'tests passed|tests failed' "$out/test.log")"
  grep -E "^\s*[0-9]+ - |Cuda|Skipped|\*\*\*Failed|SegFault|Timeout" "$out/test.log" | head -30 >>"$out/summary.txt"
  # A crashed test again under cuda-gdb (it debugs host code too), for its backtrace.
  for t in $(grep -oE "Test +#[0-9]+: [A-Za-z0-9_.]+ \.+\*\*\*Exception" "$out/test.log" | awk '{print $3}' | head -3); do
    stamp "backtrace of $t:"
    timeout 60 cuda-gdb -batch -ex run -ex bt --args build-gpu/ganpp_tests --gtest_filter="$t" 2>&1 |
      grep -E "^#[0-9]+ |signal|Program" | head -25 >>"$out/summary.txt"
  done
fi

if has train; then
  runs=$(mktemp -d)
  base=(train --config configs/fashion_mnist_dcgan_bce.json --set data.path=.gpu-data/fashion-mnist
        --device cuda --no-progress --set train.log_every=100 --set train.sample_every=500)
  for mode in eager graph; do
    stamp "train 1000 steps ($mode)"
    timeout 120 "$ganpp" "${base[@]}" --out "$runs/$mode" --set train.steps=1000 \
      --set train.cuda_graph=$([[ $mode == graph ]] && echo true || echo false) >>"$out/train.log" 2>&1
    stamp "rc=$? $(grep -o 'step 1000/1000.*' "$out/train.log" | tail -1)"
  done
  cp "$runs/graph/samples/step_001000.png" "$out/graph_step_1000.png" 2>/dev/null
  stamp "graph run: 500 steps, then resumed to 1000"
  timeout 120 "$ganpp" "${base[@]}" --out "$runs/resumed" --set train.steps=500 --set train.cuda_graph=true \
    >>"$out/train.log" 2>&1 &&
    timeout 120 "$ganpp" train --resume "$runs/resumed" --set train.steps=1000 --device cuda --no-progress \
      >>"$out/train.log" 2>&1
  stamp "resume rc=$?: $(grep -o 'step 1000/1000.*' "$out/train.log" | tail -1)"
  python3 - "$runs" >>"$out/summary.txt" 2>&1 <<'PY'
import json, sys
for run in ("eager", "graph", "resumed"):
    recs = [json.loads(l) for l in open(f"{sys.argv[1]}/{run}/log.jsonl") if '"loss_d"' in l]
    last = recs[-1]
    speeds = [r["images_per_s"] for r in recs[1:]]
    print(f"{run:8} step {last['step']} loss_d {last['loss_d']:.4f} loss_g {last['loss_g']:.4f} "
          f"D(x) {last['d_real']:.3f} median images/s {sorted(speeds)[len(speeds)//2]:.0f}")
PY
fi

if has dist; then
  # One GPU: a group of one rank (NCCL refuses two ranks on one GPU), which still runs every collective.
  torchrun=(python3 -m torch.distributed.run --nproc_per_node 1 --master_port 29511 --no_python)
  dist_dir=$(mktemp -d)
  stamp "dist: 200 steps on a one-rank NCCL group"
  timeout 120 "${torchrun[@]}" "$ganpp" train --config configs/fashion_mnist_dcgan_bce.json \
    --set data.path=.gpu-data/fashion-mnist --set train.steps=200 --set train.log_every=50 --device cuda \
    --no-progress --dist-backend nccl --out "$dist_dir/nccl" >"$out/dist.log" 2>&1
  stamp "rc=$? $(grep -o 'step 200/200.*' "$out/dist.log" | tail -1) $(grep -c '"rank_images"' "$dist_dir/nccl/log.jsonl" 2>/dev/null) records with rank_images"
  for w in dcgan28-bce dcgan64-bce; do
    timeout 60 "${torchrun[@]}" "$ganpp" bench --workload "$w" --steps "$steps" --warmup 10 --device cuda \
      --dist-backend nccl >>"$out/dist_bench.jsonl" 2>>"$out/dist.log"
    timeout 60 "$ganpp" bench --workload "$w" --steps "$steps" --warmup 10 --device cuda >>"$out/dist_bench.jsonl" \
      2>>"$out/dist.log"
  done
  stamp "dist bench (one-rank NCCL group, then no group):"
  grep -o '"workload":"[^"]*"\|"images_per_s":[0-9.]*\|"ranks":[0-9]*' "$out/dist_bench.jsonl" | paste -sd' ' \
    >>"$out/summary.txt"
fi

if has bench; then
  reference=$root/scripts/bench_reference.py
  stamp "bench: $rounds rounds x $steps steps, ganpp eager/graph/bf16+graph against the reference"
  for ((r = 1; r <= rounds; r++)); do
    for w in dcgan28-bce dcgan28-wgangp dcgan64-bce dcgan64-wgangp; do
      for variant in "fp32" "fp32 --cuda-graph" "bf16 --cuda-graph"; do
        set -- $variant
        timeout 60 "$ganpp" bench --workload "$w" --steps "$steps" --warmup 10 --device cuda --precision "$@" \
          >>"$out/bench.jsonl" 2>>"$out/bench.err"
      done
      timeout 60 python3 "$reference" --workload "$w" --steps "$steps" --warmup 10 --device cuda \
        | sed 's/^{/{"reference": true, /' >>"$out/bench.jsonl" 2>>"$out/bench.err"
    done
  done
  python3 scripts/flops.py --reference "$reference" >"$out/flops.jsonl" 2>>"$out/bench.err"
  PYTHONUNBUFFERED=1 timeout 120 python3 - "$out/bench.jsonl" "$out/flops.jsonl" \
    >>"$out/summary.txt" 2>&1 <<'PY'
# The side-by-side table: median images/s, ratio to the reference, and the FLOP rate (scripts/flops.py's count
# of the reference's step) as a share of the matrix units' rate measured here (an 8192^3 product).
import json, statistics, sys, time
import torch
dev = torch.device("cuda")
flops = {j["workload"]: j["gflop_per_step"] * 1e9 / j["images_per_step"] for j in map(json.loads, open(sys.argv[2]))}
def matmul_rate(dtype, tf32):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    a, b = (torch.randn(8192, 8192, device=dev, dtype=dtype) for _ in range(2))
    for _ in range(3): a @ b
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(10): a @ b
    torch.cuda.synchronize(); return 10 * 2 * 8192**3 / (time.perf_counter() - t)
bf16_peak, tf32_peak = matmul_rate(torch.bfloat16, False), matmul_rate(torch.float32, True)
torch.backends.cuda.matmul.allow_tf32 = False
print(f"measured 8192^3 matmul: bf16 {bf16_peak/1e12:.0f} TFLOP/s, tf32 {tf32_peak/1e12:.0f} TFLOP/s "
      f"(datasheet dense H100/H200 SXM: bf16 989, tf32 494)")
runs = {}
for line in open(sys.argv[1]):
    j = json.loads(line)
    key = "torch" if j.get("reference") else j["precision"] + ("+graph" if j["cuda_graph"] else "")
    runs.setdefault(j["workload"], {}).setdefault(key, []).append(j)
kinds = ("torch", "fp32", "fp32+graph", "bf16+graph")
print(f"{'workload':<15} " + " ".join(f"{k:>22}" for k in kinds) + "   (img/s, ratio to torch, TFLOP/s, % of peak)")
for w, r in runs.items():
    t = statistics.median(x["images_per_s"] for x in r["torch"])
    row = f"{w:<15}"
    for k in kinds:
        if k not in r: row += f" {'-':>22}"; continue
        v = statistics.median(x["images_per_s"] for x in r[k])
        rate = flops[w] * v
        peak = bf16_peak if k.startswith("bf16") else tf32_peak
        row += f" {v:>6.0f} {v/t:>4.2f}x {rate/1e12:>4.0f} {100*rate/peak:>3.0f}%"
    print(row)
    mem = {k: (statistics.median(x["peak_cuda_mb"] for x in r[k]), statistics.median(x["reserved_cuda_mb"] for x in r[k]))
           for k in kinds if k in r}
    print(f"{'':15} peak CUDA MB allocated/reserved: " + ", ".join(f"{k} {a:.0f}/{b:.0f}" for k, (a, b) in mem.items()))
PY
  stamp "bench done"
fi
cat "$out/summary.txt"
