// Sample-quality metrics on feature vectors: Fréchet distance, kernel inception distance (KID) and
// improved precision/recall. Pure math on [N, d] tensors; computed in float64 on the CPU.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "ganpp/json.hpp"

namespace ganpp {

/// Mean and covariance of a feature set, float64.
struct GaussianStats {
  torch::Tensor mu;     ///< [d]
  torch::Tensor sigma;  ///< [d, d], unbiased (divides by n - 1)
  int64_t n = 0;        ///< how many feature vectors they summarise
};

/// Mean and covariance of features [N, d] (N >= 2).
GaussianStats gaussian_stats(const torch::Tensor& features);

/// Fréchet distance between two Gaussians: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2) (Heusel et al. 2017).
/// Tr((S1 S2)^1/2) is the sum of the square roots of the eigenvalues of sqrt(S1) S2 sqrt(S1), a symmetric
/// matrix, with sqrt(S1) from a symmetric eigendecomposition; round-off negatives are clamped to 0.
double frechet_distance(const GaussianStats& a, const GaussianStats& b);

/// KID's kernel estimate: the mean and standard deviation of the unbiased MMD^2 with the cubic polynomial
/// kernel k(x, y) = (x.y / d + 1)^3 over random subsets (Bińkowski et al. 2018).
struct KidResult {
  double mean = 0;
  double std = 0;  ///< standard deviation of the subset estimates
  int64_t subsets = 0;
  int64_t subset_size = 0;
};

/// KID of features x [N, d] and y [M, d]: `subsets` pairs of subsets of min(subset_size, N, M) rows each, drawn
/// without replacement from a private generator of `seed` (the same inputs give the same figure).
KidResult kernel_inception_distance(const torch::Tensor& x, const torch::Tensor& y, int64_t subsets = 100,
                                    int64_t subset_size = 1000, uint64_t seed = 0);

/// Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around
/// its points with the distance to their k-th nearest neighbour (within the set) as radius. Precision is the
/// fraction of fake points inside the real manifold, recall the fraction of real points inside the fake one.
struct PrecisionRecall {
  double precision = 0;
  double recall = 0;
};

PrecisionRecall precision_recall(const torch::Tensor& real, const torch::Tensor& fake, int64_t k = 3);

/// Everything `ganpp eval` and training-time evaluation report for one comparison.
struct QualityMetrics {
  int64_t n = 0;            ///< evaluated images
  int64_t n_reference = 0;  ///< reference images
  double fd = 0;            ///< Fréchet distance in the feature space
  KidResult kid;
  PrecisionRecall pr;
  int64_t k = 3;  ///< neighbours of precision/recall
};

/// FD, KID and precision/recall of `fake` [N, d] against `real` [M, d].
QualityMetrics compare_features(const torch::Tensor& real, const torch::Tensor& fake, uint64_t seed = 0);

/// {"eval_n", "eval_n_reference", "fd", "kid", "kid_std", "precision", "recall"}.
Json metrics_to_json(const QualityMetrics& m);

}  // namespace ganpp
