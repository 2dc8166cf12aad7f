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

Json record(int64_t step, double d_real, double d_fake) {
  return Json{{"step", step}, {"d_real", d_real}, {"d_fake", d_fake}};
}

TEST(HealthTest, CollapseWarnsWhenDiversityFallsFarBelowItsPeakAndTheRealImages) {
  HealthMonitor m(/*logit_loss=*/true, /*real_diversity=*/0.6);
  // An untrained generator draws near-identical images: low, but no fall and not yet flat.
  EXPECT_TRUE(m.observe(Json{{"step", 5}, {"diversity", 0.05}}).empty());
  EXPECT_TRUE(m.observe(Json{{"step", 10}, {"diversity", 0.5}}).empty());
  EXPECT_TRUE(m.observe(Json{{"step", 15}, {"diversity", 0.19}}).empty());  // 0.19 > 0.3 * 0.6 = 0.18
  EXPECT_TRUE(m.observe(Json{{"step", 20}}).empty());  // records without a grid say nothing about it
  const auto w = m.observe(Json{{"step", 25}, {"diversity", 0.05}});
  ASSERT_EQ(w.size(), 2u);  // a fall, and two low grids in a row (0.19 then 0.05, not growing)
  EXPECT_NE(w[0].find("mode collapse at step 25"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("0.0500"), std::string::npos) << w[0];
  EXPECT_NE(w[0].find("peak 0.5000"), std::string::npos) << w[0];
  EXPECT_NE(w[1].find("not becoming diverse at step 25"), std::string::npos) << w[1];
}

TEST(HealthTest, DiversityThatStaysLowAndFlatWarnsButGrowthDoesNot) {
  HealthMonitor flat(true, /*real_diversity=*/0.8);  // low means below 0.35 * 0.8 = 0.28
  EXPECT_TRUE(flat.observe(Json{{"step", 250}, {"diversity", 0.10}}).empty());
  const auto w = flat.observe(Json{{"step", 500}, {"diversity", 0.12}});  // 0.12 < 1.25 * 0.10
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("15% of the real images' 0.8000 in the last 2 grids"), std::string::npos) << w[0];
  HealthMonitor growing(true, 0.8);
  EXPECT_TRUE(growing.observe(Json{{"step", 250}, {"diversity", 0.10}}).empty());
  EXPECT_TRUE(growing.observe(Json{{"step", 500}, {"diversity", 0.20}}).empty());   // catching up
  EXPECT_TRUE(growing.observe(Json{{"step", 750}, {"diversity", 0.50}}).empty());   // above the level: reset
  EXPECT_TRUE(growing.observe(Json{{"step", 1000}, {"diversity", 0.27}}).empty());  // one low grid only
}

// A discriminator memorising a small set: the grid keeps a fair diversity but loses it grid after grid.
TEST(HealthTest, DiversityThatDrainsAwayWarnsAfterTwoGridsBelowItsPeakAndTheRealImages) {
  HealthMonitor m(true, /*real_diversity=*/0.8);  // the rule: below 0.8 * 0.8 = 0.64 and 90% of the peak
  EXPECT_TRUE(m.observe(Json{{"step", 500}, {"diversity", 0.62}}).empty());   // low, but the peak itself
  EXPECT_TRUE(m.observe(Json{{"step", 1000}, {"diversity", 0.57}}).empty());  // 92% of the peak: not yet
  EXPECT_TRUE(m.observe(Json{{"step", 1500}, {"diversity", 0.55}}).empty());  // one grid below 0.558
  auto w = m.observe(Json{{"step", 2000}, {"diversity", 0.52}});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("losing diversity at step 2000: the fixed-latent grid's diversity 0.5200 is 84% of its peak "
                      "0.6200 and 65% of the real images' 0.8000 in the last 2 grids"),
            std::string::npos)
      << w[0];
  EXPECT_TRUE(m.observe(Json{{"step", 2500}, {"diversity", 0.65}}).empty());  // above 80% of the real: reset
  // A run whose diversity is below the real images' but growing, or wobbling (within 90% of its peak, or one
  // grid below it at a time), says nothing.
  HealthMonitor growing(true, 0.8);
  for (double d : {0.3, 0.4, 0.5, 0.6, 0.62}) EXPECT_TRUE(growing.observe(Json{{"step", 1}, {"diversity", d}}).empty());
  HealthMonitor wobbling(true, 0.8);
  for (double d : {0.62, 0.58, 0.50, 0.60, 0.50})
    EXPECT_TRUE(wobbling.observe(Json{{"step", 1}, {"diversity", d}}).empty());
}

TEST(HealthTest, DiscriminatorWinsAfterThreeWideGapsInARow) {
  HealthMonitor m(true, 0.6);
  for (int i = 1; i <= 2; ++i) EXPECT_TRUE(m.observe(record(i, 0.95, 0.1)).empty()) << i;
  auto w = m.observe(record(3, 0.98, 0.03));
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("discriminator is winning at step 3: D(x) = 0.980, D(G(z)) = 0.030"), std::string::npos) << w[0];
  EXPECT_EQ(m.observe(record(4, 0.99, 0.01)).size(), 1u);  // still winning
  EXPECT_TRUE(m.observe(record(5, 0.8, 0.3)).empty());     // a healthy record resets the count
  for (int i = 6; i <= 7; ++i) EXPECT_TRUE(m.observe(record(i, 0.95, 0.1)).empty()) << i;
  // Losses without probabilities read the overfitting signal r_t where the log has it (hinge, rpgan)...
  HealthMonitor signed_critic(false, 0.6);
  for (int i = 1; i <= 2; ++i) EXPECT_TRUE(signed_critic.observe(Json{{"step", i}, {"sign_real", 1.0}}).empty());
  w = signed_critic.observe(Json{{"step", 3}, {"sign_real", 0.97}});
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("r_t = mean sign(D(x)) = 0.970"), std::string::npos) << w[0];
  // ...and Wasserstein critics have neither: no such warning.
  HealthMonitor critic(false, 0.6);
  for (int i = 1; i <= 10; ++i) EXPECT_TRUE(critic.observe(record(i, 5.0, -5.0)).empty());
}

TEST(HealthTest, ReplayRebuildsTheStateFromTheLog) {
  TempDir dir("health-replay");
  Json first = record(1, 0.99, 0.001);
  first["diversity"] = 0.5;
  std::string log = first.dump() + "\n" + record(2, 0.99, 0.001).dump() + "\n";
  log += "{\"step\": 3, \"d_fa";  // a partial line from a killed run is ignored
  write_bytes(dir.path + "/log.jsonl", log);
  HealthMonitor m(true, 0.6);
  m.replay(read_log(dir.path));
  Json next = record(3, 0.99, 0.001);
  next["diversity"] = 0.1;
  EXPECT_EQ(m.observe(next).size(), 2u);  // the streak reaches 3, and 0.1 fell from the peak 0.5
  HealthMonitor fresh(true, 0.6);
  fresh.replay(read_log(dir.path + "/new-run"));  // a new run has no log yet
  EXPECT_TRUE(fresh.observe(next).empty());
}

// Logs of real runs (tests/fixtures/health/<run>/: log.jsonl and the run's config.json), replayed through the
// monitor as the run had it. The runs that failed at once (the emoji run D won, D overpowered on Fashion-MNIST)
// warn within their first third; the run whose fast discriminator memorised 2,000 images (FD 312, grey shapes)
// fails slowly and warns before its last grid; the healthy ones never warn, among them the same 2,000-image
// run with DiffAugment (FD 46).
TEST(HealthTest, FailingRunsWarnInTimeAndHealthyRunsStaySilent) {
  struct Run {
    std::string name;
    double warn_by;  // the fraction of the run's steps by which it must warn; 0: a healthy run, never
  };
  const std::vector<Run> runs = {{"emoji_bce", 1.0 / 3},          {"fashion_d_overpowered", 1.0 / 3},
                                 {"fashion2000_fast_d", 5.0 / 6}, {"fashion_bce", 0},
                                 {"fashion_wgangp", 0},           {"fashion2000_fast_d_diffaugment", 0}};
  for (const auto& [name, warn_by] : runs) {
    const std::string dir = source_path("tests/fixtures/health/" + name);
    const Json config = Json::parse(slurp(dir + "/config.json"));
    const std::vector<Json> records = read_log(dir);
    ASSERT_GT(records.size(), 5u) << name;
    const std::string kind = config["loss"]["kind"];
    const int64_t steps = config["train"]["steps"];
    double real = 0;
    for (const auto& r : records)
      if (r.contains("diversity_real")) real = r["diversity_real"];
    ASSERT_GT(real, 0) << name;
    HealthMonitor monitor(kind == "bce" || kind == "minimax", real, config["train"]["log_every"],
                          config["train"]["sample_every"]);
    int64_t first_warning = -1;
    for (const auto& r : records)
      if (!monitor.observe(r).empty() && first_warning < 0) first_warning = r["step"];
    if (warn_by > 0) {
      EXPECT_GT(first_warning, 0) << name << " never warned";
      EXPECT_LE(first_warning, std::llround(warn_by * steps)) << name;
    } else {
      EXPECT_EQ(first_warning, -1) << name << " warned at step " << first_warning;
    }
  }
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
