// ganpp bench: the workloads build the reference's networks, and one step prints the reference's JSON fields.
#include <gtest/gtest.h>

#include "ganpp/bench.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "helpers.hpp"

using namespace ganpp;
using namespace ganpp::test;

TEST(BenchTest, WorkloadsMatchTheReferenceParameterCounts) {
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {
      {"dcgan28-bce", {1781504, 138624}},
      {"dcgan28-wgangp", {1781504, 138368}},
      {"dcgan64-bce", {3574656, 2763520}},
      {"dcgan64-wgangp", {3574656, 2761728}},
  };
  ASSERT_EQ(bench_workloads().size(), expected.size());
  for (const auto& name : bench_workloads()) {
    const Config c = bench_config(name);
    const Networks nets = build_networks(c);
    EXPECT_EQ(count_parameters(*nets.g), expected.at(name).first) << name;
    EXPECT_EQ(count_parameters(*nets.d), expected.at(name).second) << name;
  }
  const Config w = bench_config("dcgan64-wgangp");
  EXPECT_EQ(w.loss.n_critic, 5);
  EXPECT_EQ(w.train.batch_size, 64);
  EXPECT_DOUBLE_EQ(w.optim.d.lr, 1e-4);
  EXPECT_DOUBLE_EQ(w.optim.g.betas[0], 0.0);
  EXPECT_EQ(bench_config("dcgan28-bce").train.batch_size, 128);
  EXPECT_THROW(bench_config("dcgan32-bce"), UsageError);
}

TEST(BenchTest, OneStepPrintsValidJsonWithTheReferenceFields) {
  for (const auto& [name, d_params] : std::vector<std::pair<std::string, int64_t>>{{"dcgan28-bce", 138624},
                                                                                   {"dcgan28-wgangp", 138368}}) {
    const auto r = run_ganpp({"bench", "--workload", name, "--steps", "1", "--warmup", "0", "--threads", "1"});
    ASSERT_EQ(r.code, 0) << r.err;
    const Json j = Json::parse(r.out);
    EXPECT_EQ(j["workload"], name);
    EXPECT_EQ(j["steps"], 1);
    EXPECT_EQ(j["threads"], 1);
    EXPECT_EQ(j["device"], "cpu");
    EXPECT_EQ(j["g_params"], 1781504);
    EXPECT_EQ(j["d_params"], d_params);
    EXPECT_GT(j["images_per_s"].get<double>(), 0.0);
    EXPECT_GT(j["seconds"].get<double>(), 0.0);
    EXPECT_GT(j["peak_rss_mb"].get<double>(), 10.0);
    EXPECT_TRUE(j["torch"].is_string());
  }
  EXPECT_EQ(run_ganpp({"bench", "--workload", "nope"}).code, 2);
}
