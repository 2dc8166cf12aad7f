// `ganpp export`: the generator of a checkpoint as a PyTorch pickle file that plain Python `torch.load` reads
// as a dict (scripts/load_generator.py rebuilds the network from it).
#pragma once

#include <cstdint>
#include <string>

namespace ganpp {

/// Version of the export dict's layout (its "format_version"; "format" is "ganpp-generator").
inline constexpr int64_t kGeneratorExportFormat = 1;

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

}  // namespace ganpp
