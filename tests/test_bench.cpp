// ganpp bench: the workloads build the reference's networks, and one step prints the reference's JSON fields.
#include <gtest/gtest.h>

#include "ganpp/bench.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "helpers.hpp"

using namespace ganpp;
using namespace ganpp::test;

namespace {
Config workload(const std::string& name) {
  BenchOptions options;
  options.workload = name;
  return bench_config(options);
}
}  // namespace

TEST(BenchTest, WorkloadsMatchTheReferenceParameterCounts) {
  const std::map<std::string, std::pair<int64_t, int64_t>> expected = {
      {"dcgan28-bce", {1781504, 138624}},
      {"dcgan28-wgangp", {1781504, 138368}},
      {"dcgan64-bce", {3574656, 2763520}},
      {"dcgan64-wgangp", {3574656, 2761728}},
  };
  ASSERT_EQ(bench_workloads().size(), expected.size());
  for (const auto& name : bench_workloads()) {
    const Config c = workload(name);
    const Networks nets = build_networks(c);
    EXPECT_EQ(count_parameters(*nets.g), expected.at(name).first) << name;
    EXPECT_EQ(count_parameters(*nets.d), expected.at(name).second) << name;
  }
  const Config w = workload("dcgan64-wgangp");
  EXPECT_EQ(w.loss.n_critic, 5);
  EXPECT_EQ(w.train.batch_size, 64);
  EXPECT_DOUBLE_EQ(w.optim.d.lr, 1e-4);
  EXPECT_DOUBLE_EQ(w.optim.g.betas[0], 0.0);
  EXPECT_EQ(workload("dcgan28-bce").train.batch_size, 128);
  EXPECT_THROW(workload("dcgan32-bce"), UsageError);
  BenchOptions bf16;
  bf16.precision = "bf16";
  bf16.cuda_graph = true;
  const Config b = bench_config(bf16);
  EXPECT_EQ(b.train.precision, Precision::bf16);
  EXPECT_TRUE(b.train.cuda_graph);
  EXPECT_EQ(count_parameters(*build_networks(b).g), 1781504);  // same networks, other precision
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
    EXPECT_EQ(j["precision"], "fp32");
    EXPECT_EQ(j["cuda_graph"], false);
  }
  // bf16 autocast runs on the CPU too; a CUDA graph asked for on the CPU runs the step eagerly and says so.
  const auto r = run_ganpp({"bench", "--workload", "dcgan28-bce", "--steps", "1", "--warmup", "0", "--threads", "1",
                            "--precision", "bf16", "--cuda-graph"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(r.out);
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["cuda_graph"], false);
  EXPECT_EQ(j["d_params"], 138624);
  EXPECT_EQ(run_ganpp({"bench", "--workload", "nope"}).code, 2);
}
