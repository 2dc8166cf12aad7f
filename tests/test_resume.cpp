// Exact resume: N steps + --resume + M steps equals N+M straight steps, bit for bit, through the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ganpp/checkpoint.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/optimizer.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/trainer.hpp"
#include "ganpp/training_run.hpp"
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

void expect_same_adam(Optimizer& a, Optimizer& b, const std::string& what) {
  const auto ma = a.moments(), mb = b.moments();
  ASSERT_EQ(ma.size(), mb.size());
  for (size_t i = 0; i < ma.size(); ++i) {
    ASSERT_TRUE(ma[i].exp_avg.defined() && mb[i].exp_avg.defined()) << what << ": every parameter has Adam state";
    EXPECT_EQ(ma[i].step, mb[i].step) << what << " param " << i;
    EXPECT_TRUE(torch::equal(ma[i].exp_avg, mb[i].exp_avg)) << what << " exp_avg " << i;
    EXPECT_TRUE(torch::equal(ma[i].exp_avg_sq, mb[i].exp_avg_sq)) << what << " exp_avg_sq " << i;
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
    j.erase("data_wait_ms");
    out[j["step"].get<int64_t>()] = j;
  }
  return out;
}

// The exact-resume equalities between a straight run and a split one that ended at the same step: both
// networks, EMA weights, both optimisers, RNG, data position, fixed latents, every grid and every non-timing
// log value; `grids` is the number of grids the straight run wrote.
void expect_same_runs(const std::string& straight, const std::string& split, int grids) {
  // Networks, optimisers, RNG, data position and fixed latents of the final checkpoints.
  CheckpointReader a(straight + "/checkpoints/latest.ckpt", torch::kCPU);
  CheckpointReader b(split + "/checkpoints/latest.ckpt", torch::kCPU);
  EXPECT_EQ(a.state().step, b.state().step);
  EXPECT_EQ(a.state().data.epoch, b.state().data.epoch);
  EXPECT_EQ(a.state().data.position, b.state().data.position);
  EXPECT_TRUE(torch::equal(a.state().rng.cpu, b.state().rng.cpu));
  EXPECT_TRUE(torch::equal(a.state().fixed_z, b.state().fixed_z));
  Trainer ta(a.config(), torch::kCPU), tb(b.config(), torch::kCPU);
  ta.load(a);
  tb.load(b);
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
  EXPECT_EQ(compared, grids);

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
}

struct ResumeCase {
  std::string name;
  std::vector<std::string> sets;
};

class ResumeTest : public ::testing::TestWithParam<ResumeCase> {};

// The flags of the resume tests' tiny runs (16x16 data, batch 8, intervals that N and M are no multiples of).
std::vector<std::string> resume_test_flags() {
  return {"--threads", "1",
          "--set",     "data.image_size=16",
          "--set",     "model.z_dim=8",
          "--set",     "model.g.ngf=4",
          "--set",     "model.d.ndf=4",
          "--set",     "train.batch_size=8",
          "--set",     "train.log_every=4",
          "--set",     "train.sample_every=5",
          "--set",     "train.checkpoint_every=3",
          "--set",     "train.sample_count=6",
          "--set",     "train.sample_nrow=3"};
}

TEST_P(ResumeTest, SplitRunEqualsStraightRun) {
  const std::string root = temp_dir("resume-" + GetParam().name);
  write_idx_dataset(root + "/data", 40, 16, 10);
  std::vector<std::string> common = resume_test_flags();
  common.insert(common.end(), {"--set", "data.path=" + root + "/data"});
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

  expect_same_runs(straight, split, /*grids=*/4);  // grids at steps 5, 10, 15 and the last (18)
  fs::remove_all(root);
}

INSTANTIATE_TEST_SUITE_P(
    Losses, ResumeTest,
    ::testing::Values(
        ResumeCase{"dcgan_bce", {}}, ResumeCase{"dcgan_wgangp", {"loss.kind=wgan-gp", "loss.n_critic=2"}},
        ResumeCase{"mlp_dropout",
                   {"model.arch=mlp", "model.g.hidden=[16,32]", "model.d.hidden=[32,16]", "model.d.dropout=0.3"}},
        ResumeCase{"hflip", {"data.hflip=true"}},
        ResumeCase{"ema_clipping", {"train.ema=0.9", "optim.d.clip_grad_norm=0.5", "loss.kind=hinge"}},
        // Spectral-norm vectors, EMA weights and a conditional grid.
        ResumeCase{"sn_projection_ema",
                   {"model.conditional=true", "model.d.spectral_norm=true", "model.g.spectral_norm=true",
                    "loss.kind=hinge", "train.ema=0.9"}},
        ResumeCase{"acgan_wgangp_upsample_fm",
                   {"model.conditional=true", "model.d.conditioning=ac", "loss.kind=wgan-gp", "loss.n_critic=2",
                    "model.g.upsample=bilinear", "loss.feature_matching=0.1"}},
        ResumeCase{"mlp_concat_sigmoid",
                   {"model.arch=mlp", "model.g.hidden=[16]", "model.d.hidden=[16]", "model.conditional=true",
                    "model.d.conditioning=concat", "model.g.embed_dim=4", "model.g.output=sigmoid"}}),
    [](const auto& info) { return info.param.name; });

// A run started on an IDX folder and resumed on its prepared file (data.path may change on resume when the data's
// fingerprint stays the same) ends where a run on the prepared file from its start ends: the prepared file and
// the memory-mapped, prefetched batches (flipped here) change nothing.
TEST(ResumeDataTest, ASwitchFromTheFolderToItsPreparedFileIsExact) {
  const TempDir root("resume-prepared");
  write_idx_dataset(root.path + "/data", 40, 16, 10);
  const std::string file = root.path + "/data.ganppdata";
  auto r = run_ganpp({"data", "prepare", "--data", root.path + "/data", "--image-size", "16", "--channels", "1",
                      "--out", file});
  ASSERT_EQ(r.code, 0) << r.err;
  auto train = [&](const std::string& out, int steps, const std::string& data) {
    std::vector<std::string> args = {
        "train", "--out",          out, "--set", "train.steps=" + std::to_string(steps), "--set", "data.path=" + data,
        "--set", "data.hflip=true"};
    const auto flags = resume_test_flags();
    args.insert(args.end(), flags.begin(), flags.end());
    return run_ganpp(args);
  };
  const std::string straight = root.path + "/straight", split = root.path + "/split";
  r = train(straight, kN + kM, file);
  ASSERT_EQ(r.code, 0) << r.err;
  r = train(split, kN, root.path + "/data");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run_ganpp({"train", "--resume", split, "--threads", "1", "--set", "train.steps=" + std::to_string(kN + kM),
                 "--set", "data.path=" + file});
  ASSERT_EQ(r.code, 0) << r.err;
  expect_same_runs(straight, split, /*grids=*/4);
}

// Stops a run through request_stop() once it reaches a step, as a signal handler or a scheduler would.
struct StopAtStep : RunObserver {
  explicit StopAtStep(int64_t step) : step(step) {}
  void on_step(TrainingRun& run, const StepStats&, const StepPoints&) override {
    if (run.step() == step) run.request_stop();
  }
  int64_t step;
};

// The same equalities in-process: TrainingRun::start, request_stop() after N steps (a checkpoint at N),
// TrainingRun::resume to N+M, against a straight run of N+M steps.
void expect_stop_and_resume_equals_a_straight_run(Config c, const std::string& name) {
  const TempDir root(name);
  write_idx_dataset(root.path + "/data", 40, 16, 10);
  c.data.path = root.path + "/data";
  c.train.steps = kN + kM;
  c.train.batch_size = 8;
  c.train.log_every = 4;
  c.train.sample_every = 5;
  c.train.checkpoint_every = 3;
  c.train.sample_nrow = 3;
  const std::string straight = root.path + "/straight", split = root.path + "/split";
  TrainingRun::start(c, straight, RunOptions())->run();
  {
    auto first = TrainingRun::start(c, split, RunOptions());
    first->add_observer(std::make_unique<StopAtStep>(kN));
    first->run();
    EXPECT_EQ(first->step(), kN);
  }
  ASSERT_TRUE(fs::exists(checkpoint_path(split, kN))) << "a stop writes a checkpoint at its step";
  EXPECT_EQ(CheckpointReader(latest_checkpoint_path(split), torch::kCPU).state().step, kN);
  auto second = TrainingRun::resume(split, {}, RunOptions());
  EXPECT_EQ(second->step(), kN);
  EXPECT_FALSE(second->finished());
  second->run();
  EXPECT_EQ(second->step(), kN + kM);
  expect_same_runs(straight, split, /*grids=*/4);
  // Resuming the finished run trains nothing.
  auto done = TrainingRun::resume(split, {}, RunOptions());
  EXPECT_TRUE(done->finished());
  done->run();
  EXPECT_EQ(done->step(), kN + kM);
}

TEST(TrainingRunTest, StopAndResumeInProcessEqualsAStraightRun) {
  Config c = tiny_config("dcgan", "hinge");
  c.model.conditional = true;
  c.train.ema = 0.9;
  expect_stop_and_resume_equals_a_straight_run(c, "run-in-process");
}

// The state that training quality adds: ADA's p and r_t sums (moving every step here), R1 and R2 with lazy
// regularisation (a penalty step every 2nd critic step, on both sides of the stop), the EMA ramp with
// batch-norm statistics recomputed for the average, and a relativistic loss that re-scores reals.
TEST(TrainingRunTest, StopAndResumeIsExactWithAdaPenaltiesAndTheEmaRamp) {
  Config c = tiny_config("dcgan", "rpgan");
  c.loss.r1_gamma = 1.0;
  c.loss.r2_gamma = 0.5;
  c.loss.reg_every = 2;
  c.train.augment = Augment::ada;
  c.train.ada_interval = 1;
  c.train.ada_kimg = 0.05;
  c.train.ema = 0.99;
  c.train.ema_rampup = 0.5;
  expect_stop_and_resume_equals_a_straight_run(c, "run-quality");
}

// DiffAugment with WGAN-GP: the penalty's interpolates pass through the augmentation.
TEST(TrainingRunTest, StopAndResumeIsExactWithDiffAugmentAndAGradientPenalty) {
  Config c = tiny_config("dcgan", "wgan-gp");
  c.train.augment = Augment::diffaugment;
  expect_stop_and_resume_equals_a_straight_run(c, "run-diffaugment");
}

TEST(TrainingRunTest, ResumeRefusesKeysThatCannotChangeAndNamesThoseThatMay) {
  const std::string message = error_of<UsageError>([] {
    TrainingRun::resume("/nonexistent", {"loss.kind=wgan-gp"}, RunOptions());
  });
  EXPECT_TRUE(contains(message, "--set loss.kind cannot change when resuming")) << message;
  EXPECT_TRUE(contains(message, "train.steps")) << message;
}

// A run directory written by ganpp before checkpoints had sections (format 2: a conditional DCGAN with EMA
// and flips, 5 of 12 steps; tests/fixtures/format2) resumes to the values that ganpp's own straight
// 12-step run logged and drew. Values are compared to 1e-6 relative: bit-exact on the machine that
// recorded them, and robust to another CPU's vector width.
TEST(ResumeTest, OldFormatCheckpointResumesToTheRecordedResult) {
  const TempDir root("format2");
  // The fixture's config reads its data from a fixed path: put the committed images there.
  const std::string data = "/tmp/ganpp-fixture-format2/data";
  fs::create_directories(data);
  for (const auto& e : fs::directory_iterator(source_path("tests/fixtures/format2/data")))
    fs::copy_file(e.path(), data + "/" + e.path().filename().string(), fs::copy_options::overwrite_existing);
  const std::string run = root.path + "/run";
  fs::copy(source_path("tests/fixtures/format2/run"), run, fs::copy_options::recursive);
  ASSERT_EQ(CheckpointReader(latest_checkpoint_path(run), torch::kCPU).origin().format_version, 2);

  const auto r = run_ganpp({"train", "--resume", run, "--threads", "1", "--set", "train.steps=12"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto got = log_by_step(run);
  std::istringstream expected(slurp(source_path("tests/fixtures/format2/expected/log.jsonl")));
  int records = 0;
  for (std::string line; std::getline(expected, line); ++records) {
    const Json want = Json::parse(line);
    const int64_t step = want["step"].get<int64_t>();
    ASSERT_TRUE(got.count(step)) << "step " << step;
    for (const auto& [key, value] : want.items()) {
      ASSERT_TRUE(got.at(step).contains(key)) << key << " at step " << step;
      if (value.is_number_float())
        EXPECT_NEAR(got.at(step)[key].get<double>(), value.get<double>(), 1e-6 * std::abs(value.get<double>()) + 1e-9)
            << key << " at step " << step;
      else
        EXPECT_EQ(got.at(step)[key], value) << key << " at step " << step;
    }
  }
  EXPECT_EQ(records, 3);  // steps 8, 10 and 12
  for (const char* grid : {"step_000010.png", "step_000012.png"}) {
    const auto want = read_png(source_path(std::string("tests/fixtures/format2/expected/") + grid));
    const auto have = read_png(run + "/samples/" + grid);
    ASSERT_EQ(want.sizes(), have.sizes()) << grid;
    EXPECT_LE((want.to(torch::kInt32) - have.to(torch::kInt32)).abs().max().item<int>(), 1) << grid;
  }
  // The resumed run writes the current format.
  EXPECT_EQ(CheckpointReader(latest_checkpoint_path(run), torch::kCPU).origin().format_version, kCheckpointFormat);
}

}  // namespace
