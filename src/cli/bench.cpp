// `ganpp bench`: one JSON line per run of a benchmark workload (the PyTorch side: scripts/bench_reference.py).
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/bench.hpp"

namespace ganpp::cli {
namespace {

struct BenchFlags {
  BenchOptions options;
  DeviceFlags device;
  DistFlags dist;
};

}  // namespace

Command add_bench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand("bench", "time the training step on a shared benchmark workload");
  cmd->add_option("--workload", flags->options.workload, "dcgan28-bce, dcgan28-wgangp, dcgan64-bce or dcgan64-wgangp")
      ->capture_default_str()
      ->check(CLI::IsMember(bench_workloads()));
  cmd->add_option("--steps", flags->options.steps, "timed generator steps")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--warmup", flags->options.warmup, "untimed steps before timing")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--seed", flags->options.seed, "seed of weights and data")->capture_default_str();
  cmd->add_option("--precision", flags->options.precision, "fp32, or bf16 autocast (train.precision)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->add_flag("--cuda-graph", flags->options.cuda_graph, "replay the step as a CUDA graph (train.cuda_graph)");
  flags->device.add_to(*cmd);
  flags->dist.add_to(*cmd);
  return {cmd, [flags] {
            torch::Device device = flags->device.setup();
            // Under torchrun every rank trains its share of each batch; rank 0 prints the total.
            const std::unique_ptr<Distributed> dist = flags->dist.join(device);
            flags->options.dist = dist.get();
            const Json result = run_bench(flags->options, device, flags->device.threads);
            if (!dist || dist->rank() == 0) std::cout << result.dump() << std::endl;
            return 0;
          }};
}

}  // namespace ganpp::cli
