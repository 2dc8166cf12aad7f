// DCGAN (Radford et al. 2016): transposed-conv generator with batch norm and ReLU, strided-conv
// discriminator with LeakyReLU(0.2), no conv biases, weights from N(0, 0.02). Sizes: 28, or 2^k for 16..256.
// Variants: upsample + 3x3 conv generator stages, channel multipliers, spectral norm, class conditioning.
// With the defaults, at 64 and 28 the layer lists match the PyTorch reference of the benchmark exactly.
#include "ganpp/errors.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/models.hpp"
#include "ganpp/sync_batch_norm.hpp"

namespace nn = torch::nn;

namespace ganpp {
namespace {

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// Number of stride-2 stages between the 4x4 (or 7x7 for 28) core and the image.
int64_t upsampling_stages(int64_t image_size) {
  if (image_size == 28) return 2;
  int64_t stages = 0;
  for (int64_t s = image_size; s > 4; s /= 2) ++stages;
  return stages;
}

// Widths in units of ngf/ndf, one per hidden resolution from the image inwards. The DCGAN doubling;
// at 28 the generator starts at 4 * ngf (the reference's layer list).
std::vector<int64_t> default_mults(int64_t stages, bool generator_at_28) {
  std::vector<int64_t> mults;
  for (int64_t s = 0; s < stages; ++s) mults.push_back(int64_t(1) << (s + (generator_at_28 ? 1 : 0)));
  return mults;
}

std::vector<int64_t> mults_of(const std::vector<int64_t>& configured, int64_t image_size, bool generator) {
  if (!configured.empty()) return configured;
  return default_mults(upsampling_stages(image_size), generator && image_size == 28);
}

nn::ConvTranspose2d deconv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias = false) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(bias));
}

// DCGAN initialisation: conv weights N(0, 0.02); batch-norm scale N(1, 0.02), shift 0.
void dcgan_init(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) c->weight.normal_(0.0, 0.02);
    if (auto* c = m->as<nn::ConvTranspose2d>()) c->weight.normal_(0.0, 0.02);
    if (auto* b = m->as<SyncBatchNorm>()) {
      b->weight.normal_(1.0, 0.02);
      b->bias.zero_();
    }
  }
}

class DcganGenerator : public GeneratorBase {
 public:
  DcganGenerator(const ModelConfig& model, const NetworkShape& shape)
      : GeneratorBase("DcganGenerator", model.g.output == OutputActivation::sigmoid), sn_(model.g.spectral_norm),
        upsample_(model.g.upsample) {
    const std::vector<int64_t> mults = mults_of(model.g.mults, shape.image_size, /*generator=*/true);
    int64_t in = model.z_dim;
    if (shape.classes > 0) {
      labels_ = register_module("labels", LabelInput(shape.classes, model.g.embed_dim));
      in += labels_->size();
    }
    // The core: 1x1 latent -> 4x4 (7x7 for 28) with the widest layer, then one stage per resolution.
    int64_t width = model.g.ngf * mults.back();
    add_deconv(in, width, shape.image_size == 28 ? 7 : 4, /*stride=*/1, /*padding=*/0);
    add_norm_relu(width);
    for (int64_t s = static_cast<int64_t>(mults.size()) - 2; s >= 0; --s) {
      const int64_t next = model.g.ngf * mults[static_cast<size_t>(s)];
      add_stage(width, next, /*bias=*/false);
      add_norm_relu(next);
      width = next;
    }
    add_stage(width, shape.channels, /*bias=*/upsample_ != Upsample::deconv);
    if (sigmoid_output())
      net_->push_back(nn::Sigmoid());
    else
      net_->push_back(nn::Tanh());
    register_module("net", net_);
    dcgan_init(*this);
  }

  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels) override {
    torch::Tensor x = labels_ ? labels_->forward(z.view({z.size(0), -1}), labels) : z;
    x = x.view({x.size(0), -1, 1, 1});
    size_t deconv_index = 0;
    for (auto& layer : *net_) {
      auto* plain_deconv = layer.ptr()->as<nn::ConvTranspose2d>();
      x = plain_deconv ? conv_transpose2d(*plain_deconv, x, paddings_[deconv_index++]) : layer.forward(x);
    }
    return x;
  }

 private:
  void add_deconv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
    auto layer = deconv(in, out, kernel, stride, padding);
    if (!sn_) {
      paddings_.push_back(padding);
      net_->push_back(layer);
      return;
    }
    net_->push_back(SpectralNorm(layer, /*out_dim=*/1, [impl = layer.ptr(), padding](const torch::Tensor& x) {
      return conv_transpose2d(*impl, x, padding);
    }));
  }
  // Doubles the resolution: a stride-2 transposed conv, or upsampling and a 3x3 conv.
  void add_stage(int64_t in, int64_t out, bool bias) {
    if (upsample_ == Upsample::deconv) return add_deconv(in, out, /*kernel=*/4, /*stride=*/2, /*padding=*/1);
    auto up = nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0});
    if (upsample_ == Upsample::bilinear)
      up.mode(torch::kBilinear).align_corners(false);
    else
      up.mode(torch::kNearest);
    net_->push_back(nn::Upsample(up));
    net_->push_back(maybe_spectral_norm(conv(in, out, /*kernel=*/3, /*stride=*/1, /*padding=*/1, bias), sn_));
  }
  void add_norm_relu(int64_t channels) {
    net_->push_back(SyncBatchNorm(/*dims=*/2, channels));
    net_->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
  }

  bool sn_;
  Upsample upsample_;
  std::vector<int64_t> paddings_;  ///< padding of each plain transposed convolution, in order
  LabelInput labels_{nullptr};
  nn::Sequential net_;
};

class DcganDiscriminator : public DiscriminatorBase {
 public:
  DcganDiscriminator(const ModelConfig& model, const NetworkShape& shape)
      : DiscriminatorBase("DcganDiscriminator"), dropout_(model.d.dropout), classes_(shape.classes),
        concat_(shape.classes > 0 && model.d.conditioning == Conditioning::concat) {
    const bool sn = model.d.spectral_norm;
    const std::vector<int64_t> mults = mults_of(model.d.mults, shape.image_size, /*generator=*/false);
    int64_t width = model.d.ndf * mults.front();
    // No normalisation on the first layer (DCGAN paper).
    net_->push_back(maybe_spectral_norm(
        conv(shape.channels + (concat_ ? classes_ : 0), width, /*kernel=*/4, /*stride=*/2, /*padding=*/1), sn));
    add_activation();
    for (size_t s = 1; s < mults.size(); ++s) {
      const int64_t next = model.d.ndf * mults[s];
      net_->push_back(maybe_spectral_norm(conv(width, next, /*kernel=*/4, /*stride=*/2, /*padding=*/1), sn));
      if (shape.d_batch_norm) net_->push_back(SyncBatchNorm(/*dims=*/2, next));
      add_activation();
      width = next;
    }
    const int64_t core = shape.image_size == 28 ? 7 : 4;
    register_module("net", net_);
    score_ = register_module(
        "score", nn::Sequential(maybe_spectral_norm(conv(width, 1, core, /*stride=*/1, /*padding=*/0), sn)));
    if (classes_ > 0 && !concat_)
      head_ = register_module("head", ConditionHead(model.d.conditioning, classes_, width, width * core * core, sn));
    dcgan_init(*this);
  }

  DiscriminatorOutput forward(const torch::Tensor& images, const torch::Tensor& labels) override {
    const auto maps = net_->forward(concat_ ? concat_label_maps(images, labels, classes_) : images);
    DiscriminatorOutput out;
    out.score = score_->forward(maps).view({-1});
    out.features = maps.flatten(1);
    if (head_) head_->apply(out, maps.sum({2, 3}), labels);
    return out;
  }

 private:
  void add_activation() {
    net_->push_back(leaky_relu());
    if (dropout_ > 0) net_->push_back(nn::Dropout(dropout_));
  }
  double dropout_;
  int64_t classes_;
  bool concat_;
  nn::Sequential net_, score_{nullptr};
  ConditionHead head_{nullptr};
};

void check_mults(const std::vector<int64_t>& mults, const char* key, int64_t image_size) {
  const auto stages = static_cast<size_t>(upsampling_stages(image_size));
  if (mults.empty() || mults.size() == stages) return;
  throw UsageError(std::string("config key '") + key + "' has " + std::to_string(mults.size()) +
                   " entries; arch dcgan at data.image_size " + std::to_string(image_size) + " has " +
                   std::to_string(stages) + " resolutions below the image, one multiplier each (from the image " +
                   "inwards), e.g. " + Json(default_mults(static_cast<int64_t>(stages), false)).dump());
}

}  // namespace

void check_dcgan(const ModelConfig& model, const NetworkShape& shape) {
  const int64_t s = shape.image_size;
  if (!(s == 28 || (is_power_of_two(s) && s >= 16 && s <= 256)))
    throw UsageError("config key 'data.image_size' = " + std::to_string(s) +
                     " is not supported by arch dcgan; choose 28 or a power of two from 16 to 256");
  check_mults(model.g.mults, "model.g.mults", s);
  check_mults(model.d.mults, "model.d.mults", s);
}

Networks build_dcgan(const ModelConfig& model, const NetworkShape& shape) {
  return {std::make_shared<DcganGenerator>(model, shape), std::make_shared<DcganDiscriminator>(model, shape)};
}

}  // namespace ganpp
