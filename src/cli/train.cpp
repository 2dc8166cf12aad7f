// `ganpp train`: a new run from a config, or `--resume` of an existing one.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/checkpoint.hpp"
#include "ganpp/device.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/losses.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/trainer.hpp"

namespace ganpp::cli {
namespace {

struct TrainFlags {
  std::string config;
  std::string out;
  std::string resume;
  std::vector<std::string> sets;
  int64_t seed = -1;
  bool dry_run = false;
  bool no_progress = false;
  DeviceFlags device;
};

Json run_info(const torch::Device& device, int threads) {
  return Json{{"ganpp_version", ganpp_version()},
              {"libtorch_version", libtorch_version()},
              {"device", device.str()},
              {"threads", threads}};
}

void print_networks(const Config& config, const Networks& nets) {
  std::cout << "variant: " << describe_variant(config) << "\n";
  std::cout << "generator (" << count_parameters(*nets.g) << " parameters):\n" << *nets.g << "\n";
  std::cout << "discriminator (" << count_parameters(*nets.d) << " parameters, batch norm "
            << (discriminator_batch_norm(config) ? "on" : "off") << "):\n"
            << *nets.d << "\n";
}

void announce(const Config& config, const Networks& nets, const Dataset& data, const torch::Device& device,
              int threads, const std::string& run_dir) {
  spdlog::info("device: {}", describe_device(device, threads));
  const auto s = data.images.sizes();
  std::string classes;
  for (size_t i = 0; i < data.classes.size() && i < 12; ++i) classes += (i ? ", " : ": ") + data.classes[i];
  if (data.classes.size() > 12) classes += ", ...";
  spdlog::info("data: {} ({} images of {}x{}x{} (CxHxW), {})", data.source, s[0], s[1], s[2], s[3],
               data.classes.empty() ? std::string("unlabelled")
                                    : std::to_string(data.classes.size()) + " classes" + classes);
  spdlog::info("model: {}; G {} parameters, D {} parameters", describe_variant(config), count_parameters(*nets.g),
               count_parameters(*nets.d));
  spdlog::info("run directory: {} (report: {}/report.html)", run_dir, run_dir);
}

// The in-place progress line goes to stderr when it is a terminal and --no-progress is not given;
// otherwise the periodic log lines (with ETA) are the progress.
void setup_progress(Trainer& trainer, bool no_progress) {
  if (!no_progress && ::isatty(STDERR_FILENO)) trainer.set_progress_output(&std::cerr);
}

// A conditional model takes its number of classes from the data; a stated model.num_classes must agree.
void resolve_classes(Config& config, const Dataset& data) {
  if (!config.model.conditional) return;
  const auto found = static_cast<int64_t>(data.classes.size());
  if (found < 2)
    throw RuntimeError("model.conditional = true needs labelled data with at least 2 classes, but '" + data.source +
                       "' has " + (found == 0 ? std::string("no labels") : "1 class") +
                       "; use IDX files with a labels file, or an image folder with one subfolder per class");
  if (config.model.num_classes != 0 && config.model.num_classes != found)
    throw RuntimeError("config key 'model.num_classes' = " + std::to_string(config.model.num_classes) + ", but '" +
                       data.source + "' has " + std::to_string(found) + " classes; set it to 0 to take the data's");
  config.model.num_classes = found;
}

int train_new(TrainFlags& f) {
  if (f.seed >= 0) f.sets.push_back("train.seed=" + std::to_string(f.seed));
  Config config = load_config(f.config, f.sets);
  validate(config);  // rejects unknown losses and architectures and unsupported shapes before data is read
  if (f.dry_run) {
    // A conditional model's class count comes from the data, read only for that.
    if (config.model.conditional && config.model.num_classes == 0) resolve_classes(config, load_dataset(config.data));
    std::cout << config_to_json(config).dump(2) << "\n";
    print_networks(config, build_networks(config));
    return 0;
  }
  check_out_dir(f.out);
  const torch::Device device = f.device.setup();

  const Dataset data = load_dataset(config.data);
  resolve_classes(config, data);
  const std::string name = f.config.empty() ? "default" : std::filesystem::path(f.config).stem().string();
  const std::string run_dir = create_run_dir(f.out, name);
  Trainer trainer(config, device);
  announce(config, trainer.networks(), data, device, f.device.threads, run_dir);
  write_run_config(run_dir, config, run_info(device, f.device.threads));
  DataStream stream(data, config.train.batch_size, config.train.seed, config.data.hflip, device);
  setup_progress(trainer, f.no_progress);
  trainer.run(stream, run_dir, data.classes);
  spdlog::info("done: {} steps; run directory: {}", trainer.step(), run_dir);
  return 0;
}

int train_resume(TrainFlags& f) {
  if (!f.config.empty() || !f.out.empty() || f.dry_run)
    throw UsageError("--resume continues a run with its own config and folder; drop --config, --out and --dry-run");
  if (f.seed >= 0) throw UsageError("--seed cannot change when resuming: the run's seed is fixed");
  for (const auto& s : f.sets) {
    const std::string key = override_key(s);
    if (!is_resumable_key(key)) {
      std::string keys;
      for (const auto& k : resumable_keys()) keys += (keys.empty() ? "" : ", ") + k;
      throw UsageError("--set " + key + " cannot change when resuming; only these may: " + keys);
    }
  }
  const std::string path = resolve_checkpoint_path(f.resume);
  const std::string run_dir = run_dir_of_checkpoint(path);
  const torch::Device device = f.device.setup();
  CheckpointReader checkpoint(path, device);
  Json json = config_to_json(checkpoint.config());
  for (const auto& s : f.sets) apply_override(json, s);
  const Config config = config_from_json(json);
  validate(config);
  const int64_t step = checkpoint.state().step;
  if (step >= config.train.steps) {
    spdlog::info("the run in {} is finished at step {} (train.steps = {}); to continue it, raise train.steps, e.g. "
                 "--set train.steps={}",
                 run_dir, step, config.train.steps, 2 * config.train.steps);
    return 0;
  }
  const Dataset data = load_dataset(config.data);
  if (data.classes != checkpoint.state().classes)
    throw RuntimeError("the data at '" + config.data.path + "' has other classes than when the run started; resume "
                       "needs the same dataset");
  Trainer trainer(config, device);
  trainer.restore(checkpoint);
  announce(config, trainer.networks(), data, device, f.device.threads, run_dir);
  spdlog::info("resuming from {} at step {} of {}", path, step, config.train.steps);
  remove_temporaries(run_dir);
  truncate_log(run_dir, step);
  write_run_config(run_dir, config, run_info(device, f.device.threads));
  DataStream stream(data, config.train.batch_size, config.train.seed, config.data.hflip, device);
  stream.seek(checkpoint.state().data);
  setup_progress(trainer, f.no_progress);
  trainer.run(stream, run_dir, data.classes);
  spdlog::info("done: {} steps; run directory: {}", trainer.step(), run_dir);
  return 0;
}

}  // namespace

Command add_train(CLI::App& app) {
  auto flags = std::make_shared<TrainFlags>();
  CLI::App* cmd = app.add_subcommand("train", "train a GAN from a config, or resume a run");
  cmd->add_option("--config", flags->config, "JSON config (default: built-in Fashion-MNIST DCGAN with BCE)");
  cmd->add_option("--out", flags->out, "run directory (default: runs/NNNNN-<config name>)");
  cmd->add_option("--resume", flags->resume, "continue the run in RUN_DIR or from a checkpoint file");
  cmd->add_option("--set", flags->sets, "override a config value: KEY=VALUE, VALUE parsed as JSON (repeatable)");
  cmd->add_option("--seed", flags->seed, "shortcut for --set train.seed=N")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--dry-run", flags->dry_run, "print the resolved config and the networks, then exit");
  cmd->add_flag("--no-progress", flags->no_progress,
                "no live progress line on a terminal (the periodic log lines remain)");
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return flags->resume.empty() ? train_new(*flags) : train_resume(*flags); }};
}

}  // namespace ganpp::cli
