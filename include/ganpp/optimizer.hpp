// Adam for one network. LibTorch's torch::optim::Adam always holds the state (the moments and step count that
// checkpoints save). On CUDA with LibTorch >= 2.4 the update itself runs as one fused multi-tensor kernel
// (at::_fused_adam_, the kernel behind PyTorch's Adam(fused=True)) whose step count and learning rate live in
// device tensors: one launch instead of about seven per parameter, and nothing a CUDA graph cannot capture.
// The fused kernel computes the same Adam; only its float32 rounding of the bias corrections differs.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

/// Whether this LibTorch has the fused Adam kernel with a tensor learning rate (2.4 and later).
bool fused_adam_available();

/// The Adam state of `param` in `adam`, or null before its first step. (LibTorch keys the state by the
/// parameter's TensorImpl: its address printed as a string up to 1.13, the address itself later.)
torch::optim::AdamParamState* adam_param_state(torch::optim::Adam& adam, const torch::Tensor& param);

class Optimizer {
 public:
  /// Adam over `module`'s parameters. `fused` asks for the fused kernel (CUDA only; see fused_adam_available()).
  Optimizer(torch::nn::Module& module, const AdamConfig& config, bool fused);

  /// Gradients set to none rather than zeroed: no memset, and the next backward writes instead of adding.
  void clear_grads();
  /// Sets the learning rate of the next steps (a device fill on the fused path, only when it changes).
  void set_lr(double lr);
  /// One Adam update of the parameters that have gradients. Never reads device values back to the host.
  void step();

  /// Saves the Adam state (moments, step counts, options) into `archive`, complete on the fused path too.
  void save(torch::serialize::OutputArchive& archive);
  /// Loads a state written by save() and continues from it (learning rate included), whichever LibTorch wrote it.
  void load(torch::serialize::InputArchive& archive);

  /// One parameter's Adam state, for comparisons and inspection.
  struct Moments {
    int64_t step = 0;  ///< Adam steps taken (0 before the first)
    torch::Tensor exp_avg, exp_avg_sq;
  };
  /// The state of every parameter in order (undefined moments before the parameter's first step).
  std::vector<Moments> moments();
  bool fused() const { return fused_; }
  /// The learning rate of the next step.
  double lr() const { return lr_; }

 private:
  struct ParamState {
    torch::Tensor param, exp_avg, exp_avg_sq;
    torch::Tensor step;  ///< Adam steps taken (float32 on the device, as the kernel reads it)
  };
  /// The Adam state of every parameter, created as torch::optim::Adam would create it, in the parameter's layout.
  void bind_state();
  /// Writes the fused path's device step counts into the Adam state (before it is read).
  void sync_state();

  std::unique_ptr<torch::optim::Adam> adam_;
  bool fused_ = false;
  double lr_ = 0;
  std::vector<ParamState> states_;  ///< fused path: handles on the moments held by adam_'s state
  torch::Tensor lr_tensor_;         ///< fused path: the learning rate on the device
};

}  // namespace ganpp
