// Latent walks and seeded latents: slerp/lerp end points and norms, frame counts, determinism; label layouts.
#include <gtest/gtest.h>

#include "ganpp/sample.hpp"

using namespace ganpp;

TEST(SampleTest, SlerpHitsEndPointsAndKeepsNormOnTheSphere) {
  const auto a = torch::tensor({{3.0, 0.0, 0.0}}), b = torch::tensor({{0.0, 3.0, 0.0}});
  EXPECT_TRUE(torch::allclose(slerp(a, b, 0.0), a));
  EXPECT_TRUE(torch::allclose(slerp(a, b, 1.0), b));
  const auto mid = slerp(a, b, 0.5);
  EXPECT_NEAR(mid.norm().item<double>(), 3.0, 1e-6);  // lerp would give 3/sqrt(2)
  EXPECT_NEAR(mid[0][0].item<double>(), 3.0 / std::sqrt(2.0), 1e-6);
  EXPECT_NEAR(lerp(a, b, 0.5).norm().item<double>(), 3.0 / std::sqrt(2.0), 1e-6);
  // Parallel vectors fall back to lerp instead of dividing by sin(0).
  const auto p = slerp(a, 2 * a, 0.5);
  EXPECT_TRUE(torch::allclose(p, 1.5 * a));
}

TEST(SampleTest, WalksHaveTheDocumentedFrameCountAndPassThroughAnchors) {
  EXPECT_EQ(walk_frames(2, 8), 8);
  EXPECT_EQ(walk_frames(3, 4), 7);
  const auto z = walk_latents(/*rows=*/2, /*points=*/3, /*steps=*/4, WalkMode::lerp, /*z_dim=*/5, /*seed=*/7);
  ASSERT_EQ(z.sizes(), (std::vector<int64_t>{14, 5}));
  const auto anchors = random_latents(6, 5, 7).view({2, 3, 5});
  for (int64_t row = 0; row < 2; ++row) {
    EXPECT_TRUE(torch::allclose(z[row * 7 + 0], anchors[row][0]));
    EXPECT_TRUE(torch::allclose(z[row * 7 + 3], anchors[row][1]));
    EXPECT_TRUE(torch::allclose(z[row * 7 + 6], anchors[row][2]));
  }
  // Bad arguments are a caller's mistake (the CLI checks its flags first), not a user's UsageError.
  EXPECT_THROW(walk_latents(1, 1, 4, WalkMode::lerp, 5, 0), c10::Error);
  EXPECT_THROW(class_walk_weights({1}, 3, 4), c10::Error);
}

TEST(SampleTest, ConditionalLabelLayouts) {
  // Classes in turn (evaluations, sample without --class), and one grid row per class (training grids, --per-class).
  EXPECT_TRUE(torch::equal(class_cycle_labels(7, 3), torch::tensor({0, 1, 2, 0, 1, 2, 0}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(class_row_labels(3, 2), torch::tensor({0, 0, 1, 1, 2, 2}, torch::kInt64)));
}

TEST(SampleTest, LatentsDependOnlyOnTheSeed) {
  EXPECT_TRUE(torch::equal(random_latents(4, 3, 1), random_latents(4, 3, 1)));
  EXPECT_FALSE(torch::equal(random_latents(4, 3, 1), random_latents(4, 3, 2)));
  torch::manual_seed(5);  // the global generator plays no part
  const auto a = random_latents(4, 3, 1);
  torch::manual_seed(6);
  EXPECT_TRUE(torch::equal(a, random_latents(4, 3, 1)));
}
