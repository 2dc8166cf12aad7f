// The training step and loop: labelled stats, grids without side effects, and the non-finite-loss stop.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "ganpp/cuda_graph.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/trainer.hpp"
#include "ganpp/training_run.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

TEST(TrainerTest, StepReportsLossesAndMovesBothNetworks) {
  Trainer t(tiny_config("dcgan", "wgan-gp"), torch::kCPU);
  const auto g0 = t.networks().g->parameters().front().clone();
  const auto d0 = t.networks().d->parameters().front().clone();
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  const StepStats s = t.train_step({real, real, real});
  EXPECT_EQ(t.step(), 1);
  ASSERT_TRUE(s.penalty.defined());
  EXPECT_GE(s.penalty.item<double>(), 0.0);
  // The critic loss is E[D(G(z))] - E[D(x)] + λ·GP of the last critic step.
  EXPECT_NEAR(s.loss_d.item<double>(),
              s.d_fake.item<double>() - s.d_real.item<double>() + 10.0 * s.penalty.item<double>(), 1e-4);
  EXPECT_FALSE(torch::equal(g0, t.networks().g->parameters().front()));
  EXPECT_FALSE(torch::equal(d0, t.networks().d->parameters().front()));
  // D's weights keep requiring gradients after the generator phase switched them off.
  for (const auto& p : t.networks().d->parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(TrainerTest, BceStatsAreProbabilities) {
  Trainer t(tiny_config("dcgan", "bce"), torch::kCPU);
  const StepStats s = t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
  for (const auto& p : {s.d_real, s.d_fake}) {
    EXPECT_GT(p.item<double>(), 0.0);
    EXPECT_LT(p.item<double>(), 1.0);
  }
  EXPECT_FALSE(s.penalty.defined());
}

TEST(TrainerTest, SampleGridHasNoSideEffects) {
  Trainer t(tiny_config("dcgan", "bce"), torch::kCPU);
  t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
  std::vector<torch::Tensor> buffers;
  for (const auto& b : t.networks().g->buffers()) buffers.push_back(b.clone());
  const auto rng = capture_rng(torch::kCPU);
  const auto grid = t.sample_grid();
  EXPECT_EQ(grid.sizes(), (std::vector<int64_t>{1, 2 * 18 + 2, 2 * 18 + 2}));
  const auto after = t.networks().g->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) EXPECT_TRUE(torch::equal(buffers[i], after[i]));
  EXPECT_TRUE(torch::equal(rng.cpu, capture_rng(torch::kCPU).cpu));
  EXPECT_TRUE(t.networks().g->is_training());
  EXPECT_TRUE(torch::equal(grid, t.sample_grid()));  // fixed latents, eval mode: the same grid again
}

TEST(TrainerTest, NonFiniteLossStopsTheRunNamingTheStepAndKeepsTheLastCheckpoint) {
  const std::string root = temp_dir("nonfinite");
  write_idx_dataset(root + "/data", 16, 16, 4);
  Config config = tiny_config("dcgan", "bce");
  config.data.path = root + "/data";
  config.train.steps = 6;
  config.train.log_every = 3;
  config.train.checkpoint_every = 2;
  const std::string run = root + "/run";
  auto training = TrainingRun::start(config, run, RunOptions());
  // After the checkpoint of step 2, poison the generator: the next step's losses are NaN.
  struct Poison : RunObserver {
    void on_checkpoint(TrainingRun& r, const std::string&) override {
      torch::NoGradGuard no_grad;
      if (r.step() == 2) r.trainer().networks().g->parameters().front().fill_(NAN);
    }
  };
  training->add_observer(std::make_unique<Poison>());
  try {
    training->run();
    FAIL() << "a NaN loss must stop the run";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("non-finite loss at step 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("latest.ckpt"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(fs::exists(checkpoint_path(run, 2)));
  EXPECT_EQ(slurp(latest_checkpoint_path(run)), slurp(checkpoint_path(run, 2)));
  EXPECT_EQ(CheckpointReader(latest_checkpoint_path(run), torch::kCPU).state().step, 2);
  EXPECT_FALSE(fs::exists(checkpoint_path(run, 4)));
  fs::remove_all(root);
}

}  // namespace

namespace {

TEST(TrainerTest, Bf16AutocastRunsOnTheCpuWithAnFp32Penalty) {
  Config fp32 = tiny_config("dcgan", "wgan-gp");
  Config bf16 = fp32;
  bf16.train.precision = Precision::bf16;
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  Trainer a(fp32, torch::kCPU), b(bf16, torch::kCPU);
  const StepStats sa = a.train_step({real, real});
  const StepStats sb = b.train_step({real, real});
  for (const auto& t : {sb.loss_d, sb.loss_g, sb.penalty}) {
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
    EXPECT_EQ(t.scalar_type(), torch::kFloat32);  // losses and penalty are reduced in fp32
  }
  // Same seed and data: only the precision differs, and it shows.
  EXPECT_NE(sa.loss_g.item<float>(), sb.loss_g.item<float>());
  EXPECT_NEAR(sa.loss_g.item<float>(), sb.loss_g.item<float>(), 0.1);
  // Autocast is off again after the step.
  const auto m = torch::rand({4, 4});
  EXPECT_EQ(torch::mm(m, m).scalar_type(), torch::kFloat32);
  // Weights stay fp32 (autocast casts copies for the forward pass only).
  for (const auto& p : b.networks().g->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat32);
}

// train.cuda_graph is a CUDA setting: on the CPU the step runs eagerly and computes exactly the same.
TEST(TrainerTest, CudaGraphSettingLeavesTheCpuStepAlone) {
  Config eager = tiny_config("dcgan", "wgan-gp");
  eager.loss.n_critic = 2;
  Config graph = eager;
  graph.train.cuda_graph = true;
  const std::vector<torch::Tensor> real = {torch::rand({4, 1, 16, 16}) * 2 - 1, torch::rand({4, 1, 16, 16}) * 2 - 1};
  Trainer a(eager, torch::kCPU);
  for (int i = 0; i < 5; ++i) a.train_step(real);
  Trainer b(graph, torch::kCPU);  // seeds the RNGs afresh, as a did
  for (int i = 0; i < 5; ++i) b.train_step(real);
  const auto pa = a.networks().g->parameters(), pb = b.networks().g->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i])) << i;
  // A CUDA graph needs a CUDA device (and a CUDA LibTorch >= 2.4); asked for on the CPU it is refused.
  const std::string msg = error_of<UsageError>([] {
    GraphedFunction f([](const std::vector<torch::Tensor>& in) { return in; }, torch::kCPU, 0);
  });
  EXPECT_TRUE(contains(msg, "CUDA device")) << msg;
}

TEST(TrainerTest, PrecisionKeyIsValidated) {
  Json j = {{"train", {{"precision", "fp16"}}}};
  try {
    config_from_json(j);
    FAIL() << "fp16 is not offered";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

TEST(TrainerTest, WganClipsTheCriticAfterEveryStep) {
  Config c = tiny_config("dcgan", "wgan");
  c.loss.clip = 0.005;
  Trainer t(c, torch::kCPU);
  t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1, torch::rand({4, 1, 16, 16}) * 2 - 1});
  for (const auto& p : t.networks().d->parameters()) EXPECT_LE(p.abs().max().item<double>(), 0.005 + 1e-9);
  // The generator is not clipped.
  double g_max = 0;
  for (const auto& p : t.networks().g->parameters()) g_max = std::max(g_max, p.abs().max().item<double>());
  EXPECT_GT(g_max, 0.005);
}

TEST(TrainerTest, EveryLossTrainsAStepWithFiniteLosses) {
  for (const auto& loss : losses()) {
    Trainer t(tiny_config("dcgan", loss.name), torch::kCPU);
    const StepStats s = t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
    EXPECT_TRUE(std::isfinite(s.loss_d.item<double>())) << loss.name;
    EXPECT_TRUE(std::isfinite(s.loss_g.item<double>())) << loss.name;
  }
}

}  // namespace

namespace {

double total_grad_norm(torch::nn::Module& m) {
  double sq = 0;
  for (const auto& p : m.parameters())
    if (p.grad().defined()) sq += p.grad().pow(2).sum().item<double>();
  return std::sqrt(sq);
}

TEST(TrainerTest, GradientClippingByValueAndByNorm) {
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  Config by_value = tiny_config("dcgan", "bce");
  by_value.optim.d.clip_grad_value = 1e-4;
  Trainer a(by_value, torch::kCPU);
  a.train_step({real});
  for (const auto& p : a.networks().d->parameters()) EXPECT_LE(p.grad().abs().max().item<double>(), 1e-4 + 1e-12);

  Config by_norm = tiny_config("dcgan", "bce");
  by_norm.optim.d.clip_grad_norm = 0.01;
  by_norm.optim.g.clip_grad_norm = 0.02;
  Trainer b(by_norm, torch::kCPU);
  b.train_step({real});
  EXPECT_NEAR(total_grad_norm(*b.networks().d), 0.01, 1e-5);  // unclipped norms here are far larger
  EXPECT_NEAR(total_grad_norm(*b.networks().g), 0.02, 1e-5);
}

TEST(TrainerTest, LinearLearningRateDecay) {
  Config c = tiny_config("dcgan", "bce");
  c.optim.lr_decay = LrDecay::linear;
  c.train.steps = 4;
  c.optim.g.lr = 2e-4;
  c.optim.d.lr = 4e-4;
  Trainer t(c, torch::kCPU);
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  t.train_step({real});
  EXPECT_DOUBLE_EQ(t.optimizer_d().lr(), 4e-4);  // step 0 of 4
  t.train_step({real});
  t.train_step({real});
  EXPECT_DOUBLE_EQ(t.optimizer_d().lr(), 4e-4 * 0.5);  // step 2 of 4
  EXPECT_DOUBLE_EQ(t.optimizer_g().lr(), 2e-4 * 0.5);
}

}  // namespace

namespace {

TEST(TrainerTest, EmaFollowsTheGeneratorWithItsDecay) {
  Config c = tiny_config("dcgan", "bce");
  c.train.ema = 0.75;
  c.train.ema_rampup = 0;  // the plain decay
  Trainer t(c, torch::kCPU);
  ASSERT_NE(t.ema_generator(), nullptr);
  std::vector<torch::Tensor> before;
  for (const auto& p : t.networks().g->parameters()) before.push_back(p.detach().clone());
  for (const auto& p : t.ema_generator()->parameters()) EXPECT_FALSE(p.requires_grad());
  t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
  const auto after = t.networks().g->parameters();
  const auto ema = t.ema_generator()->parameters();
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_TRUE(torch::allclose(ema[i], 0.75 * before[i] + 0.25 * after[i], 1e-5, 1e-7)) << i;
  // Grids come from the average: they differ from the raw generator's.
  Config plain = tiny_config("dcgan", "bce");
  Trainer raw(plain, torch::kCPU);
  raw.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
  EXPECT_EQ(raw.ema_generator(), nullptr);
}

// stylegan2-ada's ramp: the half-life B·ln ½ / ln(decay) in images is at most ema_rampup × the images seen.
TEST(TrainerTest, EmaRampShortensTheHalfLifeEarlyInARun) {
  Config c = tiny_config("dcgan", "bce");  // batch 4
  c.train.ema = 0.999;
  c.train.ema_rampup = 0.05;
  const Trainer t(c, torch::kCPU);
  EXPECT_NEAR(t.ema_decay(0), std::pow(0.5, 4 / (0.05 * 4)), 1e-12);       // 4 images seen: half-life 0.2
  EXPECT_NEAR(t.ema_decay(999), std::pow(0.5, 4 / (0.05 * 4000)), 1e-12);  // 200 images
  EXPECT_NEAR(t.ema_decay(1000000), 0.999, 1e-12);  // the ramp has passed the configured half-life (2,771)
  c.train.ema_rampup = 0;
  EXPECT_EQ(Trainer(c, torch::kCPU).ema_decay(0), 0.999);
}

// The average's batch-norm statistics belong to its own weights: recomputed before it draws (once per step),
// or copied from the training generator with ema_bn "copy" (runs from before the ramp).
TEST(TrainerTest, EmaBatchNormStatisticsAreRecomputedForTheAverage) {
  auto running_means = [](torch::nn::Module& m) {
    std::vector<torch::Tensor> out;
    for (const auto& b : m.named_buffers())
      if (b.key().find("running_mean") != std::string::npos) out.push_back(b.value().clone());
    return out;
  };
  auto same = [](const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (!torch::equal(a[i], b[i])) return false;
    return !a.empty();
  };
  for (const EmaBatchNorm mode : {EmaBatchNorm::recompute, EmaBatchNorm::copy}) {
    Config c = tiny_config("dcgan", "bce");
    c.train.ema = 0.9;
    c.train.ema_bn = mode;
    Trainer t(c, torch::kCPU);
    for (int i = 0; i < 2; ++i) t.train_step({torch::rand({4, 1, 16, 16}) * 2 - 1});
    EXPECT_TRUE(same(running_means(*t.ema_generator()), running_means(*t.networks().g))) << "copied each step";
    const auto grid = t.sample_images();
    const auto after = running_means(*t.ema_generator());
    EXPECT_EQ(same(after, running_means(*t.networks().g)), mode == EmaBatchNorm::copy);
    EXPECT_TRUE(torch::equal(t.sample_images(), grid)) << "drawing again changes nothing";
    EXPECT_TRUE(same(running_means(*t.ema_generator()), after));
  }
}

TEST(TrainerTest, EmaDoesNotChangeTheTrainingStream) {
  Config with = tiny_config("dcgan", "bce");
  with.train.ema = 0.9;
  const auto real = torch::rand({4, 1, 16, 16}) * 2 - 1;
  Trainer a(tiny_config("dcgan", "bce"), torch::kCPU);  // each Trainer seeds the default generators afresh
  const auto sa = a.train_step({real});
  Trainer b(with, torch::kCPU);
  const auto sb = b.train_step({real});
  EXPECT_TRUE(torch::equal(sa.loss_g, sb.loss_g));
}

}  // namespace

namespace {

// torch::optim::Adam's archive as LibTorch writes it, the parameters named by `names` (LibTorch 1.x writes each
// parameter's address in hexadecimal, 2.x in decimal); the states are written in reverse order.
std::string adam_archive(const std::vector<Optimizer::Moments>& moments, const std::vector<std::string>& names,
                         double lr) {
  torch::serialize::OutputArchive archive, states(archive.compilation_unit()), groups(archive.compilation_unit()),
      group(archive.compilation_unit()), options(archive.compilation_unit());
  for (size_t i = moments.size(); i-- > 0;) {
    torch::optim::AdamParamState state;
    state.step(moments[i].step);
    state.exp_avg(moments[i].exp_avg);
    state.exp_avg_sq(moments[i].exp_avg_sq);
    torch::serialize::OutputArchive one(archive.compilation_unit());
    state.serialize(one);
    states.write(names[i], one);
  }
  group.write("params/size", torch::tensor(static_cast<int64_t>(names.size())));
  for (size_t i = 0; i < names.size(); ++i) group.write("params/" + std::to_string(i), c10::IValue(names[i]));
  torch::optim::AdamOptions(lr).betas({0.5, 0.999}).serialize(options);
  group.write("options", options);
  groups.write("param_groups/size", torch::tensor(int64_t{1}));
  groups.write("param_groups/0", group);
  archive.write("pytorch_version", c10::IValue("1.5.0"));
  archive.write("state", states);
  archive.write("param_groups", groups);
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// Old runs stay resumable across LibTorch versions: the Adam state of every parameter comes back to that
// parameter whether its name is written as LibTorch 1.x or 2.x writes it.
TEST(OptimizerTest, LoadsAdamStatesThatEitherLibTorchWrote) {
  torch::manual_seed(0);
  torch::nn::Linear net(3, 2);
  Optimizer trained(*net, AdamConfig{1e-3}, /*fused=*/false);
  for (int step = 0; step < 3; ++step) {
    trained.clear_grads();
    net->forward(torch::randn({4, 3})).pow(2).mean().backward();
    trained.step();
  }
  const auto want = trained.moments();
  const std::vector<std::vector<std::string>> namings = {{"0x55d0c4a1e2f0", "0x55d0c4a1e7b0"},
                                                         {"94348839707376", "94348839708592"}};
  for (const auto& names : namings) {
    torch::nn::Linear other(3, 2);
    Optimizer loaded(*other, AdamConfig{}, /*fused=*/false);
    std::istringstream in(adam_archive(want, names, 7e-4));
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    loaded.load(archive);
    EXPECT_EQ(loaded.lr(), 7e-4) << names[0];
    const auto got = loaded.moments();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(got[i].exp_avg.defined()) << names[0] << " parameter " << i;
      EXPECT_EQ(got[i].step, 3) << names[0] << " parameter " << i;
      EXPECT_TRUE(torch::equal(got[i].exp_avg, want[i].exp_avg)) << names[0] << " parameter " << i;
      EXPECT_TRUE(torch::equal(got[i].exp_avg_sq, want[i].exp_avg_sq)) << names[0] << " parameter " << i;
    }
  }
}

}  // namespace
