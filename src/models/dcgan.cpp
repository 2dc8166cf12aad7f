// DCGAN (Radford et al. 2016): transposed-conv generator with batch norm and ReLU, strided-conv
// discriminator with LeakyReLU(0.2), no conv biases, weights from N(0, 0.02). Sizes: 28, or 2^k for 16..256.
// At 64 and 28 the layer lists match shared/bench/pytorch_reference.py exactly.
#include "ganpp/errors.hpp"
#include "ganpp/layers.hpp"
#include "ganpp/models.hpp"

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

nn::ConvTranspose2d deconv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::ConvTranspose2d(nn::ConvTranspose2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

nn::LeakyReLU leaky() { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)); }

// DCGAN initialisation: conv weights N(0, 0.02); batch-norm scale N(1, 0.02), shift 0.
void dcgan_init(nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = m->as<nn::Conv2d>()) c->weight.normal_(0.0, 0.02);
    if (auto* c = m->as<nn::ConvTranspose2d>()) c->weight.normal_(0.0, 0.02);
    if (auto* b = m->as<nn::BatchNorm2d>()) {
      b->weight.normal_(1.0, 0.02);
      b->bias.zero_();
    }
  }
}

class DcganGenerator : public GeneratorBase {
 public:
  DcganGenerator(const ModelConfig& model, const NetworkShape& shape) : GeneratorBase("DcganGenerator"), z_dim_(model.z_dim) {
    const int64_t stages = upsampling_stages(shape.image_size);
    const int64_t ngf = model.g.ngf;
    // The core: 1x1 latent -> 4x4 (7x7 for 28) with the widest layer, then halve channels per stage.
    int64_t width = ngf << (stages - 1);
    if (shape.image_size == 28) width = ngf * 4;
    add_block(add_deconv(model.z_dim, width, shape.image_size == 28 ? 7 : 4, /*stride=*/1, /*padding=*/0), width);
    for (int64_t s = 1; s < stages; ++s) {
      add_block(add_deconv(width, width / 2, /*kernel=*/4, /*stride=*/2, /*padding=*/1), width / 2);
      width /= 2;
    }
    net_->push_back(add_deconv(width, shape.channels, /*kernel=*/4, /*stride=*/2, /*padding=*/1));
    net_->push_back(nn::Tanh());
    register_module("net", net_);
    dcgan_init(*this);
  }
  torch::Tensor forward(const torch::Tensor& z) override {
    torch::Tensor x = z.view({-1, z_dim_, 1, 1});
    size_t deconv_index = 0;
    for (auto& layer : *net_) {
      auto* deconv = layer.ptr()->as<nn::ConvTranspose2d>();
      x = deconv ? conv_transpose2d(*deconv, x, paddings_[deconv_index++]) : layer.forward(x);
    }
    return x;
  }

 private:
  nn::ConvTranspose2d add_deconv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
    paddings_.push_back(padding);
    return deconv(in, out, kernel, stride, padding);
  }
  void add_block(nn::ConvTranspose2d layer, int64_t channels) {
    net_->push_back(layer);
    net_->push_back(nn::BatchNorm2d(channels));
    net_->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
  }
  int64_t z_dim_;
  std::vector<int64_t> paddings_;  ///< padding of each transposed convolution, in order
  nn::Sequential net_;
};

class DcganDiscriminator : public DiscriminatorBase {
 public:
  DcganDiscriminator(const ModelConfig& model, const NetworkShape& shape) : DiscriminatorBase("DcganDiscriminator"), dropout_(model.d.dropout) {
    const int64_t stages = upsampling_stages(shape.image_size);
    int64_t width = model.d.ndf;
    // No normalisation on the first layer (DCGAN paper).
    net_->push_back(conv(shape.channels, width, /*kernel=*/4, /*stride=*/2, /*padding=*/1));
    add_activation();
    for (int64_t s = 1; s < stages; ++s) {
      net_->push_back(conv(width, width * 2, /*kernel=*/4, /*stride=*/2, /*padding=*/1));
      if (shape.d_batch_norm) net_->push_back(nn::BatchNorm2d(width * 2));
      add_activation();
      width *= 2;
    }
    net_->push_back(conv(width, 1, shape.image_size == 28 ? 7 : 4, /*stride=*/1, /*padding=*/0));
    register_module("net", net_);
    dcgan_init(*this);
  }
  torch::Tensor forward(const torch::Tensor& images) override { return net_->forward(images).view({-1}); }

 private:
  void add_activation() {
    net_->push_back(leaky());
    if (dropout_ > 0) net_->push_back(nn::Dropout(dropout_));
  }
  double dropout_;
  nn::Sequential net_;
};

}  // namespace

void check_dcgan(const ModelConfig& model, const NetworkShape& shape) {
  const int64_t s = shape.image_size;
  if (!(s == 28 || (is_power_of_two(s) && s >= 16 && s <= 256)))
    throw UsageError("config key 'data.image_size' = " + std::to_string(s) +
                     " is not supported by arch dcgan; choose 28 or a power of two from 16 to 256");
}

Networks build_dcgan(const ModelConfig& model, const NetworkShape& shape) {
  return {std::make_shared<DcganGenerator>(model, shape), std::make_shared<DcganDiscriminator>(model, shape)};
}

}  // namespace ganpp
