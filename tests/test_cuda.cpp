// The CUDA paths: the fused Adam update and CUDA-graph replay of the training step, each against the eager path
// it replaces. They need a GPU and a CUDA LibTorch >= 2.4, and are skipped without them (CI has neither).
#include <gtest/gtest.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/cuda_graph.hpp"
#include "ganpp/files.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/trainer.hpp"
#include "helpers.hpp"

using namespace ganpp;
using namespace ganpp::test;

namespace {

const torch::Device kCuda(torch::kCUDA, 0);

#define REQUIRE_CUDA_GRAPHS()                                         \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"; \
  if (!cuda_graphs_available()) GTEST_SKIP() << "this LibTorch has no fused Adam"

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what, double rtol = 1e-4,
                  double atol = 1e-5) {
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  const auto x = a.detach().to(torch::kCPU, torch::kFloat64), y = b.detach().to(torch::kCPU, torch::kFloat64);
  EXPECT_TRUE(torch::allclose(x, y, rtol, atol)) << what << ": max |diff| " << (x - y).abs().max().item<double>();
}

TEST(CudaTest, FusedAdamFollowsLibTorchAdam) {
  REQUIRE_CUDA_GRAPHS();
  torch::manual_seed(0);
  torch::nn::Conv2d eager_net(torch::nn::Conv2dOptions(3, 8, 3)), fused_net(torch::nn::Conv2dOptions(3, 8, 3));
  eager_net->to(kCuda);
  fused_net->to(kCuda);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < eager_net->parameters().size(); ++i)
      fused_net->parameters()[i].copy_(eager_net->parameters()[i]);
  }
  AdamConfig c;
  c.lr = 1e-2;
  c.betas = {0.5, 0.999};
  c.weight_decay = 1e-3;
  Optimizer eager(*eager_net, c, /*fused=*/false), fused(*fused_net, c, /*fused=*/true);
  ASSERT_FALSE(eager.fused());
  ASSERT_TRUE(fused.fused());
  for (int step = 0; step < 6; ++step) {
    if (step == 3) {
      eager.set_lr(3e-3);
      fused.set_lr(3e-3);
    }
    const auto x = torch::randn({4, 3, 9, 9}, kCuda);
    eager.clear_grads();
    eager_net->forward(x).pow(2).mean().backward();
    eager.step();
    fused.clear_grads();
    fused_net->forward(x).pow(2).mean().backward();
    fused.step();
  }
  const auto ms = eager.moments(), mt = fused.moments();
  for (size_t i = 0; i < eager_net->parameters().size(); ++i) {
    const auto& p = eager_net->parameters()[i];
    const auto& q = fused_net->parameters()[i];
    expect_close(p, q, "parameter " + std::to_string(i), 1e-5, 1e-6);
    EXPECT_EQ(ms[i].step, 6);
    EXPECT_EQ(mt[i].step, 6);
    expect_close(ms[i].exp_avg, mt[i].exp_avg, "exp_avg " + std::to_string(i), 1e-5, 1e-7);
    expect_close(ms[i].exp_avg_sq, mt[i].exp_avg_sq, "exp_avg_sq " + std::to_string(i), 1e-5, 1e-9);
  }
}

// Trains `steps` steps on the same batches, eagerly and as a CUDA graph (3 eager steps, a capture, replays),
// and expects the same networks and statistics: the replays did the work, with fresh random draws each time.
void expect_graph_matches_eager(Config config, int64_t classes, const std::string& what) {
  const int64_t steps = 7, n = config.loss.n_critic, b = config.train.batch_size, size = config.data.image_size;
  torch::manual_seed(123);
  std::vector<std::vector<Batch>> data(static_cast<size_t>(steps));
  for (auto& reals : data)
    for (int64_t i = 0; i < n; ++i)
      reals.push_back({(torch::rand({b, config.data.channels, size, size}) * 2 - 1).to(kCuda),
                       classes > 0 ? torch::randint(classes, {b}, torch::kInt64).to(kCuda) : torch::Tensor()});
  std::vector<std::unique_ptr<Trainer>> trainers;
  std::vector<StepStats> last;
  for (bool graph : {false, true}) {
    config.train.cuda_graph = graph;
    trainers.push_back(std::make_unique<Trainer>(config, kCuda));  // seeds the RNGs afresh
    for (const auto& reals : data) last.push_back(trainers.back()->train_step(reals));
    EXPECT_EQ(trainers.back()->step(), steps) << what;
  }
  const StepStats& e = last[steps - 1];
  const StepStats& g = last[2 * steps - 1];
  expect_close(e.loss_d, g.loss_d, what + " loss_d");
  expect_close(e.loss_g, g.loss_g, what + " loss_g");
  expect_close(e.grad_norm_d, g.grad_norm_d, what + " grad_norm_d");
  const auto compare = [&](const torch::nn::Module& a, const torch::nn::Module& b, const std::string& net) {
    const auto pa = a.named_parameters(), pb = b.named_parameters();
    for (const auto& p : pa) expect_close(p.value(), pb[p.key()], what + " " + net + "." + p.key());
    const auto ba = a.named_buffers(), bb = b.named_buffers();
    for (const auto& x : ba) expect_close(x.value(), bb[x.key()], what + " " + net + "." + x.key());
  };
  compare(*trainers[0]->networks().g, *trainers[1]->networks().g, "G");
  compare(*trainers[0]->networks().d, *trainers[1]->networks().d, "D");
  if (trainers[0]->ema_generator()) compare(*trainers[0]->ema_generator(), *trainers[1]->ema_generator(), "EMA");
}

TEST(CudaTest, GraphedStepMatchesTheEagerStep) {
  REQUIRE_CUDA_GRAPHS();
  expect_graph_matches_eager(tiny_config("dcgan", "bce"), 0, "dcgan bce");
  Config gp = tiny_config("dcgan", "wgan-gp");
  gp.loss.n_critic = 2;
  gp.optim.lr_decay = LrDecay::linear;
  gp.train.steps = 20;
  expect_graph_matches_eager(gp, 0, "dcgan wgan-gp, linear lr decay");
  Config cond = tiny_config("dcgan", "hinge");
  cond.model.conditional = true;
  cond.model.num_classes = 3;
  cond.model.d.spectral_norm = true;
  cond.model.g.upsample = Upsample::nearest;
  cond.train.ema = 0.9;
  cond.train.precision = Precision::bf16;
  expect_graph_matches_eager(cond, 3, "conditional SN hinge, EMA, bf16");
}

// The fused path's step counts live on the device: a checkpoint must carry them, and a restored trainer must
// continue from them (and from moments re-laid out to the parameters' channels-last strides).
TEST(CudaTest, FusedAdamStateSurvivesACheckpoint) {
  REQUIRE_CUDA_GRAPHS();
  const TempDir tmp("cuda-fused-ckpt");
  const Config config = tiny_config("dcgan", "bce");
  const auto real = (torch::rand({4, 1, 16, 16}) * 2 - 1).to(kCuda);
  Trainer a(config, kCuda);
  for (int i = 0; i < 3; ++i) a.train_step({real});
  const RngState rng = capture_rng(kCuda);
  CheckpointWriter writer(config, {});
  a.save(writer);
  writer.write_data({}, {});
  write_file_atomic(tmp.path + "/a.ckpt", writer.bytes());
  CheckpointReader reader(tmp.path + "/a.ckpt", kCuda);
  Trainer b(config, kCuda);
  b.load(reader);
  // From the same random-generator state, data and weights, the next steps must agree.
  a.train_step({real});
  restore_rng(rng, kCuda);
  b.train_step({real});
  const auto pa = a.networks().g->parameters(), pb = b.networks().g->parameters();
  const auto ma = a.optimizer_g().moments(), mb = b.optimizer_g().moments();
  for (size_t i = 0; i < pa.size(); ++i) {
    expect_close(pa[i], pb[i], "G parameter " + std::to_string(i));
    EXPECT_EQ(ma[i].step, 4);
    EXPECT_EQ(mb[i].step, 4);
  }
}

TEST(CudaTest, GraphedFunctionRunsOtherShapesEagerly) {
  REQUIRE_CUDA_GRAPHS();
  int64_t calls = 0;
  GraphedFunction twice(
      [&calls](const std::vector<torch::Tensor>& in) {
        ++calls;
        return std::vector<torch::Tensor>{in[0] * 2};
      },
      kCuda, /*eager_calls=*/1);
  const auto x = torch::arange(4, torch::TensorOptions().dtype(torch::kFloat32).device(kCuda));
  expect_close(twice({x})[0], x * 2, "eager call");
  EXPECT_FALSE(twice.captured());
  expect_close(twice({x + 1})[0], (x + 1) * 2, "captured and replayed");
  EXPECT_TRUE(twice.captured());
  expect_close(twice({x + 5})[0], (x + 5) * 2, "replayed");
  EXPECT_EQ(calls, 2);  // one eager call and the capture; replays do not call the function
  const auto y = torch::ones({3}, x.options());
  expect_close(twice({y})[0], y * 2, "another shape, eagerly");
  EXPECT_EQ(calls, 3);
}

}  // namespace
