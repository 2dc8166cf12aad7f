// Gradient norms (see gradients.hpp).
#include "ganpp/gradients.hpp"

namespace ganpp {

torch::Tensor grad_norm(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads;
  for (const auto& p : module.parameters())
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return torch::Tensor();
  // One multi-tensor kernel on CUDA instead of one reduction per parameter.
  return torch::stack(at::_foreach_norm(grads)).to(torch::kFloat32).norm();
}

}  // namespace ganpp
