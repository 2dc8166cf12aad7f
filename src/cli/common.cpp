// Shared CLI flags, checks of output paths, and logging setup.
#include "common.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <filesystem>

#include "ganpp/batch_shard.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/image.hpp"
#include "ganpp/pickle.hpp"

namespace ganpp::cli {

void DeviceFlags::add_to(CLI::App& command) {
  command.add_option("--device", device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  command.add_option("--threads", threads, "CPU threads (0: OMP_NUM_THREADS, else all cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
}

torch::Device DeviceFlags::setup() {
  const torch::Device dev = resolve_device(device);
  threads = configure_threads(threads);
  return dev;
}

void DistFlags::add_to(CLI::App& command) {
  command.add_option("--dist-backend", backend, "distributed runs (torchrun, Slurm): auto, gloo or nccl")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "gloo", "nccl"}));
  command.add_option("--dist-timeout", timeout, "distributed runs: seconds a rank waits for the others")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
}

std::unique_ptr<Distributed> DistFlags::join(torch::Device& device) const {
  const DistBackend chosen = parse_dist_backend(backend);
  const WorldEnv env = world_from_environment();
  // One process is distributed only when asked for a backend by name under a launcher (to time its overhead).
  if (env.world == 1 && (chosen == DistBackend::automatic || env.master_addr.empty() || env.master_port <= 0))
    return nullptr;
  device = rank_device(env, device);
  auto dist = Distributed::connect(env, chosen, std::chrono::seconds(timeout), device);
  set_batch_shard({env.rank, env.world});
  if (env.rank != 0) spdlog::set_level(spdlog::level::err);
  return dist;
}

void write_latents(const std::string& path, const torch::Tensor& z, const torch::Tensor& labels) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors = {{"latents", z}};
  if (labels.defined()) tensors.emplace_back("labels", labels);
  write_tensor_dict(path, tensors);
  spdlog::info("wrote {} (the latents{}, for torch.load)", path, labels.defined() ? " and labels" : "");
}

void check_image_path(const std::string& flag, const std::string& path) {
  if (!image_format_of(path))
    throw UsageError(flag + " '" + abbreviate(path) +
                     "': the extension chooses the image format; use .png, .jpg, .jpeg or .bmp");
}

bool same_path(const std::string& a, const std::string& b) {
  namespace fs = std::filesystem;
  auto normal = [](const std::string& p) {
    std::error_code ec;
    const fs::path absolute = fs::absolute(p, ec).lexically_normal();
    const fs::path canonical = fs::weakly_canonical(absolute, ec);
    return ec ? absolute : canonical;
  };
  return normal(a) == normal(b);
}

void setup_logging() {
  auto logger = spdlog::stdout_logger_mt("ganpp");
  logger->set_pattern("[%H:%M:%S] %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace ganpp::cli
