// Health signals: gradient norms, sample diversity, the warning rules and their replay on resume, and
// the health keys a real training loop writes into log.jsonl.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "ganpp/gradients.hpp"
#include "ganpp/health.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/training_run.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

TEST(HealthTest, GradNormIsTheTotalL2NormOfTheGradientsThatExist) {
  torch::nn::Linear a(2, 2), b(3, 1);
  EXPECT_FALSE(grad_norm(*a).defined());
  a->weight.mutable_grad() = torch::full({2, 2}, 1.0);  // 4 ones
  a->bias.mutable_grad() = torch::tensor({2.0, 2.0});
  EXPECT_NEAR(grad_norm(*a).item<double>(), std::sqrt(4.0 + 8.0), 1e-6);
  b->weight.mutable_grad() = torch::tensor({{3.0, 0.0, 4.0}});  // bias has no gradient: skipped
  EXPECT_NEAR(grad_norm(*b).item<double>(), 5.0, 1e-6);
}

TEST(HealthTest, DiversityIsTheMeanPairwiseRmsDistance) {
  const auto images = torch::stack({torch::full({1, 2, 2}, -1.0), torch::full({1, 2, 2}, 1.0),
                                    torch::zeros({1, 2, 2})});
  // Pairs: |-1 - 1| = 2, |-1 - 0| = 1, |1 - 0| = 1 per pixel.
  EXPECT_NEAR(mean_pairwise_distance(images).item<double>(), 4.0 / 3.0, 1e-5);
  EXPECT_NEAR(mean_pairwise_distance(torch::ones({5, 3, 4, 4})).item<double>(), 0.0, 1e-3);
  EXPECT_EQ(mean_pairwise_distance(torch::ones({1, 1, 4, 4})).item<double>(), 0.0);
  // Real images come as uint8: 0 and 255 are -1 and 1.
  const auto real = torch::stack({torch::zeros({1, 3, 3}), torch::full({1, 3, 3}, 255.0)}).to(torch::kUInt8);
  EXPECT_NEAR(real_image_diversity(real, 64), 2.0, 1e-5);
  EXPECT_NEAR(real_image_diversity(real, 1), 0.0, 1e-6);  // only the first image
}

Json record(int64_t step, double d_fake) { return Json{{"step", step}, {"d_fake", d_fake}}; }

TEST(HealthTest, CollapseWarnsWhenDiversityFallsFarBelowItsPeakAndTheRealImages) {
  HealthMonitor m(/*logit_loss=*/true, /*real_diversity=*/0.6);
  // An untrained generator draws near-identical images: low, but no fall yet.
  EXPECT_TRUE(m.observe(Json{{"step", 5}, {"diversity", 0.05}}).empty());
  EXPECT_TRUE(m.observe(Json{{"step", 10}, {"diversity", 0.5}}).empty());
  EXPECT_TRUE(m.observe(Json{{"step", 15}, {"diversity", 0.19}}).empty());  // 0.19 > 0.3 * 0.6 = 0.18
  EXPECT_TRUE(m.observe(Json{{"step", 20}}).empty());  // records without a grid say nothing about it
  const auto w = m.observe(Json{{"step", 25}, {"diversity", 0.05}});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("mode collapse at step 25"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("0.0500"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("peak 0.5000"), std::string::npos) << w[0];
  // Below 30% of the real images but above half the peak: not (yet) a collapse.
  HealthMonitor gentle(true, 0.6);
  gentle.observe(Json{{"step", 5}, {"diversity", 0.2}});
  EXPECT_TRUE(gentle.observe(Json{{"step", 10}, {"diversity", 0.15}}).empty());
}

TEST(HealthTest, DiscriminatorWinsAfterFiveTinyDfakesInARow) {
  HealthMonitor m(true, 0.6);
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(m.observe(record(i, 0.001)).empty()) << i;
  auto w = m.observe(record(5, 0.001));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("discriminator is winning outright at step 5"), std::string::npos) << w[0];
  EXPECT_EQ(m.observe(record(6, 0.001)).size(), 1u);  // still winning
  EXPECT_TRUE(m.observe(record(7, 0.3)).empty());     // a healthy record resets the count
  for (int i = 8; i <= 11; ++i) EXPECT_TRUE(m.observe(record(i, 0.001)).empty()) << i;
  // Wasserstein-type losses have no probabilities: no such warning.
  HealthMonitor critic(false, 0.6);
  for (int i = 1; i <= 10; ++i) EXPECT_TRUE(critic.observe(record(i, 0.0)).empty());
}

TEST(HealthTest, ReplayRebuildsTheStateFromTheLog) {
  TempDir dir("health-replay");
  std::string log = Json{{"step", 1}, {"d_fake", 0.001}, {"diversity", 0.5}}.dump() + "\n";
  for (int i = 2; i <= 4; ++i) log += record(i, 0.001).dump() + "\n";
  log += "{\"step\": 5, \"d_fa";  // a partial line from a killed run is ignored
  write_bytes(dir.path + "/log.jsonl", log);
  HealthMonitor m(true, 0.6);
  m.replay(read_log(dir.path));
  Json next = record(5, 0.001);
  next["diversity"] = 0.1;
  EXPECT_EQ(m.observe(next).size(), 2u);  // the streak reaches 5, and 0.1 fell from the peak 0.5
  HealthMonitor fresh(true, 0.6);
  fresh.replay(read_log(dir.path + "/new-run"));  // a new run has no log yet
  EXPECT_TRUE(fresh.observe(next).empty());
}

TEST(HealthTest, TrainingLogsFiniteHealthSignalsAndWritesTheReport) {
  TempDir root("health-run");
  write_idx_dataset(root.path + "/data", 16, 16, 4);
  Config c = tiny_config();
  c.data.path = root.path + "/data";
  c.train.steps = 6;
  c.train.log_every = 2;
  c.train.sample_every = 3;
  c.train.checkpoint_every = 6;
  const Dataset data = load_dataset(c.data);
  const std::string run = root.path + "/run";
  TrainingRun::start(c, run, RunOptions())->run();

  std::istringstream in(slurp(log_path(run)));
  std::vector<int64_t> steps;
  for (std::string line; std::getline(in, line);) {
    const Json r = Json::parse(line);
    const int64_t step = r["step"].get<int64_t>();
    steps.push_back(step);
    for (const char* key : {"grad_norm_d", "grad_norm_g", "d_real", "d_fake"}) {
      ASSERT_TRUE(r.contains(key) && r[key].is_number()) << key << " at step " << step;
      EXPECT_TRUE(std::isfinite(r[key].get<double>())) << key;
    }
    EXPECT_GT(r["grad_norm_d"].get<double>(), 0.0);
    EXPECT_GT(r["grad_norm_g"].get<double>(), 0.0);
    const bool grid = step % 3 == 0;  // grid steps carry the diversity of their grid
    EXPECT_EQ(r.contains("diversity"), grid) << step;
    if (grid) {
      EXPECT_GT(r["diversity"].get<double>(), 0.0);
      EXPECT_NEAR(r["diversity_real"].get<double>(), real_image_diversity(data.images, 4), 1e-9);
    }
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{2, 3, 4, 6}));  // log steps and grid steps, once each
  EXPECT_TRUE(fs::exists(run + "/report.html"));
}

}  // namespace
