// Drawing from a trained generator: loading it from a checkpoint, latents from a seed, sample grids
// and per-sample images, and latent-space walks (slerp or lerp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

/// A generator restored from a checkpoint, in eval mode.
struct LoadedGenerator {
  Config config;
  std::shared_ptr<GeneratorBase> g;
  std::vector<std::string> classes;
  int64_t step = 0;
  bool ema = false;  ///< the weights are the generator's moving average
  std::string ganpp_version;  ///< the ganpp that wrote the checkpoint
};

/// Loads the generator of a checkpoint file or run directory onto `device`.
LoadedGenerator load_generator(const std::string& checkpoint_or_run_dir, torch::Device device);

/// `n` standard-normal latents drawn on the CPU from `seed` (identical on every device).
torch::Tensor random_latents(int64_t n, int64_t z_dim, uint64_t seed);

/// Runs the generator in eval mode without gradients, in chunks; returns images in [-1, 1] on the CPU.
/// `labels` (int64 [N]) is needed by conditional generators and may be undefined otherwise.
torch::Tensor generate(GeneratorBase& g, const torch::Tensor& z, const torch::Tensor& labels, torch::Device device);
torch::Tensor generate(GeneratorBase& g, const torch::Tensor& z, torch::Device device);

/// The class that `--class` names: an index below the model's class count, or a class name (an image-folder
/// subfolder's). Throws UsageError for unconditional models and unknown classes, listing the valid ones.
int64_t resolve_class(const std::string& name_or_index, const LoadedGenerator& loaded);

/// Labels for `n` samples: all `cls` when it is >= 0, else the classes in turn (0, 1, ..., C-1, 0, ...);
/// undefined for an unconditional generator.
torch::Tensor sample_labels(const LoadedGenerator& loaded, int64_t n, int64_t cls);

/// Spherical interpolation between rows of `a` and `b` at fraction `t` (lerp where they are parallel).
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t);
torch::Tensor lerp(const torch::Tensor& a, const torch::Tensor& b, double t);

/// Latents of `rows` walks, each through `points` random latents with `steps` frames per segment
/// (both ends included): [rows * ((points-1)*(steps-1)+1), z_dim], walk after walk.
torch::Tensor walk_latents(int64_t rows, int64_t points, int64_t steps, const std::string& mode, int64_t z_dim,
                           uint64_t seed);

/// Frames per walk: (points - 1) * (steps - 1) + 1.
int64_t walk_frames(int64_t points, int64_t steps);

/// Writes one PNG per image [N, C, H, W] into `dir` as 000000.png, 000001.png, ..., or, with labels,
/// 000000_class3.png, ...
void write_image_files(const std::string& dir, const torch::Tensor& images, const torch::Tensor& labels = {});

}  // namespace ganpp
