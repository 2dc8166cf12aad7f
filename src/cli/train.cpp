// `ganpp train`: a new run from a config, or `--resume` of an existing one (the run itself is TrainingRun's).
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/training_run.hpp"

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

int train(TrainFlags& f) {
  const bool resume = !f.resume.empty();
  if (resume && (!f.config.empty() || !f.out.empty() || f.dry_run))
    throw UsageError("--resume continues a run with its own config and folder; drop --config, --out and --dry-run");
  if (resume && f.seed >= 0) throw UsageError("--seed cannot change when resuming: the run's seed is fixed");
  if (f.seed >= 0) f.sets.push_back("train.seed=" + std::to_string(f.seed));
  Config config = resume ? Config() : load_config(f.config, f.sets);
  if (f.dry_run) {
    std::cout << describe_run(config);
    return 0;
  }
  RunOptions options;
  options.device = f.device.setup();
  options.threads = f.device.threads;
  // The in-place progress line goes to stderr when it is a terminal; otherwise the log lines are the progress.
  if (!f.no_progress && ::isatty(STDERR_FILENO)) options.live = &std::cerr;
  options.name = f.config.empty() ? "default" : std::filesystem::path(f.config).stem().string();
  auto run = resume ? TrainingRun::resume(f.resume, f.sets, options) : TrainingRun::start(config, f.out, options);
  run->run();
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
  return {cmd, [flags] { return train(*flags); }};
}

}  // namespace ganpp::cli
