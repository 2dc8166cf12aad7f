// Metrics against known values: FD of a set with itself and of Gaussians against the closed form, KID's
// unbiasedness and formula, precision/recall on constructed point sets.
#include <gtest/gtest.h>

#include <cmath>

#include "ganpp/errors.hpp"
#include "ganpp/metrics.hpp"
#include "ganpp/rng.hpp"

using namespace ganpp;

namespace {

torch::Tensor gaussian(int64_t n, const torch::Tensor& mu, const torch::Tensor& factor, uint64_t stream) {
  auto gen = make_generator(/*seed=*/7, stream);
  return torch::randn({n, mu.size(0)}, gen, torch::kFloat64).mm(factor.t()) + mu;
}

// A random symmetric positive definite matrix A A^T + 0.5 I.
torch::Tensor random_spd(int64_t d, uint64_t stream) {
  auto gen = make_generator(/*seed=*/11, stream);
  const auto a = torch::randn({d, d}, gen, torch::kFloat64) / std::sqrt(static_cast<double>(d));
  return a.mm(a.t()) + 0.5 * torch::eye(d, torch::kFloat64);
}

// The closed form by another route: Tr((S1 S2)^1/2) from the (real, positive) eigenvalues of the
// non-symmetric product S1 S2.
double closed_form_fd(const torch::Tensor& mu1, const torch::Tensor& s1, const torch::Tensor& mu2,
                      const torch::Tensor& s2) {
  const auto eig = torch::real(torch::linalg_eigvals(s1.mm(s2)));
  return (mu1 - mu2).pow(2).sum().item<double>() + s1.trace().item<double>() + s2.trace().item<double>() -
         2 * eig.clamp_min(0).sqrt().sum().item<double>();
}

// Unbiased MMD^2 with the cubic kernel by explicit loops.
double naive_mmd2(const torch::Tensor& x, const torch::Tensor& y) {
  const int64_t m = x.size(0);
  const double d = static_cast<double>(x.size(1));
  const auto k = [&](const torch::Tensor& a, const torch::Tensor& b) {
    return std::pow(a.dot(b).item<double>() / d + 1, 3);
  };
  double xx = 0, yy = 0, xy = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) {
      if (i != j) {
        xx += k(x[i], x[j]);
        yy += k(y[i], y[j]);
      }
      xy += k(x[i], y[j]);
    }
  return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m);
}

}  // namespace

TEST(Metrics, FdOfASetWithItselfIsZero) {
  const auto factor = torch::linalg_cholesky(random_spd(16, 1));
  const auto x = gaussian(500, torch::full({16}, 3.0, torch::kFloat64), factor, 2);
  const auto s = gaussian_stats(x);
  EXPECT_EQ(s.n, 500);
  EXPECT_LT(std::abs(frechet_distance(s, s)), 1e-6);
  // Rank-deficient covariance (fewer samples than dimensions): still ~0, never NaN.
  const auto few = gaussian_stats(x.narrow(0, 0, 8));
  EXPECT_LT(std::abs(frechet_distance(few, few)), 1e-6);
}

TEST(Metrics, FdOfPopulationStatisticsEqualsTheClosedForm) {
  const int64_t d = 12;
  GaussianStats a, b;
  a.mu = torch::linspace(-1, 1, d, torch::kFloat64);
  b.mu = torch::zeros({d}, torch::kFloat64);
  a.sigma = random_spd(d, 3);
  b.sigma = random_spd(d, 4);
  const double expected = closed_form_fd(a.mu, a.sigma, b.mu, b.sigma);
  EXPECT_NEAR(frechet_distance(a, b), expected, 1e-9 * expected);
  EXPECT_NEAR(frechet_distance(b, a), expected, 1e-9 * expected);  // symmetric
  // Diagonal covariances by hand: |mu|^2 + sum (a + b - 2 sqrt(ab)).
  a.sigma = torch::diag(torch::tensor({1.0, 4.0, 9.0}, torch::kFloat64));
  b.sigma = torch::diag(torch::tensor({4.0, 1.0, 9.0}, torch::kFloat64));
  a.mu = torch::tensor({1.0, 2.0, 0.0}, torch::kFloat64);
  b.mu = torch::zeros({3}, torch::kFloat64);
  EXPECT_NEAR(frechet_distance(a, b), 5.0 + (1 + 4 - 4) + (4 + 1 - 4) + 0, 1e-12);
}

TEST(Metrics, FdOfTwoGaussianSamplesIsWithinOnePercentOfTheClosedForm) {
  const int64_t d = 8, n = 200000;  // sampling error of FD ~0.25% at this N
  const auto mu1 = torch::zeros({d}, torch::kFloat64), mu2 = torch::full({d}, 0.5, torch::kFloat64);
  const auto s1 = random_spd(d, 5), s2 = random_spd(d, 6);
  const auto x = gaussian(n, mu1, torch::linalg_cholesky(s1), 7);
  const auto y = gaussian(n, mu2, torch::linalg_cholesky(s2), 8);
  const double expected = closed_form_fd(mu1, s1, mu2, s2);
  ASSERT_GT(expected, 1.0);
  EXPECT_NEAR(frechet_distance(gaussian_stats(x), gaussian_stats(y)), expected, 0.01 * expected);
}

TEST(Metrics, KidMatchesTheUnbiasedEstimatorByHand) {
  auto gen = make_generator(3, 3);
  const auto x = torch::randn({6, 4}, gen, torch::kFloat64), y = torch::randn({6, 4}, gen, torch::kFloat64) + 1;
  // One subset of all rows: a permutation, and the estimator does not depend on the order.
  const KidResult r = kernel_inception_distance(x, y, /*subsets=*/1, /*subset_size=*/6);
  EXPECT_EQ(r.subset_size, 6);
  EXPECT_NEAR(r.mean, naive_mmd2(x, y), 1e-10);
}

TEST(Metrics, KidOfOneDistributionIsWithinThreeStandardErrorsOfZero) {
  const int64_t d = 16;
  const auto factor = torch::linalg_cholesky(random_spd(d, 9));
  const auto mu = torch::zeros({d}, torch::kFloat64);
  const auto x = gaussian(2000, mu, factor, 10), y = gaussian(2000, mu, factor, 11);
  const KidResult same = kernel_inception_distance(x, y, /*subsets=*/50, /*subset_size=*/200);
  const double standard_error = same.std / std::sqrt(static_cast<double>(same.subsets));
  EXPECT_GT(same.std, 0);
  EXPECT_LT(std::abs(same.mean), 3 * standard_error) << same.mean << " ± " << standard_error;
  // A shifted distribution is far from zero on the same scale.
  const KidResult other = kernel_inception_distance(x, gaussian(2000, mu + 0.5, factor, 12), 50, 200);
  EXPECT_GT(other.mean, 10 * other.std / std::sqrt(50.0));
}

TEST(Metrics, PrecisionAndRecallOfConstructedSets) {
  // Real: x = 0..9 on a line; with k = 3 their radii are 3 at the ends (via 1, 2, 3) and 2 or 3 inside.
  // Fake: 0.5..4.5 (inside the real manifold) and 100..140 (far away). The near fakes' balls (radius 3)
  // reach up to 7.5, so reals 0..7 are covered: precision 5/10, recall 8/10.
  auto line = [](std::vector<double> xs) {
    auto t = torch::zeros({static_cast<int64_t>(xs.size()), 2}, torch::kFloat64);
    for (size_t i = 0; i < xs.size(); ++i) t[static_cast<int64_t>(i)][0] = xs[i];
    return t;
  };
  const auto real = line({0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto fake = line({0.5, 1.5, 2.5, 3.5, 4.5, 100, 110, 120, 130, 140});
  const PrecisionRecall pr = precision_recall(real, fake, /*k=*/3);
  EXPECT_DOUBLE_EQ(pr.precision, 0.5);
  EXPECT_DOUBLE_EQ(pr.recall, 0.8);
  const PrecisionRecall same = precision_recall(real, real, 3);
  EXPECT_DOUBLE_EQ(same.precision, 1.0);
  EXPECT_DOUBLE_EQ(same.recall, 1.0);
  EXPECT_THROW(precision_recall(real.narrow(0, 0, 3), fake, 3), RuntimeError);  // needs more than k points
}

TEST(Metrics, CompareFeaturesReportsN) {
  auto gen = make_generator(5, 5);
  const auto real = torch::randn({40, 3}, gen), fake = torch::randn({30, 3}, gen);
  const QualityMetrics m = compare_features(real, fake);
  EXPECT_EQ(m.n, 30);
  EXPECT_EQ(m.n_reference, 40);
  EXPECT_EQ(m.kid.subset_size, 30);
  const Json j = metrics_to_json(m);
  EXPECT_EQ(j["eval_n"], 30);
  EXPECT_DOUBLE_EQ(j["fd"].get<double>(), m.fd);
  EXPECT_GT(m.fd, 0);
}
