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

HealthMonitor::HealthMonitor(bool logit_loss, double real_diversity, HealthThresholds thresholds)
    : logit_loss_(logit_loss), real_diversity_(real_diversity), thresholds_(thresholds) {}

std::vector<std::string> HealthMonitor::observe(const Json& record) {
  std::vector<std::string> warnings;
  const int64_t step = record.value("step", int64_t{0});
  auto number = [&](const char* key, double& out) {
    if (!record.contains(key) || !record[key].is_number()) return false;
    out = record[key].get<double>();
    return std::isfinite(out);
  };
  double diversity = 0;
  if (number("diversity", diversity)) {
    peak_diversity_ = std::max(peak_diversity_, diversity);
    if (diversity < thresholds_.collapse_fraction * real_diversity_ &&
        diversity < thresholds_.collapse_fall * peak_diversity_)
      warnings.push_back(fmt::format(
          "possible mode collapse at step {}: the fixed-latent samples' diversity {:.4f} fell below {:.0f}% of its "
          "peak {:.4f} and below {:.0f}% of the real images' {:.4f}; the generator may be drawing near-identical "
          "images (look at the latest grid; a lower optim.g.lr, loss.kind=wgan-gp or train.ema can help)",
          step, diversity, 100 * thresholds_.collapse_fall, peak_diversity_, 100 * thresholds_.collapse_fraction,
          real_diversity_));
  }
  double d_fake = 0;
  if (logit_loss_ && number("d_fake", d_fake)) {
    d_wins_streak_ = d_fake < thresholds_.d_fake_floor ? d_wins_streak_ + 1 : 0;
    if (d_wins_streak_ >= thresholds_.d_wins_records)
      warnings.push_back(fmt::format(
          "the discriminator is winning outright at step {}: D(G(z)) = {:.4f}, below {} in the last {} log records; "
          "the generator gets almost no signal (lower optim.d.lr, set loss.label_smoothing, or use loss.kind=wgan-gp)",
          step, d_fake, thresholds_.d_fake_floor, d_wins_streak_));
  }
  return warnings;
}

void HealthMonitor::replay(const std::vector<Json>& records) {
  for (const auto& record : records) observe(record);
}

}  // namespace ganpp
