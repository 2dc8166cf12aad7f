// `ganpp train`: a new run from a config, or `--resume` of an existing one (the run itself is TrainingRun's).
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <iterator>

#include "commands.hpp"
#include "common.hpp"
#include "ganpp/distributed.hpp"
#include "ganpp/errors.hpp"
#include "ganpp/run_dir.hpp"
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
  bool allow_changed_data = false;
  bool resume_if_exists = false;
  DistFlags dist;
  std::string dist_batch_norm = "sync";
  DeviceFlags device;
};

// The run that SIGINT, SIGTERM, SIGHUP and SIGUSR1 stop (null outside TrainingRun::run).
std::atomic<TrainingRun*> g_run{nullptr};
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};

// First signal: the run stops after the current step with a checkpoint. SIGINT while stopping: abort at
// once (the default action), which damages nothing already written (every file is written atomically).
extern "C" void on_stop_signal(int signal) {
  TrainingRun* run = g_run.load();
  if (!run) return;
  if (run->stop_requested()) {
    if (signal != SIGINT) return;
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
    return;
  }
  run->request_stop(signal);
  static const char kMessage[] =
      "\nganpp: stopping after this step and writing a checkpoint (Ctrl-C again aborts at once)\n";
  [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kMessage, sizeof(kMessage) - 1);
}

// Runs `run` with the stop signals routed to it; returns the exit code: 0, or 128 + the stopping signal.
int run_with_signals(TrainingRun& run) {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  struct sigaction previous[std::size(kStopSignals)];
  g_run = &run;
  for (size_t i = 0; i < std::size(kStopSignals); ++i) {
    sigaction(kStopSignals[i], nullptr, &previous[i]);
    // A signal ignored at start stays ignored (nohup's SIGHUP, SIGINT of a shell's background job).
    if (previous[i].sa_handler != SIG_IGN) sigaction(kStopSignals[i], &action, nullptr);
  }
  const auto restore = [&] {
    for (size_t i = 0; i < std::size(kStopSignals); ++i) sigaction(kStopSignals[i], &previous[i], nullptr);
    g_run = nullptr;
  };
  try {
    run.run();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return run.stop_signal() ? 128 + run.stop_signal() : 0;
}

int train(TrainFlags& f) {
  if (f.resume_if_exists) {
    // A job that its launcher restarts (torchrun --max-restarts) continues its own run when it has a checkpoint.
    if (f.out.empty() || !f.resume.empty())
      throw UsageError("--resume-if-exists needs --out DIR (the run that a restarted job continues) and no --resume");
    if (holds_run(f.out)) {
      f.resume = f.out;
      f.out.clear();
      f.config.clear();
      f.sets.clear();
      f.seed = -1;
    }
  }
  const bool resume = !f.resume.empty();
  if (resume && (!f.config.empty() || !f.out.empty() || f.dry_run))
    throw UsageError("--resume continues a run with its own config and folder; drop --config, --out and --dry-run");
  if (resume && f.seed >= 0) throw UsageError("--seed cannot change when resuming: the run's seed is fixed");
  if (!resume && f.allow_changed_data)
    throw UsageError("--allow-changed-data only applies to --resume (a new run records the data it starts with)");
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
  options.allow_changed_data = f.allow_changed_data;
  const std::unique_ptr<Distributed> dist = f.dist.join(options.device);
  options.dist = dist.get();
  options.sync_batch_norm = f.dist_batch_norm == "sync";
  try {
    auto run = resume ? TrainingRun::resume(f.resume, f.sets, options) : TrainingRun::start(config, f.out, options);
    return run_with_signals(*run);
  } catch (const std::exception& e) {
    if (dist) dist->report_failure(e.what());  // the other ranks' errors name this rank and cause
    throw;
  }
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
  cmd->add_flag("--allow-changed-data", flags->allow_changed_data,
                "resume although the data changed since the run started (the continuation is no longer exact)");
  cmd->add_flag("--resume-if-exists", flags->resume_if_exists,
                "continue the run in --out when it has a checkpoint, else start it (for jobs that are restarted)");
  flags->dist.add_to(*cmd);
  cmd->add_option("--dist-batch-norm", flags->dist_batch_norm,
                  "distributed runs: batch-norm statistics over the global batch (sync) or each rank's rows (local)")
      ->capture_default_str()
      ->check(CLI::IsMember({"sync", "local"}));
  flags->device.add_to(*cmd);
  return {cmd, [flags] { return train(*flags); }};
}

}  // namespace ganpp::cli
