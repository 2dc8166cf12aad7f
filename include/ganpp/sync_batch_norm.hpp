// Batch norm that, in data-parallel training, takes its statistics over the global batch: the mean and variance
// of every rank's rows, summed over the ranks differentiably, so that the backward pass is global too.
#pragma once

#include <torch/torch.h>

namespace ganpp {

/// Batch norm over [N, C] (`dims` 1) or [N, C, H, W] (`dims` 2), computed as LibTorch's nn::BatchNorm1d/2d
/// compute it, with their parameters and buffers under their names (checkpoints are unchanged), except that
/// while a SyncScope of several ranks is active its training-mode statistics are those of the global batch.
/// (Not a subclass of nn::BatchNorm2d: Debian's LibTorch does not export the base class's symbols.)
class SyncBatchNormImpl : public torch::nn::Cloneable<SyncBatchNormImpl> {
 public:
  SyncBatchNormImpl(int dims, int64_t features) : SyncBatchNormImpl(dims, torch::nn::BatchNormOptions(features)) {}
  SyncBatchNormImpl(int dims, const torch::nn::BatchNormOptions& options);

  void reset() override;
  /// Running statistics back to mean 0, variance 1, no batches seen.
  void reset_running_stats();
  torch::Tensor forward(const torch::Tensor& input);
  /// LibTorch's text for the layer ("torch::nn::BatchNorm2d(8, eps=1e-05, ...)").
  void pretty_print(std::ostream& stream) const override;

  int dims;
  torch::nn::BatchNormOptions options;
  torch::Tensor weight, bias, running_mean, running_var, num_batches_tracked;
};
TORCH_MODULE(SyncBatchNorm);

}  // namespace ganpp
