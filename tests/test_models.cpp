// Tests of the networks: parameter counts against the bench table, output shapes at every supported
// size, the registry's errors, the MLP, dropout and DCGAN initialisation.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "ganpp/sync_batch_norm.hpp"
#include "helpers.hpp"

namespace ganpp {
namespace {

using test::contains;
using test::error_of;

Config dcgan_config(int64_t size, const std::string& loss, int64_t width = 64, int64_t channels = 1) {
  Config c;
  c.model.arch = "dcgan";
  c.model.z_dim = 100;
  c.model.g.ngf = width;
  c.model.d.ndf = width;
  c.loss.kind = loss;
  c.data.image_size = size;
  c.data.channels = channels;
  return c;
}

// Parameters of a fully connected stack: sum of (in + 1) * out over its layers.
int64_t linear_stack_parameters(const std::vector<int64_t>& widths) {
  int64_t n = 0;
  for (size_t i = 0; i + 1 < widths.size(); ++i) n += (widths[i] + 1) * widths[i + 1];
  return n;
}

template <class M>
int count_modules(torch::nn::Module& net) {
  int n = 0;
  for (const auto& m : net.modules(/*include_self=*/false))
    if (m->as<M>()) ++n;
  return n;
}

class ModelsTest : public ::testing::Test {
 protected:
  void SetUp() override { torch::manual_seed(0); }
};

TEST_F(ModelsTest, Dcgan28ParameterCountsMatchBench) {
  const Networks bce = build_networks(dcgan_config(28, "bce"));
  EXPECT_EQ(count_parameters(*bce.g), 1781504);
  EXPECT_EQ(count_parameters(*bce.d), 138624);
  const Networks gp = build_networks(dcgan_config(28, "wgan-gp"));
  EXPECT_EQ(count_parameters(*gp.g), 1781504);
  EXPECT_EQ(count_parameters(*gp.d), 138368);
}

TEST_F(ModelsTest, Dcgan64ParameterCountsMatchBench) {
  const Networks bce = build_networks(dcgan_config(64, "bce"));
  EXPECT_EQ(count_parameters(*bce.g), 3574656);
  EXPECT_EQ(count_parameters(*bce.d), 2763520);
  const Networks gp = build_networks(dcgan_config(64, "wgan-gp"));
  EXPECT_EQ(count_parameters(*gp.g), 3574656);
  EXPECT_EQ(count_parameters(*gp.d), 2761728);
}

TEST_F(ModelsTest, DcganConvLayersHaveNoBias) {
  const Networks nets = build_networks(dcgan_config(28, "bce"));
  for (const auto& m : nets.d->modules(false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      EXPECT_FALSE(conv->bias.defined());
    }
  }
  for (const auto& m : nets.g->modules(false)) {
    if (auto* conv = m->as<torch::nn::ConvTranspose2d>()) {
      EXPECT_FALSE(conv->bias.defined());
    }
  }
}

TEST_F(ModelsTest, DcganShapesAtEverySupportedSize) {
  for (const int64_t size : {16, 28, 32, 64, 128, 256}) {
    for (const int64_t channels : {1, 3}) {
      SCOPED_TRACE("size " + std::to_string(size) + " channels " + std::to_string(channels));
      Config c = dcgan_config(size, "bce", /*width=*/4, channels);
      c.model.z_dim = 8;
      const Networks nets = build_networks(c);
      const torch::Tensor images = nets.g->forward(torch::randn({2, 8}));
      EXPECT_EQ(images.sizes(), (std::vector<int64_t>{2, channels, size, size}));
      EXPECT_GE(images.min().item<float>(), -1.0f);
      EXPECT_LE(images.max().item<float>(), 1.0f);
      const torch::Tensor scores = nets.d->score(images);
      EXPECT_EQ(scores.sizes(), (std::vector<int64_t>{2}));
      EXPECT_TRUE(torch::isfinite(scores).all().item<bool>());
    }
  }
}

TEST_F(ModelsTest, DcganCriticWithoutBatchNormUnderGradientPenalty) {
  const Networks gp = build_networks(dcgan_config(32, "wgan-gp", /*width=*/4));
  EXPECT_EQ(count_modules<SyncBatchNormImpl>(*gp.d), 0);
  EXPECT_GT(count_modules<SyncBatchNormImpl>(*gp.g), 0);
  const Networks bce = build_networks(dcgan_config(32, "bce", /*width=*/4));
  // 32 has three stride-2 stages; batch norm after every conv but the first and the last.
  EXPECT_EQ(count_modules<SyncBatchNormImpl>(*bce.d), 2);
}

TEST_F(ModelsTest, UnsupportedSizeIsUsageError) {
  for (const int64_t size : {48, 8, 512, 30}) {
    const std::string msg = error_of<UsageError>([&] { build_networks(dcgan_config(size, "bce", 4)); });
    EXPECT_TRUE(contains(msg, "power of two")) << msg;
    EXPECT_TRUE(contains(msg, std::to_string(size))) << msg;
    EXPECT_TRUE(contains(msg, "data.image_size")) << msg;
  }
}

TEST_F(ModelsTest, UnknownArchListsRegisteredNames) {
  Config c;
  c.model.arch = "stylegan";
  const std::string msg = error_of<UsageError>([&] { build_networks(c); });
  EXPECT_TRUE(contains(msg, "\"stylegan\"")) << msg;
  EXPECT_TRUE(contains(msg, "mlp")) << msg;
  EXPECT_TRUE(contains(msg, "dcgan")) << msg;

  std::vector<std::string> names;
  for (const auto& a : architectures()) names.push_back(a.name);
  EXPECT_EQ(names, (std::vector<std::string>{"mlp", "dcgan"}));
}

TEST_F(ModelsTest, ArchitecturePropertiesReplaceNames) {
  const Architecture& mlp = find_architecture("mlp");
  EXPECT_FALSE(mlp.convolutional);
  EXPECT_FALSE(mlp.d_batch_norm);
  const Architecture& dcgan = find_architecture("dcgan");
  EXPECT_TRUE(dcgan.convolutional);
  EXPECT_TRUE(dcgan.d_batch_norm);
}

TEST_F(ModelsTest, DiscriminatorBatchNormResolution) {
  Config c;  // auto + bce + dcgan
  EXPECT_TRUE(discriminator_batch_norm(c));
  c.loss.kind = "wgan-gp";  // a per-sample gradient penalty
  EXPECT_FALSE(discriminator_batch_norm(c));

  Config mlp;
  mlp.model.arch = "mlp";
  EXPECT_FALSE(discriminator_batch_norm(mlp));
  mlp.model.d.norm = DiscriminatorNorm::batch;
  EXPECT_TRUE(discriminator_batch_norm(mlp));

  Config none;
  none.model.d.norm = DiscriminatorNorm::none;
  EXPECT_FALSE(discriminator_batch_norm(none));
}

TEST_F(ModelsTest, ValidateResolvesTheRegistryEntries) {
  Config c;
  c.model.arch = "mlp";
  c.loss.kind = "wgan-gp";
  const ResolvedConfig resolved = validate(c);
  EXPECT_EQ(&resolved.arch, &find_architecture("mlp"));
  EXPECT_EQ(&resolved.loss, &find_loss("wgan-gp"));
  EXPECT_TRUE(resolved.loss.gradient_penalty);
}

// One entry point rejects what the fields, the loss and the architecture each forbid, with their messages.
TEST_F(ModelsTest, ValidateRejectsEachKindOfError) {
  Config grid;
  grid.train.sample_count = 4;
  grid.train.sample_nrow = 8;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate(grid); }), "train.sample_nrow"));

  Config loss;
  loss.loss.kind = "nope";
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate(loss); }), "'loss.kind' = \"nope\""));

  Config gp;
  gp.loss.kind = "wgan-gp";
  gp.model.d.norm = DiscriminatorNorm::batch;
  const std::string msg = error_of<UsageError>([&] { validate(gp); });
  EXPECT_TRUE(contains(msg, "model.d.norm")) << msg;
  EXPECT_TRUE(contains(msg, "gradient penalty")) << msg;

  Config arch;
  arch.model.arch = "stylegan";
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate(arch); }), "'model.arch' = \"stylegan\""));

  Config size = dcgan_config(48, "bce");
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate(size); }), "power of two"));

  Config mlp;
  mlp.model.arch = "mlp";
  mlp.model.g.upsample = Upsample::nearest;
  EXPECT_TRUE(contains(error_of<UsageError>([&] { validate(mlp); }), "model.g.upsample"));
}

TEST_F(ModelsTest, ClassicMlpParameterCounts) {
  Config c;
  c.model.arch = "mlp";  // defaults: z 100, G hidden 256-512-1024, D hidden 1024-512-256, 28x28x1
  const Networks nets = build_networks(c);
  const int64_t g_expected = linear_stack_parameters({100, 256, 512, 1024, 784});
  const int64_t d_expected = linear_stack_parameters({784, 1024, 512, 256, 1});
  EXPECT_EQ(g_expected, 1486352);
  EXPECT_EQ(d_expected, 1460225);
  EXPECT_EQ(count_parameters(*nets.g), g_expected);
  EXPECT_EQ(count_parameters(*nets.d), d_expected);
  EXPECT_EQ(count_modules<SyncBatchNormImpl>(*nets.d), 0);
  EXPECT_EQ(count_modules<torch::nn::DropoutImpl>(*nets.d), 0);
}

TEST_F(ModelsTest, MlpCustomHiddenListsAndShapes) {
  Config c;
  c.model.arch = "mlp";
  c.model.z_dim = 5;
  c.model.g.hidden = {7};
  c.model.d.hidden = {6, 3};
  c.data.image_size = 8;
  c.data.channels = 3;
  const Networks nets = build_networks(c);
  EXPECT_EQ(count_parameters(*nets.g), linear_stack_parameters({5, 7, 3 * 8 * 8}));
  EXPECT_EQ(count_parameters(*nets.d), linear_stack_parameters({3 * 8 * 8, 6, 3, 1}));
  const torch::Tensor images = nets.g->forward(torch::randn({2, 5}));
  EXPECT_EQ(images.sizes(), (std::vector<int64_t>{2, 3, 8, 8}));
  EXPECT_LE(images.abs().max().item<float>(), 1.0f);
  EXPECT_EQ(nets.d->score(images).sizes(), (std::vector<int64_t>{2}));
}

TEST_F(ModelsTest, MlpWithBatchNormDropsLinearBiases) {
  Config c;
  c.model.arch = "mlp";
  c.model.d.norm = DiscriminatorNorm::batch;
  c.model.d.hidden = {16, 8};
  c.data.image_size = 4;
  const Networks nets = build_networks(c);
  EXPECT_EQ(count_modules<SyncBatchNormImpl>(*nets.d), 2);
  // Bias-free hidden layers, BN scale and shift, then the biased output layer.
  EXPECT_EQ(count_parameters(*nets.d), 16 * 16 + 2 * 16 + 16 * 8 + 2 * 8 + (8 + 1));
}

TEST_F(ModelsTest, MlpEmptyHiddenIsUsageError) {
  Config c;
  c.model.arch = "mlp";
  c.model.g.hidden = {};
  const std::string msg = error_of<UsageError>([&] { build_networks(c); });
  EXPECT_TRUE(contains(msg, "model.g.hidden")) << msg;
}

TEST_F(ModelsTest, MlpDropoutInDiscriminator) {
  Config c;
  c.model.arch = "mlp";
  c.model.d.dropout = 0.5;
  c.model.d.hidden = {32, 16};
  c.data.image_size = 4;
  const Networks nets = build_networks(c);
  EXPECT_EQ(count_modules<torch::nn::DropoutImpl>(*nets.d), 2);
  EXPECT_EQ(count_modules<torch::nn::DropoutImpl>(*nets.g), 0);

  const torch::Tensor x = torch::randn({3, 1, 4, 4});
  nets.d->train();
  EXPECT_FALSE(torch::equal(nets.d->score(x), nets.d->score(x)));  // dropout masks differ
  nets.d->eval();
  EXPECT_TRUE(torch::equal(nets.d->score(x), nets.d->score(x)));
}

TEST_F(ModelsTest, DcganDropoutInDiscriminator) {
  Config c = dcgan_config(16, "bce", /*width=*/4);
  c.model.d.dropout = 0.25;
  const Networks nets = build_networks(c);
  // One dropout after each LeakyReLU: 16 has two stride-2 stages.
  EXPECT_EQ(count_modules<torch::nn::DropoutImpl>(*nets.d), 2);
}

TEST_F(ModelsTest, DcganInitialisation) {
  const Networks nets = build_networks(dcgan_config(64, "bce"));
  // The generator's first layer: 100 x 512 x 4 x 4 weights drawn from N(0, 0.02).
  bool checked = false;
  for (const auto& m : nets.g->modules(false)) {
    if (auto* conv = m->as<torch::nn::ConvTranspose2d>()) {
      ASSERT_EQ(conv->weight.numel(), 100 * 512 * 16);
      EXPECT_NEAR(conv->weight.std().item<double>(), 0.02, 0.002);
      EXPECT_NEAR(conv->weight.mean().item<double>(), 0.0, 0.001);
      checked = true;
      break;
    }
  }
  EXPECT_TRUE(checked);
  for (const auto& m : nets.d->modules(false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      if (conv->weight.numel() < 100000) continue;
      EXPECT_NEAR(conv->weight.std().item<double>(), 0.02, 0.002);
    }
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      EXPECT_NEAR(bn->weight.mean().item<double>(), 1.0, 0.01);
      EXPECT_EQ(bn->bias.abs().max().item<float>(), 0.0f);
    }
  }
}

TEST_F(ModelsTest, SameSeedSameWeights) {
  torch::manual_seed(3);
  const Networks a = build_networks(dcgan_config(16, "bce", 4));
  torch::manual_seed(3);
  const Networks b = build_networks(dcgan_config(16, "bce", 4));
  const auto pa = a.g->parameters(), pb = b.g->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

}  // namespace
}  // namespace ganpp
