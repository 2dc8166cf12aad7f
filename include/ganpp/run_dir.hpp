// The run directory: naming, refusal to overwrite a run, file paths, log.jsonl and checkpoint rotation.
#pragma once

#include <string>
#include <vector>

#include "ganpp/config.hpp"

namespace ganpp {

/// True when `dir` holds a run's work: a checkpoint in its checkpoints/ folder. A folder left by a run that
/// stopped before its first checkpoint holds no work (see unfinished_run).
bool holds_run(const std::string& dir);

/// True when `dir` was left by a run that stopped before its first checkpoint (a config.json, no checkpoint):
/// `train --out` may reuse it, `--resume` has nothing to continue.
bool unfinished_run(const std::string& dir);

/// Throws UsageError when `out` holds a run (checked before any data is read).
void check_out_dir(const std::string& out);

/// Removes what a run that stopped before its first checkpoint left in `dir` (config.json, log.jsonl,
/// report.html, samples/, checkpoints/, temporaries), so that a new run starts clean; other files stay.
void clear_unfinished_run(const std::string& dir);

/// An advisory lock on a run directory (its .lock file), held while a process trains into it and released
/// by the kernel when the process ends, however it ends. The file names the holder as pid@host.
class RunLock {
 public:
  /// Takes the lock of `run_dir`; throws UsageError naming the holder when another process has it. On a
  /// filesystem without locks, warns and goes on unlocked.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

/// The run's "run" block of config.json (versions, id, data fingerprint); empty when there is none.
Json read_run_info(const std::string& run_dir);

/// The step_*.ckpt files of a run directory, oldest first.
std::vector<std::string> step_checkpoints(const std::string& run_dir);

/// Creates the run directory with samples/ and checkpoints/: `out` when given, else
/// `<runs_root>/NNNNN-<name>` with the next free number (never colliding with another run). Returns its path.
std::string create_run_dir(const std::string& out, const std::string& name, const std::string& runs_root = "runs");

/// Creates samples/ and checkpoints/ in a run directory where they are missing (a resumed run whose
/// samples were deleted or never copied).
void make_run_subdirs(const std::string& run_dir);

/// The run directory that holds a checkpoint file (its checkpoints/ folder's parent).
std::string run_dir_of_checkpoint(const std::string& checkpoint_path);

std::string sample_path(const std::string& run_dir, int64_t step);
std::string checkpoint_path(const std::string& run_dir, int64_t step);
std::string latest_checkpoint_path(const std::string& run_dir);
/// checkpoints/best.ckpt: the checkpoint with the lowest FD of the run's evaluations (train.eval_every).
std::string best_checkpoint_path(const std::string& run_dir);
std::string log_path(const std::string& run_dir);
std::string config_path(const std::string& run_dir);

/// Writes config.json: the resolved config plus a "run" block (versions, device, threads).
void write_run_config(const std::string& run_dir, const Config& config, const Json& run_info);

/// The records of log.jsonl in order (objects with a numeric "step"); a partial last line of a killed run
/// is skipped. Empty when the run has no log yet.
std::vector<Json> read_log(const std::string& run_dir);

/// Appends one record to log.jsonl.
void append_log(const std::string& run_dir, const Json& record);

/// Cuts log.jsonl back to records with step <= `step` (before a resume appends), atomically.
void truncate_log(const std::string& run_dir, int64_t step);

/// Removes temporary files a killed run left behind (never mistaken for output, but clutter).
void remove_temporaries(const std::string& run_dir);

/// Deletes all but the newest `keep` step_*.ckpt files.
void prune_checkpoints(const std::string& run_dir, int64_t keep);

}  // namespace ganpp
