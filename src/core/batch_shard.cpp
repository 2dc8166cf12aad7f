// The process's place in data-parallel training (see batch_shard.hpp).
#include "ganpp/batch_shard.hpp"

#include "ganpp/errors.hpp"

namespace ganpp {
namespace {

BatchShard g_shard;

// `draw(global size)`'s rows of this process.
template <class Draw>
torch::Tensor draw_rows(at::IntArrayRef size, Draw draw) {
  if (g_shard.world == 1) return draw(size);
  std::vector<int64_t> global = size.vec();
  global.at(0) *= g_shard.world;
  return draw(global).narrow(0, g_shard.rank * size[0], size[0]);
}

}  // namespace

void set_batch_shard(BatchShard shard) {
  if (shard.world < 1 || shard.rank < 0 || shard.rank >= shard.world)
    throw RuntimeError("invalid batch shard: rank " + std::to_string(shard.rank) + " of " +
                       std::to_string(shard.world));
  g_shard = shard;
}

const BatchShard& batch_shard() { return g_shard; }

torch::Tensor shard_rand(at::IntArrayRef size, const torch::TensorOptions& options) {
  return draw_rows(size, [&](at::IntArrayRef s) { return torch::rand(s, options); });
}

torch::Tensor shard_randn(at::IntArrayRef size, const torch::TensorOptions& options) {
  return draw_rows(size, [&](at::IntArrayRef s) { return torch::randn(s, options); });
}

torch::Tensor shard_randint(int64_t low, int64_t high, at::IntArrayRef size, const torch::TensorOptions& options) {
  return draw_rows(size, [&](at::IntArrayRef s) { return torch::randint(low, high, s, options); });
}

}  // namespace ganpp
