// Generator seeding and state capture through LibTorch's device-generic generator API.
#include "ganpp/rng.hpp"

#include <mutex>

#include <ATen/CPUGeneratorImpl.h>

namespace ganpp {
namespace {

torch::Tensor get_state(at::Generator gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}

void set_state(at::Generator gen, const torch::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// SplitMix64: spreads (seed, stream) over the 64-bit seed space so nearby streams are unrelated.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

void seed_all(uint64_t seed) { torch::manual_seed(seed); }

RngState capture_rng(const torch::Device& device) {
  RngState state;
  state.cpu = get_state(at::globalContext().defaultGenerator(torch::kCPU));
  if (!device.is_cpu()) state.device = get_state(at::globalContext().defaultGenerator(device));
  return state;
}

void restore_rng(const RngState& state, const torch::Device& device) {
  set_state(at::globalContext().defaultGenerator(torch::kCPU), state.cpu);
  if (!device.is_cpu() && state.device.defined()) set_state(at::globalContext().defaultGenerator(device), state.device);
}

torch::Generator make_generator(uint64_t seed, uint64_t stream) {
  return at::make_generator<at::CPUGeneratorImpl>(mix(seed ^ mix(stream)));
}

}  // namespace ganpp
