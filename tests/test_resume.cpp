// Exact resume: N steps + --resume + M steps equals N+M straight steps, bit for bit, through the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ganpp/checkpoint.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/trainer.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

// Intervals and N, M are chosen so that neither N nor M is a multiple of any interval.
constexpr int kN = 7, kM = 11;

void expect_same_module(torch::nn::Module& a, torch::nn::Module& b, const std::string& what) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << what << " parameter " << p.key();
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (const auto& p : ba) EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << what << " buffer " << p.key();
}

void expect_same_adam(torch::optim::Adam& a, torch::optim::Adam& b, const std::string& what) {
  const auto& ga = a.param_groups().front().params();
  const auto& gb = b.param_groups().front().params();
  ASSERT_EQ(ga.size(), gb.size());
  ASSERT_EQ(a.state().size(), ga.size()) << what << ": every parameter has Adam state";
  for (size_t i = 0; i < ga.size(); ++i) {
    ASSERT_NE(adam_param_state(a, ga[i]), nullptr) << what << " param " << i;
    ASSERT_NE(adam_param_state(b, gb[i]), nullptr) << what << " param " << i;
    auto& sa = *adam_param_state(a, ga[i]);
    auto& sb = *adam_param_state(b, gb[i]);
    EXPECT_EQ(sa.step(), sb.step()) << what << " param " << i;
    EXPECT_TRUE(torch::equal(sa.exp_avg(), sb.exp_avg())) << what << " exp_avg " << i;
    EXPECT_TRUE(torch::equal(sa.exp_avg_sq(), sb.exp_avg_sq())) << what << " exp_avg_sq " << i;
  }
}

// log.jsonl records by step, without the timing field.
std::map<int64_t, Json> log_by_step(const std::string& run) {
  std::map<int64_t, Json> out;
  std::istringstream in(slurp(run + "/log.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    Json j = Json::parse(line);
    j.erase("images_per_s");
    out[j["step"].get<int64_t>()] = j;
  }
  return out;
}

struct ResumeCase {
  std::string name;
  std::vector<std::string> sets;
};

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

TEST_P(ResumeTest, SplitRunEqualsStraightRun) {
  const std::string root = temp_dir("resume-" + GetParam().name);
  write_idx_dataset(root + "/data", 40, 16, 10);
  std::vector<std::string> common = {"--threads", "1", "--set", "data.path=" + root + "/data",
                                     "--set", "data.image_size=16", "--set", "model.z_dim=8",
                                     "--set", "model.g.ngf=4", "--set", "model.d.ndf=4",
                                     "--set", "train.batch_size=8", "--set", "train.log_every=4",
                                     "--set", "train.sample_every=5", "--set", "train.checkpoint_every=3",
                                     "--set", "train.sample_count=6", "--set", "train.sample_nrow=3"};
  for (const auto& s : GetParam().sets) common.insert(common.end(), {"--set", s});
  auto train = [&](const std::string& out, int steps) {
    std::vector<std::string> args = {"train", "--out", out, "--set", "train.steps=" + std::to_string(steps)};
    args.insert(args.end(), common.begin(), common.end());
    return run_ganpp(args);
  };
  const std::string straight = root + "/straight", split = root + "/split";
  auto r = train(straight, kN + kM);
  ASSERT_EQ(r.code, 0) << r.err;
  r = train(split, kN);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_ganpp({"train", "--resume", split, "--threads", "1", "--set", "train.steps=" + std::to_string(kN + kM)});
  ASSERT_EQ(r.code, 0) << r.err;

  // Networks, optimisers, RNG, data position and fixed latents of the final checkpoints.
  CheckpointReader a(straight + "/checkpoints/latest.ckpt", torch::kCPU);
  CheckpointReader b(split + "/checkpoints/latest.ckpt", torch::kCPU);
  EXPECT_EQ(a.state().step, kN + kM);
  EXPECT_EQ(b.state().step, kN + kM);
  EXPECT_EQ(a.state().data.epoch, b.state().data.epoch);
  EXPECT_EQ(a.state().data.position, b.state().data.position);
  EXPECT_TRUE(torch::equal(a.state().rng.cpu, b.state().rng.cpu));
  EXPECT_TRUE(torch::equal(a.state().fixed_z, b.state().fixed_z));
  Trainer ta(a.config(), torch::kCPU), tb(b.config(), torch::kCPU);
  ta.restore(a);
  tb.restore(b);
  expect_same_module(*ta.networks().g, *tb.networks().g, "generator");
  expect_same_module(*ta.networks().d, *tb.networks().d, "discriminator");
  ASSERT_EQ(ta.ema_generator() != nullptr, tb.ema_generator() != nullptr);
  if (ta.ema_generator()) expect_same_module(*ta.ema_generator(), *tb.ema_generator(), "EMA generator");
  expect_same_adam(ta.optimizer_g(), tb.optimizer_g(), "generator Adam");
  expect_same_adam(ta.optimizer_d(), tb.optimizer_d(), "discriminator Adam");

  // Every grid both runs wrote is byte-identical; the split run wrote every grid the straight one did.
  int compared = 0;
  for (const auto& e : fs::directory_iterator(straight + "/samples")) {
    const std::string other = split + "/samples/" + e.path().filename().string();
    ASSERT_TRUE(fs::exists(other)) << other;
    EXPECT_EQ(slurp(e.path().string()), slurp(other)) << e.path().filename();
    ++compared;
  }
  EXPECT_EQ(compared, 4);  // steps 5, 10, 15 and the last (18)

  // Every non-timing log value at the common steps, and no record after the cut is duplicated.
  const auto la = log_by_step(straight), lb = log_by_step(split);
  // The health signals are among the compared values: gradient norms in every record, the diversity
  // at grid steps (which are logged too), and the warnings they raise.
  ASSERT_TRUE(la.count(4) && la.count(5));
  EXPECT_TRUE(la.at(4).contains("grad_norm_d") && la.at(4).contains("grad_norm_g"));
  EXPECT_TRUE(la.at(5).contains("diversity"));
  for (const auto& [step, record] : la) {
    ASSERT_TRUE(lb.count(step)) << "step " << step;
    EXPECT_EQ(record.dump(), lb.at(step).dump()) << "log at step " << step;
  }
  int lines = 0;
  std::istringstream in(slurp(split + "/log.jsonl"));
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, static_cast<int>(lb.size()));
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(Losses, ResumeTest,
                         ::testing::Values(ResumeCase{"dcgan_bce", {}},
                                           ResumeCase{"dcgan_wgangp", {"loss.kind=wgan-gp", "loss.n_critic=2"}},
                                           ResumeCase{"mlp_dropout", {"model.arch=mlp", "model.g.hidden=[16,32]",
                                                                      "model.d.hidden=[32,16]", "model.d.dropout=0.3"}},
                                           ResumeCase{"hflip", {"data.hflip=true"}},
                                           ResumeCase{"ema_clipping", {"train.ema=0.9", "optim.d.clip_grad_norm=0.5",
                                                                       "loss.kind=hinge"}},
                                           // Spectral-norm vectors, EMA weights and a conditional grid.
                                           ResumeCase{"sn_projection_ema",
                                                      {"model.conditional=true", "model.d.spectral_norm=true",
                                                       "model.g.spectral_norm=true", "loss.kind=hinge",
                                                       "train.ema=0.9"}},
                                           ResumeCase{"acgan_wgangp_upsample_fm",
                                                      {"model.conditional=true", "model.d.conditioning=ac",
                                                       "loss.kind=wgan-gp", "loss.n_critic=2",
                                                       "model.g.upsample=bilinear", "loss.feature_matching=0.1"}},
                                           ResumeCase{"mlp_concat_sigmoid",
                                                      {"model.arch=mlp", "model.g.hidden=[16]", "model.d.hidden=[16]",
                                                       "model.conditional=true", "model.d.conditioning=concat",
                                                       "model.g.embed_dim=4", "model.g.output=sigmoid"}}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
