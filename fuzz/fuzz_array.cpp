// libFuzzer target: datasets in files, as data.path reads them: .npy arrays (the header parser, dtypes, shapes,
// layouts), .npz and .zip archives through libzip (entries, dataset.json labels, the images in them), decoded to
// 8x8. The input's first byte picks the extension, the layout and the channels. ganpp's errors are expected;
// anything else is a finding.
#include "fuzz_input.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kNames[] = {"data.npy", "data.npz", "data.zip"};
  static const char* kLayouts[] = {"auto", "nhwc", "nchw", "auto"};
  ganpp::DataConfig config;
  config.path = ganpp::fuzz::write_input(kNames[data[0] % 3], data + 1, size - 1);
  config.layout = kLayouts[(data[0] >> 2) & 3];
  config.image_size = 8;
  config.channels = data[0] & 16 ? 1 : 3;
  config.cache = "off";  // decoded in memory: the fuzzer must not fill a cache folder
  try {
    (void)ganpp::load_dataset(config);
  } catch (const ganpp::Error&) {
  }
  return 0;
}
