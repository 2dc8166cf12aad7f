// Helpers every network shares: its parameters and buffers in an archive (round trip, names and shapes checked)
// and the eval-mode scope.
#include <gtest/gtest.h>

#include <sstream>

#include "ganpp/errors.hpp"
#include "ganpp/eval_mode.hpp"
#include "ganpp/module_archive.hpp"
#include "helpers.hpp"

using namespace ganpp;

namespace {

// A linear layer and a batch norm: parameters with dotted names and buffers.
torch::nn::Sequential small_net(int64_t width) {
  return torch::nn::Sequential(torch::nn::Linear(3, width), torch::nn::BatchNorm1d(width));
}

// `net` written by write_module and read back as an archive.
void round_trip(torch::nn::Module& net, torch::serialize::InputArchive& in) {
  torch::serialize::OutputArchive out;
  write_module(out, net, /*to_cpu=*/true);
  std::ostringstream bytes;
  out.save_to(bytes);
  const std::string s = bytes.str();
  in.load_from(s.data(), s.size());
}

std::string mismatch_message(const ModuleMismatch& m) {
  return m.missing ? "no " + m.name : m.name + " " + m.stored_shape + " vs " + m.expected_shape;
}

TEST(ModuleArchiveTest, KeysReplaceDotsAndEveryTensorComesBack) {
  EXPECT_EQ(archive_key("net.0.weight"), "net/0/weight");
  auto a = small_net(4), b = small_net(4);
  a->named_buffers()["1.running_mean"].fill_(0.25);
  torch::serialize::InputArchive in;
  round_trip(*a, in);
  read_module(in, *b, [](const ModuleMismatch& m) { return RuntimeError(mismatch_message(m)); });
  for (const auto& p : a->named_parameters()) EXPECT_TRUE(torch::equal(p.value(), b->named_parameters()[p.key()]));
  for (const auto& t : a->named_buffers()) EXPECT_TRUE(torch::equal(t.value(), b->named_buffers()[t.key()]));
}

TEST(ModuleArchiveTest, MissingEntriesAndOtherShapesGoThroughTheCallersMessage) {
  auto a = small_net(4);
  torch::serialize::InputArchive in;
  round_trip(*a, in);
  auto wider = small_net(5);
  const auto message = [](const ModuleMismatch& m) { return RuntimeError(mismatch_message(m)); };
  EXPECT_EQ(test::error_of<RuntimeError>([&] { read_module(in, *wider, message); }), "0.weight [4, 3] vs [5, 3]");
  auto longer = small_net(4);
  longer->push_back(torch::nn::Linear(4, 2));
  EXPECT_EQ(test::error_of<RuntimeError>([&] { read_module(in, *longer, message); }), "no 2.weight");
}

TEST(EvalModeGuardTest, RestoresWhateverModeTheNetworkWasIn) {
  auto net = small_net(2);
  for (const bool training : {true, false}) {
    net->train(training);
    {
      const EvalModeGuard guard(*net);
      EXPECT_FALSE(net->is_training());
      EXPECT_FALSE((*net)[1]->is_training());  // children too
    }
    EXPECT_EQ(net->is_training(), training);
    EXPECT_EQ((*net)[1]->is_training(), training);
  }
}

}  // namespace
