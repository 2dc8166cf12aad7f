// The side-by-side training benchmark (its PyTorch side: scripts/bench_reference.py): the four workloads, run
// through the same config, registry and Trainer::train_step as `ganpp train`, on in-memory random images.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

class Distributed;

/// The names of the shared workloads: dcgan28-bce, dcgan28-wgangp, dcgan64-bce, dcgan64-wgangp.
const std::vector<std::string>& bench_workloads();

struct BenchOptions {
  std::string workload = "dcgan28-bce";
  int64_t steps = 20;  ///< timed generator steps
  int64_t warmup = 3;  ///< untimed steps first
  uint64_t seed = 0;
  std::string precision = "fp32";  ///< train.precision: fp32 or bf16 autocast
  bool cuda_graph = false;         ///< train.cuda_graph: replay the step as a CUDA graph (CUDA only)
  Distributed* dist = nullptr;     ///< data-parallel ranks that share the workload's batch (null: one process)
};

/// The training config of a workload: the reference's architecture, batch, optimiser and loss, with the
/// options' precision and CUDA graph setting. Throws UsageError listing the workloads for an unknown name.
Config bench_config(const BenchOptions& options);

/// Runs a workload and returns the reference's JSON fields (plus ganpp's version and peak memory).
Json run_bench(const BenchOptions& options, torch::Device device, int threads);

/// Peak resident memory of this process in MB (getrusage).
double peak_rss_mb();

}  // namespace ganpp
