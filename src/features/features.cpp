// Feature networks (see features.hpp): ganpp classifiers and TorchScript modules behind one interface.
#include "ganpp/features.hpp"

#include <filesystem>

#include <torch/script.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/classifier.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

constexpr int64_t kChunk = 500;  // images per forward pass

FeatureNet classifier_features(const std::string& path, torch::Device device) {
  Classifier c = load_classifier(path, device);
  FeatureNet net;
  net.image_size = c.spec.image_size;
  net.channels = c.spec.channels;
  char accuracy[64];
  std::snprintf(accuracy, sizeof(accuracy), "%.2f%%", 100.0 * c.test_accuracy);
  net.description = "ganpp classifier " + path + " (" + std::to_string(c.spec.feature_dim) + "-d features, " +
                    std::to_string(c.spec.image_size) + "x" + std::to_string(c.spec.image_size) + "x" +
                    std::to_string(c.spec.channels) + ", accuracy " + accuracy + ")";
  ClassifierNet model = c.net;
  net.forward = [model](const torch::Tensor& images) mutable { return model->features(images); };
  net.classify = [model](const torch::Tensor& images) mutable { return model->forward(images); };
  net.classes = c.spec.classes;
  return net;
}

FeatureNet torchscript_features(const std::string& path, torch::Device device) {
  auto module = std::make_shared<torch::jit::script::Module>();
  try {
    *module = torch::jit::load(path, device);
  } catch (const c10::Error& e) {
    throw RuntimeError("'" + path + "' is neither a ganpp classifier nor a loadable TorchScript module (" +
                       first_line(e.what_without_backtrace()) + ")");
  }
  if (!module->find_method("forward"))
    throw RuntimeError("'" + path +
                       "' is a LibTorch archive without a forward method (a ganpp checkpoint of an "
                       "older format?), not a feature network; --features takes a file of 'ganpp classifier train' "
                       "or a TorchScript module");
  module->eval();
  FeatureNet net;
  const auto int_attr = [&](const char* name) -> int64_t {
    if (!module->hasattr(name)) return 0;
    const auto v = module->attr(name);
    if (!v.isInt())
      throw RuntimeError("TorchScript feature module '" + path + "': attribute '" + name + "' must be an int");
    return v.toInt();
  };
  net.image_size = int_attr("image_size");
  net.channels = int_attr("channels");
  if (net.channels != 0 && net.channels != 1 && net.channels != 3)
    throw RuntimeError("TorchScript feature module '" + path + "' states channels = " + std::to_string(net.channels) +
                       "; ganpp images have 1 or 3");
  net.description = "TorchScript module " + path;
  net.forward = [module, path](const torch::Tensor& images) {
    c10::IValue out;
    try {
      out = module->forward({images});
    } catch (const c10::Error& e) {
      throw RuntimeError("TorchScript feature module '" + path + "' failed on images of shape " +
                         c10::str(images.sizes()) + ": " + first_line(e.what_without_backtrace()));
    }
    if (!out.isTensor() || out.toTensor().dim() < 2 || out.toTensor().size(0) != images.size(0))
      throw RuntimeError("TorchScript feature module '" + path +
                         "' must return one feature vector per image, a "
                         "tensor [B, d]");
    const auto t = out.toTensor();
    return t.reshape({t.size(0), -1});
  };
  return net;
}

}  // namespace

FeatureNet load_feature_net(const std::string& path, torch::Device device) {
  if (!std::filesystem::is_regular_file(path))
    throw RuntimeError("feature network '" + path + "' does not exist; make one with 'ganpp classifier train --out " +
                       path + "'");
  if (is_checkpoint_file(path))
    throw RuntimeError("'" + path +
                       "' is a ganpp training checkpoint, not a feature network: pass it to 'ganpp eval' "
                       "as --checkpoint; --features takes a file of 'ganpp classifier train' or a TorchScript module");
  return is_classifier_file(path) ? classifier_features(path, device) : torchscript_features(path, device);
}

void check_feature_input(const FeatureNet& net, int64_t size, int64_t channels, const std::string& what) {
  if (net.image_size != 0 && net.image_size != size)
    throw RuntimeError(what + " are " + std::to_string(size) + "x" + std::to_string(size) +
                       " pixels, but the feature "
                       "network takes " +
                       std::to_string(net.image_size) + "x" + std::to_string(net.image_size) + " (" + net.description +
                       "); use a feature network trained at that size");
  if (net.channels != 0 && net.channels != channels && !(channels == 1 && net.channels == 3))
    throw RuntimeError(what + " have " + std::to_string(channels) + " channel(s), but the feature network takes " +
                       std::to_string(net.channels) + " (" + net.description + ")");
}

namespace {

// `fn` over `images` in chunks, each converted to float in [-1, 1] with the net's channel count.
torch::Tensor map_chunks(const FeatureNet& net, const std::function<torch::Tensor(const torch::Tensor&)>& fn,
                         const torch::Tensor& images, torch::Device device) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t i = 0; i < images.size(0); i += kChunk) {
    auto x = images.narrow(0, i, std::min(kChunk, images.size(0) - i)).to(device);
    x = x.scalar_type() == torch::kUInt8 ? pixels_to_signed_range(x) : x.to(torch::kFloat32);
    if (net.channels == 3 && x.size(1) == 1) x = x.expand({-1, 3, -1, -1}).contiguous();
    parts.push_back(fn(x).cpu());
  }
  if (parts.empty()) throw RuntimeError("no images to compute features of");
  return torch::cat(parts);
}

}  // namespace

torch::Tensor extract_features(FeatureNet& net, const torch::Tensor& images, torch::Device device) {
  return map_chunks(net, net.forward, images, device).to(torch::kFloat32);
}

torch::Tensor predict_classes(FeatureNet& net, const torch::Tensor& images, torch::Device device) {
  if (!net.classify)
    throw RuntimeError(net.description + " is not a classifier; class accuracy needs a ganpp classifier");
  return map_chunks(
      net, [&](const torch::Tensor& x) { return net.classify(x).argmax(1); }, images, device);
}

}  // namespace ganpp
