// FD, KID and precision/recall (see metrics.hpp). Statistics and distances in float64 on the CPU; pairwise
// distances are computed in row chunks so that N = 50,000 needs no N x N matrix.
#include "ganpp/metrics.hpp"

#include <cmath>

#include "ganpp/errors.hpp"
#include "ganpp/rng.hpp"

namespace ganpp {
namespace {

constexpr uint64_t kKidStream = 0x4B494453ULL;
constexpr int64_t kRowChunk = 1024;  // rows of a distance block: 1024 x N doubles at a time

torch::Tensor as_f64(const torch::Tensor& t, const char* what) {
  if (t.dim() != 2) throw RuntimeError(std::string(what) + " must be a matrix [N, d], got " + c10::str(t.sizes()));
  return t.to(torch::kCPU, torch::kFloat64).contiguous();
}

// Square root of a symmetric positive semi-definite matrix via its eigendecomposition.
torch::Tensor sqrt_psd(const torch::Tensor& m) {
  auto [values, vectors] = torch::linalg_eigh(m, "L");
  return torch::mm(vectors * values.clamp_min(0).sqrt().unsqueeze(0), vectors.t());
}

// Distance of every row of `x` to its k-th nearest other row of `x`.
torch::Tensor knn_radii(const torch::Tensor& x, int64_t k) {
  std::vector<torch::Tensor> radii;
  for (int64_t i = 0; i < x.size(0); i += kRowChunk) {
    const auto rows = x.narrow(0, i, std::min(kRowChunk, x.size(0) - i));
    // The row itself is at distance 0 and is the first of the k + 1 smallest.
    radii.push_back(std::get<0>(torch::cdist(rows, x).kthvalue(k + 1, /*dim=*/1)));
  }
  return torch::cat(radii);
}

// Fraction of `points` inside at least one ball (centres, radii).
double coverage(const torch::Tensor& points, const torch::Tensor& centres, const torch::Tensor& radii) {
  int64_t inside = 0;
  for (int64_t i = 0; i < points.size(0); i += kRowChunk) {
    const auto rows = points.narrow(0, i, std::min(kRowChunk, points.size(0) - i));
    inside += (torch::cdist(rows, centres) <= radii.unsqueeze(0)).any(/*dim=*/1).sum().item<int64_t>();
  }
  return static_cast<double>(inside) / static_cast<double>(points.size(0));
}

}  // namespace

GaussianStats gaussian_stats(const torch::Tensor& features) {
  const auto f = as_f64(features, "features");
  if (f.size(0) < 2) throw RuntimeError("statistics need at least 2 feature vectors, got " + std::to_string(f.size(0)));
  GaussianStats s;
  s.n = f.size(0);
  s.mu = f.mean(0);
  const auto centred = f - s.mu;
  s.sigma = torch::mm(centred.t(), centred) / static_cast<double>(s.n - 1);
  return s;
}

double frechet_distance(const GaussianStats& a, const GaussianStats& b) {
  if (a.mu.sizes() != b.mu.sizes())
    throw RuntimeError("Fréchet distance of features of different sizes (" + std::to_string(a.mu.size(0)) + " and " +
                       std::to_string(b.mu.size(0)) + ")");
  const auto root_a = sqrt_psd(a.sigma);
  auto inner = torch::mm(torch::mm(root_a, b.sigma), root_a);
  inner = (inner + inner.t()) / 2;  // symmetric in exact arithmetic; remove round-off asymmetry
  const double trace_sqrt = torch::linalg_eigvalsh(inner, "L").clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (a.mu - b.mu).pow(2).sum().item<double>();
  const double trace = a.sigma.trace().item<double>() + b.sigma.trace().item<double>() - 2 * trace_sqrt;
  return mean_term + trace;
}

KidResult kernel_inception_distance(const torch::Tensor& x_in, const torch::Tensor& y_in, int64_t subsets,
                                    int64_t subset_size, uint64_t seed) {
  const auto x = as_f64(x_in, "features"), y = as_f64(y_in, "features");
  const int64_t m = std::min({subset_size, x.size(0), y.size(0)});
  if (m < 2) throw RuntimeError("KID needs at least 2 feature vectors on each side");
  const double d = static_cast<double>(x.size(1));
  auto gen = make_generator(seed, kKidStream);
  std::vector<double> estimates;
  for (int64_t s = 0; s < subsets; ++s) {
    const auto a = x.index_select(0, torch::randperm(x.size(0), gen, torch::kInt64).narrow(0, 0, m));
    const auto b = y.index_select(0, torch::randperm(y.size(0), gen, torch::kInt64).narrow(0, 0, m));
    const auto kxx = (torch::mm(a, a.t()) / d + 1).pow(3);
    const auto kyy = (torch::mm(b, b.t()) / d + 1).pow(3);
    const auto kxy = (torch::mm(a, b.t()) / d + 1).pow(3);
    const double pairs = static_cast<double>(m) * static_cast<double>(m - 1);
    // Unbiased MMD^2: within-set sums leave out the diagonal (a point paired with itself).
    const double xx = (kxx.sum() - kxx.diagonal().sum()).item<double>() / pairs;
    const double yy = (kyy.sum() - kyy.diagonal().sum()).item<double>() / pairs;
    const double xy = kxy.mean().item<double>();
    estimates.push_back(xx + yy - 2 * xy);
  }
  KidResult r;
  r.subsets = subsets;
  r.subset_size = m;
  for (double e : estimates) r.mean += e;
  r.mean /= static_cast<double>(estimates.size());
  double var = 0;
  for (double e : estimates) var += (e - r.mean) * (e - r.mean);
  r.std = estimates.size() > 1 ? std::sqrt(var / static_cast<double>(estimates.size() - 1)) : 0.0;
  return r;
}

PrecisionRecall precision_recall(const torch::Tensor& real_in, const torch::Tensor& fake_in, int64_t k) {
  const auto real = as_f64(real_in, "features"), fake = as_f64(fake_in, "features");
  if (real.size(0) <= k || fake.size(0) <= k)
    throw RuntimeError("precision/recall with k = " + std::to_string(k) + " needs more than " + std::to_string(k) +
                       " feature vectors on each side");
  PrecisionRecall pr;
  pr.precision = coverage(fake, real, knn_radii(real, k));
  pr.recall = coverage(real, fake, knn_radii(fake, k));
  return pr;
}

QualityMetrics compare_features(const torch::Tensor& real, const torch::Tensor& fake, uint64_t seed) {
  QualityMetrics m;
  m.n = fake.size(0);
  m.n_reference = real.size(0);
  m.fd = frechet_distance(gaussian_stats(real), gaussian_stats(fake));
  m.kid = kernel_inception_distance(real, fake, /*subsets=*/100, /*subset_size=*/1000, seed);
  m.pr = precision_recall(real, fake, m.k);
  return m;
}

Json metrics_to_json(const QualityMetrics& m) {
  return Json{{"eval_n", m.n},        {"eval_n_reference", m.n_reference}, {"fd", m.fd},           {"kid", m.kid.mean},
              {"kid_std", m.kid.std}, {"precision", m.pr.precision},       {"recall", m.pr.recall}};
}

}  // namespace ganpp
