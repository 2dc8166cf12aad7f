// Evaluation of checkpoints, image folders and the real-data floor (see eval.hpp).
#include "ganpp/eval.hpp"

#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/features.hpp"
#include "ganpp/sample.hpp"

namespace ganpp {
namespace {

constexpr uint64_t kFloorTestStream = 0x464C5254ULL;

// `cache`: data.cache for an image folder ("off" for folders of samples, read once: they would only fill the cache).
Dataset load_reference(const std::string& path, DataSplit split, int64_t size, int64_t channels,
                       const std::string& cache = "auto") {
  DataConfig data;
  data.path = path;
  data.split = split;
  data.image_size = size;
  data.channels = channels;
  data.cache = cache;
  return load_dataset(data);
}

std::string describe(const Dataset& data, int64_t used) {
  return data.source + " (" + std::to_string(used) + " of " + std::to_string(data.size()) + " images)";
}

// Per-class FD and class accuracy of conditional samples (labels `fake_labels`) against labelled reference
// features (`real_labels`, undefined when the reference has none).
void conditional_metrics(EvalResult& out, FeatureNet& net, const torch::Tensor& fake_images, const torch::Tensor& fake,
                         const torch::Tensor& fake_labels, const torch::Tensor& real, const torch::Tensor& real_labels,
                         const std::vector<std::string>& names, int64_t num_classes, torch::Device device) {
  torch::Tensor predicted;
  if (!net.classify)
    out.class_note = "class accuracy needs a ganpp classifier as --features";
  else if (static_cast<int64_t>(net.classes.size()) != num_classes || (!names.empty() && net.classes != names))
    out.class_note = "class accuracy needs a classifier trained on the generator's classes";
  else
    predicted = predict_classes(net, fake_images, device);
  if (!real_labels.defined())
    out.class_note += std::string(out.class_note.empty() ? "" : "; ") + "per-class FD needs a labelled reference";
  if (predicted.defined()) out.class_accuracy = (predicted == fake_labels).to(torch::kFloat64).mean().item<double>();
  for (int64_t c = 0; c < num_classes; ++c) {
    ClassMetrics m;
    m.name = c < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(c)] : std::to_string(c);
    const auto mine = fake_labels == c;
    m.n = mine.sum().item<int64_t>();
    if (predicted.defined() && m.n > 0)
      m.accuracy = (predicted.masked_select(mine) == c).to(torch::kFloat64).mean().item<double>();
    if (real_labels.defined()) {
      const auto theirs = (real_labels == c).nonzero().squeeze(1);
      m.n_reference = theirs.size(0);
      if (m.n >= 2 && m.n_reference >= 2)
        m.fd = frechet_distance(gaussian_stats(real.index_select(0, theirs)),
                                gaussian_stats(fake.index_select(0, mine.nonzero().squeeze(1))));
    }
    out.classes.push_back(m);
  }
}

}  // namespace

EvalResult evaluate(const EvalRequest& r, torch::Device device) {
  // The CLI checks its flags first (UsageError); a library caller's incomplete request is a programming error.
  TORCH_CHECK(!r.checkpoint.empty() + !r.images.empty() + r.floor == 1,
              "evaluate: a request names exactly one of checkpoint, images and floor");
  TORCH_CHECK(!r.features.empty(), "evaluate: a request needs a feature network");
  TORCH_CHECK(!r.reference.empty() || !r.checkpoint.empty(), "evaluate: images and floor requests need a reference");
  TORCH_CHECK(r.n >= 10, "evaluate: n must be at least 10");
  FeatureNet net = load_feature_net(r.features, device);
  EvalResult out;
  out.features = net.description;
  torch::Tensor real, fake;

  if (!r.checkpoint.empty()) {
    const LoadedGenerator loaded = load_generator(r.checkpoint, device);
    const int64_t size = loaded.config.data.image_size, channels = loaded.config.data.channels;
    check_feature_input(net, size, channels, "the checkpoint's images");
    const std::string reference = r.reference.empty() ? loaded.config.data.path : r.reference;
    const Dataset data = load_reference(reference, r.reference_split, size, channels);
    const auto idx = random_subset_indices(data.size(), r.n, r.seed);
    real = data.images.index_select(0, idx);
    out.reference = describe(data, real.size(0));
    const auto labels = sample_labels(loaded, r.n, /*cls=*/-1);  // conditional: every class in turn
    fake = generate(*loaded.g, random_latents(r.n, loaded.config.model.z_dim, r.seed), labels, device);
    out.step = loaded.step;
    out.subject = std::to_string(r.n) + " samples of " + r.checkpoint + " (step " + std::to_string(loaded.step) +
                  (loaded.ema ? ", EMA weights" : "") + (labels.defined() ? ", every class in turn" : "") + ")";
    if (labels.defined()) {
      const auto real_features = extract_features(net, real, device);
      const auto fake_features = extract_features(net, fake, device);
      out.metrics = compare_features(real_features, fake_features, r.seed);
      const torch::Tensor real_labels = data.labels.defined() ? data.labels.index_select(0, idx) : torch::Tensor();
      conditional_metrics(out, net, fake, fake_features, labels, real_features, real_labels, loaded.classes,
                          conditional_classes(loaded.config), device);
      return out;
    }
  } else if (!r.images.empty()) {
    int64_t size = 0, channels = 0;
    probe_image_folder(r.images, size, channels);
    if (net.channels != 0) channels = net.channels;  // stb converts RGB to gray and gray to RGB on load
    check_feature_input(net, size, channels, "the images in '" + r.images + "'");
    const Dataset images = load_reference(r.images, DataSplit::train, size, channels, /*cache=*/"off");
    fake = random_subset(images.images, r.n, r.seed);
    out.subject = std::to_string(fake.size(0)) + " images of " + r.images;
    const Dataset data = load_reference(r.reference, r.reference_split, size, channels);
    real = random_subset(data.images, r.n, r.seed);
    out.reference = describe(data, real.size(0));
  } else {
    if (net.image_size == 0 || net.channels == 0)
      throw RuntimeError("--floor needs a feature network that states its image size: " + net.description +
                         " has no integer attributes image_size and channels");
    if (!has_idx_split(r.reference, DataSplit::train) || !has_idx_split(r.reference, DataSplit::test))
      throw RuntimeError("--floor compares the train split of an IDX folder with its test split; '" + r.reference +
                         "' is not an IDX folder with both train-* and t10k-* images");
    const Dataset train = load_reference(r.reference, DataSplit::train, net.image_size, net.channels);
    const Dataset test = load_reference(r.reference, DataSplit::test, net.image_size, net.channels);
    real = random_subset(train.images, r.n, r.seed);
    fake = random_subset(test.images, r.n, r.seed ^ kFloorTestStream);
    out.reference = describe(train, real.size(0));
    out.subject = "real data: " + describe(test, fake.size(0));
  }
  out.metrics = compare_features(extract_features(net, real, device), extract_features(net, fake, device), r.seed);
  return out;
}

Json eval_result_to_json(const EvalResult& r) {
  Json j = metrics_to_json(r.metrics);
  j["kid_subsets"] = r.metrics.kid.subsets;
  j["kid_subset_size"] = r.metrics.kid.subset_size;
  j["k"] = r.metrics.k;
  j["subject"] = r.subject;
  j["reference"] = r.reference;
  j["features"] = r.features;
  if (r.step >= 0) j["step"] = r.step;
  if (!r.classes.empty()) {
    const auto number = [](double x) { return std::isnan(x) ? Json(nullptr) : Json(x); };
    j["class_accuracy"] = number(r.class_accuracy);
    Json classes = Json::array();
    for (const auto& c : r.classes)
      classes.push_back({{"class", c.name},
                         {"n", c.n},
                         {"n_reference", c.n_reference},
                         {"fd", number(c.fd)},
                         {"accuracy", number(c.accuracy)}});
    j["classes"] = classes;
    if (!r.class_note.empty()) j["class_note"] = r.class_note;
  }
  return j;
}

}  // namespace ganpp
