// libFuzzer target: a config file and one --set override through the parser, as `ganpp train --config FILE
// --set KEY=VALUE` reads them. Input: the override on the first line, the file's text after it. ganpp's own
// errors (a bad file, key or value) are expected; anything else escaping is a finding.
#include "fuzz_input.hpp"
#include "ganpp/config.hpp"
#include "ganpp/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  const std::string override_line = newline == std::string::npos ? "" : input.substr(0, newline);
  const std::string text = newline == std::string::npos ? input : input.substr(newline + 1);
  const std::string path = ganpp::fuzz::write_input("config.json", reinterpret_cast<const uint8_t*>(text.data()),
                                                    text.size());
  std::vector<std::string> overrides;
  if (override_line.find('=') != std::string::npos) overrides.push_back(override_line);
  try {
    const ganpp::Config config = ganpp::load_config(path, overrides);
    (void)ganpp::config_to_json(config).dump();
  } catch (const ganpp::Error&) {
  }
  return 0;
}
