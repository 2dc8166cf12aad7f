// Evaluation during training (see train_eval.hpp).
#include "ganpp/train_eval.hpp"

#include "ganpp/eval_mode.hpp"
#include "ganpp/rng.hpp"
#include "ganpp/sample.hpp"

namespace ganpp {
namespace {
constexpr uint64_t kEvalLatentStream = 0x4556414CULL;  // a stream of its own: evaluations never draw training RNG
}  // namespace

TrainingEvaluator::TrainingEvaluator(const Config& config, const Dataset& data, torch::Device device, double best_fd)
    : device_(device), net_(load_feature_net(config.train.eval_features, device)), seed_(config.train.seed) {
  check_feature_input(net_, config.data.image_size, config.data.channels, "the training images");
  const int64_t n = config.train.eval_samples;
  reference_ = extract_features(net_, random_subset(data.images, n, seed_), device_);
  auto gen = make_generator(seed_, kEvalLatentStream);
  latents_ = torch::randn({n, config.model.z_dim}, gen);
  const int64_t classes = conditional_classes(config);
  if (classes > 0) labels_ = class_cycle_labels(n, classes);
  best_fd_ = best_fd;
}

QualityMetrics TrainingEvaluator::measure(GeneratorBase& g) {
  const EvalModeGuard eval_mode(g);  // generate() switches to eval mode; the guard restores the caller's mode
  const auto images = generate(g, latents_, labels_, device_);
  return compare_features(reference_, extract_features(net_, images, device_), seed_);
}

bool TrainingEvaluator::improves_best(double fd) {
  if (!(fd < best_fd_)) return false;
  best_fd_ = fd;
  return true;
}

double best_fd_in_log(const std::vector<Json>& records) {
  double best = std::numeric_limits<double>::infinity();
  for (const auto& record : records)
    if (record.contains("fd") && record["fd"].is_number()) best = std::min(best, record["fd"].get<double>());
  return best;
}

}  // namespace ganpp
