// Generator and discriminator networks and the registry that builds them by name (`model.arch`).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

/// Maps latents [B, z_dim] to images [B, C, H, W] in [-1, 1].
class GeneratorBase : public torch::nn::Module {
 public:
  explicit GeneratorBase(std::string name) : torch::nn::Module(std::move(name)) {}
  virtual torch::Tensor forward(const torch::Tensor& z) = 0;
};

/// Maps images [B, C, H, W] to one raw score (logit or critic value) per image, [B].
class DiscriminatorBase : public torch::nn::Module {
 public:
  explicit DiscriminatorBase(std::string name) : torch::nn::Module(std::move(name)) {}
  virtual torch::Tensor forward(const torch::Tensor& images) = 0;
};

/// What a builder needs beyond ModelConfig: the data shape and the resolved discriminator norm.
struct NetworkShape {
  int64_t channels = 1;
  int64_t image_size = 28;
  bool d_batch_norm = true;
};

struct Networks {
  std::shared_ptr<GeneratorBase> g;
  std::shared_ptr<DiscriminatorBase> d;
};

/// One registered architecture: checks the shape it supports, then builds the pair.
struct Architecture {
  std::string name;
  std::function<void(const ModelConfig&, const NetworkShape&)> check;  ///< throws UsageError
  std::function<Networks(const ModelConfig&, const NetworkShape&)> build;
};

const std::vector<Architecture>& architectures();

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
