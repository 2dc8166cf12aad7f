// The classic fully connected GAN (Goodfellow et al. 2014, as in the common MNIST examples):
// G z -> 256 -> 512 -> 1024 -> C*H*W, tanh; D C*H*W -> 1024 -> 512 -> 256 -> 1, LeakyReLU(0.2), optional dropout.
// Variants: spectral norm, sigmoid output, class conditioning (labels concatenated to the input, projection, AC).
#include "ganpp/errors.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/models.hpp"
#include "ganpp/sync_batch_norm.hpp"

namespace nn = torch::nn;

namespace ganpp {
namespace {

class MlpGenerator : public GeneratorBase {
 public:
  MlpGenerator(const ModelConfig& model, const NetworkShape& shape)
      : GeneratorBase("MlpGenerator", model.g.output == OutputActivation::sigmoid),
        shape_({-1, shape.channels, shape.image_size, shape.image_size}) {
    const bool sn = model.g.spectral_norm;
    int64_t in = model.z_dim;
    if (shape.classes > 0) {
      labels_ = register_module("labels", LabelInput(shape.classes, model.g.embed_dim));
      in += labels_->size();
    }
    for (const int64_t width : model.g.hidden) {
      net_->push_back(maybe_spectral_norm(nn::Linear(in, width), sn));
      net_->push_back(leaky_relu());
      in = width;
    }
    net_->push_back(maybe_spectral_norm(nn::Linear(in, shape.channels * shape.image_size * shape.image_size), sn));
    if (sigmoid_output())
      net_->push_back(nn::Sigmoid());
    else
      net_->push_back(nn::Tanh());
    register_module("net", net_);
  }
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels) override {
    return net_->forward(labels_ ? labels_->forward(z, labels) : z).view(shape_);
  }

 private:
  std::vector<int64_t> shape_;
  LabelInput labels_{nullptr};
  nn::Sequential net_;
};

class MlpDiscriminator : public DiscriminatorBase {
 public:
  MlpDiscriminator(const ModelConfig& model, const NetworkShape& shape)
      : DiscriminatorBase("MlpDiscriminator"), classes_(shape.classes),
        concat_(shape.classes > 0 && model.d.conditioning == Conditioning::concat) {
    const bool sn = model.d.spectral_norm;
    int64_t in = shape.channels * shape.image_size * shape.image_size + (concat_ ? classes_ : 0);
    for (const int64_t width : model.d.hidden) {
      net_->push_back(maybe_spectral_norm(nn::Linear(nn::LinearOptions(in, width).bias(!shape.d_batch_norm)), sn));
      if (shape.d_batch_norm) net_->push_back(SyncBatchNorm(/*dims=*/1, width));
      net_->push_back(leaky_relu());
      if (model.d.dropout > 0) net_->push_back(nn::Dropout(model.d.dropout));
      in = width;
    }
    register_module("net", net_);
    score_ = register_module("score", nn::Sequential(maybe_spectral_norm(nn::Linear(in, 1), sn)));
    if (classes_ > 0 && !concat_)
      head_ = register_module("head", ConditionHead(model.d.conditioning, classes_, in, in, sn));
  }
  DiscriminatorOutput forward(const torch::Tensor& images, const torch::Tensor& labels) override {
    torch::Tensor x = images.flatten(1);
    if (concat_) {
      check_labels(labels, x.size(0), classes_);
      x = torch::cat({x, one_hot(labels, classes_, x.options())}, 1);
    }
    DiscriminatorOutput out;
    out.features = net_->forward(x);
    out.score = score_->forward(out.features).view({-1});
    if (head_) head_->apply(out, out.features, labels);
    return out;
  }

 private:
  int64_t classes_;
  bool concat_;
  nn::Sequential net_, score_{nullptr};
  ConditionHead head_{nullptr};
};

}  // namespace

void check_mlp(const ModelConfig& model, const NetworkShape& shape) {
  if (model.g.hidden.empty() || model.d.hidden.empty())
    throw UsageError("config keys 'model.g.hidden' and 'model.d.hidden' must list at least one layer for arch mlp");
  if (!model.g.mults.empty() || !model.d.mults.empty() || model.g.upsample != Upsample::deconv)
    throw UsageError("config keys 'model.g.mults', 'model.d.mults' and 'model.g.upsample' shape conv layers and do "
                     "not apply to arch mlp; set its layer sizes with model.g.hidden and model.d.hidden");
}

Networks build_mlp(const ModelConfig& model, const NetworkShape& shape) {
  return {std::make_shared<MlpGenerator>(model, shape), std::make_shared<MlpDiscriminator>(model, shape)};
}

}  // namespace ganpp
