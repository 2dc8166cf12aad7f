// `ganpp inspect`: what a checkpoint holds, for people and other tools.
#pragma once

#include <string>

#include "ganpp/json.hpp"

namespace ganpp {

/// What a checkpoint file or run directory holds, as one JSON object: path, format_version,
/// ganpp_version, libtorch_version, step, epoch and batch (the data position), arch, image_size,
/// channels, z_dim, loss, g_params, d_params, classes, ema (EMA weights present) and the resolved config.
/// Throws RuntimeError for missing, corrupt or incompatible checkpoints.
Json describe_checkpoint(const std::string& checkpoint_or_run_dir);

}  // namespace ganpp
