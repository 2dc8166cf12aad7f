// A scope in which a network runs in eval mode (batch norm on its running statistics, no spectral-norm power
// iterations), with the caller's mode restored at its end, whatever that mode was.
#pragma once

#include <torch/torch.h>

namespace ganpp {

/// Puts `module` into eval mode for its lifetime, then back into the mode it was in.
class EvalModeGuard {
 public:
  explicit EvalModeGuard(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace ganpp
