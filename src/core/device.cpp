// Device parsing, CPU thread configuration and bf16 autocast.
#include "ganpp/device.hpp"

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>
#ifdef GANPP_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "ganpp/errors.hpp"

namespace ganpp {

torch::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    int index = 0;
    if (name.size() > 4) {
      if (name[4] != ':' || name.size() == 5 || name.find_first_not_of("0123456789", 5) != std::string::npos)
        throw UsageError("--device '" + name + "' is not valid; use auto, cpu, cuda or cuda:N");
      index = std::stoi(name.substr(5));
    }
    if (!torch::cuda::is_available())
      throw UsageError("--device " + name +
                       ": no CUDA device is available to this LibTorch (a CPU-only build, or no "
                       "GPU); use --device cpu or auto");
    if (index >= static_cast<int>(torch::cuda::device_count()))
      throw UsageError("--device " + name + ": only " + std::to_string(torch::cuda::device_count()) +
                       " CUDA device(s) present");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw UsageError("--device '" + name + "' is not valid; use auto, cpu, cuda or cuda:N");
}

int configure_threads(int requested) {
  int threads = requested;
  if (threads <= 0) {
    if (const char* env = std::getenv("OMP_NUM_THREADS")) threads = std::atoi(env);
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(threads);
  // LibTorch already runs BLAS calls inside its own parallel loops; OpenBLAS's pthread pool on top
  // oversubscribes the cores (measured: DCGAN-28 training 3x slower on 2 cores). When the BLAS
  // behind LibTorch is OpenBLAS, keep it single-threaded.
  using SetThreads = void (*)(int);
  if (auto set_blas_threads = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_blas_threads(1);
  return threads;
}

std::string describe_device(const torch::Device& device, int threads) {
  if (device.is_cpu()) return "cpu (" + std::to_string(threads) + " threads)";
#ifdef GANPP_CUDA
  if (device.is_cuda()) {
    const int index = device.has_index() ? device.index() : 0;
    const cudaDeviceProp* p = at::cuda::getDeviceProperties(index);
    char memory[32];
    std::snprintf(memory, sizeof(memory), "%.1f GiB", static_cast<double>(p->totalGlobalMem) / (1 << 30));
    return "cuda:" + std::to_string(index) + " (" + p->name + ", " + memory + ", compute capability " +
           std::to_string(p->major) + "." + std::to_string(p->minor) + ")";
  }
#endif
  return device.str();
}

// LibTorch 2.4 replaced the per-device autocast functions by ones that take the device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define GANPP_AUTOCAST_BY_DEVICE_TYPE 1
#endif

namespace {

bool autocast_enabled(torch::DeviceType type) {
#ifdef GANPP_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(type);
#else
  return type == torch::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void set_autocast(torch::DeviceType type, bool enabled) {
#ifdef GANPP_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_dtype(type, at::kBFloat16);
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (type == torch::kCPU) {
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(enabled);
  }
#endif
}

}  // namespace

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled)
    : type_(device.type()), enabled_(enabled), previous_(autocast_enabled(device.type())) {
  if (enabled_ != previous_) set_autocast(type_, enabled_);
}

AutocastGuard::~AutocastGuard() {
  if (enabled_ != previous_) set_autocast(type_, previous_);
  if (enabled_ && !previous_) at::autocast::clear_cache();  // drop the bf16 weight copies it cached
}

}  // namespace ganpp
