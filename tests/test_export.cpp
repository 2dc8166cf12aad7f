// `ganpp inspect`, `ganpp export`, `ganpp sample --tensors` and scripts/load_generator.py through the real
// binary: the Python rebuild of each architecture draws ganpp's images (skipped without Python's torch).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "ganpp/checkpoint.hpp"
#include "ganpp/config.hpp"
#include "ganpp/models.hpp"
#include "ganpp/sample.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp::test;

namespace {

// Debian's python3-torch; `python3` on PATH may be another interpreter without torch.
constexpr const char* kPython = "/usr/bin/python3";

// Max abs difference between the loader's images (argv[1]) and `ganpp sample --tensors` (argv[2]).
constexpr const char* kCompareImages = R"(
import sys, torch
a = torch.load(sys.argv[1])
b = torch.load(sys.argv[2])["images"]
assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
print(float((a - b).abs().max()))
)";

// The export's header fields and sorted state-dict names; where torch has add_safe_globals (>= 2.4), also
// read with weights_only=True (the default from 2.6 on) once LibTorch's type tag is allow-listed.
constexpr const char* kDescribeExport = R"(
import sys, torch
d = torch.load(sys.argv[1])
assert isinstance(d, dict), type(d)
if hasattr(torch.serialization, "add_safe_globals"):
    from torch.jit import _pickle
    torch.serialization.add_safe_globals([_pickle.restore_type_tag])
    torch.load(sys.argv[1], weights_only=True)
print(d["format"], d["format_version"], d["step"], d["ema"], ",".join(d["classes"]), *sorted(d["state_dict"]))
)";

/// Runs a command line (arguments shell-quoted here) with stdout and stderr together.
CommandResult run_shell(const std::vector<std::string>& args) {
  std::string cmd;
  for (const auto& a : args) {
    std::string quoted = "'";
    for (char c : a) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += quoted + "' ";
  }
  cmd += "2>&1";
  CommandResult r;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) return r;
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.out.append(buffer, n);
  const int status = ::pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

bool python_has_torch() {
  static const bool has = std::system((std::string(kPython) + " -c 'import torch' >/dev/null 2>&1").c_str()) == 0;
  return has;
}

// Tiny trained runs (3 steps) of each architecture, shared by the tests.
class ExportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = temp_dir("export");
    write_idx_dataset(root_ + "/data16", 32, 16, 4);
    write_idx_dataset(root_ + "/data32", 16, 32, 4);
    dcgan_ = train("dcgan16", {"data.path=" + root_ + "/data16", "data.image_size=16"});
    mlp_ = train("mlp16", {"data.path=" + root_ + "/data16", "data.image_size=16", "model.arch=mlp",
                           "model.g.hidden=[16,24]", "model.d.hidden=[16]"});
    dcgan32_ = train("dcgan32", {"data.path=" + root_ + "/data32", "data.image_size=32"});
    ema_ = train("ema16", {"data.path=" + root_ + "/data16", "data.image_size=16", "train.ema=0.9"});
    zoo_dcgan_ = train("zoo-dcgan16",
                       {"data.path=" + root_ + "/data16", "data.image_size=16", "model.conditional=true",
                        "model.g.embed_dim=3", "model.g.spectral_norm=true", "model.d.spectral_norm=true",
                        "model.g.upsample=nearest", "model.g.output=sigmoid", "loss.kind=hinge"});
    zoo_bilinear_ = train("zoo-bilinear16", {"data.path=" + root_ + "/data16", "data.image_size=16",
                                             "model.g.upsample=bilinear", "model.g.mults=[2,3]"});
    zoo_mlp_ = train("zoo-mlp16", {"data.path=" + root_ + "/data16", "data.image_size=16", "model.arch=mlp",
                                   "model.g.hidden=[16]", "model.d.hidden=[16]", "model.conditional=true",
                                   "model.d.conditioning=ac", "model.g.spectral_norm=true"});
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::string train(const std::string& name, const std::vector<std::string>& sets) {
    const std::string run = root_ + "/" + name;
    std::vector<std::string> args = {"train", "--out", run, "--threads", "1"};
    // Without the default moving average unless a run asks for one (ema16).
    for (const std::string s : {"model.z_dim=8", "model.g.ngf=4", "model.d.ndf=4", "train.steps=3",
                                "train.batch_size=8", "train.sample_count=4", "train.sample_nrow=2", "train.ema=0"})
      args.insert(args.end(), {"--set", s});
    for (const auto& s : sets) args.insert(args.end(), {"--set", s});
    const auto r = run_ganpp(args);
    EXPECT_EQ(r.code, 0) << r.err;
    return run;
  }

  static ganpp::Json inspect_json(const std::string& path) {
    const auto r = run_ganpp({"inspect", path, "--json"});
    EXPECT_EQ(r.code, 0) << r.err;
    return ganpp::Json::parse(r.out);
  }

  // Exports `run`, samples it with --tensors, redraws the same latents in Python and compares.
  static void expect_python_loader_matches_sample(const std::string& run) {
    const std::string dir = temp_dir("export-py");
    const std::string exported = dir + "/generator.pt", tensors = dir + "/sample.pt", images = dir + "/images.pt";
    auto r = run_ganpp({"export", "--checkpoint", run, "--out", exported});
    ASSERT_EQ(r.code, 0) << r.err;
    r = run_ganpp({"sample", "--checkpoint", run, "--n", "10", "--seed", "3", "--grid", dir + "/grid.png", "--tensors",
                   tensors, "--threads", "1"});
    ASSERT_EQ(r.code, 0) << r.err;
    const auto loader = run_shell({kPython, source_path("scripts/load_generator.py"), exported, "--latents", tensors,
                                   "--out", images});
    ASSERT_EQ(loader.code, 0) << loader.out;
    const auto diff = run_shell({kPython, "-c", kCompareImages, images, tensors});
    ASSERT_EQ(diff.code, 0) << diff.out;
    EXPECT_LE(std::stod(diff.out), 1e-5) << run;
    fs::remove_all(dir);
  }

  static std::string root_, dcgan_, mlp_, dcgan32_, ema_, zoo_dcgan_, zoo_bilinear_, zoo_mlp_;
};
std::string ExportTest::root_, ExportTest::dcgan_, ExportTest::mlp_, ExportTest::dcgan32_, ExportTest::ema_,
    ExportTest::zoo_dcgan_, ExportTest::zoo_bilinear_, ExportTest::zoo_mlp_;

int64_t generator_parameters(const ganpp::Json& config) {
  return ganpp::count_parameters(*ganpp::build_networks(ganpp::config_from_json(config)).g);
}

TEST_F(ExportTest, InspectShowsStepArchitectureAndParameterCounts) {
  const auto r = run_ganpp({"inspect", dcgan_});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto info = inspect_json(dcgan_);
  const std::vector<std::string> parts = {"step            3",
                                          "dcgan, 16x16x1, z_dim 8, loss bce",
                                          "generator " + info["g_params"].dump(),
                                          "discriminator " + info["d_params"].dump(),
                                          "EMA weights     no",
                                          "classes         4: 0, 1, 2, 3",
                                          "\"ngf\": 4",
                                          "latest.ckpt"};
  for (const auto& part : parts) EXPECT_TRUE(contains(r.out, part)) << "output lacks '" << part << "':\n" << r.out;
}

TEST_F(ExportTest, InspectJsonDescribesTheCheckpoint) {
  const auto info = inspect_json(mlp_ + "/checkpoints/step_000003.ckpt");
  EXPECT_EQ(info["format_version"], ganpp::kCheckpointFormat);
  EXPECT_TRUE(contains(info["libtorch_version"].get<std::string>(), "."));
  EXPECT_EQ(info["step"], 3);
  EXPECT_EQ(info["epoch"], 0);
  EXPECT_EQ(info["batch"], 3);  // 32 images in batches of 8: the 4th batch is next
  EXPECT_EQ(info["arch"], "mlp");
  EXPECT_EQ(info["image_size"], 16);
  EXPECT_EQ(info["channels"], 1);
  EXPECT_EQ(info["z_dim"], 8);
  EXPECT_EQ(info["loss"], "bce");
  EXPECT_EQ(info["g_params"], generator_parameters(info["config"]));
  EXPECT_EQ(info["g_params"], (8 * 16 + 16) + (16 * 24 + 24) + (24 * 256 + 256));
  EXPECT_EQ(info["d_params"], (256 * 16 + 16) + (16 + 1));
  EXPECT_EQ(info["classes"].size(), 4u);
  EXPECT_EQ(info["ema"], false);
  EXPECT_EQ(info["config"]["model"]["g"]["hidden"], ganpp::Json::parse("[16, 24]"));
}

TEST_F(ExportTest, InspectAndExportOfMissingOrCorruptCheckpointsFail) {
  auto r = run_ganpp({"inspect", root_ + "/nowhere.ckpt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "nowhere.ckpt")) << r.err;
  write_bytes(root_ + "/garbage.ckpt", "not a checkpoint");
  r = run_ganpp({"inspect", root_ + "/garbage.ckpt", "--json"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "garbage.ckpt") && contains(r.err, "corrupt")) << r.err;
  EXPECT_FALSE(contains(r.err, "Exception raised from")) << r.err;
  r = run_ganpp({"export", "--checkpoint", root_ + "/nowhere", "--out", root_ + "/g.pt"});
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(contains(r.err, "nowhere")) << r.err;
  EXPECT_FALSE(fs::exists(root_ + "/g.pt"));
  EXPECT_EQ(run_ganpp({"export", "--checkpoint", dcgan_}).code, 2);  // --out is required
  EXPECT_EQ(run_ganpp({"inspect"}).code, 2);
}

TEST_F(ExportTest, SampleTensorsHoldTheLatentsAndTheImages) {
  const std::string dir = temp_dir("export-tensors");
  const auto r = run_ganpp({"sample", "--checkpoint", dcgan_, "--n", "5", "--seed", "2", "--grid", dir + "/g.png",
                            "--tensors", dir + "/t.pt", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string bytes = slurp(dir + "/t.pt");
  const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  const auto z = dict.at("latents").toTensor(), images = dict.at("images").toTensor();
  EXPECT_TRUE(torch::equal(z, ganpp::random_latents(5, 8, 2)));
  ASSERT_EQ(images.sizes(), (std::vector<int64_t>{5, 1, 16, 16}));
  EXPECT_EQ(images.scalar_type(), torch::kFloat);
  EXPECT_LE(images.abs().max().item<float>(), 1.0f);
  const auto loaded = ganpp::load_generator(dcgan_, torch::kCPU);
  EXPECT_TRUE(torch::allclose(images, ganpp::generate(*loaded.g, z, torch::kCPU), /*rtol=*/0, /*atol=*/1e-5));
  fs::remove_all(dir);
}

TEST_F(ExportTest, ExportIsADictWithLibTorchParameterNames) {
  const std::string out = root_ + "/dcgan-export.pt";
  const auto r = run_ganpp({"export", "--checkpoint", dcgan_, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".tmp"));
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  const auto described = run_shell({kPython, "-c", kDescribeExport, out});
  ASSERT_EQ(described.code, 0) << described.out;
  std::string expected = "ganpp-generator 1 3 False 0,1,2,3";
  std::vector<std::string> names;
  const auto g = ganpp::build_networks(ganpp::config_from_json(inspect_json(dcgan_)["config"])).g;
  for (const auto& p : g->named_parameters()) names.push_back(p.key());
  for (const auto& b : g->named_buffers()) names.push_back(b.key());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) expected += " " + name;
  EXPECT_EQ(described.out, expected + "\n");
  EXPECT_TRUE(contains(expected, "net.1.num_batches_tracked")) << expected;
}

TEST_F(ExportTest, PythonLoaderMatchesSampleForDcgan) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(dcgan_);
}

TEST_F(ExportTest, PythonLoaderMatchesSampleForMlp) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(mlp_);
}

TEST_F(ExportTest, PythonLoaderMatchesSampleForDcganAtAPowerOfTwo) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(dcgan32_);
}

TEST_F(ExportTest, EmaRunIsInspectedAndExportedWithItsAverage) {
  EXPECT_EQ(inspect_json(ema_)["ema"], true);
  const auto r = run_ganpp({"inspect", ema_});
  EXPECT_TRUE(contains(r.out, "EMA weights     yes")) << r.out;
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(ema_);  // sample draws from the average too
}

// The zoo's generator variants: label input (embedding and one-hot), spectral norm (u and v as stored),
// upsample + conv stages, channel multipliers and the sigmoid output (mapped to [-1, 1] like `ganpp sample`).
TEST_F(ExportTest, PythonLoaderMatchesSampleForConditionalSpectralNormUpsampleSigmoid) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(zoo_dcgan_);
}

TEST_F(ExportTest, PythonLoaderMatchesSampleForBilinearUpsampleWithChannelMultipliers) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(zoo_bilinear_);
}

TEST_F(ExportTest, PythonLoaderMatchesSampleForConditionalSpectralNormMlp) {
  if (!python_has_torch()) GTEST_SKIP() << kPython << " has no torch (Debian: apt-get install python3-torch)";
  expect_python_loader_matches_sample(zoo_mlp_);
}

}  // namespace
