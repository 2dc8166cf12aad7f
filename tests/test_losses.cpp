// Tests of the adversarial losses against hand-computed values, the gradient penalty and the loss registry.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/losses.hpp"
#include "ganpp/models.hpp"
#include "helpers.hpp"

namespace ganpp {
namespace {

using test::error_of;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Binary cross-entropy of one logit x against target t.
double bce(double x, double t) { return -(t * std::log(sigmoid(x)) + (1 - t) * std::log(1 - sigmoid(x))); }

double value(const torch::Tensor& t) { return t.item<double>(); }

// A linear critic D(x) = sum(w * x) per image, so that dD/dx = w for every input.
class LinearCritic : public DiscriminatorBase {
 public:
  explicit LinearCritic(torch::Tensor w) : DiscriminatorBase("LinearCritic") { w_ = register_parameter("w", w); }
  DiscriminatorOutput forward(const torch::Tensor& images, const torch::Tensor&) override {
    return {(images * w_).flatten(1).sum(1), {}, {}};
  }
  torch::Tensor w_;
};

class LossesTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(LossesTest, BceDiscriminatorByHand) {
  const torch::Tensor real = torch::tensor({2.0, -1.0}, torch::kFloat64);
  const torch::Tensor fake = torch::tensor({0.5, -3.0}, torch::kFloat64);
  const double expected = (-std::log(sigmoid(2.0)) - std::log(sigmoid(-1.0))) / 2 +
                          (-std::log(1 - sigmoid(0.5)) - std::log(1 - sigmoid(-3.0))) / 2;
  EXPECT_NEAR(value(loss_bce_d(real, fake, 0.0)), expected, 1e-6);
  // The same in float32, as training uses it.
  EXPECT_NEAR(value(loss_bce_d(real.to(torch::kFloat32), fake.to(torch::kFloat32), 0.0)), expected, 1e-6);
}

TEST_F(LossesTest, BceGeneratorByHand) {
  const torch::Tensor fake = torch::tensor({0.5, -3.0}, torch::kFloat64);
  const double expected = (-std::log(sigmoid(0.5)) - std::log(sigmoid(-3.0))) / 2;
  EXPECT_NEAR(value(loss_bce_g(fake)), expected, 1e-6);
  EXPECT_NEAR(value(loss_bce_g(fake.to(torch::kFloat32))), expected, 1e-6);
}

TEST_F(LossesTest, BceLabelSmoothingChangesRealTargetOnly) {
  const torch::Tensor real = torch::tensor({2.0, -1.0}, torch::kFloat64);
  const torch::Tensor fake = torch::tensor({0.5, -3.0}, torch::kFloat64);
  const double t = 0.9;
  const double expected = (bce(2.0, t) + bce(-1.0, t)) / 2 + (bce(0.5, 0.0) + bce(-3.0, 0.0)) / 2;
  const double smoothed = value(loss_bce_d(real, fake, 0.1));
  EXPECT_NEAR(smoothed, expected, 1e-6);
  EXPECT_GT(std::abs(smoothed - value(loss_bce_d(real, fake, 0.0))), 1e-3);
  // Smoothing of the real side does not reach the generator objective.
  EXPECT_NEAR(value(loss_bce_g(fake)), (bce(0.5, 1.0) + bce(-3.0, 1.0)) / 2, 1e-6);
}

TEST_F(LossesTest, BceIsStableForLargeLogits) {
  const torch::Tensor real = torch::tensor({100.0f}), fake = torch::tensor({-100.0f});
  const double d = value(loss_bce_d(real, fake, 0.0));
  EXPECT_TRUE(std::isfinite(d));
  EXPECT_NEAR(d, 0.0, 1e-6);
  EXPECT_NEAR(value(loss_bce_g(fake)), 100.0, 1e-3);  // -log σ(-100) ≈ 100, not inf
}

TEST_F(LossesTest, WassersteinMeans) {
  const torch::Tensor real = torch::tensor({1.0, 3.0, 5.0}, torch::kFloat64);   // mean 3
  const torch::Tensor fake = torch::tensor({-2.0, 0.5, 0.0}, torch::kFloat64);  // mean -0.5
  EXPECT_NEAR(value(loss_wgan_d(real, fake)), -0.5 - 3.0, 1e-12);
  EXPECT_NEAR(value(loss_wgan_g(fake)), 0.5, 1e-12);
}

TEST_F(LossesTest, GradientPenaltyOfLinearCritic) {
  // ‖w‖ = sqrt(1 + 4 + 4 + 16 + 0 + 1 + 4 + 9) = sqrt(39).
  const torch::Tensor w = torch::tensor({1.0, -2.0, 2.0, 4.0, 0.0, 1.0, -2.0, 3.0}, torch::kFloat64).view({2, 2, 2});
  LinearCritic critic(w.clone());
  const torch::Tensor real = torch::randn({3, 2, 2, 2}, torch::kFloat64);
  const torch::Tensor fake = torch::randn({3, 2, 2, 2}, torch::kFloat64);
  const double norm = std::sqrt(39.0);
  const double expected = (norm - 1) * (norm - 1);

  const torch::Tensor gp = gradient_penalty(critic, real, fake);
  EXPECT_NEAR(value(gp), expected, 1e-9);
  // Any interpolation gives the same: the gradient of a linear critic is w everywhere.
  EXPECT_NEAR(value(gradient_penalty(critic, real, fake, torch::tensor({0.0, 0.5, 1.0}, torch::kFloat64))), expected,
              1e-9);
}

TEST_F(LossesTest, GradientPenaltyIsZeroForUnitNormCritic) {
  // ‖w‖ = 1 exactly: (0.6, 0.8).
  LinearCritic critic(torch::tensor({0.6, 0.8}, torch::kFloat64).view({1, 1, 2}));
  const torch::Tensor real = torch::randn({4, 1, 1, 2}, torch::kFloat64);
  const torch::Tensor fake = torch::randn({4, 1, 1, 2}, torch::kFloat64);
  EXPECT_NEAR(value(gradient_penalty(critic, real, fake)), 0.0, 1e-12);
}

TEST_F(LossesTest, GradientPenaltyIsDifferentiableInCriticWeights) {
  const torch::Tensor w0 = torch::tensor({1.0, -2.0, 2.0, 0.5}, torch::kFloat64).view({1, 2, 2});
  LinearCritic critic(w0.clone());
  const torch::Tensor real = torch::randn({2, 1, 2, 2}, torch::kFloat64);
  const torch::Tensor fake = torch::randn({2, 1, 2, 2}, torch::kFloat64).requires_grad_(true);
  const torch::Tensor gp = gradient_penalty(critic, real, fake);
  gp.backward();
  ASSERT_TRUE(critic.w_.grad().defined());
  const double norm = w0.norm().item<double>();
  const torch::Tensor expected = 2 * (norm - 1) * w0 / norm;
  EXPECT_TRUE(torch::allclose(critic.w_.grad(), expected, /*rtol=*/1e-9, /*atol=*/1e-12))
      << critic.w_.grad() << "\nexpected\n"
      << expected;
  // The penalty does not push gradients into the generator's output (fake is detached).
  EXPECT_FALSE(fake.grad().defined() && fake.grad().abs().sum().item<double>() != 0.0);
}

TEST_F(LossesTest, GradientPenaltyFloat32) {
  LinearCritic critic(torch::tensor({3.0f, 4.0f}).view({1, 1, 2}));  // ‖w‖ = 5
  const torch::Tensor real = torch::randn({2, 1, 1, 2}), fake = torch::randn({2, 1, 1, 2});
  EXPECT_NEAR(value(gradient_penalty(critic, real, fake)), 16.0, 1e-5);
}

TEST_F(LossesTest, FindLossUnknownListsNames) {
  try {
    find_loss("nope");
    FAIL() << "expected a UsageError";
  } catch (const UsageError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("\"nope\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("loss.kind"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bce"), std::string::npos) << msg;
    EXPECT_NE(msg.find("wgan-gp"), std::string::npos) << msg;
  }
}

TEST_F(LossesTest, CheckLossRejectsBatchNormUnderGradientPenalty) {
  Config c;
  c.model.d.norm = DiscriminatorNorm::batch;
  const std::string msg = error_of<UsageError>([&] { check_loss(find_loss("wgan-gp"), c); });
  EXPECT_NE(msg.find("model.d.norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"wgan-gp\""), std::string::npos) << msg;
  EXPECT_NE(msg.find("gradient penalty"), std::string::npos) << msg;
  EXPECT_NO_THROW(check_loss(find_loss("bce"), c));
  for (const DiscriminatorNorm norm : {DiscriminatorNorm::automatic, DiscriminatorNorm::none}) {
    c.model.d.norm = norm;
    EXPECT_NO_THROW(check_loss(find_loss("wgan-gp"), c));
  }
}

TEST_F(LossesTest, CheckLossRejectsSpectralNormUnderWeightClipping) {
  Config c;
  c.model.d.spectral_norm = true;
  const std::string msg = error_of<UsageError>([&] { check_loss(find_loss("wgan"), c); });
  EXPECT_NE(msg.find("model.d.spectral_norm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"wgan\""), std::string::npos) << msg;
  for (const char* kind : {"hinge", "wgan-gp", "bce"}) EXPECT_NO_THROW(check_loss(find_loss(kind), c)) << kind;
  c.model.d.spectral_norm = false;
  EXPECT_NO_THROW(check_loss(find_loss("wgan"), c));
}

TEST_F(LossesTest, RegistryEntriesMatchNamedFunctions) {
  const torch::Tensor real = torch::tensor({2.0, -1.0, 0.3}, torch::kFloat64);
  const torch::Tensor fake = torch::tensor({0.5, -3.0, 1.2}, torch::kFloat64);
  LossConfig config;
  config.label_smoothing = 0.2;

  const Loss& bce_loss = find_loss("bce");
  EXPECT_EQ(bce_loss.name, "bce");
  EXPECT_FALSE(bce_loss.gradient_penalty);
  EXPECT_FALSE(bce_loss.wasserstein);
  EXPECT_TRUE(torch::equal(bce_loss.critic(real, fake, config), loss_bce_d(real, fake, 0.2)));
  EXPECT_TRUE(torch::equal(bce_loss.generator({}, fake, config), loss_bce_g(fake)));

  const Loss& wgan = find_loss("wgan-gp");
  EXPECT_EQ(wgan.name, "wgan-gp");
  EXPECT_TRUE(wgan.gradient_penalty);
  EXPECT_TRUE(wgan.wasserstein);
  EXPECT_TRUE(torch::equal(wgan.critic(real, fake, config), loss_wgan_d(real, fake)));
  EXPECT_TRUE(torch::equal(wgan.generator({}, fake, config), loss_wgan_g(fake)));

  std::vector<std::string> names;
  for (const auto& l : losses()) names.push_back(l.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bce", "minimax", "wgan-gp", "wgan", "hinge", "lsgan", "ebgan", "rpgan",
                                             "ragan"}));
}

// R1/R2 for a linear D(x) = Σ w·x: ∇ₓD = w for every image, so E‖∇ₓD‖² = ‖w‖²; for D(x) = Σ x², ∇ₓD = 2x
// and the penalty is the mean of 4‖x‖².
TEST_F(LossesTest, ZeroCentredPenaltyByHand) {
  const auto w = torch::tensor({1.0, -2.0, 0.5, 3.0}, torch::kFloat64).view({1, 1, 2, 2});
  LinearCritic critic(w);
  const auto x = torch::randn({3, 1, 2, 2}, torch::kFloat64).requires_grad_(true);
  EXPECT_NEAR(value(zero_centred_penalty(critic.score(x), x)), 1 + 4 + 0.25 + 9, 1e-12);
  const auto y = torch::tensor({1.0, 2.0, 0.0, 0.0, 0.0, 0.0, -1.0, 1.0}, torch::kFloat64).view({2, 1, 2, 2});
  const auto yg = y.clone().requires_grad_(true);
  const auto quadratic = yg.pow(2).flatten(1).sum(1);
  EXPECT_NEAR(value(zero_centred_penalty(quadratic, yg)), (4 * 5.0 + 4 * 2.0) / 2, 1e-12);
  // The penalty is differentiable in D's parameters: d‖w‖²/dw = 2w.
  const auto penalty = zero_centred_penalty(critic.score(x), x);
  penalty.backward();
  EXPECT_TRUE(torch::allclose(critic.w_.grad(), 2 * w));
}

TEST_F(LossesTest, PenaltiesRefuseBatchNormAndAdaNeedsASignedOutput) {
  Config c;
  c.loss.r1_gamma = 1.0;
  c.model.d.norm = DiscriminatorNorm::batch;
  EXPECT_NE(error_of<UsageError>([&] { validate(c); }).find("R1/R2"), std::string::npos);
  c.model.d.norm = DiscriminatorNorm::automatic;
  EXPECT_FALSE(discriminator_batch_norm(c)) << "auto gives no batch norm under a penalty";
  c.loss.r1_gamma = 0;
  EXPECT_TRUE(discriminator_batch_norm(c));
  c.train.augment = Augment::ada;
  c.loss.kind = "lsgan";
  const std::string message = error_of<UsageError>([&] { validate(c); });
  EXPECT_NE(message.find("sign"), std::string::npos) << message;
  for (const char* kind : {"bce", "minimax", "hinge", "rpgan", "ragan"}) {
    c.loss.kind = kind;
    EXPECT_NO_THROW(validate(c)) << kind;
  }
}

// Hand values for the zoo's losses on D outputs real = [2, -1, 0.3], fake = [0.5, -3, 1.2].
class ZooLossesTest : public ::testing::Test {
 protected:
  const torch::Tensor real = torch::tensor({2.0, -1.0, 0.3}, torch::kFloat64);
  const torch::Tensor fake = torch::tensor({0.5, -3.0, 1.2}, torch::kFloat64);
  static double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
  static double softplus(double x) { return std::log1p(std::exp(x)); }
  static double mean3(double a, double b, double c) { return (a + b + c) / 3.0; }
};

TEST_F(ZooLossesTest, MinimaxGeneratorIsLogOneMinusD) {
  const double expected = mean3(std::log(1 - sigmoid(0.5)), std::log(1 - sigmoid(-3.0)), std::log(1 - sigmoid(1.2)));
  EXPECT_NEAR(loss_minimax_g(fake).item<double>(), expected, 1e-9);
  const Loss& l = find_loss("minimax");
  EXPECT_TRUE(l.logits);
  EXPECT_TRUE(torch::equal(l.critic(real, fake, LossConfig{}), loss_bce_d(real, fake, 0.0)));
}

TEST_F(ZooLossesTest, HingeByHand) {
  // real: max(0, 1-2)=0, max(0, 1+1)=2, max(0, 0.7)=0.7; fake: max(0, 1.5)=1.5, max(0, -2)=0, max(0, 2.2)=2.2
  EXPECT_NEAR(loss_hinge_d(real, fake).item<double>(), mean3(0, 2, 0.7) + mean3(1.5, 0, 2.2), 1e-12);
  EXPECT_NEAR(find_loss("hinge").generator({}, fake, LossConfig{}).item<double>(), -mean3(0.5, -3.0, 1.2), 1e-12);
}

TEST_F(ZooLossesTest, LeastSquaresByHand) {
  const double d = 0.5 * mean3(1.0, 4.0, 0.49) + 0.5 * mean3(0.25, 9.0, 1.44);
  EXPECT_NEAR(loss_lsgan_d(real, fake).item<double>(), d, 1e-12);
  EXPECT_NEAR(loss_lsgan_g(fake).item<double>(), 0.5 * mean3(0.25, 16.0, 0.04), 1e-12);
}

TEST_F(ZooLossesTest, EbganMarginByHand) {
  const double m = 1.0;
  const double d = mean3(softplus(2.0), softplus(-1.0), softplus(0.3)) + mean3(std::max(0.0, m - softplus(0.5)),
                                                                               std::max(0.0, m - softplus(-3.0)),
                                                                               std::max(0.0, m - softplus(1.2)));
  EXPECT_NEAR(loss_ebgan_d(real, fake, m).item<double>(), d, 1e-12);
  EXPECT_NEAR(loss_ebgan_g(fake).item<double>(), mean3(softplus(0.5), softplus(-3.0), softplus(1.2)), 1e-12);
  LossConfig c;
  c.margin = 5.0;  // the registry passes loss.margin through
  EXPECT_NEAR(find_loss("ebgan").critic(real, fake, c).item<double>(), loss_ebgan_d(real, fake, 5.0).item<double>(),
              1e-12);
}

TEST_F(ZooLossesTest, RelativisticPairingByHand) {
  // D: softplus(-(D(x) - D(G(z)))) per pair: (2 - 0.5), (-1 + 3), (0.3 - 1.2); G: the pairs reversed.
  EXPECT_NEAR(loss_rpgan(real, fake).item<double>(), mean3(softplus(-1.5), softplus(-2.0), softplus(0.9)), 1e-12);
  const Loss& l = find_loss("rpgan");
  EXPECT_TRUE(l.relativistic);
  EXPECT_TRUE(l.signed_output);
  EXPECT_NEAR(l.critic(real, fake, LossConfig{}).item<double>(), loss_rpgan(real, fake).item<double>(), 1e-12);
  EXPECT_NEAR(l.generator(real, fake, LossConfig{}).item<double>(), mean3(softplus(1.5), softplus(2.0), softplus(-0.9)),
              1e-12);
}

TEST_F(ZooLossesTest, RelativisticAverageByHand) {
  const double mr = mean3(2.0, -1.0, 0.3), mf = mean3(0.5, -3.0, 1.2);
  const double d = mean3(softplus(-(2.0 - mf)), softplus(-(-1.0 - mf)), softplus(-(0.3 - mf))) +
                   mean3(softplus(0.5 - mr), softplus(-3.0 - mr), softplus(1.2 - mr));
  const double g = mean3(softplus(-(0.5 - mr)), softplus(-(-3.0 - mr)), softplus(-(1.2 - mr))) +
                   mean3(softplus(2.0 - mf), softplus(-1.0 - mf), softplus(0.3 - mf));
  const Loss& l = find_loss("ragan");
  EXPECT_NEAR(l.critic(real, fake, LossConfig{}).item<double>(), d, 1e-12);
  EXPECT_NEAR(l.generator(real, fake, LossConfig{}).item<double>(), g, 1e-12);
}

TEST_F(ZooLossesTest, WganClipsAndHasNoPenalty) {
  const Loss& l = find_loss("wgan");
  EXPECT_TRUE(l.clip_weights);
  EXPECT_TRUE(l.wasserstein);
  EXPECT_FALSE(l.gradient_penalty);
  EXPECT_NEAR(l.critic(real, fake, LossConfig{}).item<double>(), mean3(0.5, -3.0, 1.2) - mean3(2.0, -1.0, 0.3), 1e-12);
}

}  // namespace
}  // namespace ganpp
