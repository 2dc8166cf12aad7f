// Device parsing, CPU thread configuration and version strings.
#include "ganpp/device.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <thread>

#include <torch/torch.h>
#include <torch/version.h>

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
      throw UsageError("--device " + name + ": no CUDA device is available to this LibTorch (a CPU-only build, or no "
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
  return device.str();
}

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

std::string ganpp_version() { return GANPP_VERSION; }

}  // namespace ganpp
