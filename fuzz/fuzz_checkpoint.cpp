// libFuzzer target: checkpoint identification and verification (frame, checksum, what a foreign file is), and
// reading whatever passes. ganpp's errors (damaged, foreign, incompatible) are expected; anything else escaping,
// or a crash, is a finding.
#include "fuzz_input.hpp"
#include "ganpp/checkpoint.hpp"
#include "ganpp/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ganpp::fuzz::write_input("latest.ckpt", data, size);
  try {
    (void)ganpp::is_checkpoint_file(path);
    ganpp::verify_checkpoint_file(path);
    const ganpp::CheckpointReader reader(path, torch::kCPU);
    (void)reader.state().step;
  } catch (const ganpp::Error&) {
  }
  return 0;
}
