// Loss functions; formulas are in losses.hpp beside each declaration.
#include "ganpp/losses.hpp"

#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"

namespace F = torch::nn::functional;

namespace ganpp {

torch::Tensor loss_bce_d(const torch::Tensor& real_logits, const torch::Tensor& fake_logits, double label_smoothing) {
  const auto real = F::binary_cross_entropy_with_logits(real_logits, torch::full_like(real_logits, 1.0 - label_smoothing));
  const auto fake = F::binary_cross_entropy_with_logits(fake_logits, torch::zeros_like(fake_logits));
  return real + fake;
}

torch::Tensor loss_bce_g(const torch::Tensor& fake_logits) {
  return F::binary_cross_entropy_with_logits(fake_logits, torch::ones_like(fake_logits));
}

torch::Tensor loss_wgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores) {
  return fake_scores.mean() - real_scores.mean();
}

torch::Tensor loss_wgan_g(const torch::Tensor& fake_scores) { return -fake_scores.mean(); }

torch::Tensor gradient_penalty(DiscriminatorBase& d, const torch::Tensor& real, const torch::Tensor& fake,
                               torch::Tensor epsilon) {
  // In fp32 even under bf16 autocast: the squared gradient norms overflow or lose all precision in bf16.
  AutocastGuard fp32(real.device(), /*enabled=*/false);
  if (!epsilon.defined()) epsilon = torch::rand({real.size(0)}, real.options());
  const auto eps = epsilon.view({-1, 1, 1, 1});
  const auto mixed = (eps * real.to(torch::kFloat32) + (1 - eps) * fake.detach().to(torch::kFloat32)).requires_grad_(true);
  const auto grad = torch::autograd::grad({d.forward(mixed).sum()}, {mixed}, /*grad_outputs=*/{},
                                          /*retain_graph=*/true, /*create_graph=*/true)[0];
  return (grad.flatten(1).norm(2, /*dim=*/1) - 1).pow(2).mean();
}

const std::vector<Loss>& losses() {
  static const std::vector<Loss> kLosses = {
      {"bce",
       [](const torch::Tensor& real, const torch::Tensor& fake, const LossConfig& c) {
         return loss_bce_d(real, fake, c.label_smoothing);
       },
       [](const torch::Tensor& fake, const LossConfig&) { return loss_bce_g(fake); },
       /*gradient_penalty=*/false, /*wasserstein=*/false},
      {"wgan-gp",
       [](const torch::Tensor& real, const torch::Tensor& fake, const LossConfig&) { return loss_wgan_d(real, fake); },
       [](const torch::Tensor& fake, const LossConfig&) { return loss_wgan_g(fake); },
       /*gradient_penalty=*/true, /*wasserstein=*/true},
  };
  return kLosses;
}

const Loss& find_loss(const std::string& kind) {
  for (const auto& loss : losses())
    if (loss.name == kind) return loss;
  std::string list;
  for (const auto& loss : losses()) list += (list.empty() ? "" : ", ") + loss.name;
  throw UsageError("config key 'loss.kind' = \"" + kind + "\" is not a registered loss; choose one of: " + list);
}

}  // namespace ganpp
