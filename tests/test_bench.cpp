// ganpp bench: the workloads build the networks of the PyTorch reference (scripts/bench_reference.py) layer for
// layer, and one step prints the reference's JSON fields.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>

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

using Shapes = std::vector<std::vector<int64_t>>;

// A network's parameter and buffer shapes in registration order, and its parameter count: what must agree
// between the reference and ganpp whatever the layers are named.
struct Layout {
  Shapes parameters, buffers;
  int64_t count = 0;
};

Layout layout_of(const torch::nn::Module& module) {
  Layout l;
  for (const auto& p : module.named_parameters()) l.parameters.push_back(p.value().sizes().vec());
  for (const auto& b : module.named_buffers()) l.buffers.push_back(b.value().sizes().vec());
  l.count = count_parameters(module);
  return l;
}

// The reference's --layers description of one network: [{"parameters": [[name, shape]...], "buffers": ...}...].
Layout layout_of(const Json& network) {
  Layout l;
  for (const auto& layer : network.at("layers")) {
    for (const auto& p : layer.at("parameters")) l.parameters.push_back(p.at(1).get<std::vector<int64_t>>());
    for (const auto& b : layer.at("buffers")) l.buffers.push_back(b.at(1).get<std::vector<int64_t>>());
  }
  l.count = network.at("params").get<int64_t>();
  return l;
}

// Debian's python3-torch (the same PyTorch as Debian's libtorch-dev), else the python3 on PATH; empty when
// neither imports torch.
std::string python_with_torch() {
  for (const std::string python : {"/usr/bin/python3", "python3"})
    if (std::system((python + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0) return python;
  return "";
}

// stdout of a shell command line; the exit status in `code`.
std::string capture(const std::string& command, int& code) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    code = -1;
    return out;
  }
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}
}  // namespace

TEST(BenchTest, WorkloadsHaveTheReferenceLayers) {
  const std::string python = python_with_torch();
  if (python.empty()) GTEST_SKIP() << "python3 cannot import torch (Debian: apt-get install python3-torch)";
  const TempDir tmp("bench-layers");
  const std::string err = tmp.path + "/stderr.txt";
  int code = 0;
  const std::string out = capture(
      python + " '" + source_path("scripts/bench_reference.py") + "' --layers 2>'" + err + "'", code);
  ASSERT_EQ(code, 0) << "scripts/bench_reference.py --layers failed:\n" << slurp(err);
  const Json reference = Json::parse(out);
  ASSERT_EQ(reference.size(), bench_workloads().size());
  for (const auto& name : bench_workloads()) {
    ASSERT_TRUE(reference.contains(name)) << name;
    // The networks `ganpp bench` trains: its config, through the registry.
    const Networks nets = build_networks(workload(name));
    for (const auto& [which, module] : {std::pair<std::string, const torch::nn::Module*>{"g", nets.g.get()},
                                        std::pair<std::string, const torch::nn::Module*>{"d", nets.d.get()}}) {
      const Layout ours = layout_of(*module), theirs = layout_of(reference.at(name).at(which));
      EXPECT_FALSE(theirs.parameters.empty()) << name << " " << which;
      EXPECT_EQ(ours.parameters, theirs.parameters) << name << " " << which << " parameter shapes";
      EXPECT_EQ(ours.buffers, theirs.buffers) << name << " " << which << " buffer shapes";
      EXPECT_EQ(ours.count, theirs.count) << name << " " << which << " parameter count";
    }
  }
}

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
  for (const auto& [name, d_params] :
       std::vector<std::pair<std::string, int64_t>>{{"dcgan28-bce", 138624}, {"dcgan28-wgangp", 138368}}) {
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
