// Version strings (see version.hpp).
#include "ganpp/version.hpp"

#include <torch/version.h>

namespace ganpp {

std::string libtorch_version() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
         std::to_string(TORCH_VERSION_PATCH);
}

std::string ganpp_version() { return GANPP_VERSION; }

}  // namespace ganpp
