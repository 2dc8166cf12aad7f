// Differentiable augmentation of the images a discriminator sees: DiffAugment's fixed policy (Zhao et al.
// 2020) and ADA's pipeline applied with an adaptive probability p (Karras et al. 2020). Every transform is
// linear in the pixels and built from ops that differentiate twice, so penalties (WGAN-GP, R1, R2) can be
// taken with respect to the images before augmentation, through it. Random draws come from LibTorch's
// default generator of the images' device: the training stream a checkpoint saves.
#pragma once

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

/// Resamples images [B, C, H, W] bilinearly: output pixel (i, j) reads the input at A·(j − cx, i − cy) + t +
/// (cx, cy), where (cx, cy) is the image centre, A [B, 2, 2] and t [B, 2] (pixels) are per image. Outside the
/// image, `reflect` mirrors it (ADA); otherwise it reads zeros (DiffAugment's translation).
torch::Tensor resample(const torch::Tensor& images, const torch::Tensor& A, const torch::Tensor& t, bool reflect);

// DiffAugment's transforms, each drawn per image (the strength scales the random range; 1 = the paper's).
/// brightness x + s·(u − ½), saturation (RGB) mean_c + (x − mean_c)·(1 + s·(2u − 1)), contrast
/// mean + (x − mean)·(1 + s·(u − ½)), u ~ U[0, 1).
torch::Tensor diffaugment_color(const torch::Tensor& images, double strength);
/// An integer shift in [−r·size, r·size] per axis (rounded), zeros shifted in.
torch::Tensor diffaugment_translation(const torch::Tensor& images, double ratio);
/// A square of side round(r·size) at a random centre set to zero.
torch::Tensor diffaugment_cutout(const torch::Tensor& images, double ratio);

/// ADA's pipeline with probability `p` for each transform of each image: x-flip, 90° rotations, integer
/// translation (±1/8), isotropic scaling (log2 ~ N(0, 0.2²)), rotation (twice with 1 − √(1 − p)), anisotropic
/// scaling, fractional translation (N(0, (1/8)²)), all composed into one reflect-padded resampling; then
/// brightness (N(0, 0.2²)), contrast (log2 ~ N(0, 0.5²)) and, for RGB, luma flip, hue rotation and
/// saturation (log2 ~ N(0, 1)). `p` is a scalar tensor on the images' device.
torch::Tensor ada_augment(const torch::Tensor& images, const torch::Tensor& p);

/// The augmentation of a run (train.augment) with ADA's adaptive state: p and the sums of sign(D(x)) since
/// the last adjustment, all on the device (a CUDA graph may capture apply() and observe()).
class Augmenter {
 public:
  Augmenter(const TrainConfig& config, torch::Device device);

  bool enabled() const { return kind_ != Augment::none; }
  bool adaptive() const { return kind_ == Augment::ada; }

  /// The images augmented (unchanged when augmentation is off).
  torch::Tensor operator()(const torch::Tensor& images) const;

  /// ADA: adds D's scores of a real batch to r_t's running sums (device work only).
  void observe(const torch::Tensor& real_scores);
  /// ADA: after generator step `step` (1-based) with `batch` images per critic step: every ada_interval steps,
  /// r_t = mean sign(D(x)) of the interval, p += sign(r_t − target)·(images of the interval)/(ada_kimg·1000),
  /// clamped to [0, 1]. Reads the device then.
  void adjust(int64_t step, int64_t images_per_step);

  double p() const;
  /// r_t's running sums [sum of sign(D(x)), count] (a distributed run sums them over the ranks in place).
  const torch::Tensor& sign_sums() const { return signs_; }
  /// r_t of the last adjustment (0 before the first).
  double rt() const { return rt_; }

  /// p, r_t's sums and the last r_t, for a checkpoint.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  Augment kind_;
  TrainConfig config_;
  torch::Tensor p_;      ///< scalar, float
  torch::Tensor signs_;  ///< [2]: sum of sign(D(x)), count
  double rt_ = 0;
};

}  // namespace ganpp
