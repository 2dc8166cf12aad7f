// Random-number state: seeding, capturing and restoring every generator a training step draws from,
// and private generators for streams that must not disturb training (data order, fixed latents).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace ganpp {

/// States of the default generators a step consumes: the CPU one, and the device's when it is not the CPU.
struct RngState {
  torch::Tensor cpu;
  torch::Tensor device;  ///< undefined on the CPU
};

/// Seeds LibTorch's default generators (CPU and every CUDA device).
void seed_all(uint64_t seed);

RngState capture_rng(const torch::Device& device);
void restore_rng(const RngState& state, const torch::Device& device);

/// A private CPU generator for a derived stream, e.g. (run seed, epoch) for the data order.
torch::Generator make_generator(uint64_t seed, uint64_t stream);

}  // namespace ganpp
