// Checkpoints: everything needed to continue a run exactly (networks, optimisers, step, data position,
// RNG states, fixed latents, resolved config), in one LibTorch archive that starts with a format version.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/models.hpp"
#include "ganpp/rng.hpp"

namespace ganpp {

inline constexpr int64_t kCheckpointFormat = 1;

/// The non-network part of a run's state.
struct TrainingState {
  int64_t step = 0;                  ///< generator steps completed
  DataPosition data;                 ///< where the data stream stands
  RngState rng;                      ///< default generators after `step`
  torch::Tensor fixed_z;             ///< latents of the sample grids, [n, z_dim]
  std::vector<std::string> classes;  ///< dataset class names (empty when unlabelled)
};

/// The networks and optimisers a checkpoint holds, borrowed from their owner.
struct TrainingModules {
  GeneratorBase& g;
  DiscriminatorBase& d;
  torch::optim::Optimizer* opt_g = nullptr;  ///< may be null when only the networks matter
  torch::optim::Optimizer* opt_d = nullptr;
};

/// Serialises a checkpoint to bytes (the caller writes them atomically, possibly to several names).
std::string serialize_checkpoint(const Config& config, const TrainingState& state, const TrainingModules& modules);

/// A checkpoint read from disk: its config and state at once, networks and optimisers on request.
class CheckpointReader {
 public:
  /// Opens `path`; tensors are mapped onto `device`. Throws RuntimeError for missing, corrupt or
  /// incompatible files.
  CheckpointReader(const std::string& path, torch::Device device);

  const Config& config() const { return config_; }
  const TrainingState& state() const { return state_; }
  const std::string& path() const { return path_; }

  /// Loads parameters and buffers, checking every name and shape against the modules.
  void load_networks(GeneratorBase& g, DiscriminatorBase& d);
  void load_optimizers(torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d);

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  Config config_;
  TrainingState state_;
};

/// A checkpoint file, or a run directory meaning its checkpoints/latest.ckpt.
std::string resolve_checkpoint_path(const std::string& path);

}  // namespace ganpp
