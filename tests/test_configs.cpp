// Every shipped config under configs/: it parses, its data path exists after setup, and it trains two steps.
#include <gtest/gtest.h>

#include <filesystem>

#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

std::vector<std::string> shipped_configs() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(source_path("configs")))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ConfigsTest, ThereAreConfigsForTheFoundationRecipes) {
  const auto names = shipped_configs();
  for (const std::string expected : {"fashion_mnist_mlp_bce.json", "fashion_mnist_dcgan_bce.json",
                                     "fashion_mnist_dcgan_wgangp.json", "image_folder_dcgan64_rgb.json", "demo.json"})
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
}

class ShippedConfigTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ShippedConfigTest, ParsesHasDataAndTrainsTwoSteps) {
  const std::string file = source_path("configs/" + GetParam());
  const Config config = load_config(file, {});
  // Relative data paths are relative to the repository root, where scripts/demo.sh runs.
  const fs::path data = fs::path(config.data.path).is_absolute() ? fs::path(config.data.path)
                                                                 : fs::path(source_path(config.data.path));
  EXPECT_TRUE(fs::is_directory(data)) << GetParam() << ": data.path " << data << " does not exist after setup";

  // Two steps on tiny data of the config's own shape (the model and loss are the config's own).
  const std::string root = temp_dir("config-" + fs::path(GetParam()).stem().string());
  const int64_t size = config.data.image_size;
  if (config.data.channels == 1)
    write_idx_dataset(root + "/data", 16, size, 4);
  else
    write_image_folder(root + "/data", {"a", "b"}, 8, static_cast<int>(size) + 4,
                       static_cast<int>(config.data.channels));
  const auto r = run_ganpp({"train", "--config", file, "--out", root + "/run", "--threads", "2", "--set",
                            "data.path=" + root + "/data", "--set", "train.steps=2", "--set", "train.batch_size=4"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(fs::exists(root + "/run/samples/step_000002.png"));
  EXPECT_TRUE(fs::exists(root + "/run/checkpoints/latest.ckpt"));
  const Json resolved = Json::parse(slurp(root + "/run/config.json"));
  EXPECT_EQ(resolved["model"]["arch"], config.model.arch);
  EXPECT_EQ(resolved["loss"]["kind"], config.loss.kind);
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(All, ShippedConfigTest, ::testing::ValuesIn(shipped_configs()),
                         [](const auto& info) { return fs::path(info.param).stem().string(); });

}  // namespace
