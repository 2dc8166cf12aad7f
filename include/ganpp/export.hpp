// Checkpoints for people and other tools: what a checkpoint holds (`ganpp inspect`), and the generator as a
// PyTorch pickle file that plain Python `torch.load` reads as a dict (`ganpp export`, scripts/load_generator.py).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

/// Version of the export dict's layout (its "format_version"; "format" is "ganpp-generator").
inline constexpr int64_t kGeneratorExportFormat = 1;

/// What a checkpoint file or run directory holds, as one JSON object: path, format_version,
/// ganpp_version, libtorch_version, step, epoch and batch (the data position), arch, image_size,
/// channels, z_dim, loss, g_params, d_params, classes, ema (EMA weights present) and the resolved config.
/// Throws RuntimeError for missing, corrupt or incompatible checkpoints.
Json describe_checkpoint(const std::string& checkpoint_or_run_dir);

/// What export_generator wrote.
struct ExportSummary {
  std::string arch;
  int64_t step = 0;
  int64_t parameters = 0;  ///< of the generator
  bool ema = false;        ///< the weights are the generator's moving average
};

/// Writes the generator of a checkpoint file or run directory to `out_path` (atomically) as a dict:
/// "format" = "ganpp-generator", "format_version", "ganpp_version", "step", "ema", "config" (the resolved
/// config as JSON text), "classes" and "state_dict" (LibTorch's parameter and buffer names, e.g.
/// "net.0.weight", "net.1.running_mean", to CPU tensors). The EMA weights when the checkpoint has them.
ExportSummary export_generator(const std::string& checkpoint_or_run_dir, const std::string& out_path);

/// Writes named tensors (moved to the CPU) atomically as a PyTorch pickle file that Python's
/// `torch.load` reads as a dict {name: tensor}.
void write_tensor_dict(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors);

}  // namespace ganpp
