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
  bool ema = false;           ///< the weights are the generator's moving average
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
/// subfolder's). Throws RuntimeError for unconditional models and unknown classes, listing the valid ones (found
/// only once the checkpoint is read, hence not a UsageError).
int64_t resolve_class(const std::string& name_or_index, const LoadedGenerator& loaded);

/// Labels for `n` samples: all `cls` when it is >= 0, else class_cycle_labels; undefined for an unconditional
/// generator.
torch::Tensor sample_labels(const LoadedGenerator& loaded, int64_t n, int64_t cls);

/// The labels of `n` samples of a conditional generator with `classes` classes, the classes in turn:
/// 0, 1, ..., C-1, 0, 1, ... (int64 [n] on the CPU). Evaluations and `sample` without --class draw these.
torch::Tensor class_cycle_labels(int64_t n, int64_t classes);

/// The labels of a grid with one row per class and `per_row` samples in each row: `per_row` zeros, then
/// `per_row` ones, ... (int64 [classes * per_row] on the CPU). Training grids and `sample --per-class` draw
/// these, with the same latents in every row, so that the columns show what the label alone changes.
torch::Tensor class_row_labels(int64_t classes, int64_t per_row);

/// Spherical interpolation between rows of `a` and `b` at fraction `t` (lerp where they are parallel).
torch::Tensor slerp(const torch::Tensor& a, const torch::Tensor& b, double t);
torch::Tensor lerp(const torch::Tensor& a, const torch::Tensor& b, double t);

/// How a latent walk moves between its points: along the sphere or along the straight line.
enum class WalkMode { slerp, lerp };

/// Latents of `rows` walks, each through `points` random latents with `steps` frames per segment
/// (both ends included): [rows * ((points-1)*(steps-1)+1), z_dim], walk after walk. Points and steps are at
/// least 2 (c10::Error otherwise: the CLI checks its flags first).
torch::Tensor walk_latents(int64_t rows, int64_t points, int64_t steps, WalkMode mode, int64_t z_dim, uint64_t seed);

/// Class weights [frames, num_classes] of a walk through `classes` (indices) with `steps` frames per
/// segment, both ends included: frame t of the segment a -> b is (1 - t) onehot(a) + t onehot(b). At least two
/// classes (c10::Error otherwise: the CLI checks its flags first).
torch::Tensor class_walk_weights(const std::vector<int64_t>& classes, int64_t num_classes, int64_t steps);

/// Frames per walk: (points - 1) * (steps - 1) + 1.
int64_t walk_frames(int64_t points, int64_t steps);

/// The frames of an animation of walks: `images` [rows * frames_per_walk, C, H, W] walk after walk (as
/// walk_latents orders them) become [frames_per_walk, C, H', W'], frame k tiling every walk's k-th image
/// in a near-square grid (ceil(sqrt(rows)) per row).
torch::Tensor walk_animation(const torch::Tensor& images, int64_t rows, int64_t frames_per_walk);

/// Where the latents of an export are saved: "walk.png" -> "walk.latents.pt" next to the file; for a
/// folder of images, "DIR/latents.pt" inside it.
std::string latents_path(const std::string& output, bool is_folder);

/// Writes one PNG per image [N, C, H, W] into `dir` as 000000.png, 000001.png, ..., or, with labels,
/// 000000_class3.png, ...
void write_image_files(const std::string& dir, const torch::Tensor& images, const torch::Tensor& labels = {});

}  // namespace ganpp
