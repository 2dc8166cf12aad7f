// Batch norm synchronised over the ranks of a data-parallel run (see sync_batch_norm.hpp).
#include "ganpp/sync_batch_norm.hpp"

#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

// Batch norm with the moments of the global batch: each rank's sums and sums of squares, summed over the ranks
// (sum_over_ranks, so that the backward pass sums over them too). Updates the running statistics as LibTorch does.
torch::Tensor sync_batch_norm(SyncBatchNormImpl& bn, const torch::Tensor& input, double momentum) {
  const int64_t c = input.size(1);
  std::vector<int64_t> dims = {0}, shape(static_cast<size_t>(input.dim()), 1);
  for (int64_t d = 2; d < input.dim(); ++d) dims.push_back(d);
  shape[1] = c;
  // In double, so that E[x²] − E[x]² keeps the precision of a one-pass variance.
  const auto x = input.to(torch::kFloat64);
  const auto count = torch::full({1}, static_cast<double>(input.numel() / c), x.options());
  const auto totals = sum_over_ranks(torch::cat({x.sum(dims), (x * x).sum(dims), count}));
  const auto n = totals.narrow(0, 2 * c, 1);
  const auto mean = totals.narrow(0, 0, c) / n;
  const auto var = (totals.narrow(0, c, c) / n - mean * mean).clamp_min(0);
  auto y = ((x - mean.view(shape)) * torch::rsqrt(var.view(shape) + bn.options.eps())).to(input.scalar_type());
  if (bn.options.affine()) y = y * bn.weight.view(shape) + bn.bias.view(shape);
  if (bn.options.track_running_stats()) {
    torch::NoGradGuard no_grad;
    const auto unbiased = var * n / (n - 1).clamp_min(1);  // on the device: no host sync inside a step
    bn.running_mean.mul_(1 - momentum).add_(mean.to(bn.running_mean.scalar_type()), momentum);
    bn.running_var.mul_(1 - momentum).add_(unbiased.to(bn.running_var.scalar_type()), momentum);
  }
  return y;
}

}  // namespace

SyncBatchNormImpl::SyncBatchNormImpl(int dims_, const torch::nn::BatchNormOptions& options_)
    : dims(dims_), options(options_) {
  reset();
}

void SyncBatchNormImpl::reset() {
  // LibTorch's registration, in its order and under its names.
  const int64_t features = options.num_features();
  weight = register_parameter("weight", options.affine() ? torch::empty({features}) : torch::Tensor(),
                              /*requires_grad=*/options.affine());
  bias = register_parameter("bias", options.affine() ? torch::empty({features}) : torch::Tensor(),
                            /*requires_grad=*/options.affine());
  const bool track = options.track_running_stats();
  running_mean = register_buffer("running_mean", track ? torch::zeros({features}) : torch::Tensor());
  running_var = register_buffer("running_var", track ? torch::ones({features}) : torch::Tensor());
  num_batches_tracked = register_buffer("num_batches_tracked",
                                        track ? torch::tensor(0, torch::dtype(torch::kLong)) : torch::Tensor());
  reset_running_stats();
  if (options.affine()) {
    torch::nn::init::ones_(weight);
    torch::nn::init::zeros_(bias);
  }
}

void SyncBatchNormImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  torch::NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1);
  num_batches_tracked.zero_();
}

torch::Tensor SyncBatchNormImpl::forward(const torch::Tensor& input) {
  // LibTorch's shapes: [N, C] or [N, C, L] for BatchNorm1d, [N, C, H, W] for BatchNorm2d.
  if (dims == 2 ? input.dim() != 4 : input.dim() != 2 && input.dim() != 3)
    throw RuntimeError("batch norm expected a " + std::string(dims == 2 ? "4-D" : "2-D or 3-D") + " input, got " +
                       std::to_string(input.dim()) + "-D");
  // LibTorch's momentum: the option, or a cumulative average when it is none.
  double momentum = options.momentum() ? *options.momentum() : 0.0;
  if (is_training() && options.track_running_stats()) {
    num_batches_tracked += 1;
    if (!options.momentum()) momentum = 1.0 / num_batches_tracked.item<double>();
  }
  if (is_training() && ranks_synchronised()) return sync_batch_norm(*this, input, momentum);
  return torch::nn::functional::detail::batch_norm(input, running_mean, running_var, weight, bias,
                                                   /*training=*/is_training() || !options.track_running_stats(),
                                                   momentum, options.eps());
}

void SyncBatchNormImpl::pretty_print(std::ostream& stream) const {
  stream << std::boolalpha << "torch::nn::BatchNorm" << dims << "d(" << options.num_features()
         << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum())
    stream << *options.momentum();
  else
    stream << "None";
  stream << ", affine=" << options.affine() << ", track_running_stats=" << options.track_running_stats() << ")";
}

}  // namespace ganpp
