// ganpp bench: times the production training step on the shared workloads.
#include "ganpp/bench.hpp"

#include <sys/resource.h>

#include <chrono>
#include <cmath>

#include "ganpp/device.hpp"
#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "ganpp/trainer.hpp"
#include "ganpp/version.hpp"

#ifdef GANPP_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ganpp {
namespace {

struct Workload {
  const char* name;
  int64_t image_size;
  bool wgan_gp;
  int64_t batch;
};

constexpr Workload kWorkloads[] = {
    {"dcgan28-bce", 28, false, 128},
    {"dcgan28-wgangp", 28, true, 128},
    {"dcgan64-bce", 64, false, 64},
    {"dcgan64-wgangp", 64, true, 64},
};

double round_to(double x, double unit) { return std::round(x / unit) * unit; }

}  // namespace

const std::vector<std::string>& bench_workloads() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const auto& w : kWorkloads) names.push_back(w.name);
    return names;
  }();
  return kNames;
}

Config bench_config(const BenchOptions& options) {
  const std::string& workload = options.workload;
  for (const auto& w : kWorkloads) {
    if (workload != w.name) continue;
    // Only what differs from the defaults, which are the reference's BCE settings (DCGAN, z 100, ngf = ndf = 64,
    // Adam (0.5, 0.999)) but for the learning rate (the reference's 2e-4) and the moving average, which the
    // reference does not keep. WGAN-GP: λ 10, 5 critic steps, Adam 1e-4 (0.0, 0.9), critic without batch norm.
    Json json = {{"data", {{"image_size", w.image_size}, {"channels", 1}}},
                 {"train",
                  {{"batch_size", w.batch},
                   {"precision", options.precision},
                   {"cuda_graph", options.cuda_graph},
                   {"ema", 0.0}}}};
    Json adam = {{"lr", 2e-4}};
    if (w.wgan_gp) {
      json["loss"] = {{"kind", "wgan-gp"}, {"n_critic", 5}, {"gp_lambda", 10.0}};
      adam = {{"lr", 1e-4}, {"betas", {0.0, 0.9}}};
    }
    json["optim"] = {{"g", adam}, {"d", adam}};
    Config config = config_from_json(json);
    validate(config);
    return config;
  }
  std::string names;
  for (const auto& n : bench_workloads()) names += (names.empty() ? "" : ", ") + n;
  throw UsageError("--workload '" + workload + "' is not a benchmark workload; choose one of: " + names);
}

double peak_rss_mb() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

Json run_bench(const BenchOptions& options, torch::Device device, int threads) {
  Config config = bench_config(options);
  config.train.seed = options.seed;
  config.train.cuda_graph = config.train.cuda_graph && device.is_cuda();  // reported as off, not logged, elsewhere
  Trainer::check_supported(config, device);
  Trainer trainer(config, device);
  const int64_t world = options.dist ? options.dist->world() : 1;
  check_batch_splits(config.train.batch_size, options.dist);
  trainer.set_distributed(options.dist, /*sync_batch_norm=*/true);
  // Each rank trains its rows of the workload's batch; the figure is the total over the ranks.
  const int64_t size = config.data.image_size, batch = config.train.batch_size / world;
  // In-memory data in [-1, 1], one batch per critic step: the figure is training throughput, not disk.
  std::vector<torch::Tensor> reals;
  for (int64_t i = 0; i < config.loss.n_critic; ++i)
    reals.push_back(torch::rand({batch, config.data.channels, size, size}, torch::TensorOptions().device(device)) * 2 -
                    1);

  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
    if (options.dist) options.dist->barrier();
  };
  for (int64_t i = 0; i < options.warmup; ++i) trainer.train_step(reals);
  sync();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < options.steps; ++i) trainer.train_step(reals);
  sync();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double images = static_cast<double>(options.steps * batch * world * config.loss.n_critic);
  Json result{{"workload", options.workload},
              {"images_per_s", round_to(images / seconds, 0.01)},
              {"steps", options.steps},
              {"seconds", round_to(seconds, 0.001)},
              {"torch", libtorch_version()},
              {"device", device.str()},
              {"threads", threads},
              {"ranks", world},
              {"g_params", count_parameters(*trainer.networks().g)},
              {"d_params", count_parameters(*trainer.networks().d)},
              {"peak_rss_mb", round_to(peak_rss_mb(), 0.1)},
              {"ganpp", ganpp_version()},
              {"precision", spelling(config.train.precision)},
              {"cuda_graph", config.train.cuda_graph}};
#ifdef GANPP_CUDA
  // The caching allocator's peaks over the whole run: live tensor bytes, and bytes reserved from the device
  // (a CUDA graph's private pool included, which holds the step's intermediates between replays).
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    const auto mb = [](int64_t bytes) { return round_to(static_cast<double>(bytes) / (1 << 20), 0.1); };
    result["peak_cuda_mb"] = mb(stats.allocated_bytes[0].peak);
    result["reserved_cuda_mb"] = mb(stats.reserved_bytes[0].peak);
  }
#endif
  return result;
}

}  // namespace ganpp
