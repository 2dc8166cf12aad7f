// Label inputs and conditional discriminator heads shared by the architectures (see layers.hpp).
#include "ganpp/errors.hpp"
#include "ganpp/layers.hpp"

namespace nn = torch::nn;

namespace ganpp {

torch::Tensor one_hot(const torch::Tensor& labels, int64_t classes, const torch::TensorOptions& options) {
  return torch::zeros({labels.size(0), classes}, options).scatter_(1, labels.view({-1, 1}), 1.0);
}

void check_labels(const torch::Tensor& labels, int64_t batch, int64_t classes) {
  if (!labels.defined())
    throw RuntimeError("this network is class-conditional (model.conditional = true) and needs class labels");
  if (labels.size(0) != batch || labels.dim() != (labels.is_floating_point() ? 2 : 1) ||
      (labels.dim() == 2 && labels.size(1) != classes))
    throw RuntimeError("class labels must be one index, or one row of " + std::to_string(classes) +
                       " class weights, per sample: got shape " + c10::str(labels.sizes()) + " for " +
                       std::to_string(batch) + " samples");
}

LabelInputImpl::LabelInputImpl(int64_t classes, int64_t embed_dim) : classes_(classes) {
  if (embed_dim > 0) embed_ = register_module("embed", nn::Embedding(classes, embed_dim));
}

torch::Tensor LabelInputImpl::forward(const torch::Tensor& z, const torch::Tensor& labels) {
  check_labels(labels, z.size(0), classes_);
  if (labels.is_floating_point()) {
    // Class weights: the same mixture of one-hot vectors, or of embeddings.
    const auto w = labels.to(z.options());
    return torch::cat({z, embed_ ? torch::matmul(w, embed_->weight.to(z.scalar_type())) : w}, 1);
  }
  const auto y = embed_ ? embed_->forward(labels).to(z.scalar_type()) : one_hot(labels, classes_, z.options());
  return torch::cat({z, y}, 1);
}

torch::Tensor concat_label_maps(const torch::Tensor& images, const torch::Tensor& labels, int64_t classes) {
  check_labels(labels, images.size(0), classes);
  const auto maps = one_hot(labels, classes, images.options())
                        .view({images.size(0), classes, 1, 1})
                        .expand({images.size(0), classes, images.size(2), images.size(3)});
  return torch::cat({images, maps}, 1);
}

ConditionHeadImpl::ConditionHeadImpl(Conditioning conditioning, int64_t classes, int64_t pooled_dim,
                                     int64_t feature_dim, bool spectral_norm) {
  if (conditioning == Conditioning::projection) {
    projection_ = register_module("projection", nn::Embedding(classes, pooled_dim));
    torch::NoGradGuard no_grad;
    projection_->weight.normal_(0.0, 0.02);  // starts near the unconditional score
  } else if (conditioning == Conditioning::ac) {
    classifier_ = register_module("classifier",
                                  nn::Sequential(maybe_spectral_norm(nn::Linear(feature_dim, classes), spectral_norm)));
  }
}

void ConditionHeadImpl::apply(DiscriminatorOutput& out, const torch::Tensor& pooled, const torch::Tensor& labels) {
  if (projection_) {
    check_labels(labels, pooled.size(0), projection_->options.num_embeddings());
    out.score = out.score + (projection_->forward(labels).to(pooled.scalar_type()) * pooled).sum(1);
  }
  if (classifier_) out.class_logits = classifier_->forward(out.features);
}

}  // namespace ganpp
