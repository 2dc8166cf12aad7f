// Device and thread selection: `auto|cpu|cuda|cuda:N`, and CPU threads (--threads, OMP_NUM_THREADS, all cores).
#pragma once

#include <string>

#include <torch/types.h>

namespace ganpp {

/// Parses a device name; `auto` picks CUDA when available. Throws UsageError on bad names or a missing GPU.
torch::Device resolve_device(const std::string& name);

/// Sets LibTorch's intra-op threads: `requested` if > 0, else OMP_NUM_THREADS, else all cores. Returns the count.
int configure_threads(int requested);

/// A one-line description of the device (GPU name and memory, or CPU and thread count).
std::string describe_device(const torch::Device& device, int threads);

/// Turns bf16 autocast on (or off) for `device`'s type for its lifetime, then restores what was set.
class AutocastGuard {
 public:
  AutocastGuard(const torch::Device& device, bool enabled);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  torch::DeviceType type_;
  bool enabled_;
  bool previous_;
};

}  // namespace ganpp
