// Data-parallel training: which rows of every global batch this process computes, and random draws that give
// each process its rows of what one process would draw for the whole batch.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace ganpp {

/// Rank `rank` of `world` processes computes rows [rank·b, (rank+1)·b) of every global batch of world·b rows.
struct BatchShard {
  int64_t rank = 0;
  int64_t world = 1;
};

/// The process's shard (one process: rank 0 of 1). Set once, before the run's objects are built.
void set_batch_shard(BatchShard shard);
const BatchShard& batch_shard();

/// torch::rand, torch::randn and torch::randint for this process's rows of a global batch: `size[0]` is the
/// local batch. Each draws for the global batch (world × size[0] rows, consuming what one process at the global
/// batch consumes) and returns this process's rows, so that the ranks' generators stay in step and together
/// draw what one process draws.
torch::Tensor shard_rand(at::IntArrayRef size, const torch::TensorOptions& options = {});
torch::Tensor shard_randn(at::IntArrayRef size, const torch::TensorOptions& options = {});
torch::Tensor shard_randint(int64_t low, int64_t high, at::IntArrayRef size, const torch::TensorOptions& options = {});

}  // namespace ganpp
