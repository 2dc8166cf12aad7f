// Generator and discriminator networks and the registry that builds them by name (`model.arch`).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"
#include "ganpp/losses.hpp"

namespace ganpp {

/// Maps latents [B, z_dim] (and, when conditional, class labels int64 [B]) to images [B, C, H, W] in the
/// output range of `model.g.output`: [-1, 1] for tanh, [0, 1] for sigmoid (see to_signed_range).
class GeneratorBase : public torch::nn::Module {
 public:
  explicit GeneratorBase(std::string name, bool sigmoid_output = false)
      : torch::nn::Module(std::move(name)), sigmoid_output_(sigmoid_output) {}
  /// `labels` is required by conditional generators and ignored (may be undefined) otherwise: int64 [B],
  /// or float class weights [B, classes] for a mixture of classes (interpolation between classes).
  virtual torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels = {}) = 0;

  /// Whether the output (and so the training data) is in [0, 1] rather than [-1, 1].
  bool sigmoid_output() const { return sigmoid_output_; }
  /// Maps this generator's outputs to [-1, 1], the range of every image outside the training step.
  torch::Tensor to_signed_range(const torch::Tensor& images) const { return sigmoid_output_ ? images * 2 - 1 : images; }
  /// Maps data in [-1, 1] to this generator's output range, where the discriminator compares the two.
  torch::Tensor from_signed_range(const torch::Tensor& images) const {
    return sigmoid_output_ ? images * 0.5 + 0.5 : images;
  }

 private:
  bool sigmoid_output_;
};

/// What a discriminator computes for a batch.
struct DiscriminatorOutput {
  torch::Tensor score;         ///< [B] raw score (logit or critic value)
  torch::Tensor class_logits;  ///< [B, classes] from the auxiliary classifier (conditioning "ac"), else undefined
  torch::Tensor features;      ///< [B, F] the last hidden features, before the score layer (feature matching)
};

/// Maps images [B, C, H, W] (and, when conditional, labels int64 [B]) to a DiscriminatorOutput.
class DiscriminatorBase : public torch::nn::Module {
 public:
  explicit DiscriminatorBase(std::string name) : torch::nn::Module(std::move(name)) {}
  virtual DiscriminatorOutput forward(const torch::Tensor& images, const torch::Tensor& labels = {}) = 0;
  /// The score alone.
  torch::Tensor score(const torch::Tensor& images, const torch::Tensor& labels = {}) {
    return forward(images, labels).score;
  }
};

/// What a builder needs beyond ModelConfig: the data shape, the resolved discriminator norm and the classes.
struct NetworkShape {
  int64_t channels = 1;
  int64_t image_size = 28;
  bool d_batch_norm = true;
  int64_t classes = 0;  ///< number of classes of a conditional pair, 0 when unconditional
};

struct Networks {
  std::shared_ptr<GeneratorBase> g;
  std::shared_ptr<DiscriminatorBase> d;
};

/// One registered architecture: what the rest of the program reads instead of its name, the check of the
/// shapes it supports, and the builder of the pair.
struct Architecture {
  std::string name;
  bool convolutional = true;  ///< conv layers: model.g.upsample, mults, ngf and ndf apply
  bool d_batch_norm = true;   ///< model.d.norm "auto" gives D batch norm (unless the loss forbids it)
  std::function<void(const ModelConfig&, const NetworkShape&)> check;  ///< throws UsageError
  std::function<Networks(const ModelConfig&, const NetworkShape&)> build;
};

const std::vector<Architecture>& architectures();

/// The architecture registered as `name`; throws UsageError listing the registered names otherwise.
const Architecture& find_architecture(const std::string& name);

/// The registry entries a config names, resolved once by validate().
struct ResolvedConfig {
  const Architecture& arch;
  const Loss& loss;
};

/// The whole check of a config before data is read, and the one entry point for it: the fields
/// (validate_fields), the loss and its rules (check_loss), the architecture and the shapes it supports.
/// Throws UsageError; returns the loss and architecture the config names.
ResolvedConfig validate(const Config& config);

/// Resolves `model.d.norm`: "auto" is the architecture's default (batch norm for conv discriminators, none for
/// mlp as in the classic MLP GAN) unless the loss has a gradient penalty, which is per sample.
bool discriminator_batch_norm(const Config& config);

/// The shape `config` describes: data.channels and image_size, the resolved D norm, conditional classes.
NetworkShape network_shape(const Config& config);

/// One line naming the variant the config selects (arch, generator upsampling, conditioning, spectral
/// norm, output), for --dry-run and the start of training.
std::string describe_variant(const Config& config);

/// Looks up `config.model.arch`, checks and builds the networks (on the CPU, initialised from
/// LibTorch's default generator). Unknown names and unsupported shapes are UsageErrors.
Networks build_networks(const Config& config);

int64_t count_parameters(const torch::nn::Module& module);

// Architecture builders, registered in registry.cpp.
void check_mlp(const ModelConfig& model, const NetworkShape& shape);
Networks build_mlp(const ModelConfig& model, const NetworkShape& shape);
void check_dcgan(const ModelConfig& model, const NetworkShape& shape);
Networks build_dcgan(const ModelConfig& model, const NetworkShape& shape);

}  // namespace ganpp
