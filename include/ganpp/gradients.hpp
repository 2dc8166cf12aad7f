// Gradient norms of a network, computed on its device: the trainer clips with them and logs them
// (grad_norm_d, grad_norm_g).
#pragma once

#include <torch/torch.h>

namespace ganpp {

/// Total L2 norm of the gradients of `module`'s parameters that have one, as a device scalar (no host
/// sync); an undefined tensor when no parameter has a gradient.
torch::Tensor grad_norm(torch::nn::Module& module);

}  // namespace ganpp
