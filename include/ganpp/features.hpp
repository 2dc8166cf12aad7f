// Feature networks for the sample-quality metrics: a ganpp classifier (its penultimate layer) or any TorchScript
// module mapping images to feature vectors, and batched feature extraction.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ganpp {

/// Images in [-1, 1] ([B, C, S, S], float, on the net's device) -> features [B, d].
struct FeatureNet {
  std::string description;  ///< e.g. "ganpp classifier classifier.pt (128-d, 28x28x1, t10k accuracy 91.2%)"
  int64_t image_size = 0;   ///< the side of the images it takes; 0 = any (a TorchScript module that states none)
  int64_t channels = 0;     ///< 1 or 3; 0 = any
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  /// A classifier's logits [B, classes] for the same input (ganpp classifiers only; empty for TorchScript).
  std::function<torch::Tensor(const torch::Tensor&)> classify;
  std::vector<std::string> classes;  ///< the classifier's class names (empty for TorchScript)
};

/// Loads `path`: a ganpp classifier file, else a TorchScript module (torch::jit::load). A TorchScript module may
/// state the images it takes with integer attributes `image_size` and `channels`. RuntimeError when the file
/// is missing, corrupt or neither.
FeatureNet load_feature_net(const std::string& path, torch::Device device);

/// Throws RuntimeError unless images of `size` x `size` x `channels` fit `net` (gray images are repeated to
/// three channels for an RGB net). `what` names the images in the message.
void check_feature_input(const FeatureNet& net, int64_t size, int64_t channels, const std::string& what);

/// Features of `images` (uint8 [N, C, S, S] as loaded, or float in [-1, 1]) in chunks: float [N, d] on the CPU.
torch::Tensor extract_features(FeatureNet& net, const torch::Tensor& images, torch::Device device);

/// The class `net` (a ganpp classifier) assigns to each of `images`: int64 [N] on the CPU.
torch::Tensor predict_classes(FeatureNet& net, const torch::Tensor& images, torch::Device device);

}  // namespace ganpp
