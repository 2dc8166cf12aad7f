// `ganpp classifier train`: trains the small CNN whose penultimate layer is `ganpp eval`'s feature space, prints
// its test accuracy and saves it.
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/classifier.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"

namespace ganpp::cli {
namespace {

struct ClassifierFlags {
  std::string config;
  std::vector<std::string> sets;
  std::string out;
  DeviceFlags device;
};

int run_classifier_train(ClassifierFlags& f) {
  const ClassifierConfig config = load_classifier_config(f.config, f.sets);
  const torch::Device device = f.device.setup();
  spdlog::info("device: {}", describe_device(device, f.device.threads));
  spdlog::info("config: {}", classifier_config_to_json(config).dump());
  const Classifier c = train_classifier(
      config, device, [](int64_t epoch, double loss, double train_acc, double test_acc) {
        spdlog::info("epoch {}: loss {:.4f} train accuracy {:.2f}% test accuracy {:.2f}%", epoch, loss, 100 * train_acc,
                     100 * test_acc);
      });
  save_classifier(c, f.out);
  spdlog::info("test accuracy: {:.2f}% on {}", 100 * c.test_accuracy, c.test_source);
  spdlog::info("wrote {} ({} classes, {}-d features, {}x{}x{}); use it with 'ganpp eval --features {}'", f.out,
               c.spec.classes.size(), c.spec.feature_dim, c.spec.image_size, c.spec.image_size, c.spec.channels, f.out);
  return 0;
}

}  // namespace

Command add_classifier(CLI::App& app) {
  auto flags = std::make_shared<ClassifierFlags>();
  CLI::App* cmd = app.add_subcommand("classifier", "the feature network of ganpp eval");
  cmd->require_subcommand(1);
  CLI::App* train = cmd->add_subcommand("train", "train a CNN classifier on labelled data and save it");
  train->add_option("--config", flags->config,
                    "JSON config with sections data, model, train (default: Fashion-MNIST, widths [32, 64, 128], "
                    "128-d features, 3 epochs)");
  train->add_option("--set", flags->sets, "override a config value: KEY=VALUE, VALUE parsed as JSON (repeatable)");
  train->add_option("--out", flags->out, "the classifier file to write")->required();
  flags->device.add_to(*train);
  return {cmd, [flags] { return run_classifier_train(*flags); }};
}

}  // namespace ganpp::cli
