// Health signals of a training run (see health.hpp): device-side image distances, and the
// warning rules applied to log records.
#include "ganpp/health.hpp"

#include <algorithm>
#include <cmath>

#include <spdlog/fmt/fmt.h>

#include "ganpp/data.hpp"

namespace ganpp {

torch::Tensor mean_pairwise_distance(const torch::Tensor& images) {
  torch::NoGradGuard no_grad;
  const int64_t n = images.size(0);
  if (n < 2) return torch::zeros({}, images.options().dtype(torch::kFloat32));
  const auto flat = images.reshape({n, -1}).to(torch::kFloat32);
  // Pairwise squared distances from the Gram matrix: one matrix product instead of N^2 differences.
  const auto sq = flat.pow(2).sum(1);
  const auto d2 = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2 * flat.matmul(flat.t())).clamp_min(0);
  const auto upper = torch::ones({n, n}, d2.options().dtype(torch::kBool)).triu(1);
  return d2.masked_select(upper).sqrt().mean() / std::sqrt(static_cast<double>(flat.size(1)));
}

double real_image_diversity(const torch::Tensor& images, int64_t count) {
  const auto first = pixels_to_signed_range(images.narrow(0, 0, std::min(count, images.size(0))));
  return mean_pairwise_distance(first).item<double>();
}

HealthMonitor::HealthMonitor(bool logit_loss, double real_diversity, int64_t log_every, int64_t grid_every,
                             HealthThresholds thresholds)
    : logit_loss_(logit_loss), real_diversity_(real_diversity), log_every_(log_every), grid_every_(grid_every),
      thresholds_(thresholds) {}

std::vector<std::string> HealthMonitor::observe(const Json& record) {
  std::vector<std::string> warnings;
  const int64_t step = record.value("step", int64_t{0});
  auto number = [&](const char* key, double& out) {
    if (!record.contains(key) || !record[key].is_number()) return false;
    out = record[key].get<double>();
    return std::isfinite(out);
  };
  // Diversity of the fixed-latent grid: a fall from its peak, or a level that stays far below the real images'.
  double diversity = 0;
  const bool grid_step = grid_every_ <= 0 || step % grid_every_ == 0;
  if (!grid_step && log_every_ > 0 && step % log_every_ != 0) return warnings;  // a stop's extra record
  if (number("diversity", diversity) && grid_step) {
    peak_diversity_ = std::max(peak_diversity_, diversity);
    const double ratio = real_diversity_ > 0 ? diversity / real_diversity_ : 1.0;
    if (ratio < thresholds_.collapse_fraction && diversity < thresholds_.collapse_fall * peak_diversity_) {
      warnings.push_back(fmt::format(
          "possible mode collapse at step {}: the fixed-latent samples' diversity {:.4f} fell below {:.0f}% of its "
          "peak {:.4f} and below {:.0f}% of the real images' {:.4f}; the generator may be drawing near-identical "
          "images (look at the latest grid; train.augment, loss.r1_gamma, a lower optim.g.lr or train.ema can help)",
          step, diversity, 100 * thresholds_.collapse_fall, peak_diversity_, 100 * thresholds_.collapse_fraction,
          real_diversity_));
    }
    if (ratio < thresholds_.low_diversity_fraction) {
      if (low_diversity_streak_++ == 0) low_diversity_first_ = diversity;
    } else {
      low_diversity_streak_ = 0;
    }
    if (low_diversity_streak_ >= thresholds_.low_diversity_grids &&
        diversity < thresholds_.low_diversity_growth * low_diversity_first_)
      warnings.push_back(fmt::format(
          "the samples are not becoming diverse at step {}: the fixed-latent grid's diversity {:.4f} is {:.0f}% of "
          "the real images' {:.4f} in the last {} grids and not growing; the generator covers a small part of the "
          "data (on a small dataset: train.augment=ada or diffaugment, loss.r1_gamma; look at the latest grid)",
          step, diversity, 100 * ratio, real_diversity_, low_diversity_streak_));
    decline_streak_ = ratio < thresholds_.decline_fraction && diversity < thresholds_.decline_fall * peak_diversity_
                          ? decline_streak_ + 1
                          : 0;
    if (decline_streak_ >= thresholds_.decline_grids && warnings.empty())  // the milder form of the two above
      warnings.push_back(fmt::format(
          "the samples are losing diversity at step {}: the fixed-latent grid's diversity {:.4f} is {:.0f}% of its "
          "peak {:.4f} and {:.0f}% of the real images' {:.4f} in the last {} grids; the discriminator may be "
          "memorising the training set (on a small dataset: train.augment=diffaugment, a lower optim.d.lr; look "
          "at the latest grid)",
          step, diversity, 100 * diversity / peak_diversity_, peak_diversity_, 100 * ratio, real_diversity_,
          decline_streak_));
  }
  // A discriminator that wins outright gives the generator almost no signal.
  double d_real = 0, d_fake = 0, sign_real = 0;
  bool winning = false;
  std::string evidence;
  if (logit_loss_ && number("d_real", d_real) && number("d_fake", d_fake)) {
    winning = d_real - d_fake >= thresholds_.d_wins_gap;
    evidence = fmt::format("D(x) = {:.3f}, D(G(z)) = {:.3f}", d_real, d_fake);
  } else if (!logit_loss_ && number("sign_real", sign_real)) {
    winning = sign_real >= thresholds_.d_wins_sign;
    evidence = fmt::format("r_t = mean sign(D(x)) = {:.3f}", sign_real);
  } else {
    return warnings;
  }
  d_wins_streak_ = winning ? d_wins_streak_ + 1 : 0;
  if (d_wins_streak_ >= thresholds_.d_wins_records)
    warnings.push_back(fmt::format(
        "the discriminator is winning at step {}: {} in the last {} log records; the generator gets almost no "
        "signal (on a small dataset: train.augment=ada or diffaugment; otherwise loss.r1_gamma, a lower "
        "optim.d.lr or loss.kind=rpgan)",
        step, evidence, d_wins_streak_));
  return warnings;
}

void HealthMonitor::replay(const std::vector<Json>& records) {
  for (const auto& record : records) observe(record);
}

}  // namespace ganpp
