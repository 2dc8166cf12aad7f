// Tests of the differentiable augmentation: resampling against hand-placed pixels, DiffAugment's transforms,
// ADA's identity at p = 0, gradients through it (twice, for R1), and ADA's adjustment of p.
#include <gtest/gtest.h>

#include <sstream>

#include "ganpp/augment.hpp"
#include "ganpp/losses.hpp"

namespace ganpp {
namespace {

torch::Tensor identity(int64_t batch) { return torch::eye(2).expand({batch, 2, 2}); }

// 1 image, 1 channel, 4x4 with pixel (i, j) = 4i + j.
torch::Tensor ramp() { return torch::arange(16, torch::kFloat32).view({1, 1, 4, 4}); }

TEST(AugmentTest, ResampleAtIntegerShiftsMovesPixelsExactly) {
  const auto x = ramp();
  EXPECT_TRUE(torch::equal(resample(x, identity(1), torch::zeros({1, 2}), false), x));
  // Output (i, j) reads input (i, j + 1): the image moves one pixel left, zeros come in on the right.
  const auto left = resample(x, identity(1), torch::tensor({{1.0f, 0.0f}}), /*reflect=*/false);
  const auto expected = torch::tensor({1.f, 2.f, 3.f, 0.f, 5.f, 6.f, 7.f, 0.f, 9.f, 10.f, 11.f, 0.f, 13.f, 14.f, 15.f,
                                       0.f})
                            .view({1, 1, 4, 4});
  EXPECT_TRUE(torch::equal(left, expected)) << left;
  // With reflection the right edge mirrors: column 4 reads column 3 (the reflection about x = 3.5).
  const auto mirrored = resample(x, identity(1), torch::tensor({{1.0f, 0.0f}}), /*reflect=*/true);
  EXPECT_FLOAT_EQ(mirrored[0][0][0][3].item<float>(), 3.0f);
  // Half a pixel down: the mean of two rows.
  const auto half = resample(x, identity(1), torch::tensor({{0.0f, 0.5f}}), /*reflect=*/false);
  EXPECT_FLOAT_EQ(half[0][0][0][0].item<float>(), 2.0f);  // (0 + 4) / 2
  // A horizontal flip about the centre: A = diag(-1, 1).
  const auto flip = resample(x, torch::tensor({{{-1.0f, 0.0f}, {0.0f, 1.0f}}}), torch::zeros({1, 2}), false);
  EXPECT_TRUE(torch::equal(flip, x.flip({3})));
}

TEST(AugmentTest, DiffAugmentTranslationShiftsByWholePixelsWithinTheRatio) {
  torch::manual_seed(1);
  const auto x = torch::ones({64, 1, 8, 8});
  const auto y = diffaugment_translation(x, 0.125);  // at most 1 pixel each way
  // Each image keeps 8x8, 7x8, 8x7 or 7x7 ones: a shift of at most one pixel per axis.
  const auto kept = y.sum({1, 2, 3});
  for (int64_t i = 0; i < 64; ++i) {
    const double k = kept[i].item<double>();
    EXPECT_TRUE(k == 64 || k == 56 || k == 49) << k;
  }
  EXPECT_GT((kept < 64).sum().item<int64_t>(), 0) << "some images must move";
}

TEST(AugmentTest, DiffAugmentCutoutZerosOneSquareOfTheRatio) {
  torch::manual_seed(2);
  const auto y = diffaugment_cutout(torch::ones({32, 3, 8, 8}), 0.5);  // squares of 4x4, clipped at the border
  const auto zeros = (y == 0).sum({2, 3});
  for (int64_t i = 0; i < 32; ++i) {
    EXPECT_EQ(zeros[i][0].item<int64_t>(), zeros[i][2].item<int64_t>()) << "every channel is cut alike";
    EXPECT_GE(zeros[i][0].item<int64_t>(), 4);
    EXPECT_LE(zeros[i][0].item<int64_t>(), 16);
  }
}

TEST(AugmentTest, DiffAugmentColourOfOneChannelIsAnAffineMapPerImage) {
  torch::manual_seed(3);
  const auto x = torch::rand({4, 1, 6, 6}) * 2 - 1;
  const auto y = diffaugment_color(x, 1.0);
  for (int64_t i = 0; i < 4; ++i) {
    const auto dx = x[i] - x[i].mean(), dy = y[i] - y[i].mean();
    const double scale = (dy * dx).sum().item<double>() / (dx * dx).sum().item<double>();
    EXPECT_TRUE(torch::allclose(dy, scale * dx, 1e-4, 1e-5)) << "image " << i;
    EXPECT_GE(scale, 0.5 - 1e-6);  // contrast in [0.5, 1.5)
    EXPECT_LT(scale, 1.5);
  }
}

TEST(AugmentTest, AdaAtZeroProbabilityIsTheIdentityAndChangesImagesAtOne) {
  torch::manual_seed(4);
  for (int64_t channels : {1, 3}) {
    const auto x = torch::rand({8, channels, 8, 8}) * 2 - 1;
    EXPECT_TRUE(torch::allclose(ada_augment(x, torch::zeros({})), x, 1e-5, 1e-6)) << channels << " channels";
    const auto y = ada_augment(x, torch::ones({}));
    EXPECT_EQ(y.sizes(), x.sizes());
    EXPECT_GT((y - x).abs().mean().item<double>(), 0.05) << channels << " channels";
  }
}

// R1 through the augmentation: the penalty's gradient reaches D's parameters (a double backward through
// resampling and colour). For D(x) = Σ w·aug(x) with aug a translation, ∇ₓD is w shifted back, so the
// penalty is ‖w‖² minus the weights shifted out of the image.
TEST(AugmentTest, PenaltiesDifferentiateTwiceThroughAda) {
  torch::manual_seed(5);
  const auto w = torch::randn({1, 3, 8, 8}).requires_grad_(true);
  const auto x = (torch::rand({4, 3, 8, 8}) * 2 - 1).requires_grad_(true);
  const auto scores = (ada_augment(x, torch::ones({})) * w).flatten(1).sum(1);
  const auto penalty = zero_centred_penalty(scores, x);
  penalty.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_GT(w.grad().abs().sum().item<double>(), 0);
  // With no augmentation the penalty of a linear D is exactly ‖w‖².
  const auto plain = zero_centred_penalty((x * w).flatten(1).sum(1), x);
  EXPECT_NEAR(plain.item<double>(), w.pow(2).sum().item<double>(), 1e-4);
}

TEST(AugmentTest, AdaMovesPTowardsTheTargetAndSavesItsState) {
  TrainConfig config;
  config.augment = Augment::ada;
  config.ada_target = 0.6;
  config.ada_interval = 2;
  config.ada_kimg = 1;  // p moves by 1 per 1,000 images
  Augmenter augment(config, torch::kCPU);
  // r_t = mean sign(D(x)) = (3 - 1) / 4 = 0.5 in step 1 and 1 in step 2: 0.75 over the interval, above 0.6.
  augment.observe(torch::tensor({1.0f, 2.0f, 3.0f, -1.0f}));
  augment.adjust(/*step=*/1, /*images_per_step=*/4);
  EXPECT_EQ(augment.p(), 0.0) << "p moves only at the end of an interval";
  augment.observe(torch::tensor({1.0f, 1.0f, 1.0f, 1.0f}));
  augment.adjust(/*step=*/2, /*images_per_step=*/4);
  EXPECT_DOUBLE_EQ(augment.rt(), 0.75);
  EXPECT_NEAR(augment.p(), 8.0 / 1000, 1e-7);  // 2 steps × 4 images
  // Below the target p falls again, never under 0.
  for (int step = 3; step <= 8; ++step) {
    augment.observe(torch::tensor({-1.0f, -1.0f, 1.0f, -1.0f}));
    augment.adjust(step, 4);
  }
  EXPECT_EQ(augment.p(), 0.0);
  EXPECT_DOUBLE_EQ(augment.rt(), -0.5);

  augment.observe(torch::tensor({1.0f, 1.0f}));  // half an interval, carried by the checkpoint
  torch::serialize::OutputArchive out;
  augment.save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  Augmenter restored(config, torch::kCPU);
  torch::serialize::InputArchive in;
  std::istringstream stream(bytes.str());
  in.load_from(stream);
  restored.load(in);
  EXPECT_EQ(restored.p(), augment.p());
  EXPECT_EQ(restored.rt(), augment.rt());
  augment.observe(torch::tensor({1.0f, 1.0f}));
  restored.observe(torch::tensor({1.0f, 1.0f}));
  augment.adjust(10, 4);
  restored.adjust(10, 4);
  EXPECT_EQ(restored.p(), augment.p());
  EXPECT_DOUBLE_EQ(restored.rt(), 1.0);
}

}  // namespace
}  // namespace ganpp
