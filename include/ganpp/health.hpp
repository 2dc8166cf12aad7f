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

/// When the health warnings fire. The defaults are calibrated on committed logs (tests/fixtures/health):
/// runs that failed (a discriminator that won and samples that never became diverse) warn within their
/// first third, a run whose discriminator memorised a small set warns before its end, healthy runs never do.
struct HealthThresholds {
  /// Mode collapse: the fixed-latent grid's diversity below this fraction of the real images' diversity...
  double collapse_fraction = 0.3;
  /// ...and below this fraction of the highest diversity the run's grids have had (a fall).
  double collapse_fall = 0.5;
  /// Diversity that never comes: below this fraction of the real images' diversity...
  double low_diversity_fraction = 0.35;
  /// ...in this many grids in a row...
  int low_diversity_grids = 2;
  /// ...without growing by this factor since the first of them (flat, not an untrained generator catching up).
  double low_diversity_growth = 1.25;
  /// Diversity that drains away (a discriminator memorising a small set: the samples drift toward a few
  /// shapes): below this fraction of the real images' diversity...
  double decline_fraction = 0.8;
  /// ...and below this fraction of the run's peak grid diversity...
  double decline_fall = 0.9;
  /// ...in this many grids in a row.
  int decline_grids = 2;
  /// The discriminator wins: mean D(x) − mean D(G(z)) (probabilities, logit losses) at least this gap...
  double d_wins_gap = 0.8;
  /// ...or the overfitting signal r_t = mean sign(D(x)) (signed-output losses without logits) at least this...
  double d_wins_sign = 0.95;
  /// ...in this many log records in a row.
  int d_wins_records = 3;
};

/// Watches log.jsonl records and says when to warn. Its state (the highest grid diversity so far, how
/// many records in a row had a tiny D(G(z))) is a function of the records, so a resumed run rebuilds it
/// with `replay` and warns exactly where an uninterrupted run would.
class HealthMonitor {
 public:
  /// `logit_loss`: D's outputs are probabilities (bce, minimax): the D-wins check reads d_real and d_fake;
  /// otherwise it reads sign_real where the log has it.
  /// `real_diversity`: mean_pairwise_distance of real training images, the reference for collapse.
  /// `log_every`, `grid_every`: the run's train.log_every and sample_every. The rules read only the records
  /// and grids of those cadences, so that the extra record and grid a stopped run writes at its last step do
  /// not change what its resumed run warns (0: every record and grid).
  HealthMonitor(bool logit_loss, double real_diversity, int64_t log_every = 0, int64_t grid_every = 0,
                HealthThresholds thresholds = {});

  /// Looks at one record (keys d_real, d_fake, sign_real, diversity when present) and returns the warnings
  /// it raises.
  std::vector<std::string> observe(const Json& record);

  /// Feeds every record of the log.jsonl file at `path` (if it exists), discarding the warnings.
  void replay(const std::vector<Json>& records);

  double real_diversity() const { return real_diversity_; }

 private:
  bool logit_loss_;
  double real_diversity_;
  int64_t log_every_, grid_every_;
  HealthThresholds thresholds_;
  double peak_diversity_ = 0;
  int d_wins_streak_ = 0;
  int low_diversity_streak_ = 0;
  double low_diversity_first_ = 0;  ///< diversity of the first grid of the current low streak
  int decline_streak_ = 0;
};

}  // namespace ganpp
