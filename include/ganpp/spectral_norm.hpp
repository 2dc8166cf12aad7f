// Spectral normalisation (Miyato et al. 2018) as a module wrapper: the wrapped conv or linear layer runs
// with W / σ(W), σ estimated by one power iteration per training forward (u, v kept as buffers).
#pragma once

#include <functional>
#include <memory>

#include <torch/torch.h>

namespace ganpp {

class SpectralNormImpl : public torch::nn::Module {
 public:
  /// Wraps `layer` (registered as "layer"); `out_dim` is the dimension of its weight that indexes outputs
  /// (0 for Linear and Conv2d, 1 for ConvTranspose2d). `call` runs the layer (default: its forward).
  template <class Holder>
  SpectralNormImpl(Holder layer, int64_t out_dim, std::function<torch::Tensor(const torch::Tensor&)> call = {})
      : weight_(&layer->weight), out_dim_(out_dim) {
    register_module("layer", layer);
    call_ = call ? std::move(call) : [impl = layer.ptr()](const torch::Tensor& x) { return impl->forward(x); };
    init_vectors();
  }

  /// The layer applied with its normalised weight. In training mode this first runs one power iteration.
  torch::Tensor forward(const torch::Tensor& x);

  /// W / σ(W) with σ from the current u and v (no iteration); differentiable in W.
  torch::Tensor normalized_weight() const;

  /// One power-iteration update of u and v (no gradient).
  void power_iteration();

  const torch::Tensor& u() const { return u_; }
  const torch::Tensor& v() const { return v_; }

 private:
  void init_vectors();
  torch::Tensor weight_matrix() const;  ///< W as [outputs, everything else]

  torch::Tensor* weight_;  ///< the wrapped layer's weight member, swapped for the normalised one during forward
  int64_t out_dim_;
  std::function<torch::Tensor(const torch::Tensor&)> call_;
  torch::Tensor u_, v_;  ///< left and right singular-vector estimates (buffers "u", "v")
};
TORCH_MODULE(SpectralNorm);

}  // namespace ganpp
