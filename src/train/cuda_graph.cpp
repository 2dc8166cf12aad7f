// CUDA graph capture and replay of a tensor function (see cuda_graph.hpp).
#include "ganpp/cuda_graph.hpp"

#include "ganpp/errors.hpp"
#include "ganpp/optimizer.hpp"

#ifdef GANPP_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace ganpp {

#ifdef GANPP_CUDA
struct GraphedFunction::Graph {
  explicit Graph(torch::Device device)
      : stream(c10::cuda::getStreamFromPool(/*isHighPriority=*/false, device.index())) {}
  // Warm-up and capture run on a stream of their own (capture cannot use the default stream; warming up there
  // too creates its cuBLAS/cuDNN workspaces before the capture). Replays run on the caller's stream.
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAGraph graph;
  bool captured = false;
};

namespace {
// Runs `fn` on `stream`, ordered after and before everything on the device (used only a few times per run).
template <typename Fn>
auto on_stream(const c10::cuda::CUDAStream& stream, Fn&& fn) {
  torch::cuda::synchronize();
  c10::cuda::CUDAStreamGuard guard(stream);
  auto result = fn();
  torch::cuda::synchronize();
  return result;
}
}  // namespace
#else
struct GraphedFunction::Graph {
  explicit Graph(torch::Device) {}
  bool captured = false;
};
#endif

bool cuda_graphs_available() {
#ifdef GANPP_CUDA
  return fused_adam_available();  // LibTorch's own Adam keeps its step count on the host: not capturable
#else
  return false;
#endif
}

GraphedFunction::GraphedFunction(Function function, torch::Device device, int64_t eager_calls)
    : function_(std::move(function)), device_(device), eager_left_(eager_calls) {
  if (!device_.is_cuda() || !cuda_graphs_available())
    throw UsageError("CUDA graphs need a CUDA device and a CUDA build of LibTorch 2.4 or later");
  graph_ = std::make_unique<Graph>(device_);
}

GraphedFunction::~GraphedFunction() = default;

bool GraphedFunction::captured() const { return graph_->captured; }

bool GraphedFunction::matches_capture(const std::vector<torch::Tensor>& inputs) const {
  if (inputs.size() != static_inputs_.size()) return false;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined() != static_inputs_[i].defined()) return false;
    if (inputs[i].defined() &&
        (inputs[i].sizes() != static_inputs_[i].sizes() || inputs[i].scalar_type() != static_inputs_[i].scalar_type()))
      return false;
  }
  return true;
}

std::vector<torch::Tensor> GraphedFunction::operator()(const std::vector<torch::Tensor>& inputs) {
#ifdef GANPP_CUDA
  if (eager_left_ > 0) {
    --eager_left_;
    return on_stream(graph_->stream, [&] { return function_(inputs); });
  }
  if (!graph_->captured) capture(inputs);
  if (!matches_capture(inputs)) return function_(inputs);  // e.g. a smaller last batch
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined()) static_inputs_[i].copy_(inputs[i], /*non_blocking=*/true);
  graph_->graph.replay();  // on the current stream, so ordered with everything else the caller does
  return static_outputs_;
#else
  return function_(inputs);
#endif
}

void GraphedFunction::capture(const std::vector<torch::Tensor>& inputs) {
#ifdef GANPP_CUDA
  static_inputs_.clear();
  for (const auto& t : inputs)
    static_inputs_.push_back(t.defined() ? torch::empty_like(t, t.options().device(device_)) : torch::Tensor());
  // Nothing runs during capture: the replay that follows does the work.
  static_outputs_ = on_stream(graph_->stream, [&] {
    graph_->graph.capture_begin();
    try {
      auto outputs = function_(static_inputs_);
      graph_->graph.capture_end();
      return outputs;
    } catch (const std::exception& e) {
      try {
        graph_->graph.capture_end();
      } catch (...) {
      }
      throw RuntimeError("capturing the training step as a CUDA graph failed (" + first_line(e.what()) +
                         "); run with --set train.cuda_graph=false");
    }
  });
  graph_->captured = true;
#else
  (void)inputs;
#endif
}

}  // namespace ganpp
