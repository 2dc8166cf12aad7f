// Data-parallel training through the real binary: ranks launched by torchrun (or by plain environment
// variables) over Gloo on 127.0.0.1 split each global batch, hold identical networks, match one process at the
// same global batch, resume across rank counts, and fail together when one of them dies or raises.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <map>
#include <regex>
#include <thread>

#include "ganpp/checkpoint.hpp"
#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/models.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

// Two ranks against one process after kSteps steps: the same math with float sums in another order (gradients
// averaged over the ranks, batch-norm moments over the global batch), carried through Adam.
constexpr double kTolerance = 1e-6;
constexpr int kSteps = 3;

#define SKIP_WITHOUT_DISTRIBUTED()                                                     \
  if (!distributed_built() || std::system("command -v torchrun >/dev/null 2>&1") != 0) \
  GTEST_SKIP() << "needs a ganpp built with c10d/Gloo (libgloo-dev) and torchrun (python3-torch)"

// A free TCP port on 127.0.0.1 for the ranks' store.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t size = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// A tiny `ganpp train` of `steps` steps into `out` at a global batch of 8, logging every step; `sets` last.
std::vector<std::string> train_args(const std::string& data, const std::string& out, int steps,
                                    const std::vector<std::string>& sets = {}) {
  std::vector<std::string> args = {"train", "--out",
                                   out,     "--no-progress",
                                   "--set", "train.steps=" + std::to_string(steps),
                                   "--set", "train.log_every=1",
                                   "--set", "train.sample_every=1000"};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  return with_tiny_model(args, data, 8);
}

// ganpp `args` in `dir` (one process without `nproc`; else under torchrun with `nproc` ranks and `launcher`
// options), with the GANPP_TRACE hook on.
CommandResult launch(const std::string& dir, const std::vector<std::string>& args, int nproc = 0,
                     const std::vector<std::string>& launcher = {}, const std::string& env = "") {
  std::vector<std::string> argv;
  if (nproc > 0) {
    argv = {"torchrun", "--nnodes", "1", "--nproc_per_node", std::to_string(nproc), "--master_addr", "127.0.0.1",
            "--master_port", std::to_string(free_port()), "--monitor_interval", "1",
            // Debian's torchrun (PyTorch 1.13 under Python 3.11) fails on its default of no redirection.
            "--redirects", "1", "--tee", "1"};
    argv.insert(argv.end(), launcher.begin(), launcher.end());
    argv.push_back("--no_python");
  }
  argv.push_back(GANPP_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  return run_shell("cd '" + dir + "' && GANPP_TRACE=1 " + kNoGpu + " " + env, argv);
}

// The rows each (rank, global batch) trained on, from the trace.
std::map<std::pair<int, int64_t>, std::vector<int64_t>> traced_rows(const std::string& err) {
  std::map<std::pair<int, int64_t>, std::vector<int64_t>> rows;
  const std::regex line(R"(ganpp-rows rank (\d+) batch (\d+):([ 0-9]*))");
  for (std::sregex_iterator m(err.begin(), err.end(), line), end; m != end; ++m) {
    std::vector<int64_t>& r = rows[{std::stoi((*m)[1]), std::stoll((*m)[2])}];
    std::istringstream values((*m)[3].str());
    for (int64_t v; values >> v;) r.push_back(v);
  }
  return rows;
}

// Each rank's CRC-32s of its networks' parameters and of their buffers at the end of its run, from the trace.
struct NetworksCrc {
  std::string parameters, buffers;
};
std::map<int, NetworksCrc> traced_networks(const std::string& err) {
  std::map<int, NetworksCrc> crc;
  const std::regex line(R"(ganpp-params rank (\d+) step \d+: parameters (\d+) buffers (\d+))");
  for (std::sregex_iterator m(err.begin(), err.end(), line), end; m != end; ++m)
    crc[std::stoi((*m)[1])] = {(*m)[2], (*m)[3]};
  return crc;
}

// The largest difference between the parameters and buffers of two checkpoints' networks.
double max_difference(const std::string& a, const std::string& b) {
  CheckpointReader ra(a, torch::kCPU), rb(b, torch::kCPU);
  Networks na = build_networks(ra.config()), nb = build_networks(rb.config());
  ra.load_networks(*na.g, *na.d);
  rb.load_networks(*nb.g, *nb.d);
  double worst = 0;
  for (auto [x, y] : {std::pair<torch::nn::Module*, torch::nn::Module*>{na.g.get(), nb.g.get()},
                      std::pair<torch::nn::Module*, torch::nn::Module*>{na.d.get(), nb.d.get()}}) {
    std::vector<torch::Tensor> tx = x->parameters(), ty = y->parameters();
    for (const auto& t : x->buffers()) tx.push_back(t);
    for (const auto& t : y->buffers()) ty.push_back(t);
    EXPECT_EQ(tx.size(), ty.size());
    for (size_t i = 0; i < tx.size() && i < ty.size(); ++i)
      worst = std::max(worst, (tx[i].to(torch::kFloat64) - ty[i].to(torch::kFloat64)).abs().max().item<double>());
  }
  return worst;
}

std::string latest(const std::string& run) { return run + "/checkpoints/latest.ckpt"; }

class DistributedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir("dist");
    data_ = dir_ + "/data";
    write_idx_dataset(data_, 48, /*size=*/16, /*classes=*/4);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Trains `sets` for kSteps on one process and on two ranks; checks the split of every batch, the ranks'
  // identical networks and that only rank 0 wrote; returns the difference between the two runs' networks.
  double two_ranks_against_one(const std::vector<std::string>& sets, const std::vector<std::string>& flags = {}) {
    auto one_args = train_args(data_, "one", kSteps, sets);
    const CommandResult one = launch(dir_, one_args);
    EXPECT_EQ(one.code, 0) << one.err;
    auto two_args = train_args(data_, "two", kSteps, sets);
    two_args.insert(two_args.end(), flags.begin(), flags.end());
    const CommandResult two = launch(dir_, two_args, /*nproc=*/2);
    EXPECT_EQ(two.code, 0) << two.out << two.err;

    // Each rank trained on its half of every global batch that the single process trained on.
    const auto single = traced_rows(one.err), split = traced_rows(two.err);
    EXPECT_FALSE(single.empty());
    for (const auto& [key, rows] : single) {
      const auto first = split.find({0, key.second}), second = split.find({1, key.second});
      if (first == split.end() || second == split.end()) {
        ADD_FAILURE() << "batch " << key.second << " is missing on a rank";
        continue;
      }
      EXPECT_EQ(first->second.size(), 4u);
      EXPECT_EQ(second->second.size(), 4u);
      std::vector<int64_t> joined = first->second;
      joined.insert(joined.end(), second->second.begin(), second->second.end());
      EXPECT_EQ(joined, rows) << "batch " << key.second;
    }
    EXPECT_EQ(split.size(), 2 * single.size());
    // Both ranks hold the same parameters, bit for bit, and the same batch-norm statistics unless each rank keeps
    // its own.
    const auto crc = traced_networks(two.err);
    EXPECT_EQ(crc.size(), 2u) << two.err;
    const bool local_norm = std::find(flags.begin(), flags.end(), "local") != flags.end();
    if (crc.size() == 2) {
      EXPECT_EQ(crc.at(0).parameters, crc.at(1).parameters);
      if (!local_norm) {
        EXPECT_EQ(crc.at(0).buffers, crc.at(1).buffers);
      }
    }
    // Only rank 0 wrote: the run's folder and nothing else; its log counts each rank's images.
    std::vector<std::string> entries;
    for (const auto& e : fs::directory_iterator(dir_)) entries.push_back(e.path().filename().string());
    std::sort(entries.begin(), entries.end());
    EXPECT_EQ(entries, (std::vector<std::string>{"data", "one", "two"}));
    const std::string log = slurp(dir_ + "/two/log.jsonl");
    EXPECT_TRUE(contains(log, "\"rank_images\":[")) << log;
    EXPECT_TRUE(contains(slurp(dir_ + "/two/config.json"), "\"ranks\": 2"));
    const double difference = max_difference(latest(dir_ + "/one"), latest(dir_ + "/two"));
    RecordProperty("max_difference", std::to_string(difference));
    std::cout << "largest difference from one process: " << difference << "\n";
    return difference;
  }

  std::string dir_, data_;
};

TEST_F(DistributedTest, TwoRanksTrainAsOneProcessWithSynchronisedBatchNorm) {
  SKIP_WITHOUT_DISTRIBUTED();
  const double diff = two_ranks_against_one({"loss.kind=bce"});  // DCGAN with batch norm in G and D
  EXPECT_LE(diff, kTolerance);
  // Per-rank batch norm is a different model of the same data: far outside the tolerance.
  fs::remove_all(dir_ + "/one");
  fs::remove_all(dir_ + "/two");
  const double local = two_ranks_against_one({"loss.kind=bce"}, {"--dist-batch-norm", "local"});
  EXPECT_GT(local, 100 * kTolerance);
}

TEST_F(DistributedTest, TwoRanksTrainAsOneProcessWithAGradientPenalty) {
  SKIP_WITHOUT_DISTRIBUTED();
  EXPECT_LE(two_ranks_against_one({"loss.kind=wgan-gp", "loss.n_critic=2"}), kTolerance);
}

TEST_F(DistributedTest, TwoRanksTrainAsOneProcessForAConditionalHingeModel) {
  SKIP_WITHOUT_DISTRIBUTED();
  EXPECT_LE(two_ranks_against_one({"loss.kind=hinge", "model.conditional=true"}), kTolerance);
}

TEST_F(DistributedTest, RunsResumeOnAnotherNumberOfRanks) {
  SKIP_WITHOUT_DISTRIBUTED();
  // The reference: 4 steps straight on one process.
  ASSERT_EQ(launch(dir_, train_args(data_, "straight", 4)).code, 0);
  // 2 steps on 2 ranks, then 2 more on 1 process; and the other way round.
  const CommandResult two = launch(dir_, train_args(data_, "two_one", 2), /*nproc=*/2);
  ASSERT_EQ(two.code, 0) << two.err;
  const CommandResult one = launch(dir_, {"train", "--resume", "two_one", "--threads", "1", "--set", "train.steps=4"});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_LE(max_difference(latest(dir_ + "/straight"), latest(dir_ + "/two_one")), kTolerance);

  ASSERT_EQ(launch(dir_, train_args(data_, "one_two", 2)).code, 0);
  const CommandResult more = launch(dir_, {"train", "--resume", "one_two", "--threads", "1", "--set", "train.steps=4"},
                                    /*nproc=*/2);
  ASSERT_EQ(more.code, 0) << more.err;
  EXPECT_LE(max_difference(latest(dir_ + "/straight"), latest(dir_ + "/one_two")), kTolerance);
  // The log has every step once, in order.
  const std::string log = slurp(dir_ + "/one_two/log.jsonl");
  EXPECT_TRUE(contains(log, "\"step\":3") && contains(log, "\"step\":4")) << log;
}

// Two ranks started by hand (no torchrun): rank 1 with `rank1_env` added, or `rank1_args` instead of the shared
// arguments. Returns both exit codes and stderrs, after checking that both ended well within the timeout.
struct Outcome {
  int code0 = 0, code1 = 0;
  std::string err0, err1;
};

// With `slurm`, the ranks are given as Slurm gives them (SLURM_PROCID, SLURM_NTASKS), else as RANK and WORLD_SIZE.
Outcome two_ranks_by_hand(const std::vector<std::string>& args, const std::vector<std::string>& rank1_args,
                          const std::vector<std::string>& rank1_env, bool slurm = false) {
  const std::string port = std::to_string(free_port());
  const std::vector<std::string> env = {slurm ? "SLURM_NTASKS=2" : "WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                        "MASTER_PORT=" + port};
  auto env0 = env, env1 = env;
  env0.push_back(slurm ? "SLURM_PROCID=0" : "RANK=0");
  env1.push_back(slurm ? "SLURM_PROCID=1" : "RANK=1");
  env1.insert(env1.end(), rank1_env.begin(), rank1_env.end());
  const auto start = std::chrono::steady_clock::now();
  BackgroundGanpp r0 = start_ganpp(args, env0);
  BackgroundGanpp r1 = start_ganpp(rank1_args.empty() ? args : rank1_args, env1);
  Outcome o;
  o.code1 = r1.wait();
  o.code0 = r0.wait();
  o.err0 = r0.err();
  o.err1 = r1.err();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(25)) << "ranks did not end in time";
  return o;
}

TEST_F(DistributedTest, AKilledRankMakesTheOtherFailWithinTheTimeout) {
  SKIP_WITHOUT_DISTRIBUTED();
  auto args = train_args(data_, dir_ + "/killed", 50);
  args.insert(args.end(), {"--dist-timeout", "20"});
  const Outcome o = two_ranks_by_hand(args, {}, {"GANPP_FAULT=step@2", "GANPP_FAULT_RANK=1"});
  EXPECT_EQ(o.code1, 128 + SIGKILL);
  EXPECT_EQ(o.code0, 1) << o.err0;
  EXPECT_TRUE(contains(o.err0, "rank 0 of 2")) << o.err0;
  EXPECT_TRUE(contains(o.err0, "another rank died")) << o.err0;
  EXPECT_FALSE(contains(o.err0, "Exception raised from")) << o.err0;
}

TEST_F(DistributedTest, ARankThatRaisesIsNamedByTheOthers) {
  SKIP_WITHOUT_DISTRIBUTED();
  auto args = train_args(data_, dir_ + "/raised", 50);
  args.insert(args.end(), {"--dist-timeout", "20"});
  auto broken = train_args(dir_ + "/no-such-data", dir_ + "/raised", 50);
  broken.insert(broken.end(), {"--dist-timeout", "20"});
  const Outcome o = two_ranks_by_hand(args, broken, {}, /*slurm=*/true);
  EXPECT_EQ(o.code1, 1) << o.err1;
  EXPECT_TRUE(contains(o.err1, "no-such-data")) << o.err1;
  EXPECT_EQ(o.code0, 1) << o.err0;
  EXPECT_TRUE(contains(o.err0, "rank 1 failed")) << o.err0;
  EXPECT_TRUE(contains(o.err0, "no-such-data")) << o.err0;
}

// SIGTERM to rank 1 (held after step 2 by a stall): both ranks stop after step 2, rank 0 writes that step's
// checkpoint, and both exit with 128 + SIGTERM.
TEST_F(DistributedTest, ASignalOnOneRankStopsEveryRankAfterTheSameStep) {
  SKIP_WITHOUT_DISTRIBUTED();
  const std::string run = dir_ + "/signalled";
  auto args = train_args(data_, run, 100000, {"train.checkpoint_every=100000"});
  args.insert(args.end(), {"--dist-timeout", "30"});
  const std::vector<std::string> env = {"WORLD_SIZE=2", "MASTER_ADDR=127.0.0.1",
                                        "MASTER_PORT=" + std::to_string(free_port())};
  auto env0 = env, env1 = env;
  env0.push_back("RANK=0");
  env1.insert(env1.end(), {"RANK=1", "GANPP_TRACE=1", "GANPP_FAULT=stall:step@2", "GANPP_FAULT_RANK=1"});
  BackgroundGanpp r0 = start_ganpp(args, env0);
  BackgroundGanpp r1 = start_ganpp(args, env1);
  for (int i = 0; i < 6000 && !contains(r1.err(), "batch 1:"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(contains(r1.err(), "batch 1:")) << r1.err();
  ::kill(r1.pid, SIGTERM);
  EXPECT_EQ(r1.wait(), 128 + SIGTERM) << r1.err();
  EXPECT_EQ(r0.wait(), 128 + SIGTERM) << r0.err();
  EXPECT_TRUE(contains(slurp(r0.out_path), "stopped by SIGTERM")) << slurp(r0.out_path);
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(run + "/checkpoints")) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"latest.ckpt", "step_000002.ckpt"}));
  EXPECT_EQ(CheckpointReader(latest(run), torch::kCPU).state().step, 2);
}

TEST_F(DistributedTest, ARestartedJobResumesToTheUninterruptedResult) {
  SKIP_WITHOUT_DISTRIBUTED();
  const std::vector<std::string> sets = {"train.checkpoint_every=2"};
  auto straight = train_args(data_, "straight", 5, sets);
  const CommandResult a = launch(dir_, straight, /*nproc=*/2);
  ASSERT_EQ(a.code, 0) << a.err;
  // Rank 1 is killed after step 3 in the first attempt; torchrun restarts both, which resume from step 2.
  auto restarted = train_args(data_, "restarted", 5, sets);
  restarted.push_back("--resume-if-exists");
  const CommandResult b = launch(dir_, restarted, /*nproc=*/2, {"--max_restarts", "1"},
                                 "GANPP_FAULT=step@3 GANPP_FAULT_RANK=1");
  ASSERT_EQ(b.code, 0) << b.out << b.err;
  EXPECT_TRUE(contains(b.err, "ganpp-rows rank 1 batch 2:")) << "the first attempt did not reach step 3";
  const auto crc_a = traced_networks(a.err), crc_b = traced_networks(b.err);
  ASSERT_EQ(crc_b.size(), 2u) << b.err;
  for (const auto& [a_crc, b_crc] : {std::pair{crc_a.at(0), crc_b.at(0)}, std::pair{crc_b.at(0), crc_b.at(1)}}) {
    EXPECT_EQ(a_crc.parameters, b_crc.parameters);
    EXPECT_EQ(a_crc.buffers, b_crc.buffers);
  }
  EXPECT_EQ(max_difference(latest(dir_ + "/straight"), latest(dir_ + "/restarted")), 0.0);
}

TEST_F(DistributedTest, AGlobalBatchThatDoesNotSplitIsAConfigError) {
  SKIP_WITHOUT_DISTRIBUTED();
  auto args = train_args(data_, "odd", 2);
  args.insert(args.end(), {"--set", "train.batch_size=7"});
  const CommandResult r = launch(dir_, args, /*nproc=*/2);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(contains(r.err, "train.batch_size")) << r.err;
  EXPECT_TRUE(contains(r.err, "must divide by the number of ranks (2)")) << r.err;
}

// A group of one rank (what a backend named under a one-process launch forms), in this process: the collectives
// run through Gloo and give back what went in; a backend this build or device cannot have is refused by name.
TEST(DistributedGroupTest, AGroupOfOneRankRunsEveryCollective) {
  if (!distributed_built()) GTEST_SKIP() << "needs a ganpp built with c10d/Gloo (libgloo-dev)";
  WorldEnv env;
  env.launcher = "environment";
  env.master_addr = "127.0.0.1";
  env.master_port = free_port();
  EXPECT_EQ(rank_device(env, torch::kCPU), torch::Device(torch::kCPU));
  try {
    Distributed::connect(env, DistBackend::nccl, std::chrono::seconds(5), torch::kCPU);
    ADD_FAILURE() << "NCCL on the CPU was accepted";
  } catch (const UsageError& e) {
    EXPECT_TRUE(contains(e.what(), "--dist-backend nccl")) << e.what();
  }
  auto group = Distributed::connect(env, DistBackend::automatic, std::chrono::seconds(5), torch::kCPU);
  ASSERT_TRUE(group);
  EXPECT_EQ(group->world(), 1);
  torch::Tensor a = torch::tensor({1.5, -2.0}), b = torch::tensor({7}, torch::kInt64);
  group->all_reduce_sum({a, b});
  EXPECT_TRUE(torch::equal(a, torch::tensor({1.5, -2.0})));
  EXPECT_EQ(b.item<int64_t>(), 7);
  EXPECT_EQ(group->broadcast_bytes("rank zero's bytes"), "rank zero's bytes");
  group->barrier();
  group->wait_for_rank0("step@1");  // rank 0 never waits for itself
  group->done("step@1");
}

}  // namespace
