// Checkpoint round trip, shape-checked loading, corrupt files, and CPU <-> CUDA portability.
#include <gtest/gtest.h>

#include <filesystem>

#include "ganpp/checkpoint.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/files.hpp"
#include "ganpp/trainer.hpp"
#include "helpers.hpp"

using namespace ganpp;
using namespace ganpp::test;

namespace {

std::string save(Trainer& t, const std::string& path) {
  TrainingState state;
  state.step = t.step();
  state.data = {3, 5};
  state.rng = capture_rng(torch::kCPU);
  state.fixed_z = t.fixed_latents();
  state.classes = {"a", "b"};
  write_file_atomic(path, serialize_checkpoint(t.config(), state,
                                               {*t.networks().g, *t.networks().d, &t.optimizer_g(), &t.optimizer_d()}));
  return path;
}

TEST(CheckpointTest, RoundTripRestoresEverything) {
  const std::string dir = temp_dir("ckpt");
  Trainer a(tiny_config("dcgan"), torch::kCPU);
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  a.train_step({real});
  const std::string path = save(a, dir + "/a.ckpt");

  CheckpointReader reader(path, torch::kCPU);
  EXPECT_EQ(reader.state().step, 1);
  EXPECT_EQ(reader.state().data.epoch, 3);
  EXPECT_EQ(reader.state().data.position, 5);
  EXPECT_EQ(reader.state().classes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(config_to_json(reader.config()).dump(), config_to_json(a.config()).dump());
  Config other = tiny_config("dcgan");
  other.train.seed = 99;  // different initial weights: restore must overwrite all of them
  Trainer b(other, torch::kCPU);
  b.restore(reader);
  EXPECT_EQ(b.step(), 1);
  EXPECT_TRUE(torch::equal(a.fixed_latents(), b.fixed_latents()));
  for (const auto& p : a.networks().g->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), b.networks().g->named_parameters()[p.key()])) << p.key();
  for (const auto& p : a.networks().d->named_buffers())
    EXPECT_TRUE(torch::equal(p.value(), b.networks().d->named_buffers()[p.key()])) << p.key();
  // The same next step from both: optimiser state and RNG were restored too.
  restore_rng(reader.state().rng, torch::kCPU);
  const auto sa = a.train_step({real});
  restore_rng(reader.state().rng, torch::kCPU);
  const auto sb = b.train_step({real});
  EXPECT_TRUE(torch::equal(sa.loss_g, sb.loss_g));
  std::filesystem::remove_all(dir);
}

TEST(CheckpointTest, OtherArchitectureIsRejectedWithTheMismatch) {
  const std::string dir = temp_dir("ckpt-arch");
  Trainer dcgan(tiny_config("dcgan"), torch::kCPU);
  const std::string path = save(dcgan, dir + "/dcgan.ckpt");
  CheckpointReader reader(path, torch::kCPU);
  Networks mlp = build_networks(tiny_config("mlp"));
  try {
    reader.load_networks(*mlp.g, *mlp.d);
    FAIL() << "loading a dcgan checkpoint into an mlp must fail";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("does not match the generator"), std::string::npos) << e.what();
  }
  Config wider = tiny_config("dcgan");
  wider.model.g.ngf = 8;
  Networks wide = build_networks(wider);
  try {
    reader.load_networks(*wide.g, *wide.d);
    FAIL() << "loading into a wider generator must fail";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("has shape"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(CheckpointTest, CorruptAndMissingFilesAreRuntimeErrors) {
  const std::string dir = temp_dir("ckpt-bad");
  write_bytes(dir + "/garbage.ckpt", "this is not a checkpoint");
  EXPECT_THROW(CheckpointReader(dir + "/garbage.ckpt", torch::kCPU), RuntimeError);
  EXPECT_THROW(CheckpointReader(dir + "/missing.ckpt", torch::kCPU), RuntimeError);
  Trainer t(tiny_config("dcgan"), torch::kCPU);
  const std::string good = slurp(save(t, dir + "/good.ckpt"));
  write_bytes(dir + "/cut.ckpt", good.substr(0, good.size() / 2));
  try {
    CheckpointReader(dir + "/cut.ckpt", torch::kCPU);
    FAIL() << "a truncated checkpoint must not load";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.ckpt"), std::string::npos) << e.what();
  }
  EXPECT_THROW(resolve_checkpoint_path(dir), RuntimeError);  // a folder without checkpoints/latest.ckpt
  std::filesystem::remove_all(dir);
}

// A checkpoint written on one device loads on the other (needs a GPU; skipped without one).
TEST(CheckpointTest, CudaAndCpuCheckpointsAreInterchangeable) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const std::string dir = temp_dir("ckpt-cuda");
  Trainer gpu(tiny_config("dcgan"), torch::Device(torch::kCUDA, 0));
  gpu.train_step({torch::rand({4, 1, 16, 16}, torch::Device(torch::kCUDA, 0))});
  TrainingState state;
  state.step = gpu.step();
  state.rng = capture_rng(torch::Device(torch::kCUDA, 0));
  state.fixed_z = gpu.fixed_latents();
  write_file_atomic(dir + "/gpu.ckpt", serialize_checkpoint(gpu.config(), state,
                                                            {*gpu.networks().g, *gpu.networks().d,
                                                             &gpu.optimizer_g(), &gpu.optimizer_d()}));
  CheckpointReader on_cpu(dir + "/gpu.ckpt", torch::kCPU);
  Trainer cpu(tiny_config("dcgan"), torch::kCPU);
  cpu.restore(on_cpu);
  for (const auto& p : gpu.networks().g->named_parameters())
    EXPECT_TRUE(torch::equal(p.value().cpu(), cpu.networks().g->named_parameters()[p.key()])) << p.key();
  cpu.train_step({torch::rand({4, 1, 16, 16})});  // optimiser state is usable on the CPU
  std::filesystem::remove_all(dir);
}

}  // namespace
