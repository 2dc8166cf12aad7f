// The feature classifier (see classifier.hpp): network, Adam training with cross-entropy, accuracy, and a file
// that records everything needed to rebuild it behind a format marker.
#include "ganpp/classifier.hpp"

#include <sstream>

#include "ganpp/errors.hpp"
#include "ganpp/eval_mode.hpp"
#include "ganpp/files.hpp"
#include "ganpp/module_archive.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/version.hpp"

namespace ganpp {
namespace {

namespace nn = torch::nn;
constexpr int64_t kChunk = 1000;  // images per forward pass when measuring accuracy
constexpr uint64_t kHoldoutStream = 0x484F4C44ULL;

Json spec_to_json(const ClassifierSpec& s) {
  return Json{{"widths", s.widths},
              {"feature_dim", s.feature_dim},
              {"image_size", s.image_size},
              {"channels", s.channels},
              {"classes", s.classes}};
}

ClassifierSpec spec_from_json(const Json& j) {
  ClassifierSpec s;
  s.widths = j.at("widths").get<std::vector<int64_t>>();
  s.feature_dim = j.at("feature_dim").get<int64_t>();
  s.image_size = j.at("image_size").get<int64_t>();
  s.channels = j.at("channels").get<int64_t>();
  s.classes = j.at("classes").get<std::vector<std::string>>();
  const bool sane = !s.widths.empty() && s.widths.size() <= 6 && s.feature_dim > 0 && s.classes.size() >= 2 &&
                    (s.channels == 1 || s.channels == 3) && (s.image_size >> s.widths.size()) >= 1;
  if (!sane) throw std::invalid_argument("inconsistent spec " + j.dump());
  for (int64_t w : s.widths)
    if (w < 1) throw std::invalid_argument("inconsistent spec " + j.dump());
  return s;
}

// Splits `data` into training and test images: the IDX test split when there is one, else a seeded holdout.
void split_data(const ClassifierConfig& config, Dataset& train, Dataset& test, std::string& test_source) {
  train = load_dataset(config.data);
  if (!train.labels.defined() || train.classes.size() < 2)
    throw RuntimeError("the classifier needs labelled data with at least 2 classes; " + train.source + " has " +
                       (train.labels.defined() ? std::to_string(train.classes.size()) + " class" : "no labels") +
                       " (use an IDX folder with a labels file, or an image folder with one subfolder per class)");
  if (config.data.split == DataSplit::train && has_idx_split(config.data.path, DataSplit::test)) {
    DataConfig t = config.data;
    t.split = DataSplit::test;
    t.limit = 0;
    test = load_dataset(t);
    if (!test.labels.defined())
      throw RuntimeError("the test split of '" + config.data.path + "' has no labels file; the accuracy needs one");
    test_source = test.source;
    return;
  }
  const int64_t n = train.size();
  const int64_t held = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(n) * config.train.holdout));
  if (config.train.holdout <= 0 || held >= n)
    throw RuntimeError(train.source + " has no test split and train.holdout = " + std::to_string(config.train.holdout) +
                       " leaves no images to measure the accuracy on (or none to train on); hold out a fraction "
                       "such as 0.1");
  const auto order = torch::randperm(n, make_generator(config.train.seed, kHoldoutStream), torch::kInt64);
  const auto test_idx = order.narrow(0, 0, held), train_idx = order.narrow(0, held, n - held);
  test.images = train.images.index_select(0, test_idx);
  test.labels = train.labels.index_select(0, test_idx);
  test.classes = train.classes;
  test_source = std::to_string(held) + " held-out images of " + train.source;
  train.images = train.images.index_select(0, train_idx);
  train.labels = train.labels.index_select(0, train_idx);
}

}  // namespace

ClassifierNetImpl::ClassifierNetImpl(const ClassifierSpec& spec) {
  body_ = nn::Sequential();
  int64_t in = spec.channels, size = spec.image_size;
  for (int64_t w : spec.widths) {
    body_->push_back(nn::Conv2d(nn::Conv2dOptions(in, w, /*kernel_size=*/3).padding(1).bias(false)));
    body_->push_back(nn::BatchNorm2d(w));
    body_->push_back(nn::ReLU());
    body_->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(/*kernel_size=*/2)));
    in = w;
    size /= 2;
  }
  body_->push_back(nn::Flatten());
  register_module("body", body_);
  hidden_ = register_module("hidden", nn::Linear(in * size * size, spec.feature_dim));
  head_ = register_module("head", nn::Linear(spec.feature_dim, static_cast<int64_t>(spec.classes.size())));
}

torch::Tensor ClassifierNetImpl::features(const torch::Tensor& images) {
  return torch::relu(hidden_->forward(body_->forward(images)));
}

torch::Tensor ClassifierNetImpl::forward(const torch::Tensor& images) { return head_->forward(features(images)); }

double classifier_accuracy(ClassifierNet& net, const torch::Tensor& images, const torch::Tensor& labels,
                           torch::Device device) {
  torch::NoGradGuard no_grad;
  const EvalModeGuard eval_mode(*net);
  int64_t correct = 0;
  for (int64_t i = 0; i < images.size(0); i += kChunk) {
    const int64_t n = std::min(kChunk, images.size(0) - i);
    const auto predicted = net->forward(pixels_to_signed_range(images.narrow(0, i, n).to(device))).argmax(1).cpu();
    correct += (predicted == labels.narrow(0, i, n)).sum().item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(1, images.size(0)));
}

Classifier train_classifier(const ClassifierConfig& config, torch::Device device, const ClassifierProgress& progress) {
  Dataset train, test;
  Classifier out;
  split_data(config, train, test, out.test_source);
  out.spec = {config.model.widths, config.model.feature_dim, config.data.image_size, config.data.channels,
              train.classes};
  seed_all(config.train.seed);
  out.net = ClassifierNet(out.spec);
  out.net->to(device);
  torch::optim::Adam adam(out.net->parameters(), torch::optim::AdamOptions(config.train.lr));
  DataStream stream(train, config.train.batch_size, config.train.seed, config.data.hflip, device);
  for (int64_t epoch = 1; epoch <= config.train.epochs; ++epoch) {
    out.net->train();
    torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().device(device));
    torch::Tensor correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
    for (int64_t b = 0; b < stream.batches_per_epoch(); ++b) {
      const Batch batch = stream.next();
      const auto logits = out.net->forward(batch.images);
      const auto loss = torch::nn::functional::cross_entropy(logits, batch.labels);
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_sum += loss.detach();
      correct += (logits.detach().argmax(1) == batch.labels).sum();
    }
    const double batches = static_cast<double>(stream.batches_per_epoch());
    out.test_accuracy = classifier_accuracy(out.net, test.images, test.labels, device);
    if (progress)
      progress(epoch, loss_sum.item<double>() / batches,
               static_cast<double>(correct.item<int64_t>()) / (batches * static_cast<double>(config.train.batch_size)),
               out.test_accuracy);
  }
  out.net->eval();
  return out;
}

void save_classifier(const Classifier& c, const std::string& path) {
  torch::serialize::OutputArchive archive;
  archive.write("ganpp_format", c10::IValue(std::string(kClassifierFormat)));
  archive.write("format_version", c10::IValue(kClassifierFormatVersion));
  archive.write("ganpp_version", c10::IValue(ganpp_version()));
  archive.write("spec", c10::IValue(spec_to_json(c.spec).dump()));
  archive.write("test_accuracy", c10::IValue(c.test_accuracy));
  archive.write("test_source", c10::IValue(c.test_source));
  torch::serialize::OutputArchive weights;
  write_module(weights, *c.net, /*to_cpu=*/true);
  archive.write("net", weights);
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, bytes.str());
}

namespace {

void open_archive(const std::string& path, torch::serialize::InputArchive& archive, torch::Device device) {
  const std::string bytes = read_file(path);
  try {
    archive.load_from(bytes.data(), bytes.size(), device);
  } catch (const c10::Error& e) {
    throw RuntimeError("'" + path + "' is neither a ganpp classifier nor a TorchScript module (" +
                       first_line(e.what_without_backtrace()) + "); make one with 'ganpp classifier train'");
  }
}

}  // namespace

bool is_classifier_file(const std::string& path) {
  torch::serialize::InputArchive archive;
  open_archive(path, archive, torch::kCPU);
  c10::IValue marker;
  return archive.try_read("ganpp_format", marker) && marker.isString() && marker.toStringRef() == kClassifierFormat;
}

Classifier load_classifier(const std::string& path, torch::Device device) {
  torch::serialize::InputArchive archive;
  open_archive(path, archive, device);
  const auto fail = [&](const std::string& why) {
    return RuntimeError("classifier '" + path + "' " + why + "; train a new one with 'ganpp classifier train'");
  };
  c10::IValue marker, version, spec, accuracy, source;
  if (!archive.try_read("ganpp_format", marker) || !marker.isString() || marker.toStringRef() != kClassifierFormat)
    throw fail("is not a ganpp classifier file (no format marker)");
  if (!archive.try_read("format_version", version) || !version.isInt()) throw fail("is corrupt: no format version");
  if (version.toInt() != kClassifierFormatVersion)
    throw fail("has format version " + std::to_string(version.toInt()) + "; this ganpp reads version " +
               std::to_string(kClassifierFormatVersion));
  Classifier c;
  try {
    if (!archive.try_read("spec", spec) || !spec.isString()) throw std::invalid_argument("no spec");
    c.spec = spec_from_json(Json::parse(spec.toStringRef()));
  } catch (const std::exception& e) {
    throw fail(std::string("is corrupt: ") + e.what());
  }
  if (archive.try_read("test_accuracy", accuracy) && accuracy.isDouble()) c.test_accuracy = accuracy.toDouble();
  if (archive.try_read("test_source", source) && source.isString()) c.test_source = source.toStringRef();
  {
    // Construction draws initial weights from the default generator; loading must not move the caller's
    // random streams (a training run that evaluates must resume exactly).
    const RngState rng = capture_rng(torch::kCPU);
    c.net = ClassifierNet(c.spec);
    restore_rng(rng, torch::kCPU);
  }
  c.net->to(device);
  torch::serialize::InputArchive weights;
  if (!archive.try_read("net", weights)) throw fail("is corrupt: no weights");
  read_module(weights, *c.net, [&](const ModuleMismatch& m) {
    return m.missing ? fail("is corrupt: it has no '" + m.name + "'")
                     : fail("is corrupt: '" + m.name + "' has shape " + m.stored_shape + ", its spec needs " +
                            m.expected_shape);
  });
  c.net->eval();
  return c;
}

}  // namespace ganpp
