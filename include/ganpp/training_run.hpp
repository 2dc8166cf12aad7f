// A training run: the run directory, the rules for starting and resuming, the data stream and the loop
// around Trainer's step, with the outputs (log, console, health, grids, evaluations, report, checkpoints)
// done by observers that the loop notifies at each point.
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ganpp/checkpoint.hpp"
#include "ganpp/config.hpp"
#include "ganpp/data.hpp"
#include "ganpp/run_dir.hpp"
#include "ganpp/trainer.hpp"

namespace ganpp {

class Distributed;
class TrainingRun;

/// Which points a step reached: the intervals of train.*_every, and the run's last step.
struct StepPoints {
  bool log = false;         ///< a log record is written (also at every sample point)
  bool sample = false;      ///< the fixed-latent grid is drawn
  bool evaluate = false;    ///< sample quality is measured (train.eval_every)
  bool checkpoint = false;  ///< a checkpoint is due by train.checkpoint_every (a stop request adds one)
  bool last = false;        ///< the run's last step (train.steps reached, or a stop was requested)
};

/// One evaluation during training: the log record (step, epoch and the metrics) and whether its FD is the
/// run's best so far.
struct Evaluation {
  Json record;
  bool best = false;
};

/// Something that acts at the points of a run. Every method has a default that does nothing; the run calls
/// its observers in the order they were added, so an observer sees what earlier ones added to a record.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  /// Before the first step of this process (a new run, or a resumed one at its checkpoint's step).
  virtual void on_start(TrainingRun& run) {}
  /// At a log point: `record` holds the step's statistics; `grid` holds the fixed-latent images at a
  /// sample point (undefined otherwise).
  virtual void on_log(TrainingRun& run, Json& record, const torch::Tensor& grid) {}
  /// At a sample point, after on_log: the fixed-latent images [N, C, H, W] in [-1, 1].
  virtual void on_sample(TrainingRun& run, const torch::Tensor& grid) {}
  /// At an evaluation point, after on_sample.
  virtual void on_evaluation(TrainingRun& run, Evaluation& evaluation) {}
  /// After every step and its log, sample and evaluation points, before its checkpoint.
  virtual void on_step(TrainingRun& run, const StepStats& stats, const StepPoints& points) {}
  /// At a checkpoint point: `bytes` is the checkpoint of the current step.
  virtual void on_checkpoint(TrainingRun& run, const std::string& bytes) {}
  /// After the last step (train.steps reached or a stop requested) and its checkpoint.
  virtual void on_finish(TrainingRun& run) {}
  /// When the run fails; the exception is rethrown after every observer saw it.
  virtual void on_error(TrainingRun& run, const std::exception& error) {}
};

/// How a run is set up beyond its config: where it runs, and where the console output goes.
struct RunOptions {
  torch::Device device = torch::kCPU;
  int threads = 0;                  ///< CPU threads in use (recorded in config.json)
  std::ostream* live = nullptr;     ///< a terminal for the in-place progress line, or null for log lines only
  std::string runs_root = "runs";   ///< where a run without an out_dir gets its numbered folder
  std::string name = "default";     ///< the numbered folder's suffix (the config file's name)
  bool default_observers = true;    ///< log, console, health, grids, evaluations, report, checkpoints
  bool allow_changed_data = false;  ///< resume even when the data's fingerprint changed (exactness is lost)
  /// Data-parallel training in this group (null: one process). Every rank trains its rows of each global
  /// batch; only rank 0 has observers and writes the run directory.
  Distributed* dist = nullptr;
  bool sync_batch_norm = true;  ///< distributed: batch norm's statistics over the global batch (else per rank)
};

class TrainingRun {
 public:
  /// A new run of `config` in `out_dir` (or a new numbered folder under options.runs_root): validates what
  /// needs no data, reads the data, takes a conditional model's class count from it, checks that a batch
  /// fits, creates the folder (reusing one that a run left before its first checkpoint), locks it and
  /// writes config.json with a new run id. Throws UsageError for a bad config, an out_dir that holds a run
  /// (before any data is read) or is locked by another process, RuntimeError for bad data.
  static std::unique_ptr<TrainingRun> start(Config config, const std::string& out_dir, const RunOptions& options);
  /// Continues the run of the checkpoint at `path` (a run directory means its latest checkpoint), with
  /// `overrides` (KEY=VALUE) of the keys that may change mid-run (UsageError for others). Cuts log.jsonl
  /// back to the checkpoint's step and rewrites config.json. A run already at train.steps is finished():
  /// run() does nothing and the message says how to extend it. Before anything is written it refuses
  /// (RuntimeError) a folder without a checkpoint, a damaged checkpoint (naming the newest intact one),
  /// another run's checkpoint and changed data (unless options.allow_changed_data); UsageError when another
  /// process holds the run's lock.
  static std::unique_ptr<TrainingRun> resume(const std::string& path, const std::vector<std::string>& overrides,
                                             const RunOptions& options);
  ~TrainingRun();

  /// Adds an observer after the default ones (tests, or a component with outputs of its own).
  void add_observer(std::unique_ptr<RunObserver> observer);
  /// Trains until train.steps or a stop request; the last step is sampled, logged and checkpointed.
  void run();
  /// Ends the run after the current step, with a checkpoint of that step (an evaluation in progress is
  /// abandoned); `signal` names the signal that asked, 0 for none. Safe to call from any thread or a signal
  /// handler.
  void request_stop(int signal = 0) {
    stop_signal_ = signal;
    stop_requested_ = true;
  }
  bool stop_requested() const { return stop_requested_; }
  /// The signal that requested the stop (0: none, or not a signal).
  int stop_signal() const { return stop_signal_; }
  /// True for a resumed run that had already reached train.steps.
  bool finished() const { return finished_; }

  const Config& config() const { return config_; }
  const std::string& dir() const { return run_dir_; }
  const RunOptions& options() const { return options_; }
  Trainer& trainer() { return *trainer_; }
  const Dataset& dataset() const { return data_; }
  int64_t step() const;
  /// The run's identity (config.json's run.id and every checkpoint's header).
  const std::string& run_id() const { return origin_.run_id; }
  /// The checkpoint a resumed run continues from (empty for a new run).
  const std::string& resumed_from() const { return resumed_from_; }
  /// The config.json "run" block: versions, device, threads, run id and data fingerprint.
  Json run_info() const;
  /// Fractional passes over the data so far.
  double epoch() const;
  /// log.jsonl as it stood when this process started (read once; observers rebuild state from it).
  const std::vector<Json>& past_log() const { return past_log_; }
  /// The checkpoint of the current step (throws RuntimeError after a non-finite loss: a diverged state is
  /// never saved).
  std::string checkpoint_bytes();
  /// Throws RuntimeError naming the step and the last good checkpoint when a loss was not finite.
  void check_finite() const;

 private:
  TrainingRun(Config config, std::string run_dir, Dataset data, const RunOptions& options);
  /// A resumed run that is already finished at `step` (nothing to train, no data read).
  TrainingRun(Config config, std::string run_dir, const RunOptions& options, int64_t step)
      : config_(std::move(config)), run_dir_(std::move(run_dir)), options_(options), finished_(true),
        finished_step_(step) {}
  /// Whether this process writes the run directory (one process, or rank 0 of a distributed run).
  bool writer() const;
  /// Distributed: whether any rank was asked to stop (the same answer on every rank, so all stop after the same
  /// step); a stop asked elsewhere is requested here too, with its signal.
  bool agree_stop();
  /// Distributed: the step's statistics averaged over the ranks (for the log).
  void average_over_ranks(StepStats& stats);
  /// The log record of a step: step, epoch, losses, D's outputs, penalty and gradient norms.
  Json step_record(const StepStats& stats, double images_per_s, double data_wait_ms) const;

  Config config_;
  std::string run_dir_;
  RunOptions options_;
  Dataset data_;
  std::unique_ptr<DataStream> stream_;
  std::unique_ptr<Trainer> trainer_;
  std::vector<std::unique_ptr<RunObserver>> observers_;
  std::vector<Json> past_log_;
  CheckpointOrigin origin_;  ///< run id and data fingerprint for the checkpoints' header
  std::unique_ptr<RunLock> lock_;
  bool numbered_dir_ = false;  ///< this process created the run's numbered folder (removed if it fails unsaved)
  std::atomic<bool> stop_requested_{false};
  std::atomic<int> stop_signal_{0};
  bool finished_ = false;
  int64_t finished_step_ = 0;
  std::string resumed_from_;
};

/// "SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", or "signal N".
std::string signal_name(int signal);

/// What `train --dry-run` prints: the resolved config (a conditional model's class count read from the
/// data when the config leaves it to the data) and both networks.
std::string describe_run(Config config);

}  // namespace ganpp
