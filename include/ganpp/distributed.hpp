// Data-parallel training over PyTorch's c10d process groups (Gloo on the CPU, NCCL on GPUs): where this process
// stands among the ranks (from torchrun's or Slurm's environment), and the collectives the training step needs.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace ganpp {

/// This process's place in a distributed launch, as the launcher's environment gives it.
struct WorldEnv {
  int64_t rank = 0;
  int64_t world = 1;  ///< 1: not distributed (unless a backend is named under a launcher: a group of one)
  int64_t local_rank = 0;
  std::string launcher;  ///< "torchrun", "slurm", "environment" (RANK/WORLD_SIZE set by hand), or empty
  std::string master_addr;
  int master_port = 0;
  bool agent_store = false;  ///< torchrun hosts the store: every rank connects to it as a client
  int64_t restart = 0;       ///< torchrun's restart count (its store's keys are per attempt)
};

/// torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, TORCHELASTIC_*) first, else
/// Slurm's (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, with MASTER_ADDR and MASTER_PORT set by the user); world 1
/// without them. Throws UsageError for missing or inconsistent values.
WorldEnv world_from_environment();

enum class DistBackend { automatic, gloo, nccl };
/// "auto", "gloo" or "nccl" (UsageError otherwise).
DistBackend parse_dist_backend(const std::string& name);

/// Whether this build trains on several processes (LibTorch with c10d, compiled with Gloo's headers or NCCL's).
bool distributed_built();

/// The device a rank trains on: the CPU as asked, or on CUDA the GPU of its LOCAL_RANK (the only GPU it sees
/// where the launcher shows each rank one). Throws UsageError where the node has fewer GPUs than ranks.
torch::Device rank_device(const WorldEnv& env, torch::Device requested);

/// A process group of the ranks of one run, with the collectives of data-parallel training. A collective that
/// fails (a rank died, raised, or did not answer within the timeout) throws RuntimeError naming the failed rank
/// and its cause where it reported one.
class Distributed {
 public:
  /// Connects to the other ranks (each rank calls it; blocks until all arrived or `timeout` passed). `automatic`
  /// takes NCCL for a CUDA `device` where this build has it, else Gloo; `device` is rank_device's.
  static std::unique_ptr<Distributed> connect(const WorldEnv& env, DistBackend backend, std::chrono::seconds timeout,
                                              torch::Device device);
  ~Distributed();

  int64_t rank() const { return env_.rank; }
  int64_t world() const { return env_.world; }

  /// Sums `tensors` over the ranks in place (one flat buffer per dtype).
  void all_reduce_sum(const std::vector<torch::Tensor>& tensors);
  /// Replaces the gradients of `module`'s parameters by their mean over the ranks.
  void average_gradients(torch::nn::Module& module);
  /// Copies rank 0's values into every rank's `tensors`.
  void broadcast(const std::vector<torch::Tensor>& tensors);
  /// Rank 0's `bytes` on every rank.
  std::string broadcast_bytes(const std::string& bytes);
  void barrier();
  /// Waits until rank 0 calls done(`name`) (rank 0 returns at once): for work that rank 0 does alone, such as an
  /// evaluation or a checkpoint, which may take longer than a collective's timeout. A rank 0 that fails or dies
  /// ends the wait.
  void wait_for_rank0(const std::string& name);
  void done(const std::string& name);
  /// Records this rank's failure where the other ranks read it, so that their errors name this rank and cause.
  void report_failure(const std::string& message) noexcept;

 private:
  struct Impl;
  Distributed(const WorldEnv& env, std::chrono::seconds timeout, std::unique_ptr<Impl> impl);
  /// The error of a collective `what` that threw `cause`: the failed rank's report where one exists.
  [[noreturn]] void fail(const std::string& what, const std::exception& cause);

  WorldEnv env_;
  std::chrono::seconds timeout_;
  std::unique_ptr<Impl> impl_;
};

/// Throws UsageError unless `batch_size` (train.batch_size, the global batch) splits evenly over `dist`'s ranks
/// (null: one process, always).
void check_batch_splits(int64_t batch_size, const Distributed* dist);

/// The sum of `x` over the ranks of the active SyncScope, differentiable: the backward pass sums the gradients
/// over the ranks too (synchronised batch norm). The identity when no scope is active.
torch::Tensor sum_over_ranks(const torch::Tensor& x);

/// Whether a SyncScope of more than one rank is active (synchronised batch norm then sums over the ranks).
bool ranks_synchronised();

/// Makes `dist` the group that sum_over_ranks sums over while it lives (null: none).
class SyncScope {
 public:
  explicit SyncScope(Distributed* dist);
  ~SyncScope();
  SyncScope(const SyncScope&) = delete;
  SyncScope& operator=(const SyncScope&) = delete;

 private:
  Distributed* previous_;
};

}  // namespace ganpp
