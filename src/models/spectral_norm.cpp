// Spectral normalisation (see spectral_norm.hpp). Like PyTorch's torch.nn.utils.spectral_norm: u and v
// are updated in place under no_grad, then cloned so that autograd (including the gradient penalty's
// double backward) sees constants that later iterations cannot modify.
#include "ganpp/spectral_norm.hpp"

namespace ganpp {
namespace {
constexpr double kEps = 1e-12;

torch::Tensor unit(const torch::Tensor& x) { return x / x.norm().clamp_min(kEps); }
}  // namespace

void SpectralNormImpl::init_vectors() {
  const auto w = weight_matrix();
  torch::NoGradGuard no_grad;
  u_ = register_buffer("u", unit(torch::randn({w.size(0)}, w.options())));
  v_ = register_buffer("v", unit(torch::randn({w.size(1)}, w.options())));
}

torch::Tensor SpectralNormImpl::weight_matrix() const { return weight_->movedim(out_dim_, 0).flatten(1); }

void SpectralNormImpl::power_iteration() {
  torch::NoGradGuard no_grad;
  const auto w = weight_matrix().to(u_.scalar_type());
  v_.copy_(unit(torch::mv(w.t(), u_)));
  u_.copy_(unit(torch::mv(w, v_)));
}

torch::Tensor SpectralNormImpl::normalized_weight() const {
  const auto w = weight_matrix();
  const auto sigma = torch::dot(u_.clone().to(w.scalar_type()), torch::mv(w, v_.clone().to(w.scalar_type())));
  return *weight_ / sigma;
}

torch::Tensor SpectralNormImpl::forward(const torch::Tensor& x) {
  if (is_training()) power_iteration();
  const torch::Tensor original = *weight_;
  // The layer reads its `weight` member; the registered parameter (`original`) stays what optimisers see.
  struct Restore {
    torch::Tensor* slot;
    torch::Tensor value;
    ~Restore() { *slot = value; }
  } restore{weight_, original};
  *weight_ = normalized_weight();
  return call_(x);
}

}  // namespace ganpp
