// The classic fully connected GAN (Goodfellow et al. 2014, as in the common MNIST examples):
// G z -> 256 -> 512 -> 1024 -> C*H*W, tanh; D C*H*W -> 1024 -> 512 -> 256 -> 1, LeakyReLU(0.2), optional dropout.
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"

namespace nn = torch::nn;

namespace ganpp {
namespace {

class MlpGenerator : public GeneratorBase {
 public:
  MlpGenerator(const ModelConfig& model, const NetworkShape& shape)
      : GeneratorBase("MlpGenerator"), shape_({-1, shape.channels, shape.image_size, shape.image_size}) {
    int64_t in = model.z_dim;
    for (const int64_t width : model.g.hidden) {
      net_->push_back(nn::Linear(in, width));
      net_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
      in = width;
    }
    net_->push_back(nn::Linear(in, shape.channels * shape.image_size * shape.image_size));
    net_->push_back(nn::Tanh());
    register_module("net", net_);
  }
  torch::Tensor forward(const torch::Tensor& z) override { return net_->forward(z).view(shape_); }

 private:
  std::vector<int64_t> shape_;
  nn::Sequential net_;
};

class MlpDiscriminator : public DiscriminatorBase {
 public:
  MlpDiscriminator(const ModelConfig& model, const NetworkShape& shape) : DiscriminatorBase("MlpDiscriminator") {
    int64_t in = shape.channels * shape.image_size * shape.image_size;
    for (const int64_t width : model.d.hidden) {
      net_->push_back(nn::Linear(nn::LinearOptions(in, width).bias(!shape.d_batch_norm)));
      if (shape.d_batch_norm) net_->push_back(nn::BatchNorm1d(width));
      net_->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
      if (model.d.dropout > 0) net_->push_back(nn::Dropout(model.d.dropout));
      in = width;
    }
    net_->push_back(nn::Linear(in, 1));
    register_module("net", net_);
  }
  torch::Tensor forward(const torch::Tensor& images) override {
    return net_->forward(images.flatten(1)).view({-1});
  }

 private:
  nn::Sequential net_;
};

}  // namespace

void check_mlp(const ModelConfig& model, const NetworkShape& shape) {
  if (model.g.hidden.empty() || model.d.hidden.empty())
    throw UsageError("config keys 'model.g.hidden' and 'model.d.hidden' must list at least one layer for arch mlp");
}

Networks build_mlp(const ModelConfig& model, const NetworkShape& shape) {
  return {std::make_shared<MlpGenerator>(model, shape), std::make_shared<MlpDiscriminator>(model, shape)};
}

}  // namespace ganpp
