// Version strings: ganpp's own and the LibTorch it was built with (checkpoints, exports, --version, bench).
#pragma once

#include <string>

namespace ganpp {

/// LibTorch's version as "major.minor.patch".
std::string libtorch_version();

/// ganpp's own version.
std::string ganpp_version();

}  // namespace ganpp
