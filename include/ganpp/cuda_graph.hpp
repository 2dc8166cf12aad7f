// A function of device tensors captured once as a CUDA graph and replayed afterwards (train.cuda_graph): a
// training step's few hundred kernel launches become one graph launch, which is what small GAN steps on a fast
// GPU are limited by. The function must do device work only: no reads back to the host, no new host-to-device
// copies, the same shapes each call, and in-place updates of any state it keeps between calls.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace ganpp {

/// Whether this build can capture CUDA graphs of a training step (a CUDA LibTorch >= 2.4, with fused Adam).
bool cuda_graphs_available();

class GraphedFunction {
 public:
  using Function = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

  /// `function` runs eagerly for its first `eager_calls` calls (cuDNN's autotuning and lazily created state
  /// happen there), is captured on the next, and replayed from then on. Inputs may be undefined tensors.
  GraphedFunction(Function function, torch::Device device, int64_t eager_calls);
  ~GraphedFunction();

  /// Runs the function on `inputs`. Replays copy the inputs into the graph's own input tensors and return the
  /// graph's output tensors, which the next call overwrites. Inputs of other shapes than the captured ones run
  /// eagerly. Throws RuntimeError when the capture fails.
  std::vector<torch::Tensor> operator()(const std::vector<torch::Tensor>& inputs);

  bool captured() const;

 private:
  struct Graph;
  bool matches_capture(const std::vector<torch::Tensor>& inputs) const;
  void capture(const std::vector<torch::Tensor>& inputs);

  Function function_;
  torch::Device device_;
  int64_t eager_left_;
  std::unique_ptr<Graph> graph_;  ///< set once captured
  std::vector<torch::Tensor> static_inputs_, static_outputs_;
};

}  // namespace ganpp
