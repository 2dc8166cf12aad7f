// libFuzzer target: image identification and decoding as an image folder is read (stb_image behind ganpp's
// checks: header, dimensions and limits before decoding), then compositing and resizing to 16x16 RGB. The
// input's first byte picks the file's extension. ganpp's errors are expected; anything else is a finding.
#include "fuzz_input.hpp"
#include "ganpp/data.hpp"
#include "ganpp/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kNames[] = {"image.png", "image.jpg", "image.bmp", "image.jpeg"};
  const auto folder = ganpp::fuzz::scratch() / "folder";
  std::filesystem::remove_all(folder);
  std::filesystem::create_directories(folder);
  const std::string name = std::string("folder/") + kNames[data[0] % 4];
  ganpp::fuzz::write_input(name, data + 1, size - 1);
  ganpp::DataConfig config;
  config.path = folder.string();
  config.image_size = 16;
  config.channels = data[0] & 4 ? 1 : 3;
  config.cache = "off";  // decoded in memory: the fuzzer must not fill a cache folder
  try {
    (void)ganpp::load_dataset(config);
  } catch (const ganpp::Error&) {
  }
  return 0;
}
