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
  CheckpointWriter checkpoint(t.config(), {});
  t.save(checkpoint);
  checkpoint.write_data({3, 5}, {"a", "b"});
  write_file_atomic(path, checkpoint.bytes());
  return path;
}

// A component adds a section of its own without touching the others; a reader asks for an optional section
// and gets null where a checkpoint predates it, and a clear error for a required one.
TEST(CheckpointTest, ComponentsAddSectionsAndReadersFindOptionalOnesMissing) {
  const TempDir dir("ckpt-sections");
  Trainer a(tiny_config("dcgan"), torch::kCPU);
  CheckpointWriter writer(a.config(), {});
  a.save(writer);
  writer.write_data({1, 2}, {});
  writer.section("augment").write("p", c10::IValue(0.25));
  write_file_atomic(dir.path + "/a.ckpt", writer.bytes());

  CheckpointReader reader(dir.path + "/a.ckpt", torch::kCPU);
  EXPECT_EQ(reader.origin().format_version, kCheckpointFormat);
  auto* augment = reader.find_section("augment");
  ASSERT_NE(augment, nullptr);
  c10::IValue p;
  ASSERT_TRUE(augment->try_read("p", p));
  EXPECT_DOUBLE_EQ(p.toDouble(), 0.25);
  EXPECT_EQ(reader.find_section("data_fingerprint"), nullptr);
  const std::string message = error_of<RuntimeError>([&] {
    reader.section("data_fingerprint", "the data's fingerprint");
  });
  EXPECT_TRUE(contains(message, "has no 'data_fingerprint' section (the data's fingerprint)")) << message;
  Trainer b(tiny_config("dcgan"), torch::kCPU);
  b.load(reader);  // the extra section is no obstacle to the ones a trainer reads
  EXPECT_EQ(reader.state().data.position, 2);
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
  b.load(reader);
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
  save(gpu, dir + "/gpu.ckpt");
  CheckpointReader on_cpu(dir + "/gpu.ckpt", torch::kCPU);
  Trainer cpu(tiny_config("dcgan"), torch::kCPU);
  cpu.load(on_cpu);
  for (const auto& p : gpu.networks().g->named_parameters())
    EXPECT_TRUE(torch::equal(p.value().cpu(), cpu.networks().g->named_parameters()[p.key()])) << p.key();
  cpu.train_step({torch::rand({4, 1, 16, 16})});  // optimiser state is usable on the CPU
  std::filesystem::remove_all(dir);
}

}  // namespace
