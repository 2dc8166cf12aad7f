// Loss functions; formulas are in losses.hpp beside each declaration.
#include "ganpp/losses.hpp"

#include "ganpp/batch_shard.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"

namespace F = torch::nn::functional;

namespace ganpp {

torch::Tensor loss_bce_d(const torch::Tensor& real_logits, const torch::Tensor& fake_logits, double label_smoothing) {
  const auto real = F::binary_cross_entropy_with_logits(real_logits,
                                                        torch::full_like(real_logits, 1.0 - label_smoothing));
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

torch::Tensor loss_minimax_g(const torch::Tensor& fake_logits) {
  return -F::binary_cross_entropy_with_logits(fake_logits, torch::zeros_like(fake_logits));
}

torch::Tensor loss_hinge_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores) {
  return torch::relu(1.0 - real_scores).mean() + torch::relu(1.0 + fake_scores).mean();
}

torch::Tensor loss_lsgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores) {
  return 0.5 * (real_scores - 1.0).pow(2).mean() + 0.5 * fake_scores.pow(2).mean();
}

torch::Tensor loss_lsgan_g(const torch::Tensor& fake_scores) { return 0.5 * (fake_scores - 1.0).pow(2).mean(); }

torch::Tensor loss_ebgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores, double margin) {
  return F::softplus(real_scores).mean() + torch::relu(margin - F::softplus(fake_scores)).mean();
}

torch::Tensor loss_ebgan_g(const torch::Tensor& fake_scores) { return F::softplus(fake_scores).mean(); }

torch::Tensor loss_rpgan(const torch::Tensor& winner_scores, const torch::Tensor& loser_scores) {
  return F::softplus(loser_scores - winner_scores).mean();
}

torch::Tensor loss_ragan(const torch::Tensor& winner_scores, const torch::Tensor& loser_scores) {
  return F::softplus(loser_scores.mean() - winner_scores).mean() +
         F::softplus(loser_scores - winner_scores.mean()).mean();
}

torch::Tensor zero_centred_penalty(const torch::Tensor& scores, const torch::Tensor& inputs) {
  const auto grad = torch::autograd::grad({scores.sum()}, {inputs}, /*grad_outputs=*/{},
                                          /*retain_graph=*/true, /*create_graph=*/true)[0];
  return grad.to(torch::kFloat32).flatten(1).pow(2).sum(1).mean();
}

torch::Tensor gradient_penalty_of(const std::function<torch::Tensor(const torch::Tensor&)>& score,
                                  const torch::Tensor& real, const torch::Tensor& fake, torch::Tensor epsilon) {
  // In fp32 even under bf16 autocast: the squared gradient norms overflow or lose all precision in bf16.
  AutocastGuard fp32(real.device(), /*enabled=*/false);
  if (!epsilon.defined()) epsilon = shard_rand({real.size(0)}, real.options());  // this rank's rows of the global draw
  const auto eps = epsilon.view({-1, 1, 1, 1});
  const auto mixed =
      (eps * real.to(torch::kFloat32) + (1 - eps) * fake.detach().to(torch::kFloat32)).requires_grad_(true);
  const auto grad = torch::autograd::grad({score(mixed).sum()}, {mixed}, /*grad_outputs=*/{},
                                          /*retain_graph=*/true, /*create_graph=*/true)[0];
  return (grad.flatten(1).norm(2, /*dim=*/1) - 1).pow(2).mean();
}

torch::Tensor loss_feature_matching(const torch::Tensor& real_features, const torch::Tensor& fake_features) {
  return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum();
}

torch::Tensor loss_ac(const torch::Tensor& class_logits, const torch::Tensor& labels) {
  return F::cross_entropy(class_logits, labels);
}

const std::vector<Loss>& losses() {
  using T = torch::Tensor;
  static const std::vector<Loss> kLosses = [] {
    std::vector<Loss> l(9);
    l[0].name = "bce";
    l[0].critic = [](const T& r, const T& f, const LossConfig& c) { return loss_bce_d(r, f, c.label_smoothing); };
    l[0].generator = [](const T&, const T& f, const LossConfig&) { return loss_bce_g(f); };
    l[0].logits = l[0].signed_output = true;
    l[1].name = "minimax";
    l[1].critic = [](const T& r, const T& f, const LossConfig& c) { return loss_bce_d(r, f, c.label_smoothing); };
    l[1].generator = [](const T&, const T& f, const LossConfig&) { return loss_minimax_g(f); };
    l[1].logits = l[1].signed_output = true;
    l[2].name = "wgan-gp";
    l[2].critic = [](const T& r, const T& f, const LossConfig&) { return loss_wgan_d(r, f); };
    l[2].generator = [](const T&, const T& f, const LossConfig&) { return loss_wgan_g(f); };
    l[2].gradient_penalty = l[2].wasserstein = true;
    l[3].name = "wgan";
    l[3].critic = l[2].critic;
    l[3].generator = l[2].generator;
    l[3].wasserstein = l[3].clip_weights = true;
    l[4].name = "hinge";
    l[4].critic = [](const T& r, const T& f, const LossConfig&) { return loss_hinge_d(r, f); };
    l[4].generator = l[2].generator;
    l[4].signed_output = true;
    l[5].name = "lsgan";
    l[5].critic = [](const T& r, const T& f, const LossConfig&) { return loss_lsgan_d(r, f); };
    l[5].generator = [](const T&, const T& f, const LossConfig&) { return loss_lsgan_g(f); };
    l[6].name = "ebgan";
    l[6].critic = [](const T& r, const T& f, const LossConfig& c) { return loss_ebgan_d(r, f, c.margin); };
    l[6].generator = [](const T&, const T& f, const LossConfig&) { return loss_ebgan_g(f); };
    l[7].name = "rpgan";
    l[7].critic = [](const T& r, const T& f, const LossConfig&) { return loss_rpgan(r, f); };
    l[7].generator = [](const T& r, const T& f, const LossConfig&) { return loss_rpgan(f, r); };
    l[7].relativistic = l[7].signed_output = true;
    l[8].name = "ragan";
    l[8].critic = [](const T& r, const T& f, const LossConfig&) { return loss_ragan(r, f); };
    l[8].generator = [](const T& r, const T& f, const LossConfig&) { return loss_ragan(f, r); };
    l[8].relativistic = l[8].signed_output = true;
    return l;
  }();
  return kLosses;
}

const Loss& find_loss(const std::string& kind) {
  for (const auto& loss : losses())
    if (loss.name == kind) return loss;
  std::string list;
  for (const auto& loss : losses()) list += (list.empty() ? "" : ", ") + loss.name;
  throw UsageError("config key 'loss.kind' = \"" + abbreviate(kind) +
                   "\" is not a registered loss; choose one of: " + list);
}

bool has_gradient_penalty(const Loss& loss, const LossConfig& config) {
  return loss.gradient_penalty || config.r1_gamma > 0 || config.r2_gamma > 0;
}

void check_loss(const Loss& loss, const Config& c) {
  if (c.model.d.norm == DiscriminatorNorm::batch && has_gradient_penalty(loss, c.loss))
    throw UsageError("config key 'model.d.norm' = \"batch\" cannot be used with " +
                     (loss.gradient_penalty ? "loss.kind \"" + loss.name + "\"" : std::string("an R1/R2 penalty")) +
                     ": the gradient penalty is computed per sample, and batch norm mixes samples in a batch; "
                     "use \"auto\" or \"none\"");
  if (c.train.augment == Augment::ada && !loss.signed_output)
    throw UsageError("config key 'train.augment' = \"ada\" cannot be used with loss.kind \"" + loss.name +
                     "\": ADA steers its probability by r_t = E[sign(D(x))], which needs a discriminator whose "
                     "output sign means real or fake (bce, minimax, hinge, rpgan, ragan); use \"diffaugment\"");
  if (c.model.d.spectral_norm && loss.clip_weights)
    throw UsageError("config key 'model.d.spectral_norm' = true cannot be used with loss.kind \"" + loss.name +
                     "\": weight clipping would clamp the unnormalised weights, which spectral normalisation "
                     "rescales anyway, so the critic would have two Lipschitz constraints and clipping none of its "
                     "effect; use loss.kind \"hinge\" or \"wgan-gp\" with spectral norm");
}

}  // namespace ganpp
