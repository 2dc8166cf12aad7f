// Checkpoints: everything needed to continue a run exactly (networks, optimisers, step, data position,
// RNG states, fixed latents, resolved config), in one LibTorch archive: a versioned header and named sections.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "ganpp/rng.hpp"

namespace ganpp {

/// 2: the discriminator's score layer became its own module ("score") beside the zoo's conditional heads
/// and spectral-norm wrappers, so format-1 networks no longer load by name.
/// 3: named sections; the run's state ("state") and data position ("data") moved from the top level into
/// sections of their own. Format 2 is still read: its top level stands for both sections.
/// 4: the archive is sealed in a frame with a CRC-32 of its bytes (verified before LibTorch reads any of it),
/// and the header names the run ("run_id") and its data ("data_fingerprint"). Formats 2 and 3 (unframed) are
/// still read, unverified.
inline constexpr int64_t kCheckpointFormat = 4;
/// The oldest format this ganpp reads (and resumes with the behaviour it started with).
inline constexpr int64_t kOldestCheckpointFormat = 2;

/// The sections every training checkpoint holds. A component with state of its own adds a section under a
/// new name; a reader that finds an optional section missing takes the value that reproduces the behaviour
/// of checkpoints written before that section existed.
namespace section {
inline constexpr const char* kGenerator = "generator";
inline constexpr const char* kDiscriminator = "discriminator";
inline constexpr const char* kGeneratorEma = "generator_ema";  ///< only in runs that keep a moving average
inline constexpr const char* kOptimizerG = "optim_g";
inline constexpr const char* kOptimizerD = "optim_d";
inline constexpr const char* kState = "state";      ///< step, RNG states, fixed latents
inline constexpr const char* kData = "data";        ///< data position and class names
inline constexpr const char* kAugment = "augment";  ///< ADA's probability and overfitting sums (train.augment ada)
}  // namespace section

/// The non-network part of a run's state.
struct TrainingState {
  int64_t step = 0;                  ///< generator steps completed
  DataPosition data;                 ///< where the data stream stands
  RngState rng;                      ///< default generators after `step`
  torch::Tensor fixed_z;             ///< latents of the sample grids, [n, z_dim]
  std::vector<std::string> classes;  ///< dataset class names (empty when unlabelled)
};

/// What wrote a checkpoint: its format, the ganpp and LibTorch versions, and the run and data it belongs to
/// (both empty in checkpoints written before format 4).
struct CheckpointOrigin {
  int64_t format_version = kCheckpointFormat;
  std::string ganpp_version;
  std::string libtorch_version;
  std::string run_id;            ///< the run's identity (config.json's run.id)
  std::string data_fingerprint;  ///< the training data's fingerprint when the run started (see data_fingerprint)
};

/// A checkpoint whose bytes are not what was written (checksum mismatch, truncated): exit 1 like any corrupt
/// file, told apart so that a resume can name an intact checkpoint instead.
class CheckpointDamaged : public RuntimeError {
 public:
  using RuntimeError::RuntimeError;
};

/// Checks the frame and checksum of the checkpoint at `path` without deserialising anything. Throws
/// CheckpointDamaged for a damaged checkpoint and RuntimeError for a file that is not a checkpoint (saying
/// what it is and which command takes it). Unframed checkpoints of formats 2 and 3 pass unverified.
void verify_checkpoint_file(const std::string& path);

/// Whether the file at `path` starts like a checkpoint of format 4 or later (its frame's magic bytes).
bool is_checkpoint_file(const std::string& path);

/// The newest step_*.ckpt of a run directory that verifies, other than `except`; empty when there is none.
std::string newest_intact_checkpoint(const std::string& run_dir, const std::string& except = "");

/// Builds a checkpoint: a header (format version, versions, the resolved config) and one archive per
/// section, each written by the component that owns that state.
class CheckpointWriter {
 public:
  /// `origin`'s run id and data fingerprint go into the header (format and versions are this ganpp's).
  CheckpointWriter(const Config& config, CheckpointOrigin origin);

  /// The archive of section `name`, created on first use.
  torch::serialize::OutputArchive& section(const std::string& name);
  /// Writes a module's parameters and buffers as section `name`.
  void write_module(const std::string& name, const torch::nn::Module& module);
  /// The step, RNG states and fixed latents: section "state".
  void write_state(int64_t step, const RngState& rng, const torch::Tensor& fixed_z);
  /// The data stream's position and the data's class names: section "data".
  void write_data(const DataPosition& position, const std::vector<std::string>& classes);
  /// The checkpoint's bytes (the caller writes them atomically, possibly to several names).
  std::string bytes();

 private:
  Config config_;
  CheckpointOrigin origin_;
  // Held by pointer: OutputArchive's copy constructor takes a non-const reference, which std::pair rejects.
  std::vector<std::pair<std::string, std::unique_ptr<torch::serialize::OutputArchive>>> sections_;
};

/// A checkpoint read from disk: its config and state at once, networks and other sections on request.
class CheckpointReader {
 public:
  /// Opens `path` after verify_checkpoint_file; tensors are mapped onto `device`. Throws CheckpointDamaged
  /// for a damaged file, RuntimeError for missing, foreign or incompatible ones.
  CheckpointReader(const std::string& path, torch::Device device);

  const Config& config() const { return config_; }
  const TrainingState& state() const { return state_; }
  const std::string& path() const { return path_; }
  const CheckpointOrigin& origin() const { return origin_; }
  /// Whether the checkpoint holds moving-average (EMA) weights of the generator.
  bool has_generator_ema() const { return has_generator_ema_; }

  /// Section `name`, or null when the checkpoint has none (an optional section of a newer component).
  torch::serialize::InputArchive* find_section(const std::string& name);
  /// Section `name`; throws RuntimeError when it is missing (`what` says what it would hold).
  torch::serialize::InputArchive& section(const std::string& name, const std::string& what);
  /// Loads section `name` into a module, checking every parameter and buffer name and shape.
  void load_module(const std::string& name, torch::nn::Module& module, const std::string& what);

  /// Loads parameters and buffers, checking every name and shape against the modules.
  void load_networks(GeneratorBase& g, DiscriminatorBase& d);
  /// Loads the generator's EMA weights (see has_generator_ema), checked like load_networks.
  void load_generator_ema(GeneratorBase& g);

 private:
  std::string path_;
  torch::serialize::InputArchive archive_;
  std::map<std::string, std::unique_ptr<torch::serialize::InputArchive>> sections_;
  Config config_;
  TrainingState state_;
  CheckpointOrigin origin_;
  bool has_generator_ema_ = false;
};

/// A checkpoint file, or a run directory meaning its checkpoints/latest.ckpt.
std::string resolve_checkpoint_path(const std::string& path);

}  // namespace ganpp
