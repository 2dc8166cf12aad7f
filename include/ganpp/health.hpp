// Training health signals: the diversity of generated images, and the warnings a
// person watching a remote run wants (mode collapse, a discriminator that wins outright).
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/json.hpp"

namespace ganpp {

/// Mean pairwise distance between images [N, C, H, W] in [-1, 1]: the L2 distance of each pair divided by
/// sqrt(C*H*W), i.e. the root-mean-square pixel difference (0 for identical images, at most 2), averaged
/// over all N(N-1)/2 pairs. A float scalar tensor on the images' device (0 when N < 2).
torch::Tensor mean_pairwise_distance(const torch::Tensor& images);

/// mean_pairwise_distance of the first `count` images (uint8 [N, C, H, W]) scaled to [-1, 1]: the
/// reference diversity of real data (no random draws, so a resumed run gets the same value).
double real_image_diversity(const torch::Tensor& images, int64_t count);

/// When the health warnings fire.
struct HealthThresholds {
  /// Mode collapse: the fixed-latent grid's diversity below this fraction of the real images' diversity...
  double collapse_fraction = 0.3;
  /// ...and below this fraction of the highest diversity the run's grids have had (a fall, not the
  /// near-identical images of an untrained generator).
  double collapse_fall = 0.5;
  /// The discriminator wins outright: mean D(G(z)) (a probability, logit losses only) below this value...
  double d_fake_floor = 0.02;
  /// ...in this many log records in a row.
  int d_wins_records = 5;
};

/// Watches log.jsonl records and says when to warn. Its state (the highest grid diversity so far, how
/// many records in a row had a tiny D(G(z))) is a function of the records, so a resumed run rebuilds it
/// with `replay` and warns exactly where an uninterrupted run would.
class HealthMonitor {
 public:
  /// `logit_loss`: D's outputs are probabilities (bce, minimax) and the D-wins check applies.
  /// `real_diversity`: mean_pairwise_distance of real training images, the reference for collapse.
  HealthMonitor(bool logit_loss, double real_diversity, HealthThresholds thresholds = {});

  /// Looks at one record (keys d_fake, diversity when present) and returns the warnings it raises.
  std::vector<std::string> observe(const Json& record);

  /// Feeds every record of the log.jsonl file at `path` (if it exists), discarding the warnings.
  void replay(const std::vector<Json>& records);

  double real_diversity() const { return real_diversity_; }

 private:
  bool logit_loss_;
  double real_diversity_;
  HealthThresholds thresholds_;
  double peak_diversity_ = 0;
  int d_wins_streak_ = 0;
};

}  // namespace ganpp
