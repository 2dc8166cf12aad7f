// Pieces shared by the subcommands: device/thread flags and console logging.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

namespace ganpp::cli {

/// `--device` and `--threads`, as every command that runs a network takes them.
struct DeviceFlags {
  std::string device = "auto";
  int threads = 0;
  void add_to(CLI::App& command);
  /// Sets the thread count and resolves the device; returns the device, and `threads` holds the count.
  torch::Device setup();
};

/// Console logging to stdout: "[HH:MM:SS] message".
void setup_logging();

}  // namespace ganpp::cli
