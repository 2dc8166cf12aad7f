// libFuzzer target: the IDX reader on raw and gzipped files (the first byte of the input picks images or
// labels). ganpp's errors (corrupt, truncated, trailing bytes) are expected; anything else is a finding.
#include "fuzz_input.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool gzip = size >= 3 && data[1] == 0x1f && data[2] == 0x8b;
  const int dims = data[0] & 1 ? 3 : 1;
  const std::string path = ganpp::fuzz::write_input(gzip ? "train-images-idx3-ubyte.gz" : "train-images-idx3-ubyte",
                                                    data + 1, size - 1);
  try {
    std::vector<int64_t> shape;
    (void)ganpp::read_idx_file(path, dims, shape);
  } catch (const ganpp::Error&) {
  }
  return 0;
}
