// The classifier, feature networks, `ganpp eval` and evaluation during training: library calls on tiny data and
// the CLI's error paths through the real binary.
#include <gtest/gtest.h>
#include <stb_image_write.h>

#include <filesystem>
#include <sstream>

#include <torch/script.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/classifier.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/eval.hpp"
#include "ganpp/features.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/train_eval.hpp"
#include "helpers.hpp"

namespace fs = std::filesystem;
using namespace ganpp;
using namespace ganpp::test;

namespace {

// Tiny IDX data (16x16, 4 classes), a classifier trained on it, and a tiny GAN run, shared by the tests.
class EvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    torch::set_num_threads(1);
    root_ = temp_dir("eval");
    data_ = root_ + "/data";
    write_idx_dataset(data_, 64, 16, 4);
    classifier_ = root_ + "/classifier.pt";
    save_classifier(train_classifier(tiny_classifier_config(), torch::kCPU, nullptr), classifier_);
    run_ = root_ + "/run";
    const auto r = run_ganpp(tiny_train({"--out", run_, "--set", "train.steps=2"}));
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static ClassifierConfig tiny_classifier_config() {
    ClassifierConfig c;
    c.data.path = data_;
    c.data.image_size = 16;
    c.model.widths = {4, 8};
    c.model.feature_dim = 8;
    c.train.epochs = 2;
    c.train.batch_size = 16;
    return c;
  }

  static std::vector<std::string> tiny_train(std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--threads", "1", "--set", "data.path=" + data_};
    for (const std::string s : {"data.image_size=16", "model.z_dim=8", "model.g.ngf=4", "model.d.ndf=4",
                                "train.batch_size=8", "train.sample_count=4", "train.sample_nrow=2"})
      args.insert(args.end(), {"--set", s});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static void expect_error(const CommandResult& r, int code, const std::vector<std::string>& parts) {
    EXPECT_EQ(r.code, code) << r.err;
    for (const auto& p : parts) EXPECT_TRUE(contains(r.err, p)) << "stderr lacks '" << p << "':\n" << r.err;
    EXPECT_FALSE(contains(r.err, "Exception raised from")) << "backtrace leaked:\n" << r.err;
  }

  // A TorchScript module built in C++: 4x4 average pooling of 16x16 images, flattened (16 features per channel).
  static std::string torchscript_features(bool state_size) {
    const std::string path = root_ + (state_size ? "/pool_sized.pt" : "/pool.pt");
    torch::jit::Module m("PoolFeatures");
    if (state_size) {
      m.register_attribute("image_size", c10::IntType::get(), int64_t(16));
      m.register_attribute("channels", c10::IntType::get(), int64_t(1));
    }
    m.define("def forward(self, x):\n    return torch.avg_pool2d(x, [4, 4]).flatten(1)\n");
    m.save(path);
    return path;
  }

  static std::string root_, data_, classifier_, run_;
};
std::string EvalTest::root_, EvalTest::data_, EvalTest::classifier_, EvalTest::run_;

Json last_json(const std::string& text) { return Json::parse(text.substr(text.find('{'))); }

std::vector<Json> eval_records(const std::string& run) {
  std::vector<Json> out;
  std::istringstream in(slurp(run + "/log.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    const Json j = Json::parse(line);
    if (j.contains("fd")) out.push_back(j);
  }
  return out;
}

}  // namespace

TEST_F(EvalTest, ClassifierFileRebuildsTheSameNetwork) {
  const Classifier c = load_classifier(classifier_, torch::kCPU);
  EXPECT_EQ(c.spec.widths, (std::vector<int64_t>{4, 8}));
  EXPECT_EQ(c.spec.feature_dim, 8);
  EXPECT_EQ(c.spec.image_size, 16);
  EXPECT_EQ(c.spec.classes, (std::vector<std::string>{"0", "1", "2", "3"}));
  EXPECT_GE(c.test_accuracy, 0.0);
  EXPECT_LE(c.test_accuracy, 1.0);
  EXPECT_TRUE(contains(c.test_source, "t10k"));
  EXPECT_TRUE(is_classifier_file(classifier_));
  // Same weights, same features: the saved accuracy is reproduced by the loaded network.
  Dataset test;
  {
    DataConfig d;
    d.path = data_;
    d.split = DataSplit::test;
    d.image_size = 16;
    test = load_dataset(d);
  }
  ClassifierNet net = c.net;
  EXPECT_DOUBLE_EQ(classifier_accuracy(net, test.images, test.labels, torch::kCPU), c.test_accuracy);
  FeatureNet features = load_feature_net(classifier_, torch::kCPU);
  EXPECT_EQ(extract_features(features, test.images, torch::kCPU).sizes(), (std::vector<int64_t>{64, 8}));
}

TEST_F(EvalTest, ClassifierOnTheWellSeparatedTinyDataLearns) {
  ClassifierConfig config = tiny_classifier_config();
  config.train.epochs = 10;
  config.train.lr = 1e-2;
  const Classifier c = train_classifier(config, torch::kCPU, nullptr);
  EXPECT_GT(c.test_accuracy, 0.9);  // four squares at four positions
}

TEST_F(EvalTest, ClassifierTrainThroughTheBinary) {
  const std::string out = root_ + "/cli_classifier.pt";
  const auto r = run_ganpp({"classifier", "train", "--threads", "1", "--out", out, "--set", "data.path=" + data_,
                            "--set", "data.image_size=16", "--set", "model.widths=[4]", "--set", "model.feature_dim=6",
                            "--set", "train.epochs=1", "--set", "train.batch_size=16"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "test accuracy")) << r.out;
  EXPECT_EQ(load_classifier(out, torch::kCPU).spec.feature_dim, 6);
  expect_error(run_ganpp({"classifier", "train", "--out", out, "--set", "model.depth=3"}), 2,
               {"unknown config key 'model.depth'", "widths"});
  expect_error(run_ganpp({"classifier", "train", "--out", out, "--set", "model.widths=[4,4,4,4,4]", "--set",
                          "data.image_size=16"}),
               2, {"model.widths", "too many"});
  expect_error(run_ganpp({"classifier"}), 2, {});
}

TEST_F(EvalTest, ClassifierNeedsLabels) {
  const std::string folder = root_ + "/unlabelled";
  write_image_folder(folder, {}, 4, 16, 1);
  ClassifierConfig config = tiny_classifier_config();
  config.data.path = folder;
  const std::string msg = error_of<RuntimeError>([&] { train_classifier(config, torch::kCPU, nullptr); });
  EXPECT_TRUE(contains(msg, "labelled data")) << msg;
}

TEST_F(EvalTest, EvalOfACheckpointPrintsTheMetricsWithN) {
  const auto r = run_ganpp({"eval", "--threads", "1", "--checkpoint", run_, "--features", classifier_, "--n", "40",
                            "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = last_json(r.out);
  EXPECT_EQ(j["eval_n"], 40);
  EXPECT_EQ(j["eval_n_reference"], 40);
  EXPECT_EQ(j["step"], 2);
  for (const char* key : {"fd", "kid", "kid_std", "precision", "recall"}) EXPECT_TRUE(j[key].is_number()) << key;
  EXPECT_GE(j["fd"].get<double>(), 0);
  EXPECT_TRUE(contains(j["reference"].get<std::string>(), data_));  // the run's data.path by default
  const auto human = run_ganpp({"eval", "--threads", "1", "--checkpoint", run_, "--features", classifier_, "--n",
                                "40"});
  ASSERT_EQ(human.code, 0) << human.err;
  EXPECT_TRUE(contains(human.out, "N = 40")) << human.out;
}

TEST_F(EvalTest, FloorComparesTrainWithTest) {
  const auto r = run_ganpp({"eval", "--threads", "1", "--floor", "--reference", data_, "--features", classifier_, "--n",
                            "32", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = last_json(r.out);
  EXPECT_EQ(j["eval_n"], 32);
  EXPECT_TRUE(contains(j["subject"].get<std::string>(), "t10k"));
  expect_error(run_ganpp({"eval", "--floor", "--reference", root_ + "/unlabelled_floor", "--features", classifier_}), 1,
               {"IDX folder"});
}

TEST_F(EvalTest, EvalUsageErrors) {
  expect_error(run_ganpp({"eval", "--checkpoint", run_}), 2, {"--features", "ganpp classifier train"});
  expect_error(run_ganpp({"eval", "--features", classifier_}), 2, {"exactly one of"});
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--floor", "--features", classifier_}), 2, {"exactly one of"});
  expect_error(run_ganpp({"eval", "--images", root_, "--features", classifier_}), 2, {"--reference"});
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--features", classifier_, "--n", "3"}), 2, {});
}

TEST_F(EvalTest, IncompleteLibraryRequestsAreCallerErrors) {
  // The CLI's flag checks (above) come first; the library refuses an incomplete request without naming flags.
  EvalRequest r;
  EXPECT_THROW(evaluate(r, torch::kCPU), c10::Error);  // no mode
  r.images = root_;
  r.features = classifier_;
  EXPECT_THROW(evaluate(r, torch::kCPU), c10::Error);  // no reference
}

TEST_F(EvalTest, CorruptOrMissingFeatureNetworksFail) {
  const std::string bad = root_ + "/bad.pt";
  write_bytes(bad, "not a network at all");
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--features", bad}), 1,
               {"bad.pt", "neither a ganpp classifier nor"});
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--features", root_ + "/missing.pt"}), 1,
               {"missing.pt", "does not exist", "ganpp classifier train"});
  // A truncated classifier file.
  const std::string cut = root_ + "/cut.pt";
  const std::string bytes = slurp(classifier_);
  write_bytes(cut, bytes.substr(0, bytes.size() / 2));
  expect_error(run_ganpp({"eval", "--checkpoint", run_, "--features", cut}), 1, {"cut.pt"});
}

TEST_F(EvalTest, CorruptOrWronglySizedImageFoldersFail) {
  const std::string corrupt = root_ + "/corrupt";
  write_image_folder(corrupt, {}, 3, 16, 1);
  write_bytes(corrupt + "/broken.png", "\x89PNG garbage");
  expect_error(run_ganpp({"eval", "--images", corrupt, "--reference", data_, "--features", classifier_}), 1,
               {"broken.png", "cannot decode"});
  const std::string wrong = root_ + "/wrong_size";
  write_image_folder(wrong, {}, 3, 20, 1);
  expect_error(run_ganpp({"eval", "--images", wrong, "--reference", data_, "--features", classifier_}), 1,
               {"20x20", "takes 16x16"});
  const std::string mixed = root_ + "/mixed";
  write_image_folder(mixed + "/a", {}, 2, 16, 1);
  write_image_folder(mixed + "/b", {}, 2, 12, 1);
  expect_error(run_ganpp({"eval", "--images", mixed, "--reference", data_, "--features", classifier_}), 1,
               {"12x12", "same size"});
  expect_error(run_ganpp({"eval", "--images", root_ + "/nowhere", "--reference", data_, "--features", classifier_}), 1,
               {"nowhere"});
}

TEST_F(EvalTest, ImagesFromSampleScoreWithTorchScriptFeatures) {
  const std::string dir = root_ + "/samples";
  ASSERT_EQ(run_ganpp({"sample", "--checkpoint", run_, "--n", "24", "--dir", dir}).code, 0);
  for (bool sized : {true, false}) {
    const std::string module = torchscript_features(sized);
    EXPECT_FALSE(is_classifier_file(module));
    const auto r = run_ganpp({"eval", "--threads", "1", "--images", dir, "--reference", data_, "--features", module,
                              "--json"});
    ASSERT_EQ(r.code, 0) << r.err;
    const Json j = last_json(r.out);
    EXPECT_EQ(j["eval_n"], 24);
    EXPECT_TRUE(contains(j["features"].get<std::string>(), "TorchScript"));
    EXPECT_GT(j["fd"].get<double>(), 0);
  }
  // The module's features are the 4x4 means: FD of the folder computed by hand from those.
  FeatureNet net = load_feature_net(torchscript_features(true), torch::kCPU);
  EXPECT_EQ(net.image_size, 16);
  const auto x = torch::rand({2, 1, 16, 16}) * 2 - 1;
  EXPECT_TRUE(torch::allclose(extract_features(net, x, torch::kCPU), torch::avg_pool2d(x, {4, 4}).flatten(1)));
}

TEST_F(EvalTest, EvalEveryNeedsFeaturesAndLogsMetricsWithExactResume) {
  expect_error(run_ganpp(tiny_train({"--out", root_ + "/no_features", "--set", "train.eval_every=2"})), 2,
               {"train.eval_features", "ganpp classifier train"});
  const std::vector<std::string> eval = {"--set", "train.eval_every=2",
                                         "--set", "train.eval_samples=24",
                                         "--set", "train.eval_features=" + classifier_,
                                         "--set", "train.checkpoint_every=2"};
  const std::string straight = root_ + "/eval_straight", split = root_ + "/eval_split";
  auto args = tiny_train({"--out", straight, "--set", "train.steps=6"});
  args.insert(args.end(), eval.begin(), eval.end());
  ASSERT_EQ(run_ganpp(args).code, 0);
  args = tiny_train({"--out", split, "--set", "train.steps=4"});
  args.insert(args.end(), eval.begin(), eval.end());
  ASSERT_EQ(run_ganpp(args).code, 0);
  const auto resumed = run_ganpp({"train", "--threads", "1", "--resume", split, "--set", "train.steps=6"});
  ASSERT_EQ(resumed.code, 0) << resumed.err;

  const auto a = eval_records(straight), b = eval_records(split);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  double best = 1e300;
  int64_t best_step = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]["step"], static_cast<int64_t>(2 * (i + 1)));
    EXPECT_EQ(a[i]["eval_n"], 24);
    EXPECT_EQ(a[i].dump(), b[i].dump());  // bit-identical figures after the resume
    if (a[i]["fd"].get<double>() < best) {
      best = a[i]["fd"].get<double>();
      best_step = a[i]["step"].get<int64_t>();
    }
  }
  for (const std::string& run : {straight, split}) {
    const std::string path = run + "/checkpoints/best.ckpt";
    ASSERT_TRUE(fs::exists(path)) << run;
    EXPECT_EQ(CheckpointReader(path, torch::kCPU).state().step, best_step) << run;
  }
  EXPECT_DOUBLE_EQ(best_fd_in_log(read_log(split)), best);
  // The training images themselves are unchanged by evaluations: grids match too.
  EXPECT_EQ(slurp(straight + "/samples/step_000006.png"), slurp(split + "/samples/step_000006.png"));
}

TEST_F(EvalTest, ConditionalCheckpointsReportClassAccuracyAndPerClassFd) {
  const std::string run = root_ + "/conditional";
  const auto trained = run_ganpp(tiny_train({"--out", run, "--set", "train.steps=2", "--set", "model.conditional=true",
                                             "--set", "train.eval_every=2", "--set", "train.eval_samples=16", "--set",
                                             "train.eval_features=" + classifier_}));
  ASSERT_EQ(trained.code, 0) << trained.err;
  ASSERT_EQ(eval_records(run).size(), 1u);  // training-time evaluation draws every class in turn
  const auto r = run_ganpp({"eval", "--threads", "1", "--checkpoint", run, "--features", classifier_, "--n", "40",
                            "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = last_json(r.out);
  ASSERT_TRUE(j["class_accuracy"].is_number()) << j.dump();
  ASSERT_EQ(j["classes"].size(), 4u);
  double weighted = 0;
  for (const auto& c : j["classes"]) {
    EXPECT_EQ(c["n"], 10);  // 40 samples, 4 classes in turn
    EXPECT_GE(c["n_reference"].get<int64_t>(), 2);
    EXPECT_TRUE(c["fd"].is_number()) << c.dump();
    weighted += c["accuracy"].get<double>() * 10;
  }
  EXPECT_NEAR(weighted / 40, j["class_accuracy"].get<double>(), 1e-12);
  // A TorchScript feature module cannot classify: per-class FD still, accuracy missing with the reason.
  const auto ts = run_ganpp({"eval", "--threads", "1", "--checkpoint", run, "--features", torchscript_features(true),
                             "--n", "40", "--json"});
  ASSERT_EQ(ts.code, 0) << ts.err;
  const Json k = last_json(ts.out);
  EXPECT_TRUE(k["class_accuracy"].is_null());
  EXPECT_TRUE(contains(k["class_note"].get<std::string>(), "ganpp classifier"));
  EXPECT_TRUE(k["classes"][0]["fd"].is_number());
}
