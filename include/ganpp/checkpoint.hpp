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

/// 2: the discriminator's score layer became its own module ("score") beside the zoo's conditional heads
/// and spectral-norm wrappers, so format-1 networks no longer load by name.
inline constexpr int64_t kCheckpointFormat = 2;

/// The non-network part of a run's state.
struct TrainingState {
  int64_t step = 0;                  ///< generator steps completed
  DataPosition data;                 ///< where the data stream stands
  RngState rng;                      ///< default generators after `step`
  torch::Tensor fixed_z;             ///< latents of the sample grids, [n, z_dim]
  std::vector<std::string> classes;  ///< dataset class names (empty when unlabelled)
};

/// What wrote a checkpoint: its format and the ganpp and LibTorch versions of the run.
struct CheckpointOrigin {
  int64_t format_version = kCheckpointFormat;
  std::string ganpp_version;
  std::string libtorch_version;
};

/// Archive key of the generator's moving-average weights, present only in runs that keep one.
inline constexpr const char* kGeneratorEmaKey = "generator_ema";

/// The networks and optimisers a checkpoint holds, borrowed from their owner.
struct TrainingModules {
  GeneratorBase& g;
  DiscriminatorBase& d;
  torch::optim::Optimizer* opt_g = nullptr;  ///< may be null when only the networks matter
  torch::optim::Optimizer* opt_d = nullptr;
  GeneratorBase* g_ema = nullptr;            ///< the generator's moving average, when the run keeps one
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
  const CheckpointOrigin& origin() const { return origin_; }
  /// Whether the checkpoint holds moving-average (EMA) weights of the generator.
  bool has_generator_ema() const { return has_generator_ema_; }

  /// Loads parameters and buffers, checking every name and shape against the modules.
  void load_networks(GeneratorBase& g, DiscriminatorBase& d);
  void load_optimizers(torch::optim::Optimizer& opt_g, torch::optim::Optimizer& opt_d);
  /// Loads the generator's EMA weights (see has_generator_ema), checked like load_networks.
  void load_generator_ema(GeneratorBase& g);

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  Config config_;
  TrainingState state_;
  CheckpointOrigin origin_;
  bool has_generator_ema_ = false;
};

/// A checkpoint file, or a run directory meaning its checkpoints/latest.ckpt.
std::string resolve_checkpoint_path(const std::string& path);

}  // namespace ganpp
