// Sample-quality evaluation during training (train.eval_every): FD, KID and precision/recall of the generator
// against the training data, logged to log.jsonl, with checkpoints/best.ckpt kept for the lowest FD.
#pragma once

#include <limits>
#include <string>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/features.hpp"
#include "ganpp/metrics.hpp"
#include "ganpp/models.hpp"

namespace ganpp {

/// Holds what every evaluation of a run shares: the feature network, the reference features (train.eval_samples
/// training images, computed once), the latents (a private stream of the run's seed, never the training RNG),
/// and the best FD so far (read back from log.jsonl, so that it survives a resume).
class TrainingEvaluator {
 public:
  /// `best_fd` is the lowest FD the run logged before (infinity for a new run).
  TrainingEvaluator(const Config& config, const Dataset& data, torch::Device device, double best_fd);

  /// Generates train.eval_samples images with `g` in eval mode without gradients (its mode is restored) and
  /// compares them with the reference.
  QualityMetrics measure(GeneratorBase& g);

  /// Notes an FD; true when it is lower than every earlier one of the run.
  bool improves_best(double fd);

 private:
  torch::Device device_;
  FeatureNet net_;
  torch::Tensor reference_;  ///< features of the reference images
  torch::Tensor latents_;
  torch::Tensor labels_;  ///< conditional generators: classes in turn; undefined otherwise
  uint64_t seed_;
  double best_fd_ = std::numeric_limits<double>::infinity();
};

/// The lowest "fd" among log.jsonl records (see read_log); infinity when there is none.
double best_fd_in_log(const std::vector<Json>& records);

}  // namespace ganpp
