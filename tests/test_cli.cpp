// Every CLI error path and the sampling commands, through the real binary: exit codes and messages.
#include <gif_lib.h>
#include <gtest/gtest.h>
#include <stb_image.h>

#include <filesystem>

#include "ganpp/config.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp::test;

namespace {

// A tiny trained run shared by the tests that need a checkpoint.
class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = temp_dir("cli");
    data_ = root_ + "/data";
    write_idx_dataset(data_, 32, 16, 4, /*gzip=*/true);
    run_ = root_ + "/run";
    const auto r = run_ganpp(with_tiny({"train", "--out", run_, "--set", "train.steps=3"}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // Tiny-model settings right after the subcommand, so that the test's own --set wins.
  static std::vector<std::string> with_tiny(std::vector<std::string> args) { return with_tiny_model(args, data_); }

  static void expect_error(const CommandResult& r, int code, const std::vector<std::string>& parts) {
    expect_cli_error(r, code, parts);
  }

  static std::string root_, data_, run_;
};
std::string CliTest::root_, CliTest::data_, CliTest::run_;

TEST_F(CliTest, VersionNamesGanppAndLibTorch) {
  const auto r = run_ganpp({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "ganpp 0.")) << r.out;
  EXPECT_TRUE(contains(r.out, "LibTorch 1") || contains(r.out, "LibTorch 2")) << r.out;
}

TEST_F(CliTest, UnknownCommandAndFlagAreUsageErrors) {
  EXPECT_EQ(run_ganpp({"frobnicate"}).code, 2);
  EXPECT_EQ(run_ganpp({"train", "--no-such-flag"}).code, 2);
  EXPECT_EQ(run_ganpp({}).code, 2);
  EXPECT_EQ(run_ganpp({"sample"}).code, 2);  // --checkpoint is required
}

TEST_F(CliTest, HelpListsOptionsWithDefaults) {
  const auto r = run_ganpp({"interpolate", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(contains(r.out, "--steps")) << r.out;
  EXPECT_TRUE(contains(r.out, "slerp")) << r.out;
}

TEST_F(CliTest, ConfigErrorsNameFileKeyAndPlace) {
  const std::string dir = temp_dir("cli-config");
  expect_error(run_ganpp({"train", "--config", dir + "/missing.json"}), 2, {"missing.json"});
  write_bytes(dir + "/bad.json", "{\n  \"train\": {\n    \"steps\": ,\n  }\n}\n");
  expect_error(run_ganpp({"train", "--config", dir + "/bad.json"}), 2, {"bad.json", "line 3, column"});
  write_bytes(dir + "/unknown.json", R"({"model": {"d": {"nrom": "none"}}})");
  expect_error(run_ganpp({"train", "--config", dir + "/unknown.json", "--dry-run"}), 2, {"'model.d.nrom'", "norm"});
  expect_error(run_ganpp({"train", "--dry-run", "--set", "train.steps=ten"}), 2, {"'train.steps'", "integer"});
  expect_error(run_ganpp({"train", "--dry-run", "--set", "loss.kind=wgan-gp", "--set", "model.d.norm=batch"}), 2,
               {"model.d.norm", "wgan-gp"});
  expect_error(run_ganpp({"train", "--dry-run", "--set", "model.arch=resnet"}), 2, {"'model.arch'", "mlp", "dcgan"});
  expect_error(run_ganpp({"train", "--dry-run", "--set", "data.image_size=48"}), 2,
               {"data.image_size", "power of two"});
  expect_error(run_ganpp({"train", "--dry-run", "--set", "steps"}), 2, {"KEY=VALUE"});
  fs::remove_all(dir);
}

TEST_F(CliTest, DryRunPrintsConfigAndParameterCounts) {
  const auto r = run_ganpp({"train", "--dry-run"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "\"arch\": \"dcgan\"")) << r.out;
  EXPECT_TRUE(contains(r.out, "generator (1781504 parameters)")) << r.out;
  EXPECT_TRUE(contains(r.out, "discriminator (138624 parameters")) << r.out;
}

TEST_F(CliTest, DataErrorsAreRuntimeErrors) {
  const std::string dir = temp_dir("cli-data");
  expect_error(run_ganpp(with_tiny({"train", "--out", dir + "/r1", "--set", "data.path=" + dir + "/nowhere"})), 1,
               {"nowhere", "does not exist"});
  fs::create_directories(dir + "/empty");
  expect_error(run_ganpp(with_tiny({"train", "--out", dir + "/r2", "--set", "data.path=" + dir + "/empty"})), 1,
               {"no images"});
  write_idx_dataset(dir + "/cut", 16, 16, 4);
  const std::string images = slurp(dir + "/cut/train-images-idx3-ubyte");
  write_bytes(dir + "/cut/train-images-idx3-ubyte", images.substr(0, images.size() - 100));
  expect_error(run_ganpp(with_tiny({"train", "--out", dir + "/r3", "--set", "data.path=" + dir + "/cut"})), 1,
               {"train-images-idx3-ubyte", "truncated"});
  write_image_folder(dir + "/imgs", {"a"}, 2, 16, 3);
  write_bytes(dir + "/imgs/a/broken.png", "not a png at all");
  expect_error(run_ganpp(with_tiny({"train", "--out", dir + "/r4", "--set", "data.path=" + dir + "/imgs"})), 1,
               {"broken.png"});
  EXPECT_FALSE(fs::exists(dir + "/r1/config.json"));  // a failed start leaves no half run behind
  fs::remove_all(dir);
}

TEST_F(CliTest, OutThatHoldsARunIsRefusedAndUntouched) {
  const std::string before = slurp(run_ + "/config.json");
  const std::string ckpt = slurp(run_ + "/checkpoints/latest.ckpt");
  expect_error(run_ganpp(with_tiny({"train", "--out", run_})), 2, {"already holds a run", "--resume"});
  EXPECT_EQ(slurp(run_ + "/config.json"), before);
  EXPECT_EQ(slurp(run_ + "/checkpoints/latest.ckpt"), ckpt);
}

TEST_F(CliTest, RunDirectoryHasTheDocumentedLayout) {
  for (const std::string f : {"config.json", "log.jsonl", "samples/step_000003.png", "checkpoints/step_000003.ckpt",
                              "checkpoints/latest.ckpt"})
    EXPECT_TRUE(fs::exists(run_ + "/" + f)) << f;
  for (const auto& e : fs::recursive_directory_iterator(run_)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  const auto config = ganpp::Json::parse(slurp(run_ + "/config.json"));
  EXPECT_EQ(config["train"]["steps"], 3);
  EXPECT_TRUE(config["run"].contains("libtorch_version"));
  const auto log = slurp(run_ + "/log.jsonl");
  for (const std::string key :
       {"\"step\":3", "\"epoch\"", "\"loss_d\"", "\"loss_g\"", "\"d_real\"", "\"images_per_s\""})
    EXPECT_TRUE(contains(log, key)) << key << " in " << log;
}

TEST_F(CliTest, ResumeRefusesFixedKeysAndReportsFinishedRuns) {
  expect_error(run_ganpp({"train", "--resume", run_, "--set", "model.z_dim=3"}), 2,
               {"model.z_dim", "cannot change", "train.eval_every", "train.cuda_graph"});  // names what may
  expect_error(run_ganpp({"train", "--resume", run_, "--set", "train.precision=bf16"}), 2, {"train.precision"});
  expect_error(run_ganpp({"train", "--resume", run_, "--seed", "4"}), 2, {"--seed"});
  const auto r = run_ganpp({"train", "--resume", run_});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "finished at step 3")) << r.out;
  const auto placed = run_ganpp({"train", "--resume", run_, "--set", "train.cuda_graph=true"});  // placement only
  EXPECT_EQ(placed.code, 0) << placed.err;
  EXPECT_TRUE(contains(placed.out, "finished at step 3")) << placed.out;
  expect_error(run_ganpp({"train", "--resume", root_ + "/no-run"}), 1, {"no-run"});
  const std::string bad = temp_dir("cli-badckpt");
  fs::create_directories(bad + "/checkpoints");
  write_bytes(bad + "/checkpoints/latest.ckpt", "garbage");
  expect_error(run_ganpp({"train", "--resume", bad}), 1, {"latest.ckpt", "corrupt"});
  fs::remove_all(bad);
}

TEST_F(CliTest, SampleWritesGridAndFiles) {
  const std::string dir = temp_dir("cli-sample");
  auto r = run_ganpp({"sample", "--checkpoint", run_, "--n", "6", "--nrow", "3", "--grid", dir + "/g.png", "--dir",
                      dir + "/each", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load((dir + "/g.png").c_str(), &w, &h, &c, 0);
  ASSERT_NE(px, nullptr);
  stbi_image_free(px);
  EXPECT_EQ(w, 3 * 18 + 2);
  EXPECT_EQ(h, 2 * 18 + 2);
  EXPECT_EQ(c, 1);
  // The latents of each export are saved next to it, for torch.load.
  for (const std::string& latents : {dir + "/g.latents.pt", dir + "/each/latents.pt"}) {
    const std::string bytes = slurp(latents);
    ASSERT_FALSE(bytes.empty()) << latents;
    const auto dict = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
    EXPECT_EQ(dict.at("latents").toTensor().sizes(), (std::vector<int64_t>{6, 8})) << latents;
  }
  EXPECT_TRUE(fs::exists(dir + "/each/000000.png"));
  EXPECT_TRUE(fs::exists(dir + "/each/000005.png"));
  EXPECT_FALSE(fs::exists(dir + "/each/000006.png"));
  // Same seed, same images; another seed, other images.
  r = run_ganpp({"sample", "--checkpoint", run_ + "/checkpoints/latest.ckpt", "--n", "6", "--nrow", "3", "--grid",
                 dir + "/g2.png", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(dir + "/g.png"), slurp(dir + "/g2.png"));
  r = run_ganpp({"sample", "--checkpoint", run_, "--n", "6", "--nrow", "3", "--seed", "1", "--grid", dir + "/g3.png"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(slurp(dir + "/g.png"), slurp(dir + "/g3.png"));
  expect_error(run_ganpp({"sample", "--checkpoint", dir + "/none.ckpt"}), 1, {"none.ckpt"});
  fs::remove_all(dir);
}

TEST_F(CliTest, InterpolateWritesStripAndFrames) {
  const std::string dir = temp_dir("cli-interp");
  const auto r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/walk.png", "--points", "3", "--steps",
                            "4", "--rows", "2", "--mode", "lerp", "--frames", dir + "/frames"});
  ASSERT_EQ(r.code, 0) << r.err;
  int w = 0, h = 0, c = 0;
  stbi_uc* px = stbi_load((dir + "/walk.png").c_str(), &w, &h, &c, 0);
  ASSERT_NE(px, nullptr);
  stbi_image_free(px);
  EXPECT_EQ(w, 7 * 18 + 2);  // (points-1)*(steps-1)+1 = 7 frames per walk
  EXPECT_EQ(h, 2 * 18 + 2);
  EXPECT_TRUE(fs::exists(dir + "/frames/000013.png"));
  EXPECT_FALSE(fs::exists(dir + "/frames/000014.png"));
  for (const std::string& latents : {dir + "/walk.latents.pt", dir + "/frames/latents.pt"}) {
    const std::string bytes = slurp(latents);
    ASSERT_FALSE(bytes.empty()) << latents;
    const auto z = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict().at("latents");
    EXPECT_EQ(z.toTensor().sizes(), (std::vector<int64_t>{14, 8})) << latents;
  }
  expect_error(run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/x.png", "--mode", "cubic"}), 2,
               {"--mode"});
  fs::remove_all(dir);
}

TEST_F(CliTest, ClassFlagsExitTwoBeforeReadingAndOneWhenTheModelCannot) {
  const std::string dir = temp_dir("cli-class");
  const std::string none = dir + "/none.ckpt";  // flag combinations are refused before the checkpoint is read
  expect_error(run_ganpp({"sample", "--checkpoint", none, "--per-class", "--class", "0"}), 2, {"drop --class"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir + "/x.png", "--class-walk", "0,1",
                          "--class", "0"}),
               2, {"exclude each other"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", none, "--out", dir + "/x.png", "--class-walk", "1"}), 2,
               {"--class-walk needs at least two classes"});
  // What an unconditional model cannot do is known only once its checkpoint is read: exit 1.
  expect_error(run_ganpp({"sample", "--checkpoint", run_, "--per-class", "--grid", dir + "/x.png"}), 1,
               {"--per-class needs a class-conditional model"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/x.png", "--class", "0"}), 1,
               {"--class needs a class-conditional model"});
  expect_error(run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/x.png", "--class-walk", "0,1"}), 1,
               {"--class needs a class-conditional model"});
  EXPECT_FALSE(fs::exists(dir + "/x.png"));
  fs::remove_all(dir);
}

TEST_F(CliTest, InterpolateWritesAnAnimatedGifOfAllWalks) {
  const std::string dir = temp_dir("cli-gif");
  const auto r = run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/walk.png", "--points", "3", "--steps",
                            "4", "--rows", "3", "--gif", dir + "/anim.gif", "--fps", "20", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.err;
  int error = 0;
  GifFileType* gif = DGifOpenFileName((dir + "/anim.gif").c_str(), &error);
  ASSERT_NE(gif, nullptr) << GifErrorString(error);
  ASSERT_EQ(DGifSlurp(gif), GIF_OK);
  EXPECT_EQ(gif->ImageCount, 7);       // (points-1)*(steps-1)+1 frames
  EXPECT_EQ(gif->SWidth, 2 * 18 + 2);  // 3 walks tiled 2 per row
  EXPECT_EQ(gif->SHeight, 2 * 18 + 2);
  GraphicsControlBlock gcb;
  ASSERT_EQ(DGifSavedExtensionToGCB(gif, 0, &gcb), GIF_OK);
  EXPECT_EQ(gcb.DelayTime, 5);  // 20 fps
  // Frame 0's first walk is the strip's first image (grayscale palette: exact pixels).
  int w = 0, h = 0, c = 0;
  stbi_uc* strip = stbi_load((dir + "/walk.png").c_str(), &w, &h, &c, 1);
  ASSERT_NE(strip, nullptr);
  for (int y = 2; y < 18; ++y)
    for (int x = 2; x < 18; ++x)
      ASSERT_EQ(gif->SColorMap->Colors[gif->SavedImages[0].RasterBits[y * gif->SWidth + x]].Red, strip[y * w + x]);
  stbi_image_free(strip);
  DGifCloseFile(gif, nullptr);
  EXPECT_TRUE(fs::exists(dir + "/anim.latents.pt"));
  expect_error(run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/x.png", "--gif",
                          dir + "/no/such/dir/a.gif", "--threads", "1"}),
               1, {"a.gif"});
  EXPECT_EQ(run_ganpp({"interpolate", "--checkpoint", run_, "--out", dir + "/x.png", "--fps", "0"}).code, 2);
  fs::remove_all(dir);
}

TEST_F(CliTest, TrainingPrintsSetupAndPlainProgressLinesWithoutATerminal) {
  const std::string dir = temp_dir("cli-progress");
  const auto r = run_ganpp(with_tiny({"train", "--out", dir + "/run", "--set", "train.steps=4", "--set",
                                      "train.log_every=2", "--no-progress"}));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& part :
       std::vector<std::string>{"device: cpu (1 threads)", "classes: 0, 1, 2", "G ", "parameters",
                                "run directory: " + dir + "/run", "step 2/4", "step 4/4", "ETA", "grad D", "diversity"})
    EXPECT_TRUE(contains(r.out, part)) << part << " in:\n" << r.out;
  EXPECT_FALSE(contains(r.err, "\r")) << "no in-place redraws without a terminal";
  fs::remove_all(dir);
}

TEST_F(CliTest, ReportIsWrittenDuringTrainingAndRebuiltByTheReportCommand) {
  ASSERT_TRUE(fs::exists(run_ + "/report.html"));
  const auto before = slurp(run_ + "/report.html");
  EXPECT_TRUE(contains(before, "<svg")) << before.substr(0, 500);
  EXPECT_TRUE(contains(before, "samples/step_000003.png"));
  fs::remove(run_ + "/report.html");
  const auto r = run_ganpp({"report", run_});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(slurp(run_ + "/report.html"), before);
  const std::string empty = temp_dir("cli-report");
  expect_error(run_ganpp({"report", empty}), 1, {"no log.jsonl", empty});
  expect_error(run_ganpp({"report", empty + "/missing"}), 1, {"missing", "not a folder"});
  EXPECT_EQ(run_ganpp({"report"}).code, 2);
  fs::remove_all(empty);
}

}  // namespace
