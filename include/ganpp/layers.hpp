// Building blocks shared by the architectures: spectrally normalised layers, label inputs and heads of
// conditional networks, and a faster CPU transposed convolution.
#pragma once

#include <torch/torch.h>

#include "ganpp/models.hpp"
#include "ganpp/spectral_norm.hpp"

namespace ganpp {

/// Transposed convolution of `layer` applied to `x`; `padding` must be the layer's own (square) padding,
/// which LibTorch keeps in a variant that 1.13 and 2.x spell differently. On the CPU
/// with fp32 and a wide output it is computed as the input gradient of the matching convolution:
/// LibTorch 1.13 runs CPU transposed convolutions through im2col + GEMM but convolution backward
/// through oneDNN, 2.5-6x faster for DCGAN's layers. Same math, different summation order.
/// Elsewhere it is the layer's own forward.
torch::Tensor conv_transpose2d(torch::nn::ConvTranspose2dImpl& layer, const torch::Tensor& x, int64_t padding);

/// Stores every 4-D parameter and buffer of `module` in channels-last (NHWC) layout, which GPU
/// tensor-core convolutions prefer. Values are unchanged. (On the CPU it measured no gain.)
void to_channels_last(torch::nn::Module& module);

/// `layer` as an element of a Sequential, wrapped in SpectralNorm when `spectral_norm` (`out_dim`: see SpectralNorm).
template <class Holder>
torch::nn::AnyModule maybe_spectral_norm(Holder layer, bool spectral_norm, int64_t out_dim = 0) {
  if (spectral_norm) return torch::nn::AnyModule(SpectralNorm(layer, out_dim));
  return torch::nn::AnyModule(layer);
}

/// LeakyReLU with DCGAN's slope 0.2 (in place), the hidden activation of every discriminator and the mlp generator.
torch::nn::LeakyReLU leaky_relu();

/// One-hot label vectors [B, classes] of int64 labels [B], in `options`' dtype and device.
torch::Tensor one_hot(const torch::Tensor& labels, int64_t classes, const torch::TensorOptions& options);

/// The label part of a conditional generator's input: one-hot (embed_dim 0) or a learned embedding
/// (parameter "embed.weight"), concatenated to z. Labels are int64 [B], or float class weights [B, classes]
/// (rows of a mixture, e.g. between two classes), which weight the one-hot vectors or the embeddings.
class LabelInputImpl : public torch::nn::Module {
 public:
  LabelInputImpl(int64_t classes, int64_t embed_dim);
  /// [z | label vector], [B, z_dim + size()].
  torch::Tensor forward(const torch::Tensor& z, const torch::Tensor& labels);
  int64_t size() const { return embed_ ? embed_->options.embedding_dim() : classes_; }

 private:
  int64_t classes_;
  torch::nn::Embedding embed_{nullptr};
};
TORCH_MODULE(LabelInput);

/// Appends one-hot label maps to images as extra channels (conditioning "concat"): [B, C + classes, H, W].
torch::Tensor concat_label_maps(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes);

/// The conditional head of a discriminator for "projection" (Miyato & Koyama 2018: the score gains
/// <embed(y), pooled features>, parameter "projection.weight") or "ac" (AC-GAN: class logits from a
/// linear layer on the features, "classifier"). Nothing for "concat", whose labels enter at the input.
class ConditionHeadImpl : public torch::nn::Module {
 public:
  ConditionHeadImpl(Conditioning conditioning, int64_t classes, int64_t pooled_dim, int64_t feature_dim,
                    bool spectral_norm);
  /// Completes `out` (score and features set) from the pooled features [B, pooled_dim] and the labels.
  void apply(DiscriminatorOutput& out, const torch::Tensor& pooled, const torch::Tensor& labels);

 private:
  torch::nn::Embedding projection_{nullptr};
  torch::nn::Sequential classifier_{nullptr};
};
TORCH_MODULE(ConditionHead);

/// Throws RuntimeError when a conditional network is called without labels of the right shape: a program
/// error or bad input found while running, not a config error.
void check_labels(const torch::Tensor& labels, int64_t batch, int64_t classes);

}  // namespace ganpp
