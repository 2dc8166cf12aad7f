// Adversarial losses as small named functions over discriminator outputs, and the loss registry.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/config.hpp"

namespace ganpp {

// Non-saturating GAN (Goodfellow et al. 2014), from logits:
//   L_D = -log σ(D(x))·t - log(1 - σ(D(G(z)))), t = 1 - smoothing (one-sided label smoothing, Salimans et al. 2016)
//   L_G = -log σ(D(G(z)))
torch::Tensor loss_bce_d(const torch::Tensor& real_logits, const torch::Tensor& fake_logits, double label_smoothing);
torch::Tensor loss_bce_g(const torch::Tensor& fake_logits);

// Wasserstein critic (Arjovsky et al. 2017): L_D = E[D(G(z))] - E[D(x)], L_G = -E[D(G(z))].
torch::Tensor loss_wgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores);
torch::Tensor loss_wgan_g(const torch::Tensor& fake_scores);

// Original minimax GAN (Goodfellow et al. 2014), saturating generator: L_D as bce (no smoothing),
//   L_G = log(1 - σ(D(G(z)))), i.e. the generator minimises the discriminator's log-probability of being right.
torch::Tensor loss_minimax_g(const torch::Tensor& fake_logits);

// Hinge loss (Lim & Ye 2017; Miyato et al. 2018, SN-GAN):
//   L_D = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))], L_G = -E[D(G(z))]
torch::Tensor loss_hinge_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores);

// Least squares (Mao et al. 2017, targets a=0, b=c=1):
//   L_D = ½E[(D(x) - 1)²] + ½E[D(G(z))²], L_G = ½E[(D(G(z)) - 1)²]
torch::Tensor loss_lsgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores);
torch::Tensor loss_lsgan_g(const torch::Tensor& fake_scores);

// Energy-based margin loss (Zhao et al. 2017) with the energy C(x) = softplus(D(x)) >= 0:
//   L_D = E[C(x)] + E[max(0, m - C(G(z)))], L_G = E[C(G(z))], m = loss.margin
torch::Tensor loss_ebgan_d(const torch::Tensor& real_scores, const torch::Tensor& fake_scores, double margin);
torch::Tensor loss_ebgan_g(const torch::Tensor& fake_scores);

// Relativistic pairing GAN (RpGAN; Jolicoeur-Martineau 2019, the loss of R3GAN, Huang et al. 2024), each real
// paired with the fake of the same batch position:
//   L_D = E[softplus(−(D(x) − D(G(z))))],  L_G = E[softplus(−(D(G(z)) − D(x)))]
torch::Tensor loss_rpgan(const torch::Tensor& winner_scores, const torch::Tensor& loser_scores);

// Relativistic average GAN (RaSGAN; Jolicoeur-Martineau 2018): each side against the other side's mean,
//   L_D = E_x[softplus(−(D(x) − E D(G(z))))] + E_z[softplus(D(G(z)) − E D(x))]
//   L_G = E_z[softplus(−(D(G(z)) − E D(x)))] + E_x[softplus(D(x) − E D(G(z)))]
// i.e. L_G is L_D with real and fake swapped.
torch::Tensor loss_ragan(const torch::Tensor& winner_scores, const torch::Tensor& loser_scores);

// Zero-centred gradient penalty (Mescheder et al. 2018): E[‖∇ₓ D(x)‖²], R1 on real images, R2 on generated
// ones; the loss adds γ/2 times it. `scores` [B] must have been computed from `inputs`, which require
// gradients; the result is differentiable in D's parameters (double backward). Taken in whatever precision
// `scores` were computed in.
torch::Tensor zero_centred_penalty(const torch::Tensor& scores, const torch::Tensor& inputs);

// Gradient penalty (Gulrajani et al. 2017): E[(‖∇D(x̂)‖₂ - 1)²], x̂ = εx + (1-ε)G(z), ε ~ U[0,1] per sample.
// Differentiable in D's parameters (double backward). `epsilon` is [B] or undefined (drawn here). `score`
// maps images [B, C, H, W] to scores [B].
torch::Tensor gradient_penalty_of(const std::function<torch::Tensor(const torch::Tensor&)>& score,
                                  const torch::Tensor& real, const torch::Tensor& fake, torch::Tensor epsilon = {});

/// The gradient penalty of a discriminator `d` (anything with `score(images, labels)`, e.g. DiscriminatorBase,
/// which lives above this module). A conditional critic scores x̂ with `labels`, which the fakes were generated
/// for (the real batch's own).
template <class Discriminator>
torch::Tensor gradient_penalty(Discriminator& d, const torch::Tensor& real, const torch::Tensor& fake,
                               torch::Tensor epsilon = {}, const torch::Tensor& labels = {}) {
  return gradient_penalty_of([&d, &labels](const torch::Tensor& x) { return d.score(x, labels); }, real, fake,
                             std::move(epsilon));
}

// Feature matching (Salimans et al. 2016): ‖E[f(x)] - E[f(G(z))]‖₂², f = the discriminator's last hidden
// features, means over the batch. Added to the generator loss with weight loss.feature_matching.
torch::Tensor loss_feature_matching(const torch::Tensor& real_features, const torch::Tensor& fake_features);

// AC-GAN class term (Odena et al. 2017): cross-entropy -E[log softmax(c(x))_y] of the auxiliary classifier's
// logits against the labels. The critic adds it for real and fake batches, the generator for its fakes.
torch::Tensor loss_ac(const torch::Tensor& class_logits, const torch::Tensor& labels);

/// One registered `loss.kind`: the critic and generator objectives over raw discriminator outputs, and the
/// properties the rest of the program reads instead of the name.
struct Loss {
  std::string name;
  std::function<torch::Tensor(const torch::Tensor& real, const torch::Tensor& fake, const LossConfig&)> critic;
  /// `real` is defined only for relativistic losses (D's scores of real images, constants for G).
  std::function<torch::Tensor(const torch::Tensor& real, const torch::Tensor& fake, const LossConfig&)> generator;
  bool gradient_penalty = false;  ///< add loss.gp_lambda * gradient_penalty to the critic loss; as the penalty is
                                  ///< per sample, the critic must not use batch norm (it mixes samples)
  bool logits = false;            ///< outputs are logits: D(x), D(G(z)) are logged as probabilities
  bool wasserstein = false;       ///< outputs are critic values whose mean gap estimates the Wasserstein distance
  bool clip_weights = false;      ///< clamp the critic's weights to ±loss.clip after each step (WGAN)
  bool relativistic = false;      ///< the generator's loss also needs D's scores of real images
  bool signed_output = false;     ///< the sign of D's output says real (> 0) or fake: ADA's r_t = E[sign(D(x))]
};

const std::vector<Loss>& losses();

/// Whether `config` asks for a per-sample gradient penalty: the loss's own (WGAN-GP), R1 or R2.
bool has_gradient_penalty(const Loss& loss, const LossConfig& config);

/// The loss registered as `kind`; throws UsageError listing the registered names otherwise.
const Loss& find_loss(const std::string& kind);

/// Throws UsageError when `config` breaks a rule of `loss`: batch norm (model.d.norm "batch") under a
/// gradient penalty (WGAN-GP, R1, R2), spectral norm under weight clipping, ADA without a signed output.
/// Part of validate() (models.hpp).
void check_loss(const Loss& loss, const Config& config);

}  // namespace ganpp
